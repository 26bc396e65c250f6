"""Reliability: kill-safe resume, one writer per cell, failure isolation, and one-line errors for bad input."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from snnbench.runner import run_suite
from snnbench.suite import load_suite

SUITE = """
name: rel
data:
  dataset: mnist_digits
  T: 2
  train_subset: {train}
  test_subset: 100
model:
  name: mlp
  width: 32
  population: 2
  dropout: 0.2
  neuron:
    backend: reference
train:
  epochs: {epochs}
  batch_size: 25
matrix:
  variant: {variants}
"""


def write(tmp_path, train=400, epochs=3, variants="[stl]", name="s.yaml"):
    path = tmp_path / name
    path.write_text(SUITE.format(train=train, epochs=epochs, variants=variants))
    return path


def start(suite, results, cwd):
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.Popen(
        [sys.executable, "-m", "snnbench", "run", str(suite), "--results", str(results), "--device", "cpu"],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def cell_dirs(results):
    return sorted(p for p in (results / "rel").iterdir() if p.is_dir())


def assert_same_results(a, b):
    for da, db in zip(cell_dirs(a), cell_dirs(b), strict=True):
        ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (da, db))
        assert ma["test_acc"] == mb["test_acc"] and ma["train_acc"] == mb["train_acc"]
        sa, sb = (torch.load(d / "model.pt", weights_only=True) for d in (da, db))
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
        ha, hb = (json.loads((d / "history.json").read_text()) for d in (da, db))
        assert [r["train_loss"] for r in ha] == [r["train_loss"] for r in hb]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of the 3-epoch suite."""
    root = tmp_path_factory.mktemp("ref")
    suite = write(root, train=4000, epochs=4)
    summary = run_suite(load_suite(suite), root / "res", device="cpu")
    assert len(summary.done) == 1
    return root / "res"


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(tmp_path, reference):
    suite = write(tmp_path, train=4000, epochs=4)
    results = tmp_path / "res"
    proc = start(suite, results, tmp_path)
    deadline = time.time() + 300
    while not list(results.glob("rel/*/history.json")) and time.time() < deadline:
        time.sleep(0.01)
    # history.json follows the epoch's checkpoint: killing right away lands early in the next epoch (an epoch of
    # 4,000 samples takes far longer than this poll)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (cell,) = cell_dirs(results)
    assert not (cell / "done.json").exists(), "killed too late: the cell had already finished"
    history = json.loads((cell / "history.json").read_text())
    assert 1 <= len(history) < 4
    again = start(suite, results, tmp_path)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert "1 trained" in err
    assert not (cell / "checkpoint.pt").exists()
    assert_same_results(results, reference)


