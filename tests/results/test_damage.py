"""The damage policy of the results store, through every command: a damaged or foreign file never crashes `run`,
`report`, `eval` or `status`, never hides the other cells, and gets one verdict everywhere (status ``damaged``, the
file, what to do). Also: failures before spec.json, read-only results, unusable checkpoints, one-line messages."""
# ruff: noqa: F811  (the fixtures of tests.trained are imported by name)

from __future__ import annotations

import io
import json
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import torch

from snnbench.cli.eval import parse_noise_option
from snnbench.errors import SuiteError
from snnbench.results import cells_frame
from snnbench.results import store as store_module
from snnbench.results.noise import read_noise_rows
from snnbench.results.store import RETRAIN_HINT, CellStore, DamagedFile, damaged
from snnbench.runner import run_suite
from snnbench.runner.suite import RunSummary
from snnbench.suite import load_suite
from tests.trained import cell_dirs, cli, results, suite_file, trained  # noqa: F401  (fixtures)

KEPT = "move it away; the rest of the cell is kept"
NOISE_HINT = "move it away, then 'snnbench eval' measures the noise levels again"
# file, bytes written over it, the problem reported, the hint
DAMAGES = {
    "done-truncated": ("done.json", b'{"status": "do', "not valid JSON (", RETRAIN_HINT),
    "done-not-object": ("done.json", b'["done"]', "holds a JSON list, not a JSON object", RETRAIN_HINT),
    "metrics-truncated": ("metrics.json", b'{"status": "done", "test_acc": 0.', "not valid JSON (", RETRAIN_HINT),
    "metrics-not-object": ("metrics.json", b"42", "holds a JSON int, not a JSON object", RETRAIN_HINT),
    "spec-garbage": ("spec.json", b"\x00\xff\xfegarbage", "not valid JSON (", RETRAIN_HINT),
    "model-garbage": ("model.pt", b"not a torch archive", "not a torch file (truncated or foreign)", RETRAIN_HINT),
    "noise-truncated": ("noise.json", b'[{"noise_kind": ', "not valid JSON (", NOISE_HINT),
    "noise-foreign": ("noise.json", b'[{"kind": "gaussian"}]', "item 0 is not an object with noise_kind, noise_level",
                      NOISE_HINT),
    "history-truncated": ("history.json", b"[{", "not valid JSON (", KEPT),
}  # fmt: skip


def _verdict(cli, suite_file, results, bad: Path, problem: str, hint: str) -> None:
    """Every command lists the damaged cell with one verdict and still reports (or works on) the other cell."""
    cells = cell_dirs(results) if (results / "tiny-damage").is_dir() else {}
    damaged, other = bad if bad.parent.name == "tiny-damage" else bad.parent, cells["tl"]
    prefix = f"{bad} is damaged: {problem}"

    code, out, err = cli("status", results, "--format", "json")
    rows = {r["slug"]: r for r in json.loads(out)}
    assert code == 0 and err == ""
    assert rows[damaged.name]["status"] == "damaged" and rows[damaged.name]["error"].startswith(prefix)
    assert rows[damaged.name]["error"].endswith(f"(hint: {hint})")
    assert rows[other.name]["status"] == "done" and rows[other.name]["error"] is None

    code, out, err = cli("report", results, "--format", "csv")
    frame = pd.read_csv(io.StringIO(out)).set_index("path")
    assert code == 0 and "Traceback" not in err
    assert frame.loc[str(damaged), "status"] == "damaged" and frame.loc[str(damaged), "error"].startswith(prefix)
    assert frame.loc[str(other), "status"] == "done" and 0.0 <= frame.loc[str(other), "test_acc"] <= 1.0

    before = bad.read_bytes() if bad.is_file() else None
    code, out, err = cli("eval", results, "--noise", "gaussian=0.2", "--device", "cpu")
    assert code == 0 and "Traceback" not in err
    assert f"damaged: {damaged} (+0 rows)" in err and f"evaluated: {other} (+1 rows)" in err
    assert err.strip().splitlines()[-1] == "1 cells evaluated (1 new rows), 0 up to date, 0 not finished, 1 damaged"
    assert [r["noise_level"] for r in read_noise_rows(other)] == [0.2]
    assert (bad.read_bytes() if bad.is_file() else None) == before  # eval left the damaged cell alone

    code, out, err = cli("run", suite_file, "--results", results, "--device", "cpu")
    # a damaged cell is a result the user must act on: exit 1, with what to do (like a failed cell)
    assert code == 1 and "Traceback" not in err and "0 trained, 1 already finished, 0 failed" in err
    assert f"damaged {damaged.name[-12:]}: {prefix}" in err
    summary = run_suite(load_suite(suite_file), results, device="cpu")
    assert list(summary.damaged.values())[0].startswith(prefix) and summary.skipped == [other.name[-12:]]
    assert summary.advice()[0].startswith(f"damaged {damaged.name[-12:]}: {prefix}")
    assert (bad.read_bytes() if bad.is_file() else None) == before  # nothing deleted


