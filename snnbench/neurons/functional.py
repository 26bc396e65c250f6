r"""Leaky integrate-and-fire dynamics as pure functions.

Discrete time, time-first tensors ``[T, batch, *features]``. For each step :math:`t`:

.. math::

    u[t] &= \tau\, u[t-1] + I[t]              \quad\text{(leaky integration; } \tau \text{ is a decay factor)}\\
    s[t] &= H(u[t] - \theta)                  \quad\text{(spike when the membrane reaches the threshold)}\\
    u[t] &\leftarrow u[t]\,(1 - s[t])         \quad\text{(hard reset to 0)}

with :math:`u[-1] = 0`. :math:`H` is the Heaviside step with a surrogate gradient
(:mod:`snnbench.neurons.surrogate`), so the threshold :math:`\theta` learns through :math:`x = u - \theta`.
:math:`\theta` broadcasts against one step's input: per neuron (the feature shape), per channel (``[C, 1, 1]``)
or per layer (a scalar). These functions never need to know whether :math:`\theta` is learned.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from snnbench.neurons.surrogate import Surrogate, create_surrogate
from snnbench.registry import Registry


class LIFParameters(NamedTuple):
    """Fixed (non-learned) LIF parameters.

    tau: membrane decay factor per time step, dimensionless, in [0, 1].
    surrogate: spike function with its surrogate gradient.
    detach_reset: if True the reset :math:`u (1 - s)` does not backpropagate through :math:`s`.
    """

    tau: float = 0.5
    surrogate: Surrogate = create_surrogate("arctan", 2.0)
    detach_reset: bool = False


def lif_step(x: Tensor, u: Tensor, theta: Tensor, p: LIFParameters) -> tuple[Tensor, Tensor, Tensor]:
    """One LIF step: returns ``(spikes, membrane_before_reset, membrane_after_reset)``."""
    u = p.tau * u + x
    s = p.surrogate.spike(u - theta)
    reset = s.detach() if p.detach_reset else s
    return s, u, u * (1 - reset)


def lif_multistep_reference(
    x_seq: Tensor, theta: Tensor, p: LIFParameters, *, record_membrane: bool = False
) -> tuple[Tensor, Tensor | None]:
    """Run :func:`lif_step` over the leading time axis (the plain loop, kept as the oracle).

    Returns spikes ``[T, ...]`` and, if ``record_membrane``, the membrane before reset ``[T, ...]``.
    """
    u = torch.zeros_like(x_seq[0])
    spikes, membrane = [], []
    for x in x_seq:
        s, v, u = lif_step(x, u, theta, p)
        spikes.append(s)
        membrane.append(v)
    return torch.stack(spikes), (torch.stack(membrane) if record_membrane else None)


# Multi-step implementations: name -> fn(x_seq, theta, p) -> spikes, meta `available(x_seq) -> bool` and optional
# `priority` (higher wins under backend="auto"). Faster paths register here and must match the reference in forward
# values and in input/threshold gradients.
LIF_BACKENDS: Registry = Registry("LIF backend")
LIF_BACKENDS.register("reference", available=lambda x: True)(
    lambda x_seq, theta, p: lif_multistep_reference(x_seq, theta, p)[0]
)


def lif_multistep(x_seq: Tensor, theta: Tensor, p: LIFParameters, backend: str = "auto") -> Tensor:
    """Spikes ``[T, ...]`` of a LIF layer driven by ``x_seq``; ``backend='auto'`` picks the fastest available."""
    if backend == "auto":
        fast = sorted((e for e in LIF_BACKENDS if e.name != "reference"), key=lambda e: -e.meta.get("priority", 0))
        backend = next((e.name for e in fast if e.meta["available"](x_seq)), "reference")
    return LIF_BACKENDS.get(backend)(x_seq, theta, p)
