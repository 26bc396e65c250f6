"""A tiny trained results store (two real cells, model.pt included) and the CLI run in-process, shared by the
damage and concurrency tests (import the fixtures)."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from snnbench.runner import run_suite
from snnbench.suite import load_suite
from tests.stores import run_in_process

TINY = """
name: tiny-damage
data: {dataset: mnist_digits, T: 2, train_subset: 100, test_subset: 50}
model: {name: mlp, width: 16, depth: 1, neuron: {backend: reference, theta_init: 0.5}}
train: {epochs: 1, lr: 0.01}
matrix:
  variant: [stl, tl]
"""


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """(suite file, results root) of two finished cells (stl and tl), trained once per session."""
    base = tmp_path_factory.mktemp("trained")
    suite = base / "tiny.yaml"
    suite.write_text(textwrap.dedent(TINY))
    summary = run_suite(load_suite(suite), base / "results", device="cpu")
    assert len(summary.done) == 2
    for noise in (base / "results").rglob("noise.json"):
        noise.unlink()  # the suite measures no noise; the tests add their own
    return suite, base / "results"


@pytest.fixture
def results(trained, tmp_path) -> Path:
    """A private copy of the trained results root."""
    root = tmp_path / "results"
    shutil.copytree(trained[1], root)
    return root


@pytest.fixture
def suite_file(trained) -> Path:
    return trained[0]


def cell_dirs(root: Path) -> dict[str, Path]:
    """variant -> cell folder of the tiny store."""
    return {p.name.split("-")[-3]: p for p in sorted((root / "tiny-damage").iterdir()) if p.is_dir()}


@pytest.fixture
def cli(capsys):
    """Run ``snnbench ARGS`` in-process; return (exit code, stdout, stderr)."""
    return lambda *args: run_in_process(capsys, *args)
