"""The memory-access model against hand counts: weight reads, membrane accesses, threshold reads and their energy."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from snnbench.errors import SuiteError
from snnbench.measure.energy import LAYER_KEYS, METRIC_KEYS, summarize
from snnbench.measure.memory import MEMORY_LEVELS, memory_energies
from snnbench.measure.probes import attach_probes
from snnbench.models.layers import PopulationReadout, SpikingNet, TimeFold
from snnbench.suite import cell_id_of, load_suite
from snnbench.suite.schema import CellSpec, EnergySpec
from tests.measure.nets import TWO_LAYER_INPUT, lif, two_layer_net

ACCESS_KEYS = ("weight_reads_per_sample", "membrane_accesses_per_sample", "threshold_reads_per_sample")


def run(model, x, spec, spiking_input=True):
    with torch.no_grad(), attach_probes(model, spiking_input=spiking_input) as probes:
        model(x)
    return summarize(probes, spec)


def conv_net(granularity: str) -> SpikingNet:
    """conv 1->2 (3x3, stride 2, padding 1) on 5x5 -> LIF (2, 3, 3), flatten, fc 18 -> 4 -> LIF (4,)."""
    torch.manual_seed(0)
    layers = [
        TimeFold(nn.Conv2d(1, 2, 3, padding=1, stride=2, bias=False)),
        lif((2, 3, 3), 0.3, granularity),
        TimeFold(nn.Flatten()),
        TimeFold(nn.Linear(18, 4, bias=False)),
        lif((4,), 0.3, granularity),
    ]
    return SpikingNet(nn.Sequential(*layers), PopulationReadout(2, 2), depth=1).eval()


def test_memory_levels_and_overrides():
    assert MEMORY_LEVELS == {"none": None, "sram_8kb": 5.0, "sram_32kb": 10.0, "sram_1mb": 50.0, "dram": 650.0}
    assert memory_energies(EnergySpec()) is None
    e = memory_energies(EnergySpec(memory="sram_32kb", e_threshold_read_pj=1.5))
    assert (e.weight_read_pj, e.membrane_access_pj, e.threshold_read_pj) == (10.0, 10.0, 1.5)
    assert e.energy_uj(1_000_000, 0, 0) == pytest.approx(10.0)  # 1e6 reads x 10 pJ = 10 uJ


def test_access_counts_hand_counted_on_two_layer_net():
    # per sample (2 samples, T = 4). Input events: sample 0 8, sample 1 4 -> fc1 SOPs 12 x fan-out 2 / 2 = 12.
    # Hidden spikes 1 + 1 + 3 + 1 = 6 -> fc2 SOPs 6 x 1 / 2 = 3. Weight reads = SOPs: 12 + 3 = 15.
    # Membrane: read + write per neuron and step: 2 x 2 x 4 = 16 (hidden) + 2 x 1 x 4 = 8 (output) = 24.
    # Thresholds per neuron: 2 x 4 + 1 x 4 = 12; one per layer: 4 + 4 = 8.
    result = run(two_layer_net(), TWO_LAYER_INPUT, EnergySpec(ann_baseline=False, memory="sram_8kb"))
    m, rows = result.metrics, {r["layer"]: r for r in result.layers}
    assert [rows[f"features.{i}"]["weight_reads_per_sample"] for i in range(4)] == [12, None, 3, None]
    assert [rows[f"features.{i}"]["membrane_accesses_per_sample"] for i in range(4)] == [None, 16, None, 8]
    assert [rows[f"features.{i}"]["threshold_reads_per_sample"] for i in range(4)] == [None, 8, None, 4]
    assert [m[k] for k in ACCESS_KEYS] == [15, 24, 12]
    assert m["est_memory_energy_uj_per_sample"] == pytest.approx(5.0 * (15 + 24 + 12) * 1e-6)
    assert rows["features.0"]["est_memory_energy_uj_per_sample"] == pytest.approx(5.0 * 12 * 1e-6)
    assert rows["features.1"]["est_memory_energy_uj_per_sample"] == pytest.approx(5.0 * (16 + 8) * 1e-6)
    compute = 0.9 * (12 + 3) * 1e-6  # SOPs x E_AC
    assert m["est_energy_uj_per_sample"] == pytest.approx(compute)
    assert m["est_total_energy_uj_per_sample"] == pytest.approx(compute + 5.0 * 51 * 1e-6)
    assert (m["e_weight_read_pj"], m["e_membrane_access_pj"], m["e_threshold_read_pj"]) == (5.0, 5.0, 5.0)
    for row in result.layers:
        assert set(row) == set(LAYER_KEYS)
    assert set(METRIC_KEYS) <= set(m)

    layer = run(two_layer_net("layer"), TWO_LAYER_INPUT, EnergySpec(memory="sram_8kb", ann_baseline=False)).metrics
    assert [layer[k] for k in ACCESS_KEYS] == [15, 24, 8]  # the hidden layer's one threshold: 1 read per step
    custom = EnergySpec(memory="dram", e_weight_read_pj=1.0, e_membrane_access_pj=2.0, ann_baseline=False)
    assert run(two_layer_net(), TWO_LAYER_INPUT, custom).metrics["est_memory_energy_uj_per_sample"] == pytest.approx(
        (15 * 1.0 + 24 * 2.0 + 12 * 650.0) * 1e-6
    )


@pytest.mark.parametrize(("granularity", "thresholds"), [("neuron", 18 + 4), ("channel", 2 + 4), ("layer", 1 + 1)])
def test_threshold_reads_follow_the_threshold_granularity(granularity, thresholds):
    # T = 2: one read per threshold value and step; per channel the conv layer has 2 values, the fc layer 4
    result = run(conv_net(granularity), torch.ones(2, 1, 1, 5, 5), EnergySpec(ann_baseline=False))
    m = result.metrics
    assert m["threshold_reads_per_sample"] == thresholds * 2
    assert m["membrane_accesses_per_sample"] == 2 * (18 + 4) * 2  # independent of the granularity
    assert m["weight_reads_per_sample"] == m["sops_per_sample"]  # spiking input everywhere


def test_analog_input_reads_one_weight_per_mac():
    # direct coding: the conv sees analog values and costs its dense MACs, T x 18 outputs x 9 taps, one read each
    result = run(conv_net("neuron"), torch.rand(3, 1, 1, 5, 5), EnergySpec(ann_baseline=False), spiking_input=False)
    conv, fc = result.layers[0], result.layers[2]
    assert conv["macs_per_sample"] == conv["weight_reads_per_sample"] == 3 * 162
    assert fc["weight_reads_per_sample"] == fc["sops_per_sample"]


def test_memory_model_is_off_by_default_and_leaves_compute_estimate_unchanged():
    model, x = conv_net("neuron"), (torch.rand(2, 2, 1, 5, 5, generator=torch.Generator().manual_seed(0)) < 0.5)
    off = run(model, x.float(), EnergySpec())
    on = run(model, x.float(), EnergySpec(memory="sram_1mb"))
    assert off.metrics["est_memory_energy_uj_per_sample"] is None
    assert off.metrics["est_total_energy_uj_per_sample"] is None and off.metrics["e_weight_read_pj"] is None
    assert all(r["est_total_energy_uj_per_sample"] is None for r in off.layers)
    assert off.metrics["weight_reads_per_sample"] == on.metrics["weight_reads_per_sample"] > 0  # counts: always
    for key in ("est_energy_uj_per_sample", "ann_energy_uj_per_sample", "energy_ratio_to_ann", "sops_per_sample"):
        assert on.metrics[key] == off.metrics[key]
    assert [r["est_energy_uj_per_sample"] for r in on.layers] == [r["est_energy_uj_per_sample"] for r in off.layers]
    assert on.metrics["est_total_energy_uj_per_sample"] == pytest.approx(
        on.metrics["est_energy_uj_per_sample"] + on.metrics["est_memory_energy_uj_per_sample"]
    )


def test_memory_keys_are_validated_and_stay_out_of_the_cell_id(tmp_path):
    fields = {f.name: f for f in dataclasses.fields(EnergySpec)}
    assert fields["memory"].default == "none" and set(fields["memory"].metadata["choices"]) == set(MEMORY_LEVELS)
    assert cell_id_of(CellSpec(energy=EnergySpec(memory="dram"))) == cell_id_of(CellSpec())
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nenergy:\n  e_weight_read_pj: 2.0\n")
    with pytest.raises(SuiteError, match="'energy.e_weight_read_pj' is set but 'energy.memory' is none"):
        load_suite(suite)
    suite.write_text("name: s\nenergy:\n  memory: sram\n")
    with pytest.raises(SuiteError, match="energy.memory"):
        load_suite(suite)
    suite.write_text("name: s\nenergy:\n  memory: sram_8kb\n  e_weight_read_pj: 2.0\n")
    assert load_suite(suite).cells[0].spec.energy.e_weight_read_pj == 2.0
