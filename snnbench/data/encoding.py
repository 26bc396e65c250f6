r"""Spike encodings of static images, applied on the device to a batch ``[B, C, H, W]`` with values in [0, 1].

* ``rate`` (Bernoulli): :math:`s[t] \sim \mathrm{Bernoulli}(x)` independently at each of the T steps, so a pixel's
  expected firing rate equals its intensity.
* ``direct``: the analog image is repeated at every step, :math:`s[t] = x`; the first synaptic layer then sees
  analog values (it costs MACs, not SOPs).

Both return time-first ``[T, B, C, H, W]``. Event data arrive already binned and pass through unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor

from snnbench.registry import Registry

ENCODINGS: Registry = Registry("encoding")


@ENCODINGS.register("rate", spiking=True)
def rate_encode(x: Tensor, T: int, generator: torch.Generator | None = None) -> Tensor:
    probs = x.clamp(0, 1).unsqueeze(0).expand(T, *x.shape)
    return torch.bernoulli(probs, generator=generator)


@ENCODINGS.register("direct", spiking=False)
def direct_encode(x: Tensor, T: int, generator: torch.Generator | None = None) -> Tensor:
    return x.unsqueeze(0).expand(T, *x.shape).contiguous()


def encode(x: Tensor, T: int, encoding: str, kind: str, generator: torch.Generator | None = None) -> Tensor:
    """Time-first network input: encode a static batch, or move an event batch ``[B, T, ...]`` to time-first."""
    if kind == "event":
        return x.transpose(0, 1).contiguous()
    return ENCODINGS.get(encoding)(x, T, generator)


def input_is_spiking(encoding: str, kind: str) -> bool:
    """Whether the first synaptic layer receives spikes (SOPs) or analog values (MACs)."""
    return kind == "event" or bool(ENCODINGS.entry(encoding).meta["spiking"])
