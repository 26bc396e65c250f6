"""Noise sweeps on trained cells: level 0 = clean accuracy exactly, skipping measured levels, summaries, nAUC."""

from __future__ import annotations

import json
import shutil
import textwrap

import pytest
import torch

from snnbench.analysis.robustness import robustness_frame, robustness_summary
from snnbench.data import load_data
from snnbench.errors import ResultsError, SuiteError
from snnbench.measure import robustness
from snnbench.measure.accuracy import evaluate
from snnbench.measure.robustness import eval_results, evaluate_noise, parse_noise_option, parse_noise_options
from snnbench.models import create_model
from snnbench.results.noise import merge_rows, read_noise_rows, row_key
from snnbench.suite import load_suite
from snnbench.suite.schema import CellSpec, DataSpec, ModelSpec, NeuronSpec, NoiseSpec, NoiseSweep, TrainSpec

CPU = torch.device("cpu")


def row(kind, level, acc, params=None):
    return {"noise_kind": kind, "noise_level": level, "noise_params": params or {}, "test_acc": acc}


def sweep(kind, levels, **params):
    return NoiseSweep(kind=kind, levels=tuple(float(v) for v in levels), params=params)


# ---------------------------------------------------------------- summaries


def test_robustness_summary_hand_made():
    rows = [row("gaussian", 0.2, 0.6), row("gaussian", 0.0, 0.9), row("gaussian", 0.4, 0.3), row("gaussian", 0.1, 0.8)]
    rows.append(row("gaussian", 0.1, 0.1))  # a repeated level: the first row counts
    rows += [row("event_drop", 0.5, 0.45), row("gaussian", 0.3, 0.5, {"clip": False})]
    out = robustness_summary(rows, clean_acc=0.9)
    assert [(s["noise_kind"], s["noise_params"]) for s in out] == [
        ("gaussian", {}),
        ("event_drop", {}),
        ("gaussian", {"clip": False}),
    ]
    g = out[0]
    assert g["levels"] == [0.0, 0.1, 0.2, 0.4] and g["test_acc"] == [0.9, 0.8, 0.6, 0.3]
    assert g["acc_drop"] == pytest.approx([0.0, 0.1, 0.3, 0.6])
    assert g["relative_drop"] == pytest.approx([0.0, 1 / 9, 1 / 3, 2 / 3])
    # trapezoid: 0.1 * 1.7 / 2 + 0.1 * 1.4 / 2 + 0.2 * 0.9 / 2 = 0.245; / (0.4 * 0.9)
    assert g["auc"] == pytest.approx(0.245)
    assert g["nauc"] == pytest.approx(0.245 / 0.36)
    assert (g["level_min"], g["level_max"], g["clean_acc"]) == (0.0, 0.4, 0.9)
    single = out[1]
    assert single["auc"] == 0.0 and single["nauc"] == pytest.approx(0.5)  # one level: acc / clean
    assert robustness_summary(rows, clean_acc=0.0)[0]["nauc"] is None
    assert robustness_summary(rows, clean_acc=None)[0]["acc_drop"] == [None] * 4
    flat = robustness_summary([row("event_drop", 0, 0.5), row("event_drop", 1, 0.5)], clean_acc=0.5)
    assert flat[0]["nauc"] == pytest.approx(1.0)


def test_merge_rows_replaces_same_measurement():
    old = [row("gaussian", 0.1, 0.5, {"clip": True}), row("gaussian", 0.2, 0.4, {"clip": True})]
    new = [row("gaussian", 0.2, 0.3, {"clip": True}), row("gaussian", 0.2, 0.1, {"clip": False})]
    merged = merge_rows(old, new)
    assert [r["test_acc"] for r in merged] == [0.5, 0.3, 0.1]
    assert row_key(merged[0]) == ("gaussian", 0.1, '{"clip":true}')


