"""GPU power figures of a run: per-epoch and inference windows become per-cell metrics; missing is None, never 0."""

import json

import pandas as pd
import pytest

import snnbench.runner.cell as runner
from snnbench.measure.power import PowerWindow
from snnbench.runner import run_suite
from snnbench.suite import load_suite

SUITE = """
name: p
data: {dataset: mnist_digits, T: 2, train_subset: 100, test_subset: 50}
model: {name: mlp, width: 16, population: 2}
train: {epochs: 2, batch_size: 50}
"""


class ScriptedMeter:
    """Every window: 3 J over 0.5 s, mean 120 W, peak 150 W; a two-row timeline."""

    method, reason, gpu_name = "energy_counter", None, "Fake GPU"

    def __init__(self):
        self.open = []

    def begin(self, name):
        self.open.append(name)

    def end(self, name):
        self.open.remove(name)
        return PowerWindow(name, 0.5, 3.0, 120.0, 150.0, self.method, None, 6, self.gpu_name)

    def timeline(self):
        return [{"t_s": 0.0, "power_w": 100.0}, {"t_s": 0.1, "power_w": 140.0}]

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run(tmp_path, monkeypatch=None):
    (tmp_path / "p.yaml").write_text(SUITE)
    if monkeypatch is not None:
        monkeypatch.setattr(runner, "make_meter", lambda cell, device: ScriptedMeter())
    assert run_suite(load_suite(tmp_path / "p.yaml"), tmp_path / "res", device="cpu").ok
    (cell,) = (tmp_path / "res" / "p").glob("mnist_digits-*")
    return cell, json.loads((cell / "metrics.json").read_text())


def test_windows_become_per_cell_energy_metrics(tmp_path, monkeypatch):
    cell, m = run(tmp_path, monkeypatch)
    assert m["gpu_energy_train_j"] == 6.0  # two epoch windows of 3 J
    assert m["gpu_energy_infer_j"] == 3.0 and m["gpu_energy_j"] == 9.0
    assert m["gpu_j_per_train_sample"] == pytest.approx(6.0 / 200)  # 2 epochs x 100 samples
    assert m["gpu_j_per_infer_sample"] == pytest.approx(3.0 / 50)
    assert (m["gpu_mean_power_w"], m["gpu_peak_power_w"], m["gpu_name"]) == (120.0, 150.0, "Fake GPU")
    assert [w["name"] for w in json.loads((cell / "power.json").read_text())] == ["epoch_1", "epoch_2", "inference"]
    assert list(pd.read_csv(cell / "power_timeline.csv")["power_w"]) == [100.0, 140.0]
    history = json.loads((cell / "history.json").read_text())
    assert [r["gpu_energy_j"] for r in history] == [3.0, 3.0]


def test_cpu_run_records_missing_power_with_reason_never_zero(tmp_path):
    _, m = run(tmp_path)
    for key in (
        "gpu_energy_j",
        "gpu_energy_train_j",
        "gpu_energy_infer_j",
        "gpu_j_per_train_sample",
        "gpu_mean_power_w",
    ):
        assert m[key] is None
    assert m["power_method"] == "unavailable" and m["power_reason"] == "device is cpu"
