"""A measurement that fails never discards training: the model is saved first, the cell is ``done`` with the
error recorded in ``measure_errors``, and the other measurements still run."""

from __future__ import annotations

import json
import textwrap

import torch

from snnbench.results import load_model
from snnbench.runner import run_suite
from snnbench.suite import load_suite

SUITE = """
name: me
data: {dataset: mnist_digits, T: 2, train_subset: 60, test_subset: 30}
model: {name: mlp, depth: 1, width: 8, neuron: {backend: reference}}
train: {epochs: 1}
noise:
  sweeps:
    - {kind: gaussian, levels: [0, 0.2]}
"""


def test_a_failing_energy_pass_keeps_the_trained_cell(tmp_path, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise RuntimeError("out of memory while counting")

    monkeypatch.setattr("snnbench.runner.cell.measure_energy", out_of_memory)
    (tmp_path / "s.yaml").write_text(textwrap.dedent(SUITE))
    summary = run_suite(load_suite(tmp_path / "s.yaml"), tmp_path / "res", device="cpu")
    assert len(summary.done) == 1 and not summary.failed
    (cell,) = (tmp_path / "res" / "me").glob("*-s0-*")
    metrics = json.loads((cell / "metrics.json").read_text())
    assert metrics["status"] == "done" and 0.0 <= metrics["test_acc"] <= 1.0
    assert metrics["measure_errors"] == {"energy": "RuntimeError: out of memory while counting"}
    assert [r["noise_level"] for r in json.loads((cell / "noise.json").read_text())] == [0.0, 0.2]  # still measured
    assert not (cell / "layers.json").exists()
    model = load_model(cell)  # the trained network was saved before the measurements
    assert model(torch.zeros(2, 1, 1, 28, 28)).shape == (1, 10)
