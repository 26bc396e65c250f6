"""``snnbench validate`` makes every check ``run`` makes before training: a corpus of malformed suites gets the same
verdict (the same one-line error, with file:line or the -o that caused it) from both, and a good suite passes both."""

from __future__ import annotations

import re
import textwrap

import pytest

from snnbench.errors import SnnbenchError
from snnbench.runner import check_suite, run_suite
from snnbench.suite import load_suite

BASE = """
name: corpus
data: {dataset: mnist_digits, T: 2, train_subset: 20, test_subset: 10}
model: {name: mlp, depth: 1, width: 8, neuron: {backend: reference}}
train: {epochs: 1}
energy: {enabled: false}
"""

# (extra YAML appended to BASE, overrides, expected fragment of the one-line error)
CORPUS = [
    (
        "noise:\n  sweeps:\n    - {kind: salt_pepper, levels: [0.1, 1.5]}\n",
        (),
        r"suite.yaml:8: noise kind 'salt_pepper'",
    ),
    ("noise:\n  sweeps:\n    - {kind: gaussian, levels: [0.1], params: {clip: 'yes'}}\n", (), r"suite.yaml:8:"),
    ("noise:\n  sweeps:\n    - {kind: gaussian, levels: [0.1], params: {colour: 1}}\n", (), r"suite.yaml:8:.*colour"),
    (
        "noise:\n  sweeps:\n    - {kind: event_drop, levels: [2.0]}\n",
        ("dataset=dvs_digits",),
        r"suite.yaml:8: noise kind",
    ),
    ("noise:\n  sweeps:\n    - {kind: event_background, levels: [0.5]}\n", ("dataset=dvs_digits",), r"whole number"),
    ("noise:\n  sweeps:\n    - {kind: event_drop, levels: [0.1]}\n", (), r"suite.yaml:8: .*applies to event data"),
    ("", ("data.train_noise={kind: event_drop, level: 0.1}",), r"-o data.train_noise=.*event_drop"),
    ("", ("data.train_noise={kind: gaussian, level: 0.1, params: {nope: 1}}",), r"-o data.train_noise=.*nope"),
    ("", ("model.name=conv", "model.channels=[4, 4]"), r"-o model.channels=\[4, 4\]: 'model.channels' has 2 entries"),
    ("", ("model.name=conv", "model.depth=12"), None),  # builds (pooling stops at 4x4): both must accept
]


def _error(call) -> str | None:
    try:
        call()
    except SnnbenchError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("extra, overrides, pattern", CORPUS)
def test_validate_and_run_give_the_same_verdict(tmp_path, monkeypatch, extra, overrides, pattern):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "suite.yaml").write_text(textwrap.dedent(BASE).lstrip() + extra)
    validate_error = _error(lambda: check_suite(load_suite("suite.yaml", overrides)))  # what `validate` does
    started = []
    monkeypatch.setattr("snnbench.runner.suite.run_cell", lambda *a, **k: started.append(a) or {})
    run_error = _error(lambda: run_suite(load_suite("suite.yaml", overrides), tmp_path / "results", device="cpu"))
    assert validate_error == run_error
    if pattern is None:
        assert validate_error is None and len(started) == len(load_suite("suite.yaml", overrides).cells)
    else:
        assert validate_error is not None and not started
        assert re.search(pattern, validate_error), validate_error
        assert "\n" not in validate_error


def test_scale_out_checks_the_suite_before_submitting_or_starting_workers(tmp_path, monkeypatch):
    """`--launcher slurm|submitit-local` and `--workers` make the same checks up front: nothing is submitted."""
    from snnbench.runner.pool import run_parallel
    from snnbench.runner.slurm import submit_slurm

    monkeypatch.chdir(tmp_path)
    bad = "noise:\n  sweeps:\n    - {kind: salt_pepper, levels: [1.5]}\n"
    (tmp_path / "suite.yaml").write_text(textwrap.dedent(BASE).lstrip() + bad)
    for launch in (
        lambda: submit_slurm("suite.yaml", [], tmp_path / "results", executor="local", gpus_per_job=0),
        lambda: run_parallel("suite.yaml", [], tmp_path / "results", devices=["cpu", "cpu"]),
    ):
        message = _error(launch)
        assert message is not None and re.search(r"suite.yaml:8: noise kind 'salt_pepper'", message), message
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob(".submitit"))
