"""Energy presets and arithmetic, the cost flags against hand counts, and ``measure_energy`` end to end."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from snnbench.data import DataBundle, DatasetInfo
from snnbench.measure.accuracy import evaluate
from snnbench.measure.energy import ENERGY_PRESETS, LAYER_KEYS, ann_macs, energy_constants, energy_uj, measure_energy
from snnbench.measure.energy import summarize as summarize_probes
from snnbench.measure.probes import attach_probes
from snnbench.models.layers import PopulationReadout, SpikingNet, TimeFold
from snnbench.neurons import LIF
from snnbench.suite.schema import EnergySpec
from tests.measure.nets import HIDDEN_SPIKES_PER_STEP, TWO_LAYER_INPUT, two_layer_net

CPU = torch.device("cpu")


def lif(shape, theta=0.3):
    return LIF(shape, tau=0.5, theta_init=theta, backend="reference")


def conv_net(*, pool: bool = False, theta: float = 0.3) -> SpikingNet:
    """conv 1->2 (3x3, stride 2, padding 1, no bias) - BN - LIF on 5x5 input, [maxpool 2], flatten, fc - LIF."""
    torch.manual_seed(0)
    layers = [
        TimeFold(nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, stride=2, bias=False), nn.BatchNorm2d(2))),
        lif((2, 3, 3), theta),
    ]
    if pool:
        layers += [TimeFold(nn.MaxPool2d(2)), TimeFold(nn.Flatten()), TimeFold(nn.Linear(2, 4)), lif((4,), theta)]
    else:
        layers += [TimeFold(nn.Flatten()), TimeFold(nn.Linear(18, 4)), lif((4,), theta)]
    return SpikingNet(nn.Sequential(*layers), PopulationReadout(2, 2), depth=1).eval()


def bundle(encoding: str = "rate", n: int = 10, T: int = 3) -> DataBundle:
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(n, 1, 5, 5, generator=g), torch.randint(0, 2, (n,), generator=g)
    info = DatasetInfo(name="tiny", kind="static", shape=(1, 5, 5), num_classes=2)
    return DataBundle(info=info, train=TensorDataset(x, y), test=TensorDataset(x, y), T=T, encoding=encoding)


# -- presets and arithmetic ------------------------------------------------------------------------------------------
def test_presets_and_custom_constants():
    assert ENERGY_PRESETS == {"45nm_fp32": (0.9, 4.6), "45nm_fp16": (0.4, 1.5), "45nm_int8": (0.03, 0.23)}
    for preset, constants in ENERGY_PRESETS.items():
        assert energy_constants(EnergySpec(preset=preset)) == constants
    assert energy_constants(EnergySpec()) == (0.9, 4.6)
    assert energy_constants(EnergySpec(preset="45nm_int8", e_ac_pj=0.05)) == (0.05, 0.23)
    assert energy_constants(EnergySpec(e_ac_pj=1.0, e_mac_pj=2.0)) == (1.0, 2.0)
    assert energy_uj(1_000_000, 0, 0.9, 4.6) == pytest.approx(0.9)  # 1e6 ACs x 0.9 pJ = 0.9 uJ
    assert energy_uj(1000, 2000, 0.03, 0.23) == pytest.approx((30 + 460) * 1e-6)


def run(model, x, spec, spiking_input=True):
    with torch.no_grad(), attach_probes(model, spiking_input=spiking_input) as probes:
        model(x)
    return summarize_probes(probes, spec, ann=ann_macs(model, x[0, 0]) if spec.ann_baseline else None)


def test_energy_arithmetic_with_preset_and_custom_constants():
    model = conv_net()
    x = (torch.rand(2, 1, 1, 5, 5, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    for spec in (EnergySpec(preset="45nm_int8"), EnergySpec(preset="45nm_fp16", e_mac_pj=2.0)):
        m = run(model, x, spec).metrics
        e_ac, e_mac = energy_constants(spec)
        assert (m["e_ac_pj"], m["e_mac_pj"]) == (e_ac, e_mac)
        assert m["macs_per_sample"] == 0 and m["sops_per_sample"] > 0
        assert m["est_energy_uj_per_sample"] == pytest.approx(e_ac * m["sops_per_sample"] * 1e-6)
        assert m["ann_macs_per_sample"] == 162 + 72
        assert m["ann_energy_uj_per_sample"] == pytest.approx(e_mac * 234 * 1e-6)
        assert m["energy_ratio_to_ann"] == pytest.approx(m["est_energy_uj_per_sample"] / m["ann_energy_uj_per_sample"])


def test_cost_flags_hand_counts():
    # T = 2, one sample. Per step: conv 18 outputs (BN folded: its shift is the conv's bias), LIF 18 neurons,
    # maxpool 2 outputs of a 2x2 window (3 ACs each), fc 2 -> 4 with bias, LIF 4 neurons.
    model = conv_net(pool=True)
    x = torch.ones(2, 1, 1, 5, 5)
    base = run(model, x, EnergySpec()).metrics
    assert base["extra_acs_per_sample"] == base["extra_macs_per_sample"] == 0
    assert base["ann_macs_per_sample"] == 162 + 8

    spec = EnergySpec(bias_cost="ac", pool_cost="ac", neuron_update_cost="ac")
    result = run(model, x, spec)
    m, rows = result.metrics, {r["layer"]: r for r in result.layers}
    assert rows["features.0"]["extra_acs_per_sample"] == 18 * 2  # folded BN shift as bias
    assert rows["features.2"]["kind"] == "pool" and rows["features.2"]["extra_acs_per_sample"] == 2 * 3 * 2
    assert rows["features.4"]["extra_acs_per_sample"] == 4 * 2  # fc bias
    assert rows["features.1"]["extra_acs_per_sample"] == 18 * 2 and rows["features.5"]["extra_acs_per_sample"] == 8
    assert m["extra_acs_per_sample"] == 36 + 12 + 8 + 36 + 8
    assert m["ann_extra_acs_per_sample"] == 18 + 6 + 4  # one frame, no neuron updates
    e_ac, e_mac = 0.9, 4.6
    assert m["est_energy_uj_per_sample"] == pytest.approx(e_ac * (m["sops_per_sample"] + 100) * 1e-6)
    assert m["ann_energy_uj_per_sample"] == pytest.approx((e_mac * 170 + e_ac * 28) * 1e-6)

    m = run(model, x, EnergySpec(bn_cost="mac", bias_cost="ac", neuron_update_cost="mac")).metrics
    assert m["extra_macs_per_sample"] == 18 * 2 + (18 + 4) * 2  # BN + neuron updates
    assert m["extra_acs_per_sample"] == 8  # only the fc's own bias: the conv has none once BN is not folded
    assert (m["ann_extra_macs_per_sample"], m["ann_extra_acs_per_sample"]) == (18, 4)
    for row in result.layers:
        assert set(row) == set(LAYER_KEYS)


# -- measure_energy ----------------------------------------------------------------------------------------------------
def test_measure_energy_uses_evaluate_encodings_and_limits_samples():
    b, model = bundle(), conv_net()
    seen = {"evaluate": [], "measure": []}
    key = "evaluate"
    handle = model.features.register_forward_pre_hook(lambda m, args: seen[key].append(args[0].clone()))
    acc = evaluate(model, b, CPU, seed=3, batch_size=4)["test_acc"]
    key = "measure"
    result = measure_energy(model, b, CPU, seed=3, spec=EnergySpec(test_samples=7), batch_size=4)
    handle.remove()
    seen["measure"] = [x for x in seen["measure"] if x.shape[0] == 3]  # drop the ANN trace's single frame
    evaluated, measured = torch.cat(seen["evaluate"], dim=1), torch.cat(seen["measure"], dim=1)
    assert measured.shape[1] == 7 and torch.equal(measured, evaluated[:, :7])
    assert result.metrics["energy_samples"] == 7 and result.metrics["energy_T"] == 3

    full = measure_energy(model, b, CPU, seed=3, spec=EnergySpec(), batch_size=4)
    assert full.metrics["energy_test_acc"] == acc and full.metrics["energy_samples"] == 10
    with attach_probes(model, spiking_input=True) as probes:
        evaluate(model, b, CPU, seed=3, batch_size=4)
    assert {r["layer"]: r["firing_rate"] for r in full.layers if r["kind"] == "lif"} == probes.firing_rates()
    assert 0 < full.metrics["firing_rate"] < 1
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_measure_energy_direct_coding_and_ann_baseline():
    model = conv_net().train()
    result = measure_energy(model, bundle("direct"), CPU, seed=0, spec=EnergySpec())
    assert model.training  # restored
    conv, fc = result.layers[0], result.layers[2]
    assert conv["input"] == "analog" and conv["macs_per_sample"] == 3 * 162 and conv["sops_per_sample"] == 0
    assert fc["input"] == "spikes" and fc["macs_per_sample"] == 0
    m = result.metrics
    assert m["macs_per_sample"] == 3 * 162
    assert m["ann_macs_per_sample"] == 234 and conv["ann_macs_per_sample"] == 162 and fc["ann_macs_per_sample"] == 72
    assert m["est_energy_uj_per_sample"] == pytest.approx((0.9 * m["sops_per_sample"] + 4.6 * 3 * 162) * 1e-6)
    assert m["energy_ratio_to_ann"] == pytest.approx(m["est_energy_uj_per_sample"] / (4.6 * 234 * 1e-6))

    off = measure_energy(model, bundle("direct"), CPU, seed=0, spec=EnergySpec(ann_baseline=False))
    assert off.metrics["ann_macs_per_sample"] is None and off.metrics["energy_ratio_to_ann"] is None
    assert off.metrics["est_energy_uj_per_sample"] == m["est_energy_uj_per_sample"]


def test_energy_spec_flags_are_documented_choices():
    fields = {f.name: f for f in dataclasses.fields(EnergySpec)}
    for name, default in [
        ("bn_cost", "folded"),
        ("bias_cost", "none"),
        ("pool_cost", "none"),
        ("neuron_update_cost", "none"),
        ("avgpool_spikes", "analog"),
    ]:
        assert fields[name].default == default and default in fields[name].metadata["choices"]
        assert fields[name].metadata["doc"]


# -- firing rate per time step -----------------------------------------------------------------------------------------
def test_firing_rate_per_step_hand_computed():
    # tests/measure/nets.py traces the spikes: hidden 1, 1, 3, 1 per step (2 neurons x 2 samples), output 0, 0, 1, 0
    model = two_layer_net()
    result = run(model, TWO_LAYER_INPUT, EnergySpec(ann_baseline=False))
    h, out = (r for r in result.layers if r["kind"] == "lif")
    assert h["firing_rate_per_step"] == [0.25, 0.25, 0.75, 0.25]  # spikes at t / (2 neurons x 2 samples)
    assert out["firing_rate_per_step"] == [0.0, 0.0, 0.5, 0.0]  # / (1 neuron x 2 samples)
    assert h["firing_rate"] == pytest.approx(sum(h["firing_rate_per_step"]) / 4)  # the mean over steps
    # CV: rates (1, 1, 3, 1) x c have mean 1.5c and population std (sqrt(3)/2) c -> 1/sqrt(3); (0, 0, 1, 0) -> sqrt(3)
    assert h["firing_rate_step_cv"] == pytest.approx(3**-0.5)
    assert out["firing_rate_step_cv"] == pytest.approx(3**0.5)
    assert result.metrics["firing_rate_step_cv_max"] == pytest.approx(3**0.5)
    assert all(r["firing_rate_per_step"] is None for r in result.layers if r["kind"] != "lif")


def test_firing_rate_per_step_accumulates_over_batches_and_steps_of_different_length():
    model = two_layer_net()
    with torch.no_grad(), attach_probes(model, spiking_input=True) as probes:
        model(TWO_LAYER_INPUT[:, :1])  # sample 0: hidden 1, 1, 2, 1
        model(TWO_LAYER_INPUT[:, 1:])  # sample 1: hidden 0, 0, 1, 0
    hidden = probes.lif[0]
    assert hidden.per_step.tolist() == HIDDEN_SPIKES_PER_STEP and hidden.step_samples.tolist() == [2, 2, 2, 2]
    assert hidden.firing_rate_per_step() == [0.25, 0.25, 0.75, 0.25]
    with torch.no_grad(), attach_probes(model, spiking_input=True, detail=False) as probes:
        model(TWO_LAYER_INPUT[:2, :1])  # sample 0 for 2 steps: hidden 1, 1
        model(TWO_LAYER_INPUT[:, :1])  # sample 0 for 4 steps: 1, 1, 2, 1
    hidden = probes.lif[0]
    assert hidden.per_step.tolist() == [2, 2, 2, 1] and hidden.step_samples.tolist() == [2, 2, 1, 1]
    assert hidden.firing_rate_per_step() == [0.5, 0.5, 1.0, 0.5]  # steps 2, 3 were seen by one sample only
    assert hidden.per_neuron is None and hidden.total_spikes() == 7


def test_silent_network_has_no_step_cv():
    model = two_layer_net()
    result = run(model, torch.zeros(3, 2, 2), EnergySpec(ann_baseline=False))
    assert [r["firing_rate_per_step"] for r in result.layers if r["kind"] == "lif"] == [[0.0] * 3] * 2
    assert result.metrics["firing_rate_step_cv_max"] is None
