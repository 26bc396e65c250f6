"""What ``run`` checks beyond ``validate`` (it needs the data or the device) fails before any training, in one line."""

from __future__ import annotations

import textwrap

import pytest

from snnbench.errors import DeviceError, SuiteError
from snnbench.runner import run_suite
from snnbench.suite import load_suite

BASE = """
name: pre
data: {dataset: mnist_digits, T: 1, train_subset: 201, test_subset: 20}
model: {name: mlp, depth: 1, width: 8, neuron: {backend: reference}}
train: {epochs: 1, batch_size: 50}
energy: {enabled: false}
"""


def _suite(tmp_path, overrides=()):
    (tmp_path / "s.yaml").write_text(textwrap.dedent(BASE))
    return load_suite(tmp_path / "s.yaml", overrides)


def test_a_last_batch_of_one_sample_under_batchnorm_fails_up_front(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr("snnbench.runner.suite.run_cell", lambda *a, **k: started.append(a) or {})
    with pytest.raises(
        SuiteError, match=r"s.yaml:5: the last training batch holds 1 sample \(201 samples, batch 50, T 1\)"
    ):
        run_suite(_suite(tmp_path), tmp_path / "res", device="cpu")
    assert not started
    run_suite(_suite(tmp_path, ["data.train_subset=202"]), tmp_path / "res", device="cpu")  # 2 in the last batch
    run_suite(_suite(tmp_path, ["data.T=2"]), tmp_path / "res", device="cpu")  # over T x batch: 2 values
    assert len(started) == 2


def test_triton_on_a_cpu_run_is_a_device_error_before_training(tmp_path):
    with pytest.raises(DeviceError, match=r"-o model.neuron.backend=triton: model.neuron.backend: triton needs a CUDA"):
        run_suite(_suite(tmp_path, ["model.neuron.backend=triton"]), tmp_path / "res", device="cpu")
    assert not list((tmp_path / "res").rglob("spec.json"))