@pytest.mark.parametrize("case", list(DAMAGES))
def test_a_damaged_file_gets_one_verdict_in_every_command(case, results, suite_file, cli):
    name, content, problem, hint = DAMAGES[case]
    bad = cell_dirs(results)["stl"] / name
    bad.write_bytes(content)
    _verdict(cli, suite_file, results, bad, problem, hint)


def test_a_file_where_a_cell_folder_should_be(results, suite_file, cli):
    folder = cell_dirs(results)["stl"]
    shutil.rmtree(folder)
    folder.write_text("not a folder")
    hint = "move it away; 'snnbench run' trains the cell into a folder of that name"
    _verdict(cli, suite_file, results, folder, "a file where a cell folder should be", hint)


def test_a_damaged_suite_json_stops_run_in_one_line_and_hides_no_cell(results, suite_file, cli):
    marker = results / "tiny-damage" / "suite.json"
    marker.write_text("{")
    code, _, err = cli("run", suite_file, "--results", results, "--device", "cpu")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"error: {marker} is damaged: not valid JSON (")
    assert "(hint: move it away; 'snnbench run' writes a new one)" in err
    code, out, _ = cli("status", results, "--format", "json")
    assert code == 0 and [r["status"] for r in json.loads(out)] == ["done", "done"]
    code, out, _ = cli("report", results, "--format", "csv")
    assert code == 0 and list(pd.read_csv(io.StringIO(out))["status"]) == ["done", "done"]


def test_retry_failed_sets_damaged_files_aside_and_trains_again(results, suite_file):
    bad = cell_dirs(results)["stl"] / "metrics.json"
    bad.write_text("[")
    summary = run_suite(load_suite(suite_file), results, device="cpu", retry_failed=True)
    assert len(summary.done) == 1 and not summary.damaged
    assert (bad.parent / "metrics.json.damaged").read_text() == "["  # kept, out of the way
    assert CellStore(bad.parent).status() == "done" and json.loads(bad.read_text())["status"] == "done"


# -- a failure before spec.json ---------------------------------------------------------------------------------------


def test_a_cell_failing_before_its_first_write_is_reported(tmp_path, suite_file, cli, monkeypatch):
    def oom(*args, **kwargs):
        raise RuntimeError("CUDA out of memory while building the model")

    monkeypatch.setattr("snnbench.runner.suite.run_cell", oom)
    root = tmp_path / "results"
    summary = run_suite(load_suite(suite_file), root, device="cpu")
    assert len(summary.failed) == 2
    code, out, _ = cli("report", root, "--table", "failures")
    assert code == 0 and "\n2 cells: 2 failed\n" in out
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in out.splitlines()
            if line.startswith("| ") and not line.startswith("| cell_id")}  # fmt: skip
    error = "RuntimeError: CUDA out of memory while building the model"
    assert rows == {
        cell_id: ["tiny-damage", "mnist_digits", "mlp", "1", variant, "0", "failed", "0", error]
        for cell_id, variant in zip(summary.failed, ["stl", "tl"], strict=True)
    }
    code, out, _ = cli("status", root, "--format", "json")
    assert [r["status"] for r in json.loads(out)] == ["failed", "failed"]
    again = run_suite(load_suite(suite_file), root, device="cpu")
    assert sorted(again.previously_failed) == sorted(summary.failed)
    assert again.advice() == ["2 cells failed in an earlier run; rerun with --retry-failed to train them again"]