@pytest.mark.slow
def test_truncated_checkpoint_restarts_cell_from_scratch(tmp_path, reference):
    suite = write(tmp_path, train=4000, epochs=4)
    results = tmp_path / "res"
    cell_id = load_suite(suite).cells[0]
    cell = results / "rel" / cell_id.slug
    cell.mkdir(parents=True)
    (cell / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")  # as if killed mid-write without atomic rename
    (cell / ".checkpoint.pt.abc.tmp").write_bytes(b"half")  # a leftover temp file is never read
    with pytest.warns(UserWarning, match="unreadable"):
        summary = run_suite(load_suite(suite), results, device="cpu")
    assert len(summary.done) == 1
    assert_same_results(results, reference)


@pytest.mark.slow
def test_two_processes_train_each_cell_exactly_once(tmp_path):
    suite = write(tmp_path, train=200, epochs=1, variants="[stl, sl, tl]")
    text = suite.read_text().replace("variant: [stl, sl, tl]", "variant: [stl, sl, tl]\n  seed: [0, 1]")
    suite.write_text(text)
    results = tmp_path / "res"
    a, b = start(suite, results, tmp_path), start(suite, results, tmp_path)
    (_, err_a), (_, err_b) = a.communicate(timeout=600), b.communicate(timeout=600)
    assert a.returncode == 0 and b.returncode == 0, (err_a, err_b)
    trained_a, trained_b = (set(re.findall(r"^done .*\[([0-9a-f]{12})\]", err, re.M)) for err in (err_a, err_b))
    assert len(trained_a) + len(trained_b) == 6 and not trained_a & trained_b
    assert len(list(results.glob("rel/*/done.json"))) == 6
    # a third run finds everything finished
    c = start(suite, results, tmp_path)
    assert "0 trained, 6 already finished" in c.communicate(timeout=300)[1]


def test_nan_and_exception_in_one_cell_do_not_stop_the_others(tmp_path, monkeypatch):
    import snnbench.runner.cell as runner
    import snnbench.train.loop as loop

    suite = load_suite(write(tmp_path, train=100, epochs=2, variants="[stl, sl, tl]"))
    real_loss, real_fit = loop.loss_fn, runner.fit

    def nan_for_sl(rates, labels, loss):
        value = real_loss(rates, labels, loss)
        return value * float("nan") if current["variant"] == "sl" else value

    def fit(model, bundle, spec, *args, **kwargs):
        current["variant"] = spec.variant
        if spec.variant == "tl":
            raise RuntimeError("injected failure")
        return real_fit(model, bundle, spec, *args, **kwargs)

    current = {}
    monkeypatch.setattr(loop, "loss_fn", nan_for_sl)
    monkeypatch.setattr(runner, "fit", fit)
    summary = run_suite(suite, tmp_path / "res", device="cpu")
    assert len(summary.done) == 1 and len(summary.failed) == 2
    metrics = {
        c.spec.train.variant: json.loads((tmp_path / "res" / "rel" / c.slug / "metrics.json").read_text())
        for c in suite.cells
    }
    assert metrics["stl"]["status"] == "done"
    assert (
        metrics["sl"]["status"] == "failed"
        and "diverged in epoch 1: the loss became nan in batch 1" in metrics["sl"]["error"]
    )
    assert metrics["sl"]["failed_epoch"] == 1 and metrics["sl"]["test_acc"] is None
    assert metrics["tl"]["error"] == "RuntimeError: injected failure"
    # failed cells are kept, not retried, unless asked
    monkeypatch.setattr(loop, "loss_fn", real_loss)
    monkeypatch.setattr(runner, "fit", real_fit)
    assert len(run_suite(suite, tmp_path / "res", device="cpu").failed) == 2
    again = run_suite(suite, tmp_path / "res", device="cpu", retry_failed=True)
    assert sorted(again.done) == sorted(c.cell_id for c in suite.cells if c.spec.train.variant != "stl")


def test_fail_fast_stops_at_first_failure(tmp_path, monkeypatch):
    import snnbench.runner.cell as runner

    suite = load_suite(write(tmp_path, train=100, epochs=1, variants="[stl, sl, tl]"))
    monkeypatch.setattr(runner, "fit", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    summary = run_suite(suite, tmp_path / "res", device="cpu", fail_fast=True)
    assert len(summary.failed) == 1 and not summary.done


BAD_SUITES = {
    "malformed_yaml": "name: x\ntrain: {epochs: 1\n",
    "unknown_top_key": "name: x\ntrian:\n  epochs: 1\n",
    "unknown_nested_key": "name: x\nmodel:\n  neuron:\n    tua: 0.5\n",
    "wrong_type": "name: x\ntrain:\n  batch_size: fifty\n",
    "negative_epochs": "name: x\ntrain:\n  epochs: -2\n",
    "zero_T": "name: x\ndata:\n  T: 0\n",
    "empty_axis": "name: x\nmatrix:\n  seed: []\n",
    "axis_not_list": "name: x\nmatrix:\n  seed: 3\n",
    "unknown_dataset": "name: x\ndata:\n  dataset: imagenet\n",
    "unknown_model": "name: x\nmodel:\n  name: resnet\n",
    "unknown_variant": "name: x\ntrain:\n  variant: both\n",
    "unknown_surrogate": "name: x\nmodel:\n  neuron:\n    surrogate: sigmoud\n",
    "unknown_noise": "name: x\nnoise:\n  sweeps:\n    - kind: salt\n      levels: [0.1]\n",
    "negative_noise_level": "name: x\nnoise:\n  sweeps:\n    - kind: gaussian\n      levels: [-0.1]\n",
    "bad_granularity": "name: x\nmodel:\n  neuron:\n    threshold: synapse\n",
    "tau_out_of_range": "name: x\nmodel:\n  neuron:\n    tau: 0\n",
    "missing_name": "train:\n  epochs: 1\n",
    "not_a_mapping": "just a string\n",
    "duplicate_key": "name: x\nname: y\n",
    "missing_include": "name: x\ninclude: base.yaml\n",
    "channels_vs_depth": "name: x\nmodel:\n  name: conv\n  depth: 2\n  channels: [8]\n",
    "missing_data": "name: x\ndata:\n  dataset: cifar10\n  root: nowhere\n",
    "power_required_no_gpu": "name: x\npower:\n  mode: required\n",
}


@pytest.mark.parametrize("case", sorted(BAD_SUITES))
def test_bad_suites_exit_2_with_one_line(tmp_path, capsys, monkeypatch, case):
    from snnbench.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(BAD_SUITES[case])
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "bad.yaml", "--device", "cpu", "--results", "res", "-o", "data.train_subset=10"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    assert not list(tmp_path.glob("res/*/*/done.json"))


BAD_COMMANDS = [
    (["run"], "Missing argument 'SUITE'"),
    (["run", "nope.yaml"], "suite file not found"),
    (["run", "good.yaml", "--device", "tpu"], "unknown device 'tpu'"),
    (["run", "good.yaml", "--device", "cuda"], "CUDA is not available"),
    (["run", "good.yaml", "-o", "epochs"], "is not key=value"),
    (["run", "good.yaml", "-o", "train.lr=-1"], "'train.lr' is -1"),
    (["run", "good.yaml", "--results", "good.yaml"], "is not writable"),
    (["run", "good.yaml", "--results", "res/x"], "is the directory of suite 'x'"),
    (["frobnicate"], "No such command 'frobnicate'"),
    (["report", "missing-dir"], "does not exist"),
]


@pytest.mark.parametrize("args, message", BAD_COMMANDS)
def test_bad_command_lines_exit_2_with_one_line(tmp_path, capsys, monkeypatch, args, message):
    from snnbench.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.yaml").write_text("name: g\ndata:\n  train_subset: 10\n")
    (tmp_path / "res" / "x").mkdir(parents=True)
    (tmp_path / "res" / "x" / "suite.json").write_text('{"suite": "x", "schema_version": 1}')
    if torch.cuda.is_available() and args[-1] == "cuda":
        pytest.skip("CUDA present")
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
