"""``train.init_from``: a cell starts from the trained network of another variant's finished cell (same seed and
settings) — e.g. thresholds fine-tuned on the weights ``sl`` learned — and a missing source is a clear error."""

from __future__ import annotations

import textwrap

import pytest
import torch

from snnbench.errors import ResultsError
from snnbench.runner import run_suite
from snnbench.suite import load_suite

SUITE = """
name: init
data: {dataset: mnist_digits, T: 2, train_subset: 60, test_subset: 30}
model: {name: mlp, depth: 1, width: 8, neuron: {backend: reference, theta_init: 0.5}}
energy: {enabled: false}
matrix:  # whole train sections as axis values: tl fine-tunes thresholds on sl's network
  train: [{variant: tl, init_from: sl, epochs: 1, lr: 0.01}, {variant: sl, epochs: 1, lr: 0.01}]
"""


def _state(results, variant, init_from=None):
    (cell,) = [p for p in results.glob(f"init/*-{variant}-s0-*") if (p / "model.pt").exists() and
               (init_from is None) == ('"init_from": null' in (p / "spec.json").read_text())]  # fmt: skip
    return torch.load(cell / "model.pt", weights_only=True), cell


def test_tl_starts_from_the_finished_sl_cell_and_trains_only_thresholds(tmp_path):
    (tmp_path / "s.yaml").write_text(textwrap.dedent(SUITE))
    suite = load_suite(tmp_path / "s.yaml")
    assert [c.spec.train.variant for c in suite.cells] == ["tl", "sl"]  # listed first, it must still run second
    summary = run_suite(suite, tmp_path / "res", device="cpu")
    assert len(summary.done) == 2 and not summary.failed
    sl, _ = _state(tmp_path / "res", "sl")
    tl, tl_dir = _state(tmp_path / "res", "tl", init_from="sl")
    weights = [k for k in sl if k.endswith(".weight") and "theta" not in k]
    assert weights and all(torch.equal(sl[k], tl[k]) for k in weights)  # tl keeps sl's trained weights, bit for bit
    thetas = [k for k in sl if k.endswith("theta")]
    assert thetas and any(not torch.equal(sl[k], tl[k]) for k in thetas)  # and fine-tunes the thresholds
    assert "init_from" in (tl_dir / "provenance.json").read_text()


def test_a_missing_source_cell_is_a_one_line_error_before_training(tmp_path):
    text = textwrap.dedent(SUITE).replace(", {variant: sl, epochs: 1, lr: 0.01}]", "]")
    (tmp_path / "s.yaml").write_text(text)
    with pytest.raises(ResultsError, match=r"starts from the sl cell .* neither in this suite nor finished") as info:
        run_suite(load_suite(tmp_path / "s.yaml"), tmp_path / "res", device="cpu")
    assert "\n" not in str(info.value)
    assert not list((tmp_path / "res").rglob("history.json"))
