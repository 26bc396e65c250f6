"""Depth-parametrised model families: ``mlp``, ``conv`` (VGG-style) and the paper's MNIST net.

All end in a spiking fc layer of ``classes × population`` LIF neurons read out by :class:`PopulationReadout`.

* ``mlp``: flatten, then ``depth`` × [fc(width) – BN – LIF], then fc(classes·P) – LIF. Default width 256; BatchNorm
  (over batch and time) unless ``batch_norm: false``.
* ``conv``: optional average-pool front (``front_pool``, for large DVS frames), then ``depth`` ×
  [conv3×3(c) – BN – LIF] with 2×2 max-pooling spread evenly over the layers (every ``pool_every`` layers when
  set, and only while the feature map stays ≥ 4×4), then flatten, an optional fc(fc_width) – LIF, and the output
  layer. Default channels 32, fc_width 256.
* ``paper_mnist``: the reference model, conv(128)–BN–LIF–pool × depth (2 in the paper), fc 2048–LIF, fc 10P–LIF.

The layers sit in a :class:`~snnbench.models.layers.SpikingSequential`: with compiled LIF kernels, each LIF layer
and the max-pool after it run as one fused op (same values). Conv models keep their convolution weights
channels-last, so their activations are channels-last from the first convolution on.
"""

from __future__ import annotations

import torch
from torch import nn

from snnbench.models.layers import PopulationReadout, SeqDropout, SpikingNet, SpikingSequential, TimeFold
from snnbench.models.registry import register_model
from snnbench.neurons import LIF


def make_lif(spec, feature_shape) -> LIF:
    n = spec.neuron
    return LIF(
        feature_shape,
        tau=n.tau,
        theta_init=n.theta_init,
        theta_jitter=n.theta_jitter,
        granularity=n.threshold,
        surrogate=n.surrogate,
        alpha=n.alpha,
        detach_reset=n.detach_reset,
        backend=n.backend,
    )


def _head(spec, info, in_features: int, layers: list[nn.Module]) -> SpikingNet:
    """Append the spiking output layer and the population readout."""
    out = info.num_classes * spec.population
    layers += [TimeFold(nn.Linear(in_features, out)), make_lif(spec, (out,))]
    readout = PopulationReadout(info.num_classes, spec.population)
    return SpikingNet(SpikingSequential(*layers), readout, depth=spec.depth, precision=spec.precision)


def _dropout(spec) -> list[nn.Module]:
    return [SeqDropout(spec.dropout)] if spec.dropout > 0 else []


# ModelSpec keys that only shape convolutional layers: the suite stage refuses them (when set) on a family that
# registers them as `ignored_keys`, since they would change the cell id and nothing else
CONV_ONLY_KEYS = ("channels", "pool_every", "fc_width", "kernel_size", "conv_bias", "bn_mode")


@register_model("mlp", description="fully connected: depth x [fc-BN-LIF], width 256", ignored_keys=CONV_ONLY_KEYS)
def mlp(spec, info) -> SpikingNet:
    width = spec.width or 256
    layers: list[nn.Module] = [TimeFold(nn.Flatten())]
    in_features = info.num_features
    for _ in range(spec.depth):
        fc = [nn.Linear(in_features, width, bias=not spec.batch_norm)]
        if spec.batch_norm:
            fc.append(nn.BatchNorm1d(width))
        layers += [TimeFold(nn.Sequential(*fc)), make_lif(spec, (width,)), *_dropout(spec)]
        in_features = width
    return _head(spec, info, in_features, layers)


def pool_positions(depth: int, size: int, pool_every: int | None, min_size: int = 4) -> set[int]:
    """Indices of the conv layers followed by a 2×2 max-pool (see module docstring)."""
    max_pools = 0
    while size // 2 >= min_size:
        size //= 2
        max_pools += 1
    if pool_every:
        candidates = [i for i in range(depth) if (i + 1) % pool_every == 0]
    else:
        n = min(depth, max_pools)
        candidates = sorted({round((k + 1) * depth / n) - 1 for k in range(n)}) if n else []
    return set(candidates[:max_pools])


def _conv_net(spec, info, channels: tuple[int, ...], fc_width: int, pool_every: int | None) -> SpikingNet:
    c, h, w = info.shape
    front = int(info.conv_defaults.get("front_pool", 1))
    layers: list[nn.Module] = []
    if front > 1:
        layers.append(TimeFold(nn.AvgPool2d(front)))
        h, w = h // front, w // front
    pools = pool_positions(len(channels), min(h, w), pool_every)
    for i, out_c in enumerate(channels):
        conv = [nn.Conv2d(c, out_c, 3, padding=1, bias=not spec.batch_norm)]
        if spec.batch_norm:
            conv.append(nn.BatchNorm2d(out_c))
        layers += [TimeFold(nn.Sequential(*conv)), make_lif(spec, (out_c, h, w))]
        c = out_c
        if i in pools:
            layers.append(TimeFold(nn.MaxPool2d(2)))
            h, w = h // 2, w // 2
        layers += _dropout(spec)
    layers.append(TimeFold(nn.Flatten()))
    in_features = c * h * w
    if fc_width:
        layers += [TimeFold(nn.Linear(in_features, fc_width)), make_lif(spec, (fc_width,)), *_dropout(spec)]
        in_features = fc_width
    # channels-last convolution weights make every conv activation channels-last: BatchNorm and the LIF + max-pool
    # kernels vectorise over channels (docs/performance.md)
    return _head(spec, info, in_features, layers).to(memory_format=torch.channels_last)


def _channels(spec, default: int) -> tuple[int, ...]:
    if spec.channels:
        if len(spec.channels) != spec.depth:
            from snnbench.errors import SuiteError

            raise SuiteError(
                f"model.channels has {len(spec.channels)} entries but model.depth is {spec.depth}",
                hint="give one channel count per conv layer, or set model.width instead",
            )
        return tuple(spec.channels)
    return (spec.width or default,) * spec.depth


@register_model("conv", description="VGG-style: depth x [conv3x3-BN-LIF] with max-pooling, fc 256-LIF")
def conv(spec, info) -> SpikingNet:
    defaults = info.conv_defaults
    channels = _channels(spec, int(defaults.get("width", 32)))
    fc_width = spec.fc_width if spec.fc_width is not None else int(defaults.get("fc_width", 256))
    return _conv_net(spec, info, channels, fc_width, spec.pool_every or defaults.get("pool_every"))


@register_model("paper_mnist", description="Sun et al. MNIST net: conv(128)-BN-LIF-pool x depth, fc 2048-LIF")
def paper_mnist(spec, info) -> SpikingNet:
    channels = _channels(spec, 128)
    fc_width = spec.fc_width if spec.fc_width is not None else 2048
    return _conv_net(spec, info, channels, fc_width, spec.pool_every or 1)
