"""Learning variants: what trains changes, what is frozen stays bit-for-bit identical."""

import copy

import pytest
import torch
from torch import nn

from snnbench.data.registry import DatasetInfo
from snnbench.models import create_model
from snnbench.models.layers import PopulationReadout, SpikingNet, TimeFold
from snnbench.neurons import LIF
from snnbench.seeds import make_generator
from snnbench.suite import ModelSpec, NeuronSpec, TrainSpec
from snnbench.train import apply_variant, build_optimizer, parameter_counts, split_parameters
from snnbench.train.loop import train_epoch

INFO = DatasetInfo("toy", "static", (1, 6, 6), 3)


class ToyBundle:
    """Random 6x6 images of 3 classes, already in [0, 1]."""

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.x = torch.rand(60, 1, 6, 6, generator=g)
        self.y = torch.arange(60) % 3
        self.x[torch.arange(60), 0, self.y, :] += 0.8  # a class-dependent bright row
        self.x.clamp_(0, 1)
        self.T = 4
        self.info = INFO

    def loader(self, split, batch_size, shuffle=False, seed=0, num_workers=0):
        from torch.utils.data import DataLoader, TensorDataset

        gen = torch.Generator().manual_seed(seed) if shuffle else None
        return DataLoader(TensorDataset(self.x, self.y), batch_size=batch_size, shuffle=shuffle, generator=gen)

    def augment_train(self, x, generator=None):
        return x

    def to_input(self, x, generator=None):
        return torch.bernoulli(x.unsqueeze(0).expand(self.T, *x.shape), generator=generator)


def trained_copy(variant, model_name="conv", bn_affine="with_weights", input_bias=False):
    torch.manual_seed(0)
    neuron = NeuronSpec(theta_init=0.5, input_bias=input_bias)
    spec = ModelSpec(name=model_name, depth=2, width=4, fc_width=8, population=2, neuron=neuron)
    model = create_model(spec, INFO)
    before = copy.deepcopy(model.state_dict())
    train = TrainSpec(variant=variant, bn_affine=bn_affine, batch_size=20, lr=1e-2)
    optimizer = build_optimizer(apply_variant(model, variant, bn_affine), train)
    bundle = ToyBundle()
    for epoch in range(2):
        train_epoch(
            model, bundle, optimizer, train, torch.device("cpu"), seed=0, epoch=epoch, generator=make_generator(0, 1)
        )
    return model, before


def changed(model, before, names):
    state = model.state_dict()
    return {n: not torch.equal(state[n], before[n]) for n in names}


def names_of(model):
    groups = split_parameters(model)
    name_of = {id(p): n for n, p in model.named_parameters()}
    return {k: [name_of[id(p)] for p in getattr(groups, k)] for k in ("synaptic", "thresholds", "bn_affine")}


@pytest.mark.parametrize("model_name", ["conv", "mlp"])
def test_tl_freezes_weights_bit_for_bit_and_trains_thresholds(model_name):
    model, before = trained_copy("tl", model_name)
    names = names_of(model)
    assert names["thresholds"] and names["synaptic"]
    assert not any(changed(model, before, names["synaptic"]).values())
    assert not any(changed(model, before, names["bn_affine"]).values())  # bn_affine: with_weights
    assert all(changed(model, before, names["thresholds"]).values())


def test_sl_freezes_thresholds_bit_for_bit_and_trains_weights():
    model, before = trained_copy("sl")
    names = names_of(model)
    assert not any(changed(model, before, names["thresholds"]).values())
    assert all(changed(model, before, names["synaptic"]).values())
    assert all(changed(model, before, names["bn_affine"]).values())


def test_stl_trains_both():
    model, before = trained_copy("stl")
    names = names_of(model)
    assert all(changed(model, before, names["synaptic"] + names["thresholds"]).values())


def test_bn_affine_always_trains_under_tl_and_frozen_never_under_stl():
    model, before = trained_copy("tl", bn_affine="always")
    assert all(changed(model, before, names_of(model)["bn_affine"]).values())
    model, before = trained_copy("stl", bn_affine="frozen")
    names = names_of(model)
    assert not any(changed(model, before, names["bn_affine"]).values())
    assert all(changed(model, before, names["synaptic"]).values())


def test_threshold_group_uses_scaled_lr_and_own_weight_decay():
    torch.manual_seed(0)
    model = create_model(ModelSpec(name="mlp", depth=1, width=4, population=1), INFO)
    spec = TrainSpec(variant="stl", lr=1e-3, threshold_lr_scale=10.0, weight_decay=1e-6, threshold_weight_decay=None)
    groups = {g["name"]: g for g in build_optimizer(apply_variant(model, "stl"), spec).param_groups}
    assert groups["thresholds"]["lr"] == pytest.approx(1e-2)
    assert groups["thresholds"]["weight_decay"] == 1e-6
    assert groups["synaptic"]["lr"] == 1e-3


