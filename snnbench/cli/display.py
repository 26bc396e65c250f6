"""How the CLI draws the runner's progress and a results directory's status with rich."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from snnbench.measure.cost import (
    Throughput,
    calibrate,
    estimate_time_s,
    network_key,
    resolved_T,
    split_sizes,
    training_gmac_per_sample,
)
from snnbench.results import ResultsStore
from snnbench.results.store import PROVENANCE
from snnbench.runner.cell import missing_measurements
from snnbench.runner.progress import Progress as RunnerProgress
from snnbench.suite import Cell, Suite


class _Bars:
    """A rich progress display (description, bar, done/total, info, elapsed, remaining) drawn once started; use as a
    context manager."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bars = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=console,
        )  # fmt: skip
        self.started = False

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.started:
            self.bars.__exit__(*exc)

    def _start(self) -> None:
        if not self.started:
            self.bars.__enter__()
            self.started = True


def cell_label(cell: Cell, with_id: bool = True) -> str:
    s = cell.spec
    label = f"{s.data.dataset} {s.model.name} d{s.model.depth} {s.train.variant} s{s.seed}"
    return f"{label} [{cell.cell_id}]" if with_id else label


class RichProgress(_Bars, RunnerProgress):
    """Bars for ``snnbench run``: suite cells, the current cell's epochs, and batches with loss."""

    def __init__(self, total_cells: int, console: Console) -> None:
        _Bars.__init__(self, console)
        self.cells = self.bars.add_task("cells", total=total_cells, info="")
        self.epochs = self.bars.add_task("epochs", total=1, info="", visible=False)
        self.batches = self.bars.add_task("batches", total=1, info="", visible=False)

    def suite_start(self, suite, device, results) -> None:
        self.console.print(f"suite '{suite.name}': {len(suite.cells)} cells on {device} -> {results}", markup=False)
        self._start()

    def skip(self, cell: Cell) -> None:
        self.bars.advance(self.cells)

    def measured(self, cell: Cell, what: str) -> None:
        self.bars.advance(self.cells)
        self.console.print(f"[cyan]measured[/] {escape(cell_label(cell, with_id=False))}: {escape(what)}")

    def cell_start(self, cell: Cell, total_epochs: int) -> None:
        self.bars.update(self.cells, info=cell_label(cell, with_id=False))
        self.bars.reset(self.epochs, total=total_epochs, visible=True, info="")

    def batch(self, index: int, total: int, loss: float, acc: float) -> None:
        if index == 0:
            self.bars.reset(self.batches, total=total, visible=True)
        self.bars.update(self.batches, completed=index + 1, info=f"loss {loss:.4f} acc {acc:.3f}")

    def epoch(self, record: dict[str, Any]) -> None:
        self.bars.update(
            self.epochs,
            advance=1,
            info=f"train_acc {record['train_acc']:.3f} test_acc {record['test_acc']:.3f} "
            f"({record['train_samples_per_s']:.0f} samples/s)",
        )

    def cell_end(self, cell: Cell, status: str, metrics: dict[str, Any]) -> None:
        self.bars.advance(self.cells)
        label = cell_label(cell)
        if status == "done":
            self.console.print(f"[green]done[/] {escape(label)}: test_acc {metrics['test_acc']:.4f}")
        else:
            self.console.print(f"[red]failed[/] {escape(label)}: {escape(str(metrics.get('error')))}")


class RichParallelProgress(_Bars):
    """Callbacks for :func:`run_parallel` / :func:`wait_for_jobs` drawn with rich: a header once the first worker has
    passed its preflight (so a user error prints nothing but its one line), a cells bar, a line per finished cell.

    Use as a context manager; pass ``on_start``, ``on_progress`` and ``on_cell`` to :func:`run_parallel`.
    """

    def __init__(self, console, suite: Suite, results: str | os.PathLike) -> None:
        super().__init__(console)
        self.suite, self.results = suite, Path(results)
        self.task = self.bars.add_task("cells", total=len(suite.cells), info="")

    def on_start(self, devices: list[str]) -> None:
        where = self.results / self.suite.name
        workers = f"{len(devices)} workers ({', '.join(devices)})" if devices else "no cell left to run"
        self.console.print(
            f"suite '{self.suite.name}': {len(self.suite.cells)} cells, {workers} -> {where}", markup=False
        )
        self._start()

    def on_progress(self, done: int, failed: int, total: int) -> None:
        self._start()
        self.bars.update(self.task, completed=done + failed, total=total, info=f"{failed} failed" if failed else "")

    def on_cell(self, cell: Cell, status: str, info: dict[str, Any], worker: str) -> None:
        self._start()
        label = escape(cell_label(cell))
        if status == "done":
            acc = info.get("test_acc")
            acc_text = f"{acc:.4f}" if isinstance(acc, (int, float)) else "-"
            self.bars.console.print(f"[green]done[/] {label}: test_acc {acc_text} ({escape(worker)})")
        else:
            self.bars.console.print(f"[red]failed[/] {label}: {escape(str(info.get('error')))} ({escape(worker)})")


