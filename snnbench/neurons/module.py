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
    r"""A layer of LIF neurons with a learnable threshold ``theta`` (see :mod:`snnbench.neurons.functional`).

    Input and output are time-first, ``[T, batch, *feature_shape]``; the output is spikes (0/1).
    ``theta`` starts at :math:`\theta_0 + \sigma z`, :math:`z \sim N(0, 1)` per threshold, with
    :math:`\theta_0` = ``theta_init`` and :math:`\sigma` = ``theta_jitter``, the std **in threshold units** (init
    heterogeneity; the reference code's ``hete`` h adds ``h * N(0, 1) / 100``, i.e. ``theta_jitter = h / 100``).

    ``input_bias=True`` adds a trainable per-neuron bias ``b`` (zeros at init, the thresholds' shape) to the input
    current, :math:`u[t] = \tau u[t-1] + I[t] + b`: it is added to ``I`` before the multi-step kernel
    (:meth:`drive`), so every backend runs it. ``b`` is a synaptic parameter (it trains with the weights).
    Whether ``theta`` or ``b`` train is decided by the learning variant, not by this module.
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
        input_bias: bool = False,
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
        # registered only when asked for, so networks without it keep their state_dict keys
        self.input_bias = nn.Parameter(torch.zeros_like(theta)) if input_bias else None

    @property
    def num_neurons(self) -> int:
        return int(torch.Size(self.feature_shape).numel())

    def drive(self, x_seq: Tensor) -> Tensor:
        """The input current the dynamics see: ``I[t] + b`` with the input bias, else ``I[t]`` itself."""
        return x_seq if self.input_bias is None else x_seq + self.input_bias

    def forward(self, x_seq: Tensor) -> Tensor:
        return lif_multistep(self.drive(x_seq), self.theta, self.params, backend=self.backend)

    def extra_repr(self) -> str:
        p = self.params
        return (
            f"{self.feature_shape}, tau={p.tau}, theta={self.granularity}{tuple(self.theta.shape)}, "
            f"surrogate={p.surrogate.name}(alpha={p.surrogate.alpha})"
            + (", input_bias=True" if self.input_bias is not None else "")
        )
