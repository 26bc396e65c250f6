"""Time-first building blocks. Stateless layers fold time into the batch: ``[T, B, ...] -> [T*B, ...] -> [T, B, ...]``.

Folding lets one conv/linear/BatchNorm/pool call process all T steps at once; BatchNorm therefore normalises over
batch and time together. Only the LIF neurons (``snnbench.neurons.LIF``) carry state across time.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from snnbench.neurons import LIF
from snnbench.neurons.backends.fused import compile_enabled, lif_maxpool2d


class TimeFold(nn.Module):
    """Apply a stateless module to every time step by folding time into the batch."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x_seq: Tensor) -> Tensor:
        T, B = x_seq.shape[:2]
        y = self.module(x_seq.flatten(0, 1))
        return y.unflatten(0, (T, B))


class SeqDropout(nn.Module):
    r"""Dropout with one mask per sample shared by all time steps (a dropped neuron stays dropped for the sample):
    :math:`y_t = x_t\, m / (1 - p)`, :math:`m = [r \ge p]`, :math:`r \sim U[0, 1)` drawn once per sample and unit.
    (Thresholding a uniform draw: ``bernoulli_`` costs ~1 ms per step of the reference network on 2 CPU cores.)"""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = p

    def forward(self, x_seq: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x_seq
        keep = torch.rand_like(x_seq[0]) >= self.p
        return x_seq * keep.to(x_seq.dtype).div_(1 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class PopulationReadout(nn.Module):
    r"""Class scores from output spikes ``[T, B, C·P]``: the firing rate of each class's P neurons,
    :math:`r_c = \frac{1}{T P} \sum_t \sum_{p} s_{t, c, p}`, giving ``[B, C]`` in [0, 1]."""

    def __init__(self, num_classes: int, population: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.population = population

    def forward(self, spikes: Tensor) -> Tensor:
        T, B = spikes.shape[:2]
        return spikes.reshape(T, B, self.num_classes, self.population).mean(dim=(0, 3))

    def extra_repr(self) -> str:
        return f"classes={self.num_classes}, population={self.population}"


def _fusable(lif: nn.Module, pool: nn.Module) -> bool:
    """A LIF layer followed by ``TimeFold(MaxPool2d(2))``, neither observed by hooks, on a backend the fused kernel
    reproduces."""
    if not (isinstance(lif, LIF) and lif.backend in ("auto", "fused")):
        return False
    if not (isinstance(pool, TimeFold) and isinstance(pool.module, nn.MaxPool2d)):
        return False
    mp = pool.module
    window = mp.kernel_size in (2, (2, 2)) and mp.stride in (2, (2, 2))
    plain = mp.padding in (0, (0, 0)) and mp.dilation in (1, (1, 1)) and not mp.ceil_mode and not mp.return_indices
    observed = any(m._forward_hooks or m._forward_pre_hooks for m in (lif, pool, mp))
    return window and plain and not observed


class SpikingSequential(nn.Sequential):
    """``nn.Sequential`` that runs a LIF layer and the 2×2 max-pool after it as one op,
    :func:`snnbench.neurons.backends.fused.lif_maxpool2d` (channels-last compiled kernels that never store the
    full-resolution spikes), when the fused LIF kernels are compiled for the input's device and no hook observes
    either layer. Values equal the two layers run one after the other; hooks (the energy probes count every LIF
    layer's spikes) switch the fusion off for that pass."""

    def forward(self, x_seq: Tensor) -> Tensor:
        layers = list(self)
        fuse = compile_enabled(x_seq.device.type)
        i = 0
        while i < len(layers):
            if fuse and i + 1 < len(layers) and _fusable(layers[i], layers[i + 1]):
                x_seq = lif_maxpool2d(x_seq, layers[i].theta, layers[i].params)
                i += 2
            else:
                x_seq = layers[i](x_seq)
                i += 1
        return x_seq


class SpikingNet(nn.Module):
    """``features`` (time-first layers ending in spiking output neurons) followed by a population readout.

    ``forward`` maps input ``[T, B, C, H, W]`` to class rates ``[B, classes]`` (fp32). ``precision="bf16"`` runs the
    features under bfloat16 autocast: convolutions and linear layers in bf16, the LIF dynamics in fp32 (a bf16
    input meets an fp32 threshold), spikes exact in either dtype.
    """

    def __init__(
        self, features: nn.Sequential, readout: PopulationReadout, *, depth: int, precision: str = "fp32"
    ) -> None:
        super().__init__()
        self.features = features
        self.readout = readout
        self.depth = depth
        self.precision = precision

    def forward(self, x_seq: Tensor) -> Tensor:
        with torch.autocast(x_seq.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            spikes = self.features(x_seq)
        return self.readout(spikes.float())
