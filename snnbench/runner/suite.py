"""Run a suite: every cell trains and is measured once; finished cells get only the measurements the suite asks and
they lack (a noise sweep or energy settings added later); a failing cell is recorded.

For each cell, in suite order::

    per-cell lock held elsewhere? -> skip (another process is training it)
    done.json says done?          -> measure what the suite asks and the cell lacks (complete_cell), else skip
    done.json says failed?        -> skip, unless retry_failed
    checkpoint.pt present?        -> resume after its epoch
    run_cell (snnbench.runner.cell)

User errors (missing data, bad device) stop the run with one line; finished cells are kept. Any other exception
inside a cell, and a loss that turns NaN/inf, marks that cell ``failed`` with the error and the run goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from snnbench.errors import SnnbenchError
from snnbench.results import ResultsStore
from snnbench.runner.cell import (
    DataCache,
    complete_cell,
    init_source_id,
    missing_measurements,
    record_failure,
    run_cell,
)
from snnbench.runner.device import resolve_device
from snnbench.runner.preflight import check_init_sources, preflight
from snnbench.runner.progress import Progress
from snnbench.suite import Cell, Suite
from snnbench.train import TrainingDiverged


@dataclass
class RunSummary:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # finished before this run (measured ones included)
    measured: list[str] = field(default_factory=list)  # finished cells that got missing measurements
    busy: list[str] = field(default_factory=list)  # locked by another process
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def _runs_after(cell: Cell) -> bool:
    return cell.spec.train.init_from is not None


def _source_busy(cell: Cell, by_id: dict[str, Cell], store: ResultsStore, suite_name: str) -> bool:
    if not cell.spec.train.init_from:
        return False
    source = by_id.get(init_source_id(cell))
    return source is not None and store.cell(suite_name, source.slug).status() == "running"


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
) -> RunSummary:
    torch_device = resolve_device(device)
    store = ResultsStore(results)
    store.open_suite(suite.name, suite.description)
    # cells that start from another cell's network (train.init_from) run after the others
    cells = sorted((c for c in suite.cells if cell_filter is None or cell_filter(c)), key=_runs_after)
    stores = {c.cell_id: store.cell(suite.name, c.slug) for c in cells}
    pending = [c for c in cells if stores[c.cell_id].finished() is None]
    # finished cells whose suite now asks for measurements they lack (noise levels, energy settings) need data too
    to_measure = [
        c for c in cells if stores[c.cell_id].finished() == "done" and missing_measurements(c, stores[c.cell_id])
    ]
    data = DataCache(data_root)
    preflight(suite, (pending + to_measure) if not retry_failed else cells, torch_device, data)
    check_init_sources(suite, pending if not retry_failed else cells, store.root)
    by_id = {c.cell_id: c for c in suite.cells}
    summary = RunSummary()
    progress = progress or Progress()
    progress.suite_start(suite, torch_device, store.suite_dir(suite.name))
    for cell in cells:
        cell_store = store.cell(suite.name, cell.slug)
        with cell_store.lock() as acquired:
            if not acquired:
                summary.busy.append(cell.cell_id)
                progress.skip(cell)
                continue
            status = cell_store.finished()
            if status == "done":
                summary.skipped.append(cell.cell_id)
                measured = complete_cell(cell, cell_store, torch_device, data=data)
                if measured is None:
                    progress.skip(cell)
                else:
                    summary.measured.append(cell.cell_id)
                    progress.measured(cell, measured)
                continue
            if status == "failed" and not retry_failed:
                summary.skipped.append(cell.cell_id)
                summary.failed[cell.cell_id] = cell_store.error()
                progress.skip(cell)
                continue
            if _source_busy(cell, by_id, store, suite.name):
                summary.busy.append(cell.cell_id)  # its init_from source is training in another process
                progress.skip(cell)
                continue
            cell_store.clear_done()
            start = time.perf_counter()
            try:
                metrics = run_cell(suite, cell, cell_store, torch_device, data=data, progress=progress)
            except TrainingDiverged as exc:
                summary.failed[cell.cell_id] = record_failure(cell_store, exc)
                progress.cell_end(cell, "failed", {"error": summary.failed[cell.cell_id]})
            except SnnbenchError:
                raise  # a user error (missing data, bad spec): stop with one line, finished cells stay
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:  # noqa: BLE001  (isolate the cell; the run goes on)
                summary.failed[cell.cell_id] = record_failure(cell_store, exc)
                progress.cell_end(cell, "failed", {"error": summary.failed[cell.cell_id]})
            else:
                metrics["wall_time_s"] = time.perf_counter() - start
                summary.done.append(cell.cell_id)
                progress.cell_end(cell, "done", metrics)
        if fail_fast and summary.failed:
            break
    return summary