def test_parse_noise_option():
    s = parse_noise_option("gaussian=0,0.1,0.25:clip=false")
    assert (s.kind, s.levels, s.params) == ("gaussian", (0.0, 0.1, 0.25), {"clip": False})
    spec = parse_noise_options(["event_drop=0,0.5", "event_background=0,100"])
    assert [w.kind for w in spec.sweeps] == ["event_drop", "event_background"]
    with pytest.raises(SuiteError, match="did you mean 'gaussian'"):
        parse_noise_option("gausian=0.1")
    with pytest.raises(SuiteError, match=">= 0"):
        parse_noise_option("gaussian=0,-0.1")
    with pytest.raises(SuiteError, match="KIND=L1,L2"):
        parse_noise_option("gaussian")
    with pytest.raises(SuiteError, match="did you mean 'clip'"):
        parse_noise_option("gaussian=0.1:clp=false")
    with pytest.raises(SuiteError, match="<= 1"):
        parse_noise_option("event_drop=2")


# ---------------------------------------------------------------- evaluate_noise


def _model(info, width=16):
    torch.manual_seed(0)
    return create_model(ModelSpec(width=width, depth=1, neuron=NeuronSpec(backend="reference", theta_init=0.2)), info)


def test_evaluate_noise_static_matches_clean_at_level_zero():
    data = DataSpec(dataset="mnist_digits", T=2, test_subset=100)
    spec = CellSpec(
        seed=3,
        data=data,
        train=TrainSpec(batch_size=20),
        noise=NoiseSpec(sweeps=(sweep("gaussian", [0, 0.3]), sweep("event_drop", [0.5]), sweep("salt_pepper", [0.2]))),
    )
    bundle = load_data(data, 3)
    model = _model(bundle.info)
    clean = evaluate(model, bundle, CPU, seed=3, batch_size=100)  # fit's evaluation: batch max(batch_size, 100)
    seen = []
    rows = evaluate_noise(model, spec, CPU, bundle=bundle, on_row=seen.append)
    assert seen == rows
    assert [(r["noise_kind"], r["noise_level"]) for r in rows] == [
        ("gaussian", 0.0),
        ("gaussian", 0.3),
        ("salt_pepper", 0.2),
    ]  # event_drop does not apply to images: skipped
    zero = rows[0]
    assert (zero["test_acc"], zero["test_loss"], zero["test_samples"]) == (
        clean["test_acc"],
        clean["test_loss"],
        clean["test_samples"],
    )
    assert zero["noise_params"] == {"clip": True}
    assert rows[1]["test_loss"] != clean["test_loss"] and rows[2]["test_loss"] != clean["test_loss"]
    assert evaluate_noise(model, spec, CPU, bundle=bundle) == rows  # reproducible
    assert evaluate_noise(model, spec, CPU, bundle=bundle, done={("gaussian", 0), ("gaussian", 0.3)}) == rows[2:]
    skip = {row_key(rows[0])}
    assert evaluate_noise(model, spec, CPU, bundle=bundle, done=skip) == rows[1:]


def test_evaluate_noise_event(tmp_path):
    data = DataSpec(dataset="dvs_digits", root=str(tmp_path), T=2, train_subset=1, test_subset=10)
    sweeps = (sweep("event_drop", [0, 0.7]), sweep("gaussian", [0.1]), sweep("event_background", [0, 500]))
    spec = CellSpec(seed=1, data=data, noise=NoiseSpec(sweeps=sweeps))
    bundle = load_data(data, 1)
    model = _model(bundle.info)
    clean = evaluate(model, bundle, CPU, seed=1, batch_size=100)
    rows = evaluate_noise(model, spec, CPU)
    assert [(r["noise_kind"], r["noise_level"]) for r in rows] == [
        ("event_drop", 0.0),
        ("event_drop", 0.7),
        ("event_background", 0.0),
        ("event_background", 500.0),
    ]
    for r in (rows[0], rows[2]):
        assert (r["test_acc"], r["test_loss"]) == (clean["test_acc"], clean["test_loss"])
    assert rows[1]["test_loss"] != clean["test_loss"] and rows[3]["test_loss"] != clean["test_loss"]
    assert evaluate_noise(model, spec, CPU, done={("event_drop", 0.0), ("event_background", 0.0)}) == [
        rows[1],
        rows[3],
    ]


# ---------------------------------------------------------------- eval_results on a results store