def test_adam_is_fused_on_cpu_and_matches_the_plain_update():
    """build_optimizer takes PyTorch's fused Adam for CPU parameters; its steps equal the per-tensor Adam's."""
    torch.manual_seed(0)
    model = create_model(ModelSpec(name="mlp", depth=1, width=4, population=1), INFO)
    spec = TrainSpec(variant="stl", lr=1e-2, weight_decay=1e-4)
    plain = copy.deepcopy(model)
    fused_opt = build_optimizer(apply_variant(model, "stl"), spec)
    assert fused_opt.defaults["fused"] is True
    twin = dict(zip(model.parameters(), plain.parameters(), strict=True))  # same position, plain copy
    groups = [{**g, "params": [twin[p] for p in g["params"]], "fused": None} for g in fused_opt.param_groups]
    plain_opt = torch.optim.Adam(groups, foreach=False)
    assert not any(g["fused"] for g in plain_opt.param_groups)
    x = torch.rand(4, 8, 1, 6, 6)
    for _ in range(3):
        for m, opt in ((model, fused_opt), (plain, plain_opt)):
            opt.zero_grad()
            m(x).square().sum().backward()
            opt.step()
    for (name, a), b in zip(model.named_parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


# -- parameter counts ------------------------------------------------------------------------------------------------
def small_mlp(granularity):
    """fc 4 -> 3 (no bias) - BN(3) - LIF(3) - fc 3 -> 2 (bias) - LIF(2): synaptic 12 + 6 + 2 = 20, BN affine 6."""
    features = nn.Sequential(
        TimeFold(nn.Sequential(nn.Linear(4, 3, bias=False), nn.BatchNorm1d(3))),
        LIF((3,), granularity=granularity),
        TimeFold(nn.Linear(3, 2)),
        LIF((2,), granularity=granularity),
    )
    return SpikingNet(features, PopulationReadout(2, 1), depth=1)


def small_conv(granularity):
    """conv 1 -> 2 (3x3, no bias) - BN(2) - LIF(2, 4, 4) - flatten - fc 32 -> 3 (bias) - LIF(3):
    synaptic 18 + 96 + 3 = 117, BN affine 4."""
    features = nn.Sequential(
        TimeFold(nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, bias=False), nn.BatchNorm2d(2))),
        LIF((2, 4, 4), granularity=granularity),
        TimeFold(nn.Flatten()),
        TimeFold(nn.Linear(32, 3)),
        LIF((3,), granularity=granularity),
    )
    return SpikingNet(features, PopulationReadout(3, 1), depth=1)


@pytest.mark.parametrize(
    ("build", "granularity", "synaptic", "bn", "thresholds"),
    [
        (small_mlp, "neuron", 20, 6, 3 + 2),
        (small_mlp, "channel", 20, 6, 3 + 2),  # a 1-d layer has one channel per neuron
        (small_mlp, "layer", 20, 6, 1 + 1),
        (small_conv, "neuron", 117, 4, 32 + 3),
        (small_conv, "channel", 117, 4, 2 + 3),
        (small_conv, "layer", 117, 4, 1 + 1),
    ],
)
def test_parameter_counts_per_variant_and_threshold_granularity(build, granularity, synaptic, bn, thresholds):
    model = build(granularity)
    expected = {"stl": synaptic + bn + thresholds, "sl": synaptic + bn, "tl": thresholds}
    for variant, trainable in expected.items():
        counts = parameter_counts(model, variant)
        assert (counts.trainable_params, counts.threshold_params) == (trainable, thresholds)
    assert parameter_counts(model, "tl", "always").trainable_params == thresholds + bn
    assert parameter_counts(model, "stl", "frozen").trainable_params == synaptic + thresholds
    assert all(p.requires_grad for p in model.parameters())  # counting changes nothing
    for variant in expected:  # the same split apply_variant makes
        apply_variant(model, variant)
        trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
        assert trained == parameter_counts(model, variant).trainable_params == expected[variant]


def test_input_bias_is_synaptic_frozen_in_tl_and_trained_in_sl():
    """The LIF input bias b (u = tau u + I + b) trains with the weights: bit-for-bit unchanged under tl, moved under
    sl and stl."""
    model, before = trained_copy("tl", input_bias=True)
    names = names_of(model)
    biases = [n for n in names["synaptic"] if n.endswith("input_bias")]
    assert len(biases) == 4 and not any(n.endswith("input_bias") for n in names["thresholds"] + names["bn_affine"])
    assert not any(changed(model, before, biases).values())
    assert all(changed(model, before, names["thresholds"]).values())
    for variant in ("sl", "stl"):
        model, before = trained_copy(variant, input_bias=True)
        assert all(changed(model, before, biases).values()), variant
