"""snnbench eval on a results store: adds the missing noise levels only, merges rows, skips unfinished cells."""
# ruff: noqa: F811  (the fixture of tests.trained is imported by name)

from __future__ import annotations

import json
import shutil

import pytest
import torch

from snnbench.analysis.robustness import robustness_frame
from snnbench.cli.eval import parse_noise_options
from snnbench.errors import ResultsError
from snnbench.measure import robustness
from snnbench.results.noise import read_noise_rows
from snnbench.runner.evaluate import eval_results
from snnbench.suite.schema import NoiseSpec
from tests.stores import noise_sweep
from tests.trained import trained  # noqa: F401  (fixture)

CPU = torch.device("cpu")


@pytest.fixture
def store(trained, tmp_path):
    """A private copy of the two-cell trained store of ``tests.trained`` (stl and tl, no noise rows)."""
    root = tmp_path / "results"
    shutil.copytree(trained[1], root)
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
        assert rows[0]["test_samples"] == 50
    before = {c: read_noise_rows(c) for c in _cells(store)}

    calls.clear()
    second = eval_results(store, parse_noise_options(["gaussian=0,0.2,0.4"]), "cpu")
    assert second.rows_added == 2 and len(calls) == 2 and all(t is not None for t in calls)
    for cell in _cells(store):
        rows = read_noise_rows(cell)
        assert rows[:2] == before[cell] and rows[2]["noise_level"] == 0.4

    calls.clear()
    third = eval_results(store, NoiseSpec(sweeps=(noise_sweep("gaussian", [0.2, 0.4]),)), "cpu")
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
