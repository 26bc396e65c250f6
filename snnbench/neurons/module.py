"""``nn.Module`` shells around the functional LIF: they own the threshold parameter and call the dynamics."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from snnbench.errors import UnknownNameError, unknown_name_hint
from snnbench.neurons.functional import LIFParameters, lif_multistep
from snnbench.neurons.surrogate import create_surrogate

GRANULARITIES = ("neuron", "channel", "layer")


def threshold_shape(feature_shape: Sequence[int], granularity: str) -> tuple[int, ...]:
    """Shape of :math:`\\theta` for a layer whose one-sample output has ``feature_shape``.

    ``neuron``: one threshold per neuron (``feature_shape``); ``channel``: one per channel (``[C, 1, ...]``,
    broadcast over space); ``layer``: a single scalar.
    """
    feature_shape = tuple(int(n) for n in feature_shape)
    if granularity == "neuron":
        return feature_shape
    if granularity == "channel":
        return feature_shape[:1] + (1,) * (len(feature_shape) - 1)
    if granularity == "layer":
        return ()
    raise UnknownNameError(
        f"unknown threshold granularity '{granularity}'", hint=unknown_name_hint(granularity, GRANULARITIES)
    )


class LIF(nn.Module):
    """A layer of LIF neurons with a learnable threshold ``theta`` (see :mod:`snnbench.neurons.functional`).

    Input and output are time-first, ``[T, batch, *feature_shape]``; the output is spikes (0/1).
    ``theta`` starts at ``theta_init`` plus Gaussian jitter of std ``theta_jitter`` (init heterogeneity).
    Whether it trains is decided by the learning variant, not by this module.
    """

    def __init__(
        self,
        feature_shape: Sequence[int],
        *,
        tau: float = 0.5,
        theta_init: float = 2.0,
        theta_jitter: float = 0.0,
        granularity: str = "neuron",
        surrogate: str = "arctan",
        alpha: float | None = None,
        detach_reset: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        self.feature_shape = tuple(int(n) for n in feature_shape)
        self.granularity = granularity
        self.backend = backend
        self.params = LIFParameters(
            tau=float(tau), surrogate=create_surrogate(surrogate, alpha), detach_reset=detach_reset
        )
        theta = torch.full(threshold_shape(self.feature_shape, granularity), float(theta_init))
        if theta_jitter > 0:
            theta = theta + theta_jitter * torch.randn_like(theta)
        self.theta = nn.Parameter(theta)

    @property
    def num_neurons(self) -> int:
        return int(torch.Size(self.feature_shape).numel())

    def forward(self, x_seq: Tensor) -> Tensor:
        return lif_multistep(x_seq, self.theta, self.params, backend=self.backend)

    def extra_repr(self) -> str:
        p = self.params
        return (
            f"{self.feature_shape}, tau={p.tau}, theta={self.granularity}{tuple(self.theta.shape)}, "
            f"surrogate={p.surrogate.name}(alpha={p.surrogate.alpha})"
        )
