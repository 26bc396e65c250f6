"""What the dry run says a cell will cost: the T, data sizes and time it resolves to, before anything loads."""

from __future__ import annotations

import re
import textwrap

import pytest
from rich.console import Console

from snnbench.cli.display import cells_table
from snnbench.data import dataset_info
from snnbench.measure import cost
from snnbench.measure.cost import Throughput, estimate_time_s, network_key, resolved_T, split_sizes
from snnbench.suite import load_suite

SUITE = """
name: dry
data: {dataset: mnist_digits, T: null}
model: {name: mlp, width: 8, depth: 1}
train: {epochs: 3, batch_size: 10}
energy: {test_samples: 200}
noise:
  sweeps:
    - {kind: gaussian, levels: [0, 0.1, 0.2]}
    - {kind: event_drop, levels: [0.3]}
matrix:
  dataset: [mnist_digits, dvs_digits, cifar10_dvs]
"""


@pytest.fixture
def cells(write_suite):
    suite = load_suite(write_suite(SUITE), overrides=["data.train_subset=500"])
    return {c.spec.data.dataset: c for c in suite.cells}, suite


def test_resolved_T_and_split_sizes_come_from_the_registry(cells):
    by_name, _ = cells
    assert [resolved_T(by_name[n].spec) for n in ("mnist_digits", "dvs_digits", "cifar10_dvs")] == [4, 8, 10]
    assert split_sizes(by_name["mnist_digits"].spec) == (500, 1000)  # train_subset cuts, the test split is whole
    assert split_sizes(by_name["dvs_digits"].spec) == (500, 1000)
    assert split_sizes(by_name["cifar10_dvs"].spec) == (None, None)  # split by test_fraction when loaded


@pytest.mark.parametrize("name", ["mnist_digits", "dvs_digits", "sklearn_digits"])
def test_registered_split_sizes_are_the_loaded_ones(name):
    from snnbench.data import load_data
    from snnbench.suite.schema import DataSpec

    bundle = load_data(DataSpec(dataset=name, T=2), 0)
    assert dataset_info(name).split_sizes == (len(bundle.train), len(bundle.test))


def test_estimate_counts_training_epoch_tests_and_measurement_passes(cells):
    by_name, _ = cells
    rate = Throughput(train_samples_per_s=100.0, test_samples_per_s=1000.0, source="calibrated")
    # 3 epochs x 500 train / 100 + (3 epoch tests + 1 final + 2 nonzero gaussian levels) x 1000 / 1000 + 200 / 1000
    assert estimate_time_s(by_name["mnist_digits"].spec, rate) == pytest.approx(15 + 6 + 0.2)
    # event_drop 0.3 is the one nonzero level that applies to the event dataset
    assert estimate_time_s(by_name["dvs_digits"].spec, rate) == pytest.approx(15 + 5 + 0.2)
    assert estimate_time_s(by_name["cifar10_dvs"].spec, rate) is None


def test_calibration_times_each_network_once(cells, monkeypatch):
    _, suite = cells
    seen = []
    fake = lambda spec, device: seen.append(spec) or Throughput(100.0, 1000.0, "calibrated")  # noqa: E731
    monkeypatch.setattr("snnbench.cli.display.calibrate", fake)
    lines = []
    table = cells_table(suite, "/nonexistent-results", "cpu", notify=lines.append)
    assert len(seen) == 3 and len({network_key(s) for s in seen}) == 3
    assert lines == ["calibrating 3 network(s) on cpu: a few training steps each..."]
    console = Console(width=250, record=True)
    console.print(table)
    rows = [line.split("│")[1:-1] for line in console.export_text().splitlines() if re.match(r"│ +\d", line)]
    assert [[c.strip() for c in row[7:13]] for row in rows] == [
        ["4", "3", "500", "1,000", rows[0][11].strip(), "~21 s"],
        ["8", "3", "500", "1,000", rows[1][11].strip(), "~20 s"],
        ["10", "3", "?", "?", rows[2][11].strip(), "?"],
    ]


def test_calibrate_gives_positive_rates(cells):
    by_name, _ = cells
    rate = cost.calibrate(by_name["mnist_digits"].spec, "cpu", steps=1)
    assert rate.source == "calibrated" and rate.train_samples_per_s > 0 and rate.test_samples_per_s > 0


def test_dry_run_cli_shows_resolved_values(tmp_path, cli):
    (tmp_path / "s.yaml").write_text(textwrap.dedent(SUITE))
    dry = cli("run", str(tmp_path / "s.yaml"), "--dry-run", "--results", str(tmp_path / "r"), "--device", "cpu")
    assert dry.returncode == 0, dry.stderr
    assert "calibrating 3 network(s) on cpu" in dry.stderr
    assert "default" not in dry.stdout and "est. time" in dry.stdout and "estimate on cpu" in dry.stdout