def test_a_cell_with_done_json_but_no_spec_is_a_row(tmp_path):
    cell = CellStore(tmp_path / "s" / "mnist_digits-mlp-d1-stl-s0-0123456789ab")
    cell.write_metrics({"status": "failed", "error": "OverflowError: seed out of range"})
    cell.mark_done("failed")
    row = cells_frame(tmp_path).iloc[0]
    assert (row["suite"], row["cell_id"], row["status"]) == ("s", "0123456789ab", "failed")
    assert row["error"] == "OverflowError: seed out of range"


# -- permissions ------------------------------------------------------------------------------------------------------


@pytest.fixture
def read_only(monkeypatch):
    """Make a results root read-only. Root ignores file modes, so the EACCES is raised at the file-system calls the
    store makes (open for writing, temporary files, mkdir) for paths under the root."""

    def protect(root: Path) -> None:
        root = root.resolve()

        def denied(path) -> bool:
            return Path(path).resolve().is_relative_to(root)

        real_open, real_mkstemp, real_mkdir = open, tempfile.mkstemp, Path.mkdir

        def fake_open(path, mode="r", *args, **kwargs):
            if any(c in mode for c in "wax+") and denied(path):
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, mode, *args, **kwargs)

        def fake_mkstemp(*args, dir=None, **kwargs):
            if dir is not None and denied(dir):
                raise PermissionError(13, "Permission denied", str(dir))
            return real_mkstemp(*args, dir=dir, **kwargs)

        def fake_mkdir(self, *args, exist_ok=False, **kwargs):
            if denied(self) and not (exist_ok and self.is_dir()):
                raise PermissionError(13, "Permission denied", str(self))
            return real_mkdir(self, *args, exist_ok=exist_ok, **kwargs)

        monkeypatch.setattr(store_module, "open", fake_open, raising=False)
        monkeypatch.setattr(store_module.tempfile, "mkstemp", fake_mkstemp)
        monkeypatch.setattr(Path, "mkdir", fake_mkdir)

    return protect


def test_read_only_finished_results(results, suite_file, cli, read_only):
    assert cli("eval", results, "--noise", "gaussian=0.1", "--device", "cpu")[0] == 0
    read_only(results)
    code, _, err = cli("run", suite_file, "--results", results, "--device", "cpu")
    assert code == 0 and "0 trained, 2 already finished, 0 failed" in err
    code, _, err = cli("eval", results, "--noise", "gaussian=0.1", "--device", "cpu")
    assert code == 0 and err.strip().splitlines()[-1] == "0 cells evaluated (0 new rows), 2 up to date, 0 not finished"
    code, _, err = cli("eval", results, "--noise", "gaussian=0.3", "--device", "cpu")
    lock = cell_dirs(results)["stl"] / ".lock"
    assert code == 2 and err.strip().splitlines()[-1] == (
        f"error: cannot write {lock} (Permission denied) (hint: make the results directory writable, or pass another "
        "--results directory)"
    )
    assert "Traceback" not in err


def test_unreadable_data_root_is_one_line(results, suite_file, cli, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "/data/locked")

    monkeypatch.setattr("snnbench.runner.evaluate.load_data", denied)
    code, _, err = cli("eval", results, "--noise", "gaussian=0.3", "--device", "cpu", "--data-root", "/data/locked")
    assert code == 2 and err.strip().splitlines()[-1] == (
        "error: cannot read /data/locked (permission denied) (hint: pass a readable --data-root)"
    )
    monkeypatch.setattr("snnbench.runner.suite.preflight", denied)
    code, _, err = cli("run", suite_file, "--results", results, "--device", "cpu", "--data-root", "/data/locked")
    assert (code, err) == (2, "error: permission denied: /data/locked\n")


# -- checkpoints ------------------------------------------------------------------------------------------------------


def test_a_checkpoint_of_another_structure_is_discarded(tmp_path):
    cell = CellStore(tmp_path / "cell")
    cell.save_checkpoint({"weights": {"w": torch.zeros(2)}, "epoch": 1})
    with pytest.warns(UserWarning, match=r"checkpoint.pt is not a training checkpoint \(keys epoch, model, "):
        assert cell.load_checkpoint() is None
    assert not (cell.path / "checkpoint.pt").exists()


