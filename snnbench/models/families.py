"""Depth-parametrised model families: ``mlp``, ``conv`` (VGG-style) and the paper's MNIST nets.

All end in a spiking fc layer of ``classes × population`` LIF neurons read out by :class:`PopulationReadout`.

* ``mlp``: flatten, then ``depth`` × [fc(width) – BN – LIF], then fc(classes·P) – LIF. Default width 256; BatchNorm
  unless ``batch_norm: false``.
* ``conv``: optional average-pool front (``front_pool``, for large DVS frames), then ``depth`` ×
  [conv k×k (c) – BN – LIF] with 2×2 max-pooling spread evenly over the layers (every ``pool_every`` layers when
  set, and only while the feature map stays ≥ 4×4), then flatten, an optional fc(fc_width) – LIF, and the output
  layer. Sizes left null come from the dataset (:mod:`snnbench.models.defaults`).
* ``paper_mnist``: conv(128)–BN–LIF–pool × depth, fc 2048–LIF, fc 10P–LIF with 3×3 kernels, biases where no BN
  follows, BN over time and dropout after every block, one mask per sample (the first approximation of the
  reference network; kept so that its results reload and retrain the same).
* ``stl_mnist``: the reference code's latest MNIST network, layer for layer (see :func:`stl_mnist`).

Layer options (``model.kernel_size``, ``conv_bias``, ``fc_bias``, ``bn_mode``, ``dropout_placement``,
``dropout_mask``) take the family's default when null (:class:`~snnbench.models.defaults.FamilyDefaults`):

==================  ==========================  ==========================  ==================
key                 mlp, conv                   paper_mnist                 stl_mnist
==================  ==========================  ==========================  ==================
kernel_size         3                           3                           5
conv_bias, fc_bias  where no BatchNorm follows  where no BatchNorm follows  none
bn_mode             over_time                   over_time                   per_step
dropout_placement   fc                          every_block                 fc
dropout_mask        per_step                    per_sample                  per_step
==================  ==========================  ==========================  ==================

The conv and mlp dropout default is the pair that learned best on the reference conv net
(``benchmarks/dropout_default.py``); ``paper_mnist`` keeps the dropout it was built with.

Dropout placement ``fc`` drops only the spikes that enter an fc layer: after the last conv block (before the
flatten; values as after it) and after the hidden fc layer; where ``every_block`` also drops (after the other conv
blocks) it keeps an ``nn.Identity``, so parameter names never depend on the placement. In a ``mlp`` every block
feeds an fc layer: both placements are the same. The layers sit in a
:class:`~snnbench.models.layers.SpikingSequential`: with compiled LIF kernels, each LIF layer and the max-pool after
it run as one fused op (same values). Conv models keep their convolution weights channels-last, so their
activations are channels-last from the first convolution on.
"""

from __future__ import annotations

import torch
from torch import nn

from snnbench.errors import SuiteError
from snnbench.models.defaults import FamilyDefaults, conv_sizes, layer_bias, resolve_options
from snnbench.models.layers import (
    PopulationReadout,
    SeqDropout,
    SpikingNet,
    SpikingSequential,
    StepBatchNorm1d,
    StepBatchNorm2d,
    TimeFold,
)
from snnbench.models.registry import register_model
from snnbench.neurons import LIF

# dropout on the spikes entering fc layers, a fresh mask per step: 70.8 +- 3.0 % against 47.6 +- 1.4 % for
# (every_block, per_sample) on the reference conv net (benchmarks/dropout_default.py, docs/suites.md)
CONV_FAMILY = FamilyDefaults(dropout_placement="fc", dropout_mask="per_step")
PAPER_MNIST = FamilyDefaults()  # as first built: dropout after every block, one mask per sample
STL_MNIST = FamilyDefaults(
    kernel_size=5, conv_bias=False, fc_bias=False, bn_mode="per_step", dropout_placement="fc", dropout_mask="per_step"
)


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
        input_bias=n.input_bias,
    )


