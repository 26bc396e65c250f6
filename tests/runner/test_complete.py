"""``run`` brings finished cells up to the suite as written: a noise sweep or energy settings added after training are
measured on the reloaded network, nothing retrains, and a run with nothing missing measures nothing."""

from __future__ import annotations

import json
import shutil
import textwrap

import pytest
from rich.console import Console

from snnbench.cli.display import cells_table
from snnbench.results.noise import read_noise_rows
from snnbench.results.store import CellStore
from snnbench.runner import run_suite
from snnbench.runner.cell import MissingMeasurements, missing_measurements
from snnbench.runner.progress import Progress
from snnbench.suite import load_suite

TINY = """
name: tiny-complete
data: {dataset: mnist_digits, T: 2, train_subset: 100, test_subset: 50}
model: {name: mlp, width: 16, depth: 1, neuron: {backend: reference, theta_init: 0.5}}
train: {epochs: 1, lr: 0.01}
"""
NOISE = """
noise:
  sweeps:
    - {kind: gaussian, levels: [0, 0.1, 0.2]}
"""


class Recorder(Progress):
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def skip(self, cell) -> None:
        self.events.append(("skip", cell.cell_id))

    def measured(self, cell, what: str) -> None:
        self.events.append(("measured", what))

    def cell_start(self, cell, total_epochs: int) -> None:
        self.events.append(("train", cell.cell_id))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("complete")
    (base / "tiny.yaml").write_text(textwrap.dedent(TINY))
    assert len(run_suite(load_suite(base / "tiny.yaml"), base / "results", device="cpu").done) == 1
    return base


@pytest.fixture
def setup(trained, tmp_path):
    """A copy of the trained results and suite files: without and with the noise section."""
    shutil.copytree(trained / "results", tmp_path / "results")
    (tmp_path / "tiny.yaml").write_text(textwrap.dedent(TINY))
    (tmp_path / "noisy.yaml").write_text(textwrap.dedent(TINY) + textwrap.dedent(NOISE))
    (cell,) = (tmp_path / "results" / "tiny-complete").glob("*/done.json")
    return tmp_path, cell.parent


def _run(path, results, **overrides):
    progress = Recorder()
    suite = load_suite(path, overrides=[f"{k}={v}" for k, v in overrides.items()])
    return run_suite(suite, results, device="cpu", progress=progress), progress.events


def test_added_noise_sweep_is_measured_once_without_retraining(setup):
    base, cell = setup
    history, model = (cell / "history.json").read_bytes(), (cell / "model.pt").read_bytes()
    acc = json.loads((cell / "metrics.json").read_text())["test_acc"]
    summary, events = _run(base / "noisy.yaml", base / "results")
    assert (summary.done, len(summary.measured), len(summary.skipped)) == ([], 1, 1)
    assert events == [("measured", "+3 noise rows")]
    rows = read_noise_rows(cell)
    assert [(r["noise_kind"], r["noise_level"]) for r in rows] == [
        ("gaussian", 0.0),
        ("gaussian", 0.1),
        ("gaussian", 0.2),
    ]
    assert rows[0]["test_acc"] == acc  # level 0 on the reloaded network = the clean accuracy, exactly
    assert (cell / "history.json").read_bytes() == history and (cell / "model.pt").read_bytes() == model
    spec = json.loads((cell / "spec.json").read_text())
    assert [s["kind"] for s in spec["noise"]["sweeps"]] == ["gaussian"]
    summary, events = _run(base / "noisy.yaml", base / "results")  # a third run: nothing is missing
    assert (summary.done, summary.measured, events) == ([], [], [("skip", summary.skipped[0])])
    assert len(read_noise_rows(cell)) == 3


def test_more_levels_add_only_the_new_rows(setup):
    base, cell = setup
    _run(base / "noisy.yaml", base / "results")
    first = read_noise_rows(cell)
    more = (base / "noisy.yaml").read_text().replace("[0, 0.1, 0.2]", "[0, 0.1, 0.2, 0.3]")
    (base / "noisy.yaml").write_text(more)
    _, events = _run(base / "noisy.yaml", base / "results")
    assert events == [("measured", "+1 noise row")]
    rows = read_noise_rows(cell)
    assert rows[:3] == first and rows[3]["noise_level"] == 0.3


def test_other_energy_settings_remeasure_energy_only(setup):
    base, cell = setup
    before = json.loads((cell / "metrics.json").read_text())
    summary, events = _run(base / "tiny.yaml", base / "results", **{"energy.preset": "45nm_int8"})
    assert events == [("measured", "energy")] and summary.done == []
    after = json.loads((cell / "metrics.json").read_text())
    assert after["sops_per_sample"] == before["sops_per_sample"]  # same network, same test encodings
    assert after["est_energy_uj_per_sample"] < before["est_energy_uj_per_sample"]  # int8: 0.03 pJ per AC vs 0.9
    assert after["test_acc"] == before["test_acc"] and after["train_time_s"] == before["train_time_s"]
    assert json.loads((cell / "spec.json").read_text())["energy"]["preset"] == "45nm_int8"
    _, events = _run(base / "tiny.yaml", base / "results", **{"energy.preset": "45nm_int8"})
    assert events[0][0] == "skip"


def test_missing_layers_and_recorded_errors_are_retried(setup):
    base, cell = setup
    suite = load_suite(base / "tiny.yaml")
    (suite_cell,) = suite.cells
    store = CellStore(cell)
    assert not missing_measurements(suite_cell, store)
    (cell / "layers.json").unlink()
    metrics = json.loads((cell / "metrics.json").read_text())
    (cell / "metrics.json").write_text(json.dumps({**metrics, "measure_errors": {"noise": "OSError: disk full"}}))
    assert missing_measurements(suite_cell, store) == MissingMeasurements(energy=True, noise_points=0, retry=())
    noisy = load_suite(base / "noisy.yaml").cells[0]
    assert str(missing_measurements(noisy, store)) == "energy, 3 noise levels, retry noise"
    _, events = _run(base / "tiny.yaml", base / "results")  # no noise section now: its old error is not retried
    assert events == [("measured", "energy")]
    assert (cell / "layers.json").exists()
    assert json.loads((cell / "metrics.json").read_text())["measure_errors"] == {"noise": "OSError: disk full"}
    _, events = _run(base / "noisy.yaml", base / "results")
    assert events == [("measured", "+3 noise rows")]
    assert "measure_errors" not in json.loads((cell / "metrics.json").read_text())


def test_cli_says_what_was_measured(setup, cli):
    base, _ = setup
    result = cli("run", str(base / "noisy.yaml"), "--results", str(base / "results"), "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert "measured mnist_digits mlp d1 stl s0: +3 noise rows" in result.stderr
    assert "0 trained, 1 measured, 1 already finished, 0 failed" in result.stderr


def test_dry_run_says_what_a_finished_cell_will_get(setup):
    base, _ = setup
    console = Console(width=250, record=True)
    console.print(cells_table(load_suite(base / "noisy.yaml"), base / "results", "cpu"))
    (row,) = [line for line in console.export_text().splitlines() if "mnist_digits" in line]
    assert row.split("│")[-3].strip() == "-"  # nothing to train: no time estimate
    assert row.split("│")[-2].strip() == "done (to measure: 3 noise levels)"
