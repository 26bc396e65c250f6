"""Time-first building blocks. Stateless layers fold time into the batch: ``[T, B, ...] -> [T*B, ...] -> [T, B, ...]``.

Folding lets one conv/linear/BatchNorm/pool call process all T steps at once; BatchNorm therefore normalises over
batch and time together. Only the LIF neurons (``snnbench.neurons.LIF``) carry state across time.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from snnbench.neurons import LIF
from snnbench.neurons.fused import compile_enabled, lif_maxpool2d


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
    r"""Dropout on a time-first sequence, :math:`y_t = x_t\, m_t / (1 - p)` with :math:`m_t = [r_t \ge p]`,
    :math:`r_t \sim U[0, 1)` per unit.

    ``mask="per_sample"`` (default): one mask per sample shared by all time steps (:math:`m_t = m_0`, a dropped
    neuron stays dropped for the sample). ``mask="per_step"``: a fresh mask at every step, as a dropout layer
    called on each step's tensor separately. (Thresholding a uniform draw: ``bernoulli_`` costs ~1 ms per step of
    the reference network on 2 CPU cores.)"""

    MASKS = ("per_sample", "per_step")

    def __init__(self, p: float = 0.5, mask: str = "per_sample") -> None:
        super().__init__()
        if mask not in self.MASKS:
            raise ValueError(f"mask must be one of {self.MASKS}, got {mask!r}")
        self.p = p
        self.mask = mask

    def keep_mask(self, x_seq: Tensor) -> Tensor:
        """Boolean keep mask, ``[B, ...]`` (per sample, broadcast over time) or ``[T, B, ...]`` (per step)."""
        return torch.rand_like(x_seq if self.mask == "per_step" else x_seq[0]) >= self.p

    def forward(self, x_seq: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x_seq
        return x_seq * self.keep_mask(x_seq).to(x_seq.dtype).div_(1 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}" + (f", mask={self.mask}" if self.mask != "per_sample" else "")


class _StepBatchNorm:
    r"""BatchNorm applied to each time step of ``[T, B, C, ...]`` separately, with one shared affine
    (:math:`\gamma, \beta`) and one set of running statistics:

    .. math:: y_t = \gamma\, \frac{x_t - \mu_t}{\sqrt{\sigma_t^2 + \epsilon}} + \beta

    with :math:`\mu_t, \sigma_t^2` the statistics of step t over the batch (and space) in training. The running
    statistics move once per step, :math:`\hat\mu \leftarrow (1 - m)\hat\mu + m \mu_t` for t = 0..T-1 in
    order (T updates per batch); evaluation normalises every step with them. ``num_batches_tracked`` counts calls.
    A subclass of the plain BatchNorm class, so parameters, buffers, the learning variants and the energy model
    (folding into the preceding layer) treat it as one; the over-time mode is a ``TimeFold``-ed plain BatchNorm
    (statistics over batch and time together)."""

    def forward(self, x_seq: Tensor) -> Tensor:
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
        momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        batch_stats = self.training or self.running_mean is None
        return torch.stack(
            [
                F.batch_norm(
                    x, self.running_mean, self.running_var, self.weight, self.bias, batch_stats, momentum, self.eps
                )
                for x in x_seq
            ]
        )


class StepBatchNorm1d(_StepBatchNorm, nn.BatchNorm1d):
    __doc__ = _StepBatchNorm.__doc__


class StepBatchNorm2d(_StepBatchNorm, nn.BatchNorm2d):
    __doc__ = _StepBatchNorm.__doc__


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
    :func:`snnbench.neurons.fused.lif_maxpool2d` (channels-last compiled kernels that never store the
    full-resolution spikes), when the fused LIF kernels are compiled for the input's device and no hook observes
    either layer. Values equal the two layers run one after the other; hooks (the energy probes count every LIF
    layer's spikes) switch the fusion off for that pass."""

    def forward(self, x_seq: Tensor) -> Tensor:
        layers = list(self)
        fuse = compile_enabled(x_seq.device.type)
        i = 0
        while i < len(layers):
            if fuse and i + 1 < len(layers) and _fusable(layers[i], layers[i + 1]):
                x_seq = lif_maxpool2d(layers[i].drive(x_seq), layers[i].theta, layers[i].params)
                i += 2
            else:
                x_seq = layers[i](x_seq)
                i += 1
        return x_seq


class SpikingNet(nn.Module):
    """``features`` (time-first layers ending in spiking output neurons) followed by a population readout.

    ``forward`` maps input ``[T, B, C, H, W]`` to class rates ``[B, classes]`` (fp32; fp64 for a float64 model).
    ``precision="bf16"`` runs the features under bfloat16 autocast: convolutions and linear layers in bf16, the LIF
    dynamics in fp32 (a bf16 input meets an fp32 threshold), spikes exact in either dtype.
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
        return self.readout(spikes if spikes.dtype in (torch.float32, torch.float64) else spikes.float())