def _dropout(spec, opts: FamilyDefaults, active: bool = True) -> list[nn.Module]:
    """The dropout after a spiking block: ``SeqDropout`` where the placement puts one, an ``nn.Identity`` where it
    does not (so parameter names do not depend on the placement), nothing when ``model.dropout`` is 0."""
    if spec.dropout <= 0:
        return []
    return [SeqDropout(spec.dropout, mask=opts.dropout_mask) if active else nn.Identity()]


def _synaptic(layer: nn.Module, spec, opts: FamilyDefaults, bn: type[nn.Module], bn_size: int) -> list[nn.Module]:
    """A conv/fc layer and its BatchNorm: ``TimeFold([layer, BN])`` (over time, or no BN) or ``TimeFold([layer])``
    then a per-step BN (the layer keeps the same parameter names either way)."""
    if not spec.batch_norm:
        return [TimeFold(nn.Sequential(layer))]
    if opts.bn_mode == "per_step":
        step_bn = StepBatchNorm2d if bn is nn.BatchNorm2d else StepBatchNorm1d
        return [TimeFold(nn.Sequential(layer)), step_bn(bn_size)]
    return [TimeFold(nn.Sequential(layer, bn(bn_size)))]


def _head(spec, info, opts: FamilyDefaults, in_features: int, layers: list[nn.Module]) -> SpikingNet:
    """Append the spiking output layer and the population readout."""
    out = info.num_classes * spec.population
    fc = nn.Linear(in_features, out, bias=layer_bias(opts.fc_bias, bn_follows=False))
    layers += [TimeFold(fc), make_lif(spec, (out,))]
    readout = PopulationReadout(info.num_classes, spec.population)
    return SpikingNet(SpikingSequential(*layers), readout, depth=spec.depth, precision=spec.precision)


@register_model(
    "mlp", description="fully connected: depth x (fc-BN-LIF), width 256; dropout before each fc, fresh mask per step"
)
def mlp(spec, info) -> SpikingNet:
    opts = resolve_options(spec, CONV_FAMILY)
    width = spec.width or 256
    layers: list[nn.Module] = [TimeFold(nn.Flatten())]
    in_features = info.num_features
    for _ in range(spec.depth):
        fc = nn.Linear(in_features, width, bias=layer_bias(opts.fc_bias, bn_follows=spec.batch_norm))
        # every block ends in spikes feeding an fc layer: both placements drop here
        layers += [*_synaptic(fc, spec, opts, nn.BatchNorm1d, width), make_lif(spec, (width,)), *_dropout(spec, opts)]
        in_features = width
    return _head(spec, info, opts, in_features, layers)


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


