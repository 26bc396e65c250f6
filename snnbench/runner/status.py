"""What a results directory holds: one row per cell (done, failed, damaged, running, unfinished or pending), with
epochs, test accuracy, the last submitted job and the error. The status of a cell is :meth:`CellStore.status`; a
damaged cell's error names the file and what to do (the damage policy of :mod:`snnbench.results.store`)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from snnbench.results.store import DAMAGED, STATUSES, SUITE, CellStore, DamagedFile, read_json, suite_cells
from snnbench.runner.slurm import job_error, read_jobs
from snnbench.suite import Suite


def _cell_row(suite_name: str, cell_store: CellStore, cell_id: str, slug: str, epochs_total: int | None) -> dict:
    status = cell_store.status()
    damage = cell_store.damage() if status == DAMAGED else None
    metrics = _or_default(cell_store.read_metrics, {}) if status in ("done", "failed", DAMAGED) else {}
    history = _or_default(cell_store.read_history, [])
    if epochs_total is None:
        train = (_or_default(cell_store.read_spec, None) or {}).get("train")
        epochs_total = train.get("epochs") if isinstance(train, dict) else None
    error = str(damage) if damage is not None else metrics.get("error") if status == "failed" else None
    return {
        "suite": suite_name, "cell_id": cell_id, "slug": slug, "status": status, "epochs": len(history),
        "epochs_total": epochs_total, "test_acc": metrics.get("test_acc") if status != DAMAGED else None,
        "error": error, "job_id": None,
    }  # fmt: skip


def _or_default(read, default):
    """``read()``, or ``default`` when the file is damaged (the row's status and error say so)."""
    try:
        return read()
    except DamagedFile:
        return default


def _suite_dirs(results: Path, suite_name: str | None) -> list[Path]:
    if (results / SUITE).exists():  # a suite directory itself
        return [results]
    if suite_name:
        return [results / suite_name]
    return sorted(p.parent for p in results.glob(f"*/{SUITE}"))


def _cell_dirs(suite_dir: Path) -> list[Path]:
    """Every folder of a suite folder that is not hidden, and files named like a cell (damaged)."""
    if not suite_dir.is_dir():
        return []
    named = set(suite_cells(suite_dir))
    return sorted(named | {p for p in suite_dir.iterdir() if p.is_dir() and not p.name.startswith(".")})


def cell_status(results: str | os.PathLike, suite: Suite | str | None = None) -> list[dict[str, Any]]:
    """One row per cell: suite, cell_id, slug, status (done | failed | running | unfinished | pending), epochs (done
    so far), epochs_total, test_acc, error, job_id (last submitted SLURM/submitit job).

    With a :class:`Suite` every cell of the suite is listed, pending ones included; with a suite name or None the
    cells found on disk (under every suite of ``results``, or ``results`` itself when it is a suite directory).
    """
    results = Path(results)
    rows: list[dict[str, Any]] = []
    if isinstance(suite, Suite):
        suite_dir = results if (results / SUITE).exists() and results.name == suite.name else results / suite.name
        entries = [(suite.name, suite_dir, CellStore(suite_dir / c.slug), c.cell_id, c.slug, c.spec.train.epochs)
                   for c in suite.cells]  # fmt: skip
    else:
        entries = []
        for suite_dir in _suite_dirs(results, suite):
            name = suite_dir.name
            with contextlib.suppress(OSError, ValueError):
                name = read_json(suite_dir / SUITE).get("suite", name)
            for cell_dir in _cell_dirs(suite_dir):
                store = CellStore(cell_dir)
                cell_id = (_or_default(store.read_spec, None) or {}).get("cell_id")
                entries.append(
                    (name, suite_dir, store, cell_id or cell_dir.name.rsplit("-", 1)[-1], cell_dir.name, None)
                )
    jobs_by_suite: dict[Path, dict[str, dict[str, Any]]] = {}
    for name, suite_dir, store, cell_id, slug, epochs_total in entries:
        row = _cell_row(name, store, cell_id, slug, epochs_total)
        if suite_dir not in jobs_by_suite:
            jobs_by_suite[suite_dir] = read_jobs(suite_dir.parent, suite_dir.name)
        record = jobs_by_suite[suite_dir].get(cell_id)
        if record:
            row["job_id"] = record.get("job_id")
            if row["status"] in ("pending", "unfinished"):
                row["error"] = job_error(record)
        rows.append(row)
    return rows


def status_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {s: sum(r["status"] == s for r in rows) for s in STATUSES}


def status_line(rows: list[dict[str, Any]]) -> str:
    """``4 cells: 1 done, 1 failed, 0 running, 1 unfinished, 1 pending`` (``N damaged`` after failed when any)."""
    counts = status_counts(rows)
    return f"{len(rows)} cells: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n or s != DAMAGED)


def format_status(rows: list[dict[str, Any]]) -> str:
    """Plain-text table (for logs and tests)."""
    header = ("cell_id", "status", "epochs", "test_acc", "job", "error")
    lines = [header]
    for r in rows:
        epochs = f"{r['epochs']}/{r['epochs_total']}" if r["epochs_total"] is not None else str(r["epochs"])
        acc = f"{r['test_acc']:.4f}" if isinstance(r["test_acc"], (int, float)) else "-"
        lines.append((r["cell_id"], r["status"], epochs, acc, str(r["job_id"] or "-"), r["error"] or ""))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header) - 1)]
    out = [
        "  ".join(str(v).ljust(w) for v, w in zip(line[:-1], widths, strict=True)) + "  " + line[-1] for line in lines
    ]
    return "\n".join(s.rstrip() for s in out) + "\n" + status_line(rows) + "\n"
