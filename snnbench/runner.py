"""Run a suite: every cell trains and is measured once; finished cells are skipped; a failing cell is recorded.

For each cell, in suite order::

    done.json present?  -> skip
    seed, data, model   -> fit (BPTT)  -> final test accuracy  -> model.pt, history.json, metrics.json, done.json

User errors (missing data, bad device) stop the run with one line; finished cells are kept. Any other exception
inside a cell marks that cell ``failed`` with the error and the run goes on.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from snnbench.data import load_data
from snnbench.errors import DeviceError, SnnbenchError
from snnbench.models import create_model
from snnbench.results import ResultsStore, provenance
from snnbench.results.store import CellStore
from snnbench.suite import Cell, Suite, spec_to_dict
from snnbench.train import fit, seed_everything
from snnbench.train.loop import TrainingDiverged


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` = first CUDA device if any, else CPU; ``cuda[:N]`` must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"unknown device '{name}'", hint="use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device '{name}' requested but CUDA is not available", hint="use --device cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(
                f"device '{name}' requested but only {torch.cuda.device_count()} CUDA device(s) exist",
                hint=f"use cuda:0..cuda:{torch.cuda.device_count() - 1}",
            )
    return device


@dataclass
class RunSummary:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


class Progress:
    """Callbacks the runner reports to (the CLI shows them with rich); the base class ignores them."""

    def cell_start(self, cell: Cell, total_epochs: int) -> None: ...

    def batch(self, index: int, total: int, loss: float, acc: float) -> None: ...

    def epoch(self, record: dict[str, Any]) -> None: ...

    def cell_end(self, cell: Cell, status: str, metrics: dict[str, Any]) -> None: ...


def final_metrics(history: list[dict[str, Any]], T: int) -> dict[str, Any]:
    train_time_s = sum(r["train_time_s"] for r in history)
    samples = sum(r["train_samples"] for r in history)
    return {
        "test_acc": history[-1]["test_acc"],
        "test_loss": history[-1]["test_loss"],
        "best_test_acc": max(r["test_acc"] for r in history),
        "train_acc": history[-1]["train_acc"],
        "epochs": len(history),
        "T": T,
        "train_time_s": train_time_s,
        "train_samples_per_s": samples / train_time_s if train_time_s > 0 else None,
    }


def run_cell(
    suite: Suite, cell: Cell, store: CellStore, device: torch.device, *, data_root=None, progress: Progress | None = None
) -> dict[str, Any]:
    """Train and measure one cell into ``store``; return its final metrics."""
    progress = progress or Progress()
    spec = cell.spec
    seed_everything(spec.seed, spec.train.deterministic)
    bundle = load_data(spec.data, spec.seed, root=data_root)
    model = create_model(spec.model, bundle.info).to(device)
    store.write_json(
        "spec.json", {"suite": suite.name, "cell_id": cell.cell_id, "axes": cell.axes, **spec_to_dict(spec)}
    )
    store.write_json("provenance.json", {**provenance(device, spec.seed), "data_T": bundle.T})
    progress.cell_start(cell, spec.train.epochs)
    history: list[dict[str, Any]] = []

    def on_epoch(record: dict[str, Any]) -> None:
        history.append(record)
        store.write_json("history.json", history)
        progress.epoch(record)

    fit(model, bundle, spec.train, device, seed=spec.seed, on_batch=progress.batch, on_epoch=on_epoch)
    metrics = final_metrics(history, bundle.T)
    store.save_model(model)
    store.write_json("metrics.json", {"status": "done", **metrics})
    store.mark_done("done")
    return metrics


def record_failure(store: CellStore, exc: BaseException, history_epochs: int | None = None) -> str:
    reason = f"{type(exc).__name__}: {exc}"
    store.write_json(
        "metrics.json",
        {"status": "failed", "error": reason, "traceback": traceback.format_exc(), "test_acc": None},
    )
    store.mark_done("failed")
    return reason


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
    summary = RunSummary()
    progress = progress or Progress()
    for cell in suite.cells:
        if cell_filter is not None and not cell_filter(cell):
            continue
        cell_store = store.cell(suite.name, cell.slug)
        status = cell_store.status()
        if status == "done" or (status == "failed" and not retry_failed):
            summary.skipped.append(cell.cell_id)
            if status == "failed":
                summary.failed[cell.cell_id] = (cell_store.read_json("metrics.json") or {}).get("error", "failed")
            continue
        cell_store.clear_done()
        start = time.perf_counter()
        try:
            metrics = run_cell(suite, cell, cell_store, torch_device, data_root=data_root, progress=progress)
        except SnnbenchError as exc:
            if not isinstance(exc, TrainingDiverged):
                raise  # a user error (missing data, bad spec): stop with one line, finished cells stay
            summary.failed[cell.cell_id] = record_failure(cell_store, exc)
            progress.cell_end(cell, "failed", {"error": summary.failed[cell.cell_id]})
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
