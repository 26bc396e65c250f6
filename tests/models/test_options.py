"""The model options: kernel size, biases, BatchNorm mode, dropout placement and mask, defaults per family/dataset."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snnbench.data import dataset_info
from snnbench.data.registry import DatasetInfo
from snnbench.errors import SuiteError
from snnbench.models import SeqDropout, StepBatchNorm1d, StepBatchNorm2d, TimeFold, create_model
from snnbench.models.defaults import ConvSizes, conv_sizes
from snnbench.suite import ModelSpec, NeuronSpec
from snnbench.suite.expand import cell_id_of
from snnbench.suite.schema import CellSpec

TOY = DatasetInfo("toy", "static", (1, 8, 8), 3)


def build(info=TOY, **kw):
    torch.manual_seed(0)
    return create_model(ModelSpec(**kw), info)


def kinds(model) -> list[str]:
    """Layer types in forward order (TimeFold and one-layer Sequential unwrapped; [conv, BN] as 'Conv2d+BN')."""
    names = []
    for m in model.features:
        inner = m.module if isinstance(m, TimeFold) else m
        if isinstance(inner, nn.Sequential):
            names.append("+".join(type(x).__name__ for x in inner))
        else:
            names.append(type(inner).__name__)
    return names


def shapes(model) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


# -- defaults build today's networks -------------------------------------------------------------------------------
CONV_STATE = {
    "features.0.module.0.weight": (32, 1, 3, 3),
    **{f"features.0.module.1.{b}": (32,) for b in ("weight", "bias", "running_mean", "running_var")},
    "features.0.module.1.num_batches_tracked": (),
    "features.1.theta": (32, 28, 28),
    "features.4.module.0.weight": (32, 32, 3, 3),
    **{f"features.4.module.1.{b}": (32,) for b in ("weight", "bias", "running_mean", "running_var")},
    "features.4.module.1.num_batches_tracked": (),
    "features.5.theta": (32, 14, 14),
    "features.9.module.weight": (256, 1568),
    "features.9.module.bias": (256,),
    "features.10.theta": (256,),
    "features.12.module.weight": (100, 256),
    "features.12.module.bias": (100,),
    "features.13.theta": (100,),
}
MLP_STATE = {
    "features.1.module.0.weight": (256, 784),
    **{f"features.1.module.1.{b}": (256,) for b in ("weight", "bias", "running_mean", "running_var")},
    "features.1.module.1.num_batches_tracked": (),
    "features.2.theta": (256,),
    "features.4.module.0.weight": (256, 256),
    **{f"features.4.module.1.{b}": (256,) for b in ("weight", "bias", "running_mean", "running_var")},
    "features.4.module.1.num_batches_tracked": (),
    "features.5.theta": (256,),
    "features.7.module.weight": (100, 256),
    "features.7.module.bias": (100,),
    "features.8.theta": (100,),
}


@pytest.mark.parametrize("placement", [None, "every_block", "fc"])
def test_default_conv_and_mlp_keep_their_state_dict_keys_and_shapes(placement):
    """Networks trained before the options existed reload: same parameter names and shapes at the defaults, and
    whichever dropout placement (dropout layers hold no parameters; a placement that skips one keeps an Identity)."""
    mnist = dataset_info("mnist_digits")
    conv = build(mnist, name="conv", dropout=0.5, dropout_placement=placement)
    mlp = build(mnist, name="mlp", dropout=0.5, dropout_placement=placement)
    assert shapes(conv) == CONV_STATE
    assert shapes(mlp) == MLP_STATE


def test_conv_sizes_come_from_the_models_table_and_keep_every_null_width():
    assert conv_sizes("mnist_digits") == ConvSizes(width=32, fc_width=256, front_pool=1, pool_every=1)
    assert conv_sizes("cifar10") == ConvSizes(width=64, fc_width=256, front_pool=1, pool_every=None)
    assert conv_sizes("dvs_gesture") == ConvSizes(width=64, fc_width=256, front_pool=4, pool_every=None)
    assert conv_sizes("no_such_dataset") == ConvSizes()
    assert not hasattr(dataset_info("cifar10"), "conv_defaults")
    cifar = build(dataset_info("cifar10"), name="conv", depth=6)
    assert [m.out_channels for m in cifar.modules() if isinstance(m, nn.Conv2d)] == [64] * 6


# -- kernel size and biases ----------------------------------------------------------------------------------------
def test_kernel_size_sets_kernel_and_same_padding():
    model = build(name="conv", depth=2, width=4, fc_width=8, kernel_size=5)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size, c.padding) for c in convs] == [((5, 5), (2, 2))] * 2
    assert model(torch.rand(2, 3, 1, 8, 8)).shape == (3, 3)
    with pytest.raises(SuiteError, match="model.kernel_size is 4.*odd kernel size"):
        build(name="conv", depth=2, width=4, fc_width=8, kernel_size=4)


@pytest.mark.parametrize(
    ("kw", "conv_bias", "fc_bias"),
    [
        ({}, [False, False], [True, True]),  # default: a bias only where no BatchNorm follows
        ({"batch_norm": False}, [True, True], [True, True]),
        ({"conv_bias": True}, [True, True], [True, True]),
        ({"fc_bias": False}, [False, False], [False, False]),
        ({"batch_norm": False, "conv_bias": False, "fc_bias": False}, [False, False], [False, False]),
    ],
)
def test_conv_and_fc_bias(kw, conv_bias, fc_bias):
    model = build(name="conv", depth=2, width=4, fc_width=8, **kw)
    assert [m.bias is not None for m in model.modules() if isinstance(m, nn.Conv2d)] == conv_bias
    assert [m.bias is not None for m in model.modules() if isinstance(m, nn.Linear)] == fc_bias


def test_mlp_fc_bias_default_follows_batchnorm():
    """mlp hidden fc layers are followed by BatchNorm: no bias by default; fc_bias: true gives every fc one."""
    assert [m.bias is not None for m in build(name="mlp").modules() if isinstance(m, nn.Linear)] == [0, 0, 1]
    biased = build(name="mlp", fc_bias=True)
    assert [m.bias is not None for m in biased.modules() if isinstance(m, nn.Linear)] == [1, 1, 1]


# -- BatchNorm per step ---------------------------------------------------------------------------------------------
def test_bn_mode_per_step_puts_one_shared_batchnorm_after_each_layer():
    conv = build(name="conv", depth=2, width=4, fc_width=8, bn_mode="per_step")
    assert kinds(conv)[:3] == ["Conv2d", "StepBatchNorm2d", "LIF"]
    assert sum(isinstance(m, StepBatchNorm2d) for m in conv.modules()) == 2
    mlp = build(name="mlp", depth=2, width=6, bn_mode="per_step")
    assert kinds(mlp)[:4] == ["Flatten", "Linear", "StepBatchNorm1d", "LIF"]
    assert sum(isinstance(m, StepBatchNorm1d) for m in mlp.modules()) == 2
    assert kinds(build(name="conv", depth=2, width=4, fc_width=8))[:2] == ["Conv2d+BatchNorm2d", "LIF"]


def test_step_batchnorm_equals_a_hand_loop_over_time():
    """Training: each step normalised by its own batch statistics; the running statistics move once per step in
    order (momentum 0.1, unbiased variance); evaluation uses them for every step."""
    torch.manual_seed(0)
    T = 3
    x = torch.randn(T, 4, 2, 3, 3) * torch.tensor([1.0, 3.0]).view(1, 1, 2, 1, 1) + 5
    bn = StepBatchNorm2d(2)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([2.0, 0.5]))
        bn.bias.copy_(torch.tensor([1.0, -1.0]))
    y = bn(x)
    mean, var = torch.zeros(2), torch.ones(2)
    for t in range(T):
        m = x[t].mean(dim=(0, 2, 3))
        v = x[t].var(dim=(0, 2, 3), unbiased=False)
        expected = (x[t] - m.view(1, 2, 1, 1)) / (v.view(1, 2, 1, 1) + 1e-5).sqrt()
        expected = expected * bn.weight.view(1, 2, 1, 1) + bn.bias.view(1, 2, 1, 1)
        torch.testing.assert_close(y[t], expected, rtol=1e-5, atol=1e-5)
        n = x[t].numel() / 2
        mean = 0.9 * mean + 0.1 * m
        var = 0.9 * var + 0.1 * v * n / (n - 1)
    torch.testing.assert_close(bn.running_mean, mean)
    torch.testing.assert_close(bn.running_var, var)
    assert int(bn.num_batches_tracked) == 1
    bn.eval()
    expected = (x - mean.view(1, 1, 2, 1, 1)) / (var.view(1, 1, 2, 1, 1) + 1e-5).sqrt()
    expected = expected * bn.weight.view(1, 1, 2, 1, 1) + bn.bias.view(1, 1, 2, 1, 1)
    torch.testing.assert_close(bn(x), expected.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(bn.running_mean, mean)  # evaluation leaves the statistics alone


# -- dropout mask and placement ------------------------------------------------------------------------------------
def test_dropout_masks_per_sample_and_per_step_are_the_uniform_draws():
    """per_sample: one draw [B, N] thresholded at p for all steps; per_step: one draw [T, B, N]; kept units x 2."""
    x = torch.ones(3, 5, 7)
    torch.manual_seed(3)
    y = SeqDropout(0.5, mask="per_sample").train()(x)
    torch.manual_seed(3)
    assert torch.equal(y, (torch.rand(5, 7) >= 0.5).float().expand(3, 5, 7) * 2)
    torch.manual_seed(3)
    y = SeqDropout(0.5, mask="per_step").train()(x)
    torch.manual_seed(3)
    assert torch.equal(y, (torch.rand(3, 5, 7) >= 0.5).float() * 2)
    assert not torch.equal(y[0], y[1])  # a fresh mask at each step
    assert torch.equal(SeqDropout(0.5, mask="per_step").eval()(x), x)
    with pytest.raises(ValueError, match="mask must be one of"):
        SeqDropout(0.5, mask="per_batch")


BLOCK = ["Conv2d+BatchNorm2d", "LIF"]


@pytest.mark.parametrize(
    ("placement", "first"),
    [("every_block", "SeqDropout"), ("fc", "Identity")],
)
def test_dropout_placement_in_the_conv_family(placement, first):
    """every_block: a dropout after each conv block and after the hidden fc; fc: only on the spikes that enter an fc
    layer (after the last conv block and after the hidden fc), an Identity after the other blocks."""
    model = build(name="conv", depth=2, width=4, fc_width=8, dropout=0.5, dropout_placement=placement)
    assert kinds(model) == [
        *BLOCK,
        first,
        *BLOCK,
        "MaxPool2d",
        "SeqDropout",
        "Flatten",
        "Linear",
        "LIF",
        "SeqDropout",
        "Linear",
        "LIF",
    ]
    assert {m.mask for m in model.modules() if isinstance(m, SeqDropout)} == {"per_step"}  # the conv default
    no_fc = build(name="conv", depth=2, width=4, fc_width=0, dropout=0.5, dropout_placement=placement)
    assert kinds(no_fc) == [*BLOCK, first, *BLOCK, "MaxPool2d", "SeqDropout", "Flatten", "Linear", "LIF"]


def test_dropout_mask_option_reaches_every_dropout_layer():
    model = build(name="mlp", depth=2, width=6, dropout=0.3, dropout_mask="per_step")
    assert [(m.p, m.mask) for m in model.modules() if isinstance(m, SeqDropout)] == [(0.3, "per_step")] * 2


# -- cell ids --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("dropout_placement", "fc"),
        ("dropout_mask", "per_step"),
        ("bn_mode", "per_step"),
        ("kernel_size", 5),
        ("conv_bias", False),
        ("fc_bias", False),
    ],
)
def test_cell_id_unchanged_at_null_and_changed_when_set(key, value):
    default = cell_id_of(CellSpec())
    assert cell_id_of(CellSpec(model=ModelSpec(**{key: None}))) == default
    assert cell_id_of(CellSpec(model=ModelSpec(**{key: value}))) != default


def test_cell_id_of_input_bias():
    default = cell_id_of(CellSpec())
    assert cell_id_of(CellSpec(model=ModelSpec(neuron=NeuronSpec(input_bias=False)))) == default
    assert cell_id_of(CellSpec(model=ModelSpec(neuron=NeuronSpec(input_bias=True)))) != default


def test_dropout_defaults_per_family():
    """conv and mlp: on the spikes entering fc layers, a fresh mask per step (benchmarks/dropout_default.py);
    paper_mnist: after every block, one mask per sample, as it was first built; stl_mnist: as the reference."""

    def dropouts(name, **kw):
        model = build(name=name, depth=2, width=4, fc_width=8, dropout=0.5, **kw)
        return [
            (type(m).__name__, getattr(m, "mask", None))
            for m in model.features
            if isinstance(m, (SeqDropout, nn.Identity))
        ]

    drop, skip = ("SeqDropout", "per_step"), ("Identity", None)
    assert dropouts("conv") == [skip, drop, drop]
    assert dropouts("mlp") == [drop, drop]
    assert dropouts("paper_mnist") == [("SeqDropout", "per_sample")] * 3
    assert dropouts("stl_mnist") == [skip, drop, drop]
    assert dropouts("conv", dropout_placement="every_block", dropout_mask="per_sample") == dropouts("paper_mnist")
