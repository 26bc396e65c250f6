r"""Exact synaptic-operation (SOP) and multiply-accumulate (MAC) counting (``docs/energy.md``).

A synaptic layer (``nn.Linear``, ``nn.Conv2d``) whose input is spikes costs one accumulate (AC) per (input event,
outgoing synapse) pair:

.. math::

    \mathrm{SOPs} = \sum_t \sum_i x_i[t]\, f_i

with :math:`f_i` the *actual* fan-out of input element :math:`i`: ``out_features`` for a linear layer; for a
convolution the number of output positions this input position reaches (exact at the borders, with padding, stride
and dilation) times ``out_channels / groups``. :math:`x_i[t]` is 0/1 for spikes and the event count for
count-valued event frames (a value of 3 is three events). The fan-out map of a convolution depends only on the layer
and the input size, so it is computed once (:func:`conv_fanout_map`) and each batch costs one reduction.

A layer fed by analog values costs its dense MACs at every step. Which layers see spikes is decided structurally by
:func:`walk_sites`: the input is spikes iff it comes from a LIF layer or from a spiking input encoding through only
max-pooling, flatten, dropout or identity (average pooling of spikes is analog unless ``avgpool_spikes='events'``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from snnbench.models.layers import SeqDropout, TimeFold
from snnbench.neurons import LIF

SYNAPTIC = (nn.Linear, nn.Conv2d)
BATCHNORM = (nn.BatchNorm1d, nn.BatchNorm2d)
MAXPOOL = (nn.MaxPool1d, nn.MaxPool2d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)
AVGPOOL = (nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)
PASSTHROUGH = (nn.Flatten, nn.Unflatten, nn.Identity, nn.Dropout, SeqDropout)
SPIKE_PRESERVING_ACTIVATIONS = (nn.ReLU,)  # relu(0/1) = 0/1

AVGPOOL_SPIKES = ("analog", "events")


# -- fan-out and dense MACs ---------------------------------------------------------------------------------------
def conv_fanout_map(conv: nn.Conv2d, in_hw: tuple[int, int]) -> Tensor:
    """``[H, W]`` (float64, CPU): for each input position, the number of (output position, kernel tap) pairs it
    feeds in **one** output channel — the exact border-aware fan-out with the layer's stride, padding, dilation and
    padding mode. Computed as the input gradient of the summed output of an all-ones single-channel copy."""
    probe = nn.Conv2d(
        1,
        1,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        bias=False,
        padding_mode=conv.padding_mode,
    ).to(torch.float64)
    with torch.no_grad():
        probe.weight.fill_(1.0)
    x = torch.ones(1, 1, *in_hw, dtype=torch.float64, requires_grad=True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(probe(x).sum(), x)
    return grad[0, 0].detach()


def conv_synapse_map(conv: nn.Conv2d, in_hw: tuple[int, int]) -> Tensor:
    """``[H, W]`` fan-out of one input element at each position: :func:`conv_fanout_map` × ``out_channels/groups``
    (the same for every input channel)."""
    return conv_fanout_map(conv, in_hw) * (conv.out_channels // conv.groups)


def macs_per_output(layer: nn.Module) -> int:
    """Multiply-accumulates behind one output element: ``in_features`` or ``in_channels/groups × kh × kw``."""
    if isinstance(layer, nn.Linear):
        return layer.in_features
    if isinstance(layer, nn.Conv2d):
        return (layer.in_channels // layer.groups) * math.prod(layer.kernel_size)
    raise TypeError(f"not a synaptic layer: {type(layer).__name__}")


def dense_macs(layer: nn.Module, output: Tensor) -> int:
    """Dense MACs of one call that produced ``output`` (every input treated as a nonzero analog value)."""
    return output.numel() * macs_per_output(layer)


def linear_events(x: Tensor) -> Tensor:
    """Σ of a spike/event input ``x`` (any leading dims) as a float64 scalar, exact for integer counts: each
    per-feature partial sum stays far below 2**24."""
    return x.reshape(-1, x.shape[-1]).sum(0).to(torch.float64).sum()


def linear_sops(x: Tensor, layer: nn.Linear) -> Tensor:
    """SOPs of a linear layer on spike/event input ``x``: ``Σx × out_features`` (every input feeds every output)."""
    return linear_events(x) * layer.out_features


def conv_sops(x: Tensor, synapse_map: Tensor) -> Tensor:
    """SOPs of a convolution on spike/event input ``x [N, C, H, W]`` with :func:`conv_synapse_map` (float64)."""
    per_position = x.sum(dim=(0, 1))  # exact while a position's batch total stays below 2**24
    return (per_position.to(torch.float64) * synapse_map).sum()


def pool_kernel_area(pool: nn.Module) -> int | None:
    """Kernel area of a (non-adaptive) pooling layer; None for adaptive pools (input-size dependent)."""
    k = getattr(pool, "kernel_size", None)
    if k is None:
        return None
    return math.prod(k) if isinstance(k, (tuple, list)) else int(k) ** (2 if "2d" in type(pool).__name__ else 1)


def avgpool_divisor(pool: nn.Module) -> float | None:
    """Divisor of an ``AvgPool`` (``divisor_override`` or the kernel area); None for adaptive pools."""
    override = getattr(pool, "divisor_override", None)
    return float(override) if override else (float(a) if (a := pool_kernel_area(pool)) else None)


# -- structural walk ------------------------------------------------------------------------------------------------
@dataclass(eq=False)
class Site:
    """One measured module of the network, in forward order.

    ``kind``: ``lif`` | ``linear`` | ``conv`` | ``bn`` | ``pool``. ``input``: ``spikes`` or ``analog`` — what the
    module receives. ``event_scale``: events per unit of input value (> 1 only after average-pooled spikes under
    ``avgpool_spikes='events'``). ``bn``: the BatchNorm right after a synaptic layer (foldable into it);
    ``folded_into``: for that BatchNorm, the synaptic layer.
    """

    name: str
    entry: str
    kind: str
    module: nn.Module
    input: str
    event_scale: float = 1.0
    bn: Site | None = field(default=None, repr=False)
    folded_into: Site | None = field(default=None, repr=False)

    @property
    def has_bias(self) -> bool:
        return getattr(self.module, "bias", None) is not None


def features_root(model: nn.Module) -> tuple[nn.Module, str]:
    """The module holding the layers (``model.features`` for a SpikingNet) and its qualified name."""
    features = getattr(model, "features", None)
    return (features, "features") if isinstance(features, nn.Module) else (model, "")


def _leaves(module: nn.Module, name: str, entry: str) -> Iterator[tuple[str, str, nn.Module]]:
    if isinstance(module, nn.Sequential):
        for child_name, child in module.named_children():
            full = f"{name}.{child_name}" if name else child_name
            yield from _leaves(child, full, entry or full)
    elif isinstance(module, TimeFold):
        yield from _leaves(module.module, f"{name}.module" if name else "module", entry or name)
    else:
        yield name, entry or name, module


def walk_sites(model: nn.Module, *, spiking_input: bool, avgpool_spikes: str = "analog") -> list[Site]:
    """Classify every LIF, synaptic, BatchNorm and pooling module of ``model`` in forward order (see module doc).

    ``model`` is a :class:`~snnbench.models.SpikingNet` (its ``features`` are walked; the readout costs nothing) or
    a time-first ``nn.Sequential`` of the same building blocks. Unknown modules without synaptic layers or neurons
    inside are treated as producing analog values (with a warning); unknown ones with them raise ``ValueError``.
    """
    if avgpool_spikes not in AVGPOOL_SPIKES:
        raise ValueError(f"avgpool_spikes must be one of {AVGPOOL_SPIKES}, got {avgpool_spikes!r}")
    root, prefix = features_root(model)
    state, scale = ("spikes" if spiking_input else "analog"), 1.0
    last_synaptic: Site | None = None
    sites: list[Site] = []
    for name, entry, module in _leaves(root, prefix, ""):
        if isinstance(module, LIF):
            sites.append(Site(name, entry, "lif", module, state))
            state, scale, last_synaptic = "spikes", 1.0, None
        elif isinstance(module, SYNAPTIC):
            kind = "linear" if isinstance(module, nn.Linear) else "conv"
            site = Site(name, entry, kind, module, state, event_scale=scale if state == "spikes" else 1.0)
            sites.append(site)
            state, scale, last_synaptic = "analog", 1.0, site
        elif isinstance(module, BATCHNORM):
            site = Site(name, entry, "bn", module, state, folded_into=last_synaptic)
            if last_synaptic is not None:
                last_synaptic.bn = site
            sites.append(site)
            state, scale, last_synaptic = "analog", 1.0, None
        elif isinstance(module, MAXPOOL):
            sites.append(Site(name, entry, "pool", module, state))
            last_synaptic = None
        elif isinstance(module, AVGPOOL):
            sites.append(Site(name, entry, "pool", module, state))
            divisor = avgpool_divisor(module) if isinstance(module, (nn.AvgPool1d, nn.AvgPool2d)) else None
            if state == "spikes" and avgpool_spikes == "events" and divisor:
                scale *= divisor
            else:
                state, scale = "analog", 1.0
            last_synaptic = None
        elif isinstance(module, PASSTHROUGH):
            pass
        elif isinstance(module, SPIKE_PRESERVING_ACTIVATIONS):
            last_synaptic = None
        else:
            inner = [m for m in module.modules() if isinstance(m, (*SYNAPTIC, LIF))]
            if inner:
                raise ValueError(
                    f"energy profiling cannot see inside '{name}' ({type(module).__name__}): it holds "
                    f"{type(inner[0]).__name__} layers; build the network from nn.Sequential/TimeFold blocks"
                )
            warnings.warn(
                f"energy profiling: unknown module '{name}' ({type(module).__name__}) is treated as producing analog "
                "values and costing nothing",
                stacklevel=2,
            )
            state, scale, last_synaptic = "analog", 1.0, None
    return sites
