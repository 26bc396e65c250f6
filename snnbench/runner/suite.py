"""Run a suite: every cell trains and is measured once; finished cells get only the measurements the suite asks and
they lack (a noise sweep or energy settings added later); a failing cell is recorded.

For each cell, in suite order::

    a damaged file?               -> skip and report it (retry_failed: set the damaged files aside, train again)
    done, and the suite asks for measurements it lacks? -> measure just those under the lock (complete_cell)
    done.json present?            -> skip, without taking the lock (failed cells too, unless retry_failed)
    per-cell lock held elsewhere? -> skip (another process is training it)
    done.json says done?          -> measure what the suite asks and the cell lacks (complete_cell), else skip
    done.json says failed?        -> skip, unless retry_failed
    checkpoint.pt present?        -> resume after its epoch
    run_cell (snnbench.runner.cell)

User errors (missing data, bad device) stop the run with one line; finished cells are kept. Any other exception
inside a cell, and a loss that turns NaN/inf, marks that cell ``failed`` with the error and the run goes on; a cell
that fails before its first write gets its ``spec.json`` with the failure, so every command lists it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from snnbench.errors import SnnbenchError
from snnbench.results import CellStore, ResultsStore
from snnbench.results.store import SPEC
from snnbench.runner.cell import (
    DataCache,
    complete_cell,
    init_source_id,
    missing_measurements,
    record_failure,
    run_cell,
)
from snnbench.runner.device import resolve_device
from snnbench.runner.heap import keep_heap
from snnbench.runner.preflight import check_init_sources, preflight
from snnbench.runner.progress import Progress
from snnbench.runner.threads import launch_threads, restores_threads, use_threads
from snnbench.seeds import deterministic_cublas
from snnbench.suite import Cell, Suite, spec_to_dict
from snnbench.train import TrainingDiverged


@dataclass
class RunSummary:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # finished before this run (measured ones included)
    measured: list[str] = field(default_factory=list)  # finished cells that got missing measurements
    busy: list[str] = field(default_factory=list)  # locked by another process
    failed: dict[str, str] = field(default_factory=dict)  # cell_id -> error (this run's and earlier runs' failures)
    previously_failed: list[str] = field(default_factory=list)  # failed in an earlier run, skipped now
    damaged: dict[str, str] = field(default_factory=dict)  # cell_id -> the damaged file and what to do

    @property
    def ok(self) -> bool:
        return not self.failed and not self.damaged

    def advice(self) -> list[str]:
        """Lines that tell the user what to do next (empty when nothing needs doing)."""
        lines = [f"damaged {cell_id}: {why}" for cell_id, why in self.damaged.items()]
        if self.previously_failed:
            n = len(self.previously_failed)
            lines.append(f"{n} cell{'s' if n > 1 else ''} failed in an earlier run; rerun with --retry-failed to train "
                         f"{'them' if n > 1 else 'it'} again")  # fmt: skip
        return lines


def _record_failure(suite: Suite, cell: Cell, cell_store: CellStore, exc: BaseException) -> str:
    """Record the failure of ``cell``; one that failed before its first write gets its ``spec.json`` too."""
    if not (cell_store.path / SPEC).exists():
        with contextlib.suppress(Exception):  # the failure itself is recorded below whatever happens here
            cell_store.write_spec({"suite": suite.name, "cell_id": cell.cell_id, "axes": cell.axes,
                                   **spec_to_dict(cell.spec)})  # fmt: skip
    return record_failure(cell_store, exc)


def _set_aside(cell_store: CellStore) -> None:
    """Rename every damaged file of a cell to ``<name>.damaged`` (``.damaged.2``, ...): kept, out of the way."""
    while (damage := cell_store.damage()) is not None and damage.path != cell_store.path:
        target = damage.path.with_name(damage.path.name + ".damaged")
        n = 1
        while target.exists():
            n += 1
            target = damage.path.with_name(f"{damage.path.name}.damaged.{n}")
        damage.path.rename(target)


def _skip_unlocked(cell: Cell, cell_store: CellStore, retry_failed: bool, summary: RunSummary) -> bool:
    """Whether the cell needs no work (finished, or damaged and not retried), recorded in ``summary``; decided
    without the lock, so a read-only directory of finished cells runs through."""
    damage = cell_store.damage()
    if damage is not None and (not retry_failed or damage.path == cell_store.path):
        summary.damaged[cell.cell_id] = str(damage)
        return True
    if damage is not None:
        return False
    status = cell_store.finished()
    if status == "done" or (status == "failed" and not retry_failed):
        summary.skipped.append(cell.cell_id)
        if status == "failed":
            summary.failed[cell.cell_id] = cell_store.error()
            summary.previously_failed.append(cell.cell_id)
        return True
    return False


def _needs_measurements(cell: Cell, cell_store: CellStore) -> bool:
    """A finished, undamaged cell whose suite now asks for measurements it lacks (noise levels, energy settings)."""
    return (
        cell_store.damage() is None and cell_store.finished() == "done" and bool(missing_measurements(cell, cell_store))
    )


def _complete(cell: Cell, cell_store: CellStore, device, data: DataCache, summary: RunSummary, progress,
              threads: int) -> None:  # fmt: skip
    """Measure what a finished cell lacks, under its lock (:func:`snnbench.runner.cell.complete_cell`)."""
    with cell_store.lock() as acquired:
        if not acquired:
            summary.busy.append(cell.cell_id)
            progress.skip(cell)
            return
        summary.skipped.append(cell.cell_id)
        measured = complete_cell(cell, cell_store, device, data=data, threads=threads)
    if measured is None:
        progress.skip(cell)
    else:
        summary.measured.append(cell.cell_id)
        progress.measured(cell, measured)


def _runs_after(cell: Cell) -> bool:
    return cell.spec.train.init_from is not None


def _source_busy(cell: Cell, by_id: dict[str, Cell], store: ResultsStore, suite_name: str) -> bool:
    if not cell.spec.train.init_from:
        return False
    source = by_id.get(init_source_id(cell))
    return source is not None and store.cell(suite_name, source.slug).status() == "running"


@restores_threads
def run_suite(
    suite: Suite,
    results: str | Path = "results",
    *,
    device: str = "auto",
    data_root: str | None = None,
    progress: Progress | None = None,
    fail_fast: bool = False,
    retry_failed: bool = False,
    cell_filter: Callable[[Cell], bool] | None = None,
    threads: int | None = None,
) -> RunSummary:
    """Run the cells of ``suite`` (those ``cell_filter`` keeps) into ``results`` on ``device``. ``threads``: the launch
    thread count, for cells without ``train.threads`` (default: the CPUs this process may use; a worker or a job gets
    its launcher's, see :mod:`snnbench.runner.threads`); this process's own count is back when it returns."""
    torch_device = resolve_device(device)
    keep_heap()
    threads = threads or launch_threads()
    use_threads(threads)  # the datasets load (preflight) with the launch count, whichever process loads them
    if torch_device.type == "cuda" and any(c.spec.train.deterministic for c in suite.cells):
        deterministic_cublas()  # before this process's first cuBLAS call
    store = ResultsStore(results)
    store.open_suite(suite.name, suite.description)
    # cells that start from another cell's network (train.init_from) run after the others
    cells = sorted((c for c in suite.cells if cell_filter is None or cell_filter(c)), key=_runs_after)
    stores = {c.cell_id: store.cell(suite.name, c.slug) for c in cells}
    pending = [c for c in cells if stores[c.cell_id].finished() is None]
    # finished cells whose suite now asks for measurements they lack (noise levels, energy settings) need data too
    to_measure = [c for c in cells if _needs_measurements(c, stores[c.cell_id])]
    data = DataCache(data_root)
    preflight(suite, (pending + to_measure) if not retry_failed else cells, torch_device, data)
    check_init_sources(suite, pending if not retry_failed else cells, store.root)
    by_id = {c.cell_id: c for c in suite.cells}
    summary = RunSummary()
    progress = progress or Progress()
    progress.suite_start(suite, torch_device, store.suite_dir(suite.name))
    measure_ids = {c.cell_id for c in to_measure}
    for cell in cells:
        cell_store = stores[cell.cell_id]
        if cell.cell_id in measure_ids:
            _complete(cell, cell_store, torch_device, data, summary, progress, threads)
            continue
        if _skip_unlocked(cell, cell_store, retry_failed, summary):
            progress.skip(cell)
            continue
        with cell_store.lock() as acquired:
            if not acquired:
                summary.busy.append(cell.cell_id)
                progress.skip(cell)
                continue
            damaged = cell_store.damage() is not None  # only retry_failed gets here with damage: train it again
            if damaged:  # start over: a checkpoint is no finished result, and may belong to the damaged files
                _set_aside(cell_store)
                cell_store.remove_checkpoint()
            status = cell_store.finished()  # again, under the lock: another process may have finished it
            if not damaged and (status == "done" or (status == "failed" and not retry_failed)):
                summary.skipped.append(cell.cell_id)
                progress.skip(cell)
                continue
            if _source_busy(cell, by_id, store, suite.name):
                summary.busy.append(cell.cell_id)  # its init_from source is training in another process
                progress.skip(cell)
                continue
            cell_store.clear_done()
            start = time.perf_counter()
            try:
                metrics = run_cell(suite, cell, cell_store, torch_device, data=data, progress=progress, threads=threads)
            except TrainingDiverged as exc:
                summary.failed[cell.cell_id] = _record_failure(suite, cell, cell_store, exc)
                progress.cell_end(cell, "failed", {"error": summary.failed[cell.cell_id]})
            except SnnbenchError:
                raise  # a user error (missing data, bad spec): stop with one line, finished cells stay
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:  # noqa: BLE001  (isolate the cell; the run goes on)
                summary.failed[cell.cell_id] = _record_failure(suite, cell, cell_store, exc)
                progress.cell_end(cell, "failed", {"error": summary.failed[cell.cell_id]})
            else:
                metrics["wall_time_s"] = time.perf_counter() - start
                summary.done.append(cell.cell_id)
                progress.cell_end(cell, "done", metrics)
        if fail_fast and summary.failed:
            break
    return summary