def _conv_net(spec, info, opts: FamilyDefaults, channels: tuple[int, ...], fc_width: int, pool_every: int | None):
    c, h, w = info.shape
    front = conv_sizes(info.name).front_pool
    layers: list[nn.Module] = []
    if front > 1:
        layers.append(TimeFold(nn.AvgPool2d(front)))
        h, w = h // front, w // front
    pools = pool_positions(len(channels), min(h, w), pool_every)
    k = opts.kernel_size
    for i, out_c in enumerate(channels):
        conv = nn.Conv2d(c, out_c, k, padding=k // 2, bias=layer_bias(opts.conv_bias, bn_follows=spec.batch_norm))
        layers += [*_synaptic(conv, spec, opts, nn.BatchNorm2d, out_c), make_lif(spec, (out_c, h, w))]
        c = out_c
        if i in pools:
            layers.append(TimeFold(nn.MaxPool2d(2)))
            h, w = h // 2, w // 2
        # the last conv block feeds an fc layer (through the flatten): both placements drop there
        layers += _dropout(spec, opts, active=opts.dropout_placement == "every_block" or i == len(channels) - 1)
    layers.append(TimeFold(nn.Flatten()))
    in_features = c * h * w
    if fc_width:
        fc = nn.Linear(in_features, fc_width, bias=layer_bias(opts.fc_bias, bn_follows=False))
        layers += [TimeFold(fc), make_lif(spec, (fc_width,)), *_dropout(spec, opts)]
        in_features = fc_width
    # channels-last convolution weights make every conv activation channels-last: BatchNorm and the LIF + max-pool
    # kernels vectorise over channels (docs/performance.md)
    return _head(spec, info, opts, in_features, layers).to(memory_format=torch.channels_last)


def _channels(spec, default: int) -> tuple[int, ...]:
    if spec.channels:
        if len(spec.channels) != spec.depth:
            raise SuiteError(
                f"model.channels has {len(spec.channels)} entries but model.depth is {spec.depth}",
                hint="give one channel count per conv layer, or set model.width instead",
            )
        return tuple(spec.channels)
    return (spec.width or default,) * spec.depth


@register_model(
    "conv",
    description="VGG-style: depth x (conv3x3-BN-LIF) with max-pooling, fc-LIF (sizes per dataset); dropout on the "
    "spikes entering fc layers, fresh mask per step",
)
def conv(spec, info) -> SpikingNet:
    sizes = conv_sizes(info.name)
    channels = _channels(spec, sizes.width)
    fc_width = spec.fc_width if spec.fc_width is not None else sizes.fc_width
    return _conv_net(
        spec, info, resolve_options(spec, CONV_FAMILY), channels, fc_width, spec.pool_every or sizes.pool_every
    )


@register_model(
    "paper_mnist",
    description="conv3x3(128)-BN-LIF-pool x depth, fc 2048-LIF; dropout after every block, one mask per sample",
)
def paper_mnist(spec, info) -> SpikingNet:
    channels = _channels(spec, 128)
    fc_width = spec.fc_width if spec.fc_width is not None else 2048
    return _conv_net(spec, info, resolve_options(spec, PAPER_MNIST), channels, fc_width, spec.pool_every or 1)


@register_model(
    "stl_mnist",
    description="the reference code's latest MNIST net: conv5x5(128)-BN per step-LIF-pool x 2, fc 2048-LIF, "
    "fc 10P-LIF, no biases, dropout per step before each fc (set model.dropout: 0.5 as they do)",
)
def stl_mnist(spec, info) -> SpikingNet:
    """The reference code's latest MNIST network (``depth`` 2):

    conv 5×5 (1→128, padding 2, no bias) – BN per step – LIF – max-pool 2; conv 5×5 (128→128) – BN per step – LIF
    – max-pool 2; dropout (fresh mask per step) – flatten – fc 6272→2048 (no bias) – LIF; dropout per step – fc
    2048→10·P (no bias) – LIF; population readout averaged over T. (With ``model.dropout`` > 0 an ``nn.Identity``
    follows the first block, where placement ``every_block`` would drop.)

    The dropout rate is ``model.dropout`` like every family's (default 0.0: no dropout); the reference trains with
    **0.5, which a suite sets explicitly** (``model.dropout: 0.5``). ``model.kernel_size: 3`` with
    ``model.batch_norm: false`` gives the earlier versions (3×3 kernels, BN defined but not applied). The other
    reference settings are spec defaults (tau 0.5, theta 2.0 per neuron, arctan alpha 2, rate coding, MSE, Adam
    1e-3 with weight decay 1e-6 on weights and thresholds alike, ExponentialLR 0.93, batch 50), except T (4 in the
    latest version, 8 in the first: ``data.T``), the epochs (100) and the threshold jitter
    (``model.neuron.theta_jitter: 1e-4`` for their ``hete`` 0.01).
    """
    channels = _channels(spec, 128)
    fc_width = spec.fc_width if spec.fc_width is not None else 2048
    return _conv_net(spec, info, resolve_options(spec, STL_MNIST), channels, fc_width, spec.pool_every or 1)
