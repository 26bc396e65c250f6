"""Exact SOP / MAC counting against hand counts: fan-out maps, spiking vs analog inputs, probes, the ANN baseline."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snnbench.measure.energy import ann_macs, summarize
from snnbench.measure.probes import attach_probes, lif_layers
from snnbench.measure.synops import conv_fanout_map, conv_synapse_map, walk_sites
from snnbench.models.layers import PopulationReadout, SeqDropout, SpikingNet, TimeFold
from snnbench.neurons import LIF
from snnbench.suite.schema import EnergySpec


def lif(shape, theta=1.0):
    return LIF(shape, tau=0.5, theta_init=theta, backend="reference")


def tiny_mlp() -> SpikingNet:
    """4 -> 3 -> 2 with fixed weights (no bias): hand-traceable LIF dynamics with tau 0.5, theta 1."""
    fc1, fc2 = nn.Linear(4, 3, bias=False), nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        fc1.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 0.5, 0, 0], [0, 0, 0.7, 0]]))
        fc2.weight.copy_(torch.tensor([[1.0, 0, 0], [0, 0, 1.0]]))
    features = nn.Sequential(TimeFold(fc1), lif((3,)), TimeFold(fc2), lif((2,)))
    return SpikingNet(features, PopulationReadout(2, 1), depth=1).eval()


# two samples over T = 2; sample 0 spikes, sample 1 is silent
MLP_INPUT = torch.tensor(
    [
        [[1.0, 0, 1, 0], [0, 0, 0, 0]],  # t = 0
        [[1.0, 1, 1, 0], [0, 0, 0, 0]],  # t = 1
    ]
)


def test_mlp_exact_sops_and_firing_rates():
    # hidden, sample 0: n0 gets 1 then 1 -> spikes at t0 and t1; n1 gets 0 then 0.5 -> u 0.5, silent;
    # n2 gets 0.7 then 0.7 -> u 0.7, 1.05 -> spike at t1.  Hidden spikes: t0 [1,0,0], t1 [1,0,1] = 3.
    # output: o0 = h0 -> spikes t0, t1; o1 = h2 -> spike t1.  Output spikes: 3.
    model = tiny_mlp()
    with torch.no_grad(), attach_probes(model, spiking_input=True) as probes:
        model(MLP_INPUT)
    result = summarize(probes, EnergySpec(ann_baseline=False))
    rows = {r["layer"]: r for r in result.layers}
    assert [r["layer"] for r in result.layers] == ["features.0", "features.1", "features.2", "features.3"]
    fc1, h, fc2, out = (rows[f"features.{i}"] for i in range(4))
    assert fc1["kind"] == "linear" and fc1["input"] == "spikes" and fc1["fan_out_mean"] == 3
    assert fc1["sops_per_sample"] == (2 + 3) * 3 / 2  # 5 input spikes x fan-out 3, over 2 samples
    assert fc1["input_events_per_sample"] == 2.5
    assert fc2["sops_per_sample"] == 3 * 2 / 2  # 3 hidden spikes x fan-out 2
    assert fc1["macs_per_sample"] == fc2["macs_per_sample"] == 0
    assert fc1["dense_macs_per_step"] == 12  # one frame (sample, step): 4 x 3 MACs
    assert h["kind"] == "lif" and h["neurons"] == 3
    assert h["firing_rate"] == 3 / (3 * 2 * 2)  # spikes / (neurons x T x samples)
    assert h["spikes_per_sample"] == 1.5
    assert h["silent_fraction"] == pytest.approx(1 / 3)  # n1 never spiked
    assert out["firing_rate"] == 3 / (2 * 2 * 2) and out["silent_fraction"] == 0
    m = result.metrics
    assert m["firing_rate"] == (3 + 3) / ((3 + 2) * 2 * 2)
    assert m["silent_fraction"] == pytest.approx(1 / 5)
    assert m["sops_per_sample"] == 7.5 + 3 and m["macs_per_sample"] == 0
    assert m["energy_samples"] == 2 and m["energy_T"] == 2
    assert m["est_energy_uj_per_sample"] == pytest.approx(0.9 * 10.5 * 1e-6)
    assert m["ann_macs_per_sample"] is None and m["energy_ratio_to_ann"] is None


def test_direct_coding_first_layer_costs_dense_macs():
    model = tiny_mlp()
    analog = MLP_INPUT * 0.3
    with torch.no_grad(), attach_probes(model, spiking_input=False) as probes:
        model(analog)
    rows = summarize(probes, EnergySpec(ann_baseline=False)).layers
    fc1, fc2 = rows[0], rows[2]
    assert fc1["input"] == "analog" and fc2["input"] == "spikes"
    assert fc1["sops_per_sample"] == 0 and fc1["input_events_per_sample"] is None
    assert fc1["macs_per_sample"] == 2 * 4 * 3  # T x in x out, per sample
    assert fc2["macs_per_sample"] == 0


# -- convolution --------------------------------------------------------------------------------------------------
# 3x3 kernel, padding 1, stride 2 on 5x5 -> 3x3 outputs. Output o covers input rows 2o-1..2o+1, so rows 0..4 are
# reached by 1, 2, 1, 2, 1 outputs (same for columns); a position's fan-out is the product.
HAND_FANOUT = torch.tensor(
    [
        [1, 2, 1, 2, 1],
        [2, 4, 2, 4, 2],
        [1, 2, 1, 2, 1],
        [2, 4, 2, 4, 2],
        [1, 2, 1, 2, 1],
    ],
    dtype=torch.float64,
)


def conv_net(bias=False, batch_norm=True, pool=False) -> SpikingNet:
    conv = [nn.Conv2d(1, 2, 3, padding=1, stride=2, bias=bias)] + ([nn.BatchNorm2d(2)] if batch_norm else [])
    layers = [TimeFold(nn.Sequential(*conv)), lif((2, 3, 3))]
    if pool:
        layers += [TimeFold(nn.MaxPool2d(2)), TimeFold(nn.Flatten()), TimeFold(nn.Linear(2, 4)), lif((4,))]
    else:
        layers += [TimeFold(nn.Flatten()), TimeFold(nn.Linear(18, 4)), lif((4,))]
    return SpikingNet(nn.Sequential(*layers), PopulationReadout(2, 2), depth=1).eval()


def test_conv_fanout_map_matches_hand_count():
    conv = nn.Conv2d(1, 2, 3, padding=1, stride=2)
    assert torch.equal(conv_fanout_map(conv, (5, 5)), HAND_FANOUT)
    assert torch.equal(conv_synapse_map(conv, (5, 5)), 2 * HAND_FANOUT)  # x out_channels / groups
    # stride 1, padding 1: a corner reaches 4 outputs, an edge 6, the inside 9
    m = conv_fanout_map(nn.Conv2d(1, 1, 3, padding=1), (4, 4))
    assert (m[0, 0], m[0, 1], m[1, 1]) == (4, 6, 9)


def test_conv_exact_sops_with_border_pixels():
    model = conv_net()
    x = torch.zeros(2, 1, 1, 5, 5)  # T = 2, one sample
    for r, c in [(0, 0), (1, 1), (4, 4)]:  # corner (2), inner odd (8), corner (2)  -> 12
        x[0, 0, 0, r, c] = 1
    for r, c in [(0, 1), (3, 3), (2, 2)]:  # edge (4), inner odd (8), centre (2) -> 14
        x[1, 0, 0, r, c] = 1
    with torch.no_grad(), attach_probes(model, spiking_input=True) as probes:
        model(x)
    conv_row = summarize(probes, EnergySpec(ann_baseline=False)).layers[0]
    assert conv_row["layer"] == "features.0" and conv_row["module"] == "features.0.module.0"
    assert conv_row["kind"] == "conv" and conv_row["input"] == "spikes"
    assert conv_row["sops_per_sample"] == 12 + 14
    assert conv_row["input_events_per_sample"] == 6
    assert conv_row["fan_out_mean"] == pytest.approx(2 * 49 / 25)  # hand map sums to 7 x 7; x 2 channels
    assert conv_row["dense_macs_per_step"] == 18 * 9


def test_count_valued_events_multiply_the_fan_out():
    model = conv_net()
    x = torch.zeros(1, 1, 1, 5, 5)
    x[0, 0, 0, 1, 1] = 3  # three events at a fan-out-8 position
    x[0, 0, 0, 0, 0] = 2  # two at a corner (fan-out 2)
    with torch.no_grad(), attach_probes(model, spiking_input=True) as probes:
        model(x)
    assert summarize(probes, EnergySpec(ann_baseline=False)).layers[0]["sops_per_sample"] == 3 * 8 + 2 * 2


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(in_channels=2, out_channels=3, kernel_size=3, padding=1),
        dict(in_channels=2, out_channels=4, kernel_size=3, padding=1, stride=2, groups=2),
        dict(in_channels=1, out_channels=2, kernel_size=(3, 2), padding=(2, 0), dilation=2),
        dict(in_channels=1, out_channels=2, kernel_size=3, padding=1, padding_mode="circular"),
    ],
)
def test_conv_sops_equal_brute_force_synapse_count(kwargs):
    # with all-ones weights and 0/1 inputs, sum(conv(x)) counts exactly the (input spike, synapse) pairs
    torch.manual_seed(0)
    conv = nn.Conv2d(**kwargs, bias=False)
    net = nn.Sequential(TimeFold(conv))
    x = (torch.rand(3, 2, kwargs["in_channels"], 7, 6) < 0.3).float()
    with torch.no_grad(), attach_probes(net, spiking_input=True) as probes:
        net(x)
    ones = nn.Conv2d(**kwargs, bias=False)
    nn.init.ones_(ones.weight)
    with torch.no_grad():
        brute = ones(x.flatten(0, 1)).sum() / 2  # per sample
    assert probes.synaptic[0].total_sops() / probes.samples == pytest.approx(float(brute), abs=0)


# -- structure -----------------------------------------------------------------------------------------------------
def test_walk_classifies_spiking_and_analog_inputs():
    net = nn.Sequential(
        TimeFold(nn.AvgPool2d(2)),  # front pool on the input
        TimeFold(nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2))),
        lif((2, 2, 2)),
        TimeFold(nn.MaxPool2d(2)),  # max of spikes is spikes
        SeqDropout(0.1),
        TimeFold(nn.Flatten()),
        TimeFold(nn.Linear(2, 3)),
        lif((3,)),
        TimeFold(nn.AvgPool1d(3)),  # average of spikes is analog (default)
        TimeFold(nn.Linear(1, 2)),
        lif((2,)),
    )
    sites = {s.name: s for s in walk_sites(net, spiking_input=True)}
    assert sites["1.module.0"].input == "analog"  # after avg-pooled input spikes
    assert sites["1.module.1"].kind == "bn" and sites["1.module.1"].folded_into is sites["1.module.0"]
    assert sites["6.module"].input == "spikes"
    assert sites["9.module"].input == "analog"
    events = {s.name: s for s in walk_sites(net, spiking_input=True, avgpool_spikes="events")}
    assert events["1.module.0"].input == "spikes" and events["1.module.0"].event_scale == 4
    assert events["9.module"].input == "spikes" and events["9.module"].event_scale == 3
    assert [n for n, _ in lif_layers(net)] == ["2", "7", "10"]


def test_avgpool_events_mode_counts_the_original_events():
    conv = nn.Conv2d(1, 1, 1, bias=False)
    net = nn.Sequential(TimeFold(nn.AvgPool2d(2)), TimeFold(conv))
    x = torch.ones(1, 1, 1, 4, 4)  # 16 events -> a 2x2 map of 1.0 (= 4 events / 4)
    for mode, sops, macs in [("events", 16, 0), ("analog", 0, 4)]:
        with torch.no_grad(), attach_probes(net, spiking_input=True, avgpool_spikes=mode) as probes:
            net(x)
        row = summarize(probes, EnergySpec(ann_baseline=False, avgpool_spikes=mode)).layers[0]
        assert (row["sops_per_sample"], row["macs_per_sample"]) == (sops, macs)


def test_unknown_module_with_synapses_inside_is_refused():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            return self.fc(x)

    with pytest.raises(ValueError, match="cannot see inside"):
        walk_sites(nn.Sequential(Block(), lif((2,))), spiking_input=True)


def test_probes_are_removed_after_the_block_even_on_error():
    model = conv_net(pool=True)
    with torch.no_grad(), attach_probes(model, spiking_input=True) as probes:
        model(torch.zeros(2, 1, 1, 5, 5))
        assert any(m._forward_hooks for m in model.modules())
    assert probes.samples == 1
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    with pytest.raises(RuntimeError), attach_probes(model, spiking_input=True):
        model(torch.zeros(2, 1, 1, 4, 4))  # wrong size: the linear layer fails
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    # counters hold sums, not spike tensors
    assert all(not isinstance(v, list) for c in probes.lif + probes.synaptic for v in vars(c).values())


# -- ANN baseline ----------------------------------------------------------------------------------------------------
def test_ann_macs_hand_count():
    # conv 1->2, 3x3, stride 2, padding 1 on 5x5: 2 x 3 x 3 outputs x 9 taps = 162; linear 18 -> 4 = 72
    model = conv_net(bias=True)
    counts = ann_macs(model, torch.rand(1, 5, 5))
    assert counts == {"features.0.module.0": 162, "features.3.module": 72}
    assert isinstance(model.features[1], LIF)  # LIF layers are put back
    assert all(not m._forward_hooks for m in model.modules())
    # the same counts, analytically, through the probes (one frame per step)
    with torch.no_grad(), attach_probes(model, spiking_input=True) as probes:
        model(torch.zeros(3, 2, 1, 5, 5))
    assert [c.dense_macs / probes.sample_steps for c in probes.synaptic] == [162, 72]