TINY = """
name: tiny-noise
data: {dataset: mnist_digits, T: 2, train_subset: 200, test_subset: 100}
model: {name: mlp, width: 16, depth: 1, neuron: {backend: reference, theta_init: 0.5}}
train: {epochs: 1, lr: 0.01}
matrix:
  variant: [stl, tl]
"""


@pytest.fixture(scope="module")
def trained_store(tmp_path_factory):
    from snnbench.runner import run_suite

    base = tmp_path_factory.mktemp("store")
    (base / "tiny.yaml").write_text(textwrap.dedent(TINY))
    summary = run_suite(load_suite(base / "tiny.yaml"), base / "results", device="cpu")
    assert len(summary.done) == 2
    for noise in (base / "results").rglob("noise.json"):
        noise.unlink()  # whatever the runner measured: these tests add the sweeps themselves
    return base / "results"


@pytest.fixture
def store(trained_store, tmp_path):
    root = tmp_path / "results"
    shutil.copytree(trained_store, root)
    return root


def _cells(root):
    return sorted(p.parent for p in root.rglob("done.json"))


def test_eval_results_adds_missing_levels_only(store, monkeypatch):
    calls = []
    real = robustness.evaluate

    def counting(*args, **kwargs):
        calls.append(kwargs.get("input_transform"))
        return real(*args, **kwargs)

    monkeypatch.setattr(robustness, "evaluate", counting)
    first = eval_results(store, parse_noise_options(["gaussian=0,0.2"]), "cpu")
    assert first.rows_added == 4 and len(first.evaluated) == 2 and len(calls) == 4
    for cell in _cells(store):
        rows = read_noise_rows(cell)
        assert [(r["noise_kind"], r["noise_level"]) for r in rows] == [("gaussian", 0.0), ("gaussian", 0.2)]
        metrics = json.loads((cell / "metrics.json").read_text())
        assert rows[0]["test_acc"] == metrics["test_acc"]  # level 0 = the clean accuracy, exactly
        assert rows[0]["test_samples"] == 100
    before = {c: read_noise_rows(c) for c in _cells(store)}

    calls.clear()
    second = eval_results(store, parse_noise_options(["gaussian=0,0.2,0.4"]), "cpu")
    assert second.rows_added == 2 and len(calls) == 2 and all(t is not None for t in calls)
    for cell in _cells(store):
        rows = read_noise_rows(cell)
        assert rows[:2] == before[cell] and rows[2]["noise_level"] == 0.4

    calls.clear()
    third = eval_results(store, NoiseSpec(sweeps=(sweep("gaussian", [0.2, 0.4]),)), "cpu")
    assert third.rows_added == 0 and len(third.up_to_date) == 2 and calls == []

    other = eval_results(store, parse_noise_options(["gaussian=0.2:clip=false"]), "cpu")
    assert other.rows_added == 2  # other params: another measurement
    events_only = eval_results(store, parse_noise_options(["event_drop=0.5"]), "cpu")
    assert events_only.rows_added == 0 and len(events_only.no_sweeps) == 2
    assert eval_results(store, parse_noise_options(["gaussian=0.3"]), "cpu", suite_name="other").rows_added == 0


def test_eval_results_uses_each_cells_noise_section_and_skips_unfinished(store):
    cells = _cells(store)
    spec_path = cells[0] / "spec.json"
    spec = json.loads(spec_path.read_text())
    spec["noise"] = {"sweeps": [{"kind": "salt_pepper", "levels": [0, 0.1], "params": {}}]}
    spec_path.write_text(json.dumps(spec))
    (cells[1] / "done.json").unlink()  # unfinished
    summary = eval_results(store, None, "cpu")
    assert summary.evaluated == {str(cells[0]): 2}
    assert summary.not_done == [str(cells[1])]
    assert [r["noise_kind"] for r in read_noise_rows(cells[0])] == ["salt_pepper", "salt_pepper"]
    assert read_noise_rows(cells[1]) == []
    frame = robustness_frame(store)
    assert list(frame["noise_kind"]) == ["salt_pepper"] and frame["levels"].iloc[0] == 2
    assert frame["clean_acc"].iloc[0] == json.loads((cells[0] / "metrics.json").read_text())["test_acc"]
    with pytest.raises(ResultsError, match="does not exist"):
        eval_results(store / "missing", None, "cpu")
