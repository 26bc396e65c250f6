"""Concurrent writers of one cell's noise.json keep every row: the merge re-reads the file under the cell lock."""
# ruff: noqa: F811  (the fixtures of tests.trained are imported by name)

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from snnbench.results.noise import CellBusy, read_noise_rows, write_noise_rows
from snnbench.results.store import CellStore
from snnbench.runner import evaluate as evaluate_module
from snnbench.runner.evaluate import eval_results
from snnbench.suite.schema import NoiseSpec, NoiseSweep
from tests.trained import cell_dirs, results, trained  # noqa: F401  (fixtures)


def noise(kind: str, level: float) -> NoiseSpec:
    return NoiseSpec(sweeps=(NoiseSweep(kind=kind, levels=(level,), params={}),))


def row(kind: str, level: float) -> dict:
    return {"noise_kind": kind, "noise_level": level, "noise_params": {}, "test_acc": 0.5}


def test_two_concurrent_evals_keep_both_kinds(results, monkeypatch):
    """Eval A measures gaussian and, before it writes, eval B measures and writes salt_pepper: the last writer used
    to win (A wrote the file it had read before B), losing B's row."""
    real = evaluate_module.evaluate_noise
    a_measured, b_written = threading.Event(), threading.Event()

    def pausing(model, spec, *args, **kwargs):
        rows = real(model, spec, *args, **kwargs)
        if spec.noise.sweeps[0].kind == "gaussian":
            a_measured.set()
            assert b_written.wait(60)
        return rows

    monkeypatch.setattr(evaluate_module, "evaluate_noise", pausing)
    cell = cell_dirs(results)["stl"]
    summaries = []
    first = threading.Thread(target=lambda: summaries.append(eval_results(cell, noise("gaussian", 0.1), "cpu")))
    first.start()
    assert a_measured.wait(60)
    summaries.append(eval_results(cell, noise("salt_pepper", 0.2), "cpu"))
    b_written.set()
    first.join(60)
    assert [s.evaluated for s in summaries] == [{str(cell): 1}, {str(cell): 1}]
    stored = sorted((r["noise_kind"], r["noise_level"]) for r in read_noise_rows(cell))
    assert stored == [("gaussian", 0.1), ("salt_pepper", 0.2)]


@pytest.fixture
def held_lock(tmp_path):
    """Hold a cell's lock from another process for ``seconds``; yields the cell folder once the lock is held."""
    cell = tmp_path / "cell"
    cell.mkdir()
    procs = []

    def hold(seconds: float):
        code = (
            "import fcntl, sys, time\n"
            f"f = open({str(cell / '.lock')!r}, 'a+'); fcntl.flock(f, fcntl.LOCK_EX)\n"
            f"print('held', flush=True); time.sleep({seconds})\n"
        )
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return cell

    yield hold
    for proc in procs:
        proc.kill()
        proc.wait()


def test_a_writer_waits_for_the_lock_and_merges(held_lock):
    cell = held_lock(0.5)
    start = time.monotonic()
    write_noise_rows(cell, [row("gaussian", 0.1)], wait_s=10)
    assert time.monotonic() - start >= 0.3  # it waited for the other process
    write_noise_rows(cell, [row("salt_pepper", 0.2)], wait_s=10)
    assert [(r["noise_kind"], r["noise_level"]) for r in read_noise_rows(cell)] == [("gaussian", 0.1),
                                                                                      ("salt_pepper", 0.2)]  # fmt: skip


def test_a_writer_gives_up_on_a_lock_held_too_long(held_lock):
    cell = held_lock(30)
    with pytest.raises(CellBusy, match=r"stayed locked by another process for 0.2 s; the new noise rows were not"):
        write_noise_rows(cell, [row("gaussian", 0.1)], wait_s=0.2)
    assert read_noise_rows(cell) == []


def test_the_lock_is_reentrant_for_a_measurement_inside_a_run(tmp_path):
    cell = CellStore(tmp_path / "cell")
    with cell.lock() as acquired:
        assert acquired and cell.is_locked()  # the flock is real: other open files see it
        write_noise_rows(cell.path, [row("gaussian", 0.1)], wait_s=0)
    assert len(read_noise_rows(cell.path)) == 1