def test_a_checkpoint_of_another_network_is_discarded(tmp_path):
    model = torch.nn.Linear(3, 2)
    keys = ("epoch", "optimizer", "scheduler", "rng_cpu", "rng_cuda", "generator")
    state = {**dict.fromkeys(keys, 0), "model": torch.nn.Linear(4, 2).state_dict(), "history": []}
    cell = CellStore(tmp_path / "cell")
    cell.save_checkpoint(state)
    assert cell.load_checkpoint()["model"].keys() == model.state_dict().keys()  # structure alone: usable
    with pytest.warns(UserWarning, match="checkpoint.pt is the training state of another network; training this"):
        assert cell.load_checkpoint(model) is None


def test_a_cell_stuck_on_a_foreign_checkpoint_trains_from_scratch(results, suite_file):
    cell = CellStore(cell_dirs(results)["stl"])
    cell.clear_done()
    cell.save_checkpoint({"weights": {}})  # loads, but is no training state: KeyError 'model' before the fix
    with pytest.warns(UserWarning, match="not a training checkpoint"):
        summary = run_suite(load_suite(suite_file), results, device="cpu")
    assert len(summary.done) == 1 and not summary.failed and cell.status() == "done"


# -- one-line messages ------------------------------------------------------------------------------------------------


def test_noise_option_with_unreadable_value(results, cli):
    with pytest.raises(SuiteError) as info:
        parse_noise_option("gaussian=0.1:clip=[")
    message = (
        "--noise gaussian=0.1:clip=[: cannot read the value '[' of parameter 'clip' (hint: write a number, "
        "true/false or a word, e.g. gaussian=0.1:clip=false)"
    )
    assert str(info.value) == message
    assert cli("eval", results, "--noise", "gaussian=0.1:clip=[") == (2, "", f"error: {message}\n")


def test_eval_says_why_nothing_was_done(results, tmp_path, cli):
    other = tmp_path / "other.yaml"
    other.write_text("name: other\ndata: {dataset: mnist_digits}\nmodel: {name: mlp}\n")
    code, _, err = cli("eval", results, "--suite", other, "--device", "cpu")
    assert code == 2 and err.strip().splitlines()[-1] == (
        f"error: no cell of suite 'other' under {results} (hint: suites found there: tiny-damage)"
    )
    code, _, err = cli("eval", results, "--noise", "event_drop=0.1", "--device", "cpu")
    assert code == 2 and err.strip().splitlines()[-1] == (
        f"error: no requested noise applies to the finished cells under {results}: event_drop apply to event data; "
        "mnist_digits is static (hint: see 'snnbench list noise' for the kinds of static and event data)"
    )


def test_eval_with_every_cell_damaged_exits_2(results, cli):
    for cell in cell_dirs(results).values():
        (cell / "metrics.json").write_text("[1,")
    code, _, err = cli("eval", results, "--noise", "gaussian=0.1", "--device", "cpu")
    lines = err.strip().splitlines()
    assert code == 2 and lines[-1] == (
        f"error: no cell under {results} could be evaluated: 2 damaged, 0 not finished (hint: see the damaged files "
        "above and what to do with each)"
    )
    assert lines[2] == f"  {next(iter(cell_dirs(results).values())) / 'metrics.json'} is damaged: not valid JSON " + (
        f"(line 1, column 4: Expecting value) (hint: {RETRAIN_HINT})"
    )


def test_report_on_an_unrelated_directory_says_why(tmp_path, cli):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README.md").write_text("hello")
    code, out, err = cli("report", tmp_path)
    assert (code, out) == (2, "") and err.startswith(f"error: no cells under {tmp_path}: no folder there holds")


def test_bare_snnbench_prints_help(cli):
    code, out, err = cli()
    assert code == 0 and err == "" and out.startswith("Usage: snnbench [OPTIONS] COMMAND [ARGS]...")


def test_run_summary_advice_is_empty_when_all_is_well():
    assert RunSummary(done=["a"]).advice() == [] and RunSummary(done=["a"]).ok
    assert not RunSummary(damaged={"a": "x"}).ok


def test_damaged_file_message_and_hint():
    error = damaged(Path("/r/s/c-0123456789ab/noise.json"), "not valid JSON (x)")
    assert isinstance(error, DamagedFile) and error.problem == "not valid JSON (x)"
    assert str(error) == f"/r/s/c-0123456789ab/noise.json is damaged: not valid JSON (x) (hint: {NOISE_HINT})"