def status_table(rows: list[dict[str, Any]], title: str | None = None):
    """A rich Table of :func:`cell_status` rows."""
    colors = {"done": "green", "failed": "red", "damaged": "magenta", "running": "cyan", "unfinished": "yellow",
              "pending": "dim"}  # fmt: skip
    table = Table(title=title)
    multi = len({r["suite"] for r in rows}) > 1
    for col in (["suite"] if multi else []) + ["cell_id", "cell", "status", "epochs", "test_acc", "job", "error"]:
        table.add_column(col, overflow="fold")
    for r in rows:
        cell = r["slug"][: -len(r["cell_id"]) - 1] if r["slug"].endswith("-" + r["cell_id"]) else r["slug"]
        epochs = f"{r['epochs']}/{r['epochs_total']}" if r["epochs_total"] is not None else str(r["epochs"])
        acc = f"{r['test_acc']:.4f}" if isinstance(r["test_acc"], (int, float)) else ""
        values = [r["cell_id"], escape(cell), f"[{colors[r['status']]}]{r['status']}[/]", epochs, acc,
                  escape(str(r["job_id"] or "")), escape(r["error"] or "")]  # fmt: skip
        table.add_row(*([escape(r["suite"])] if multi else []), *values)
    return table


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 90:
        return f"~{seconds:.0f} s"
    return f"~{seconds / 60:.0f} min" if seconds < 5400 else f"~{seconds / 3600:.1f} h"


def _measured_rates(suite: Suite, store: ResultsStore, device) -> dict[str, Throughput]:
    """Training throughput of finished cells of this suite on this kind of device, by network (cost.network_key);
    inference is taken as 3x faster (it skips the backward pass, about 2/3 of a training step)."""
    rates: dict[str, Throughput] = {}
    for cell in suite.cells:
        cell_store = store.cell(suite.name, cell.slug)
        rate = cell_store.read_metrics().get("train_samples_per_s") if cell_store.finished() == "done" else None
        where = (cell_store.read_json(PROVENANCE) or {}).get("device", "")
        if isinstance(rate, (int, float)) and rate > 0 and where.split(":")[0] == device.type:
            rates.setdefault(network_key(cell.spec), Throughput(rate, 3 * rate, "measured"))
    return rates


def _rates(suite: Suite, store: ResultsStore, statuses: dict[str, str], device, notify) -> dict[str, Throughput]:
    """Throughput by network: measured by finished cells where there are some, else calibrated now."""
    rates = _measured_rates(suite, store, device)
    to_time = {network_key(c.spec): c.spec for c in suite.cells if statuses[c.cell_id] != "done"}
    to_time = {key: spec for key, spec in to_time.items() if key not in rates}
    if to_time and notify is not None:
        notify(f"calibrating {len(to_time)} network(s) on {device}: a few training steps each...")
    return rates | {key: calibrate(spec, device) for key, spec in to_time.items()}


def cells_table(suite: Suite, results: str, device=None, notify=None) -> Table:
    """The dry-run table: each cell's axes, the T, epochs and data sizes it resolves to, its training cost, an
    estimate of its wall time on ``device`` and its status. Networks no finished cell has timed on this kind of device
    are calibrated (a few training steps each); ``notify(line)`` hears about it first."""
    device = torch.device("cpu") if device is None else torch.device(device)
    store = ResultsStore(results)
    statuses = {cell.cell_id: store.cell(suite.name, cell.slug).status() for cell in suite.cells}
    rates = _rates(suite, store, statuses, device, notify)
    to_measure = {
        c.cell_id: f" (to measure: {missing})"
        for c in suite.cells
        if statuses[c.cell_id] == "done" and (missing := missing_measurements(c, store.cell(suite.name, c.slug)))
    }
    table = Table(title=f"suite '{suite.name}': {len(suite.cells)} cells")
    columns = ("#", "cell_id", "dataset", "model", "depth", "variant", "seed", "T", "epochs", "train", "test",
               "GMAC/sample", "est. time", "status")  # fmt: skip
    for col in columns:
        table.add_column(
            col, justify="right" if col in ("#", "T", "epochs", "train", "test", "GMAC/sample") else "left"
        )
    cache: dict = {}
    total_s, unknown = 0.0, 0
    for cell in suite.cells:
        s = cell.spec
        n_train, n_test = split_sizes(s)
        done = statuses[cell.cell_id] == "done"
        estimate = None if done else estimate_time_s(s, rates[network_key(s)])
        if not done:
            total_s, unknown = total_s + (estimate or 0.0), unknown + (estimate is None)
        table.add_row(
            str(cell.index), cell.cell_id, s.data.dataset, s.model.name, str(s.model.depth), s.train.variant,
            str(s.seed), str(resolved_T(s)), str(s.train.epochs), _size(n_train), _size(n_test),
            f"{training_gmac_per_sample(s, cache):.3g}", "-" if done else _duration(estimate),
            statuses[cell.cell_id] + to_measure.get(cell.cell_id, ""),
        )  # fmt: skip
    sources = sorted({rate.source for rate in rates.values()})
    table.caption = (
        f"est. time: an estimate on {device} from {' and '.join(sources) or 'no'} throughput (calibrated: a few "
        "training steps timed now, data loading not included; measured: finished cells of the same network); "
        f"unfinished cells {_duration(total_s)}{f' + {unknown} unknown' if unknown else ''}. train/test: samples "
        "after train_subset/test_subset (?: known after loading). GMAC/sample: training cost per training sample over "
        "all epochs, 3 x T x dense MACs per step x epochs"
    )
    return table


def _size(n: int | None) -> str:
    return "?" if n is None else f"{n:,}"
