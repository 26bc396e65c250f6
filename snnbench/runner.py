"""Run a suite: every cell trains and is measured once; finished cells are skipped; a failing cell is recorded.

For each cell, in suite order::

    done.json present?            -> skip (failed cells too, unless --retry-failed)
    per-cell lock held elsewhere? -> skip (another process is training it)
    checkpoint.pt present?        -> resume after its epoch
    fit (BPTT, a checkpoint per epoch; threshold statistics and GPU power per epoch)
      -> final inference pass (test_outputs.pt) -> energy (layers.json) -> noise sweeps (noise.json)
      -> model.pt, metrics.json, done.json

User errors (missing data, bad device) stop the run with one line; finished cells are kept. Any other exception
inside a cell, and a loss that turns NaN/inf, marks that cell ``failed`` with the error and the run goes on.
"""

from __future__ import annotations

import dataclasses
import json
import resource
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from snnbench.data import load_data
from snnbench.data.noise import check_noise_spec, make_train_transform
from snnbench.errors import DeviceError, SnnbenchError
from snnbench.measure.accuracy import evaluate, test_batch_size
from snnbench.measure.energy import measure_energy
from snnbench.measure.power import PowerMeter, create_power_meter
from snnbench.measure.robustness import evaluate_noise
from snnbench.measure.thresholds import ThresholdMonitor
from snnbench.models import create_model
from snnbench.results import ResultsStore, provenance
from snnbench.results.noise import read_noise_rows, row_key, write_noise_rows
from snnbench.results.store import CellStore, atomic_write_bytes
from snnbench.seeds import seed_everything
from snnbench.suite import Cell, Suite, spec_to_dict
from snnbench.train import fit
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
    elif device.type != "cpu":
        raise DeviceError(f"unsupported device '{name}'", hint="use auto, cpu, cuda or cuda:N")
    return device


@dataclass
class RunSummary:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)  # locked by another process
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


class Progress:
    """Callbacks the runner reports to (the CLI shows them with rich); the base class ignores them."""

    def suite_start(self, suite: Suite, device: torch.device, results: Path) -> None: ...

    def skip(self, cell: Cell) -> None: ...

    def cell_start(self, cell: Cell, total_epochs: int) -> None: ...

    def batch(self, index: int, total: int, loss: float, acc: float) -> None: ...

    def epoch(self, record: dict[str, Any]) -> None: ...

    def cell_end(self, cell: Cell, status: str, metrics: dict[str, Any]) -> None: ...


class PowerWindows:
    """A fit hook that opens one power window per epoch; keeps every window's record."""

    def __init__(self, meter: PowerMeter) -> None:
        self.meter = meter
        self.windows: list[dict[str, Any]] = []

    def on_epoch_begin(self, epoch: int) -> None:
        self.meter.begin(f"epoch_{epoch}")

    def on_epoch_end(self, epoch: int, record: dict[str, Any]) -> None:
        window = self.meter.end(f"epoch_{epoch}").to_dict(json_safe=True)
        self.windows.append(window)
        record["gpu_energy_j"] = window["energy_j"]

    def measure(self, name: str, fn: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
        self.meter.begin(name)
        result = fn()
        window = self.meter.end(name).to_dict(json_safe=True)
        self.windows.append(window)
        return result, window


def power_metrics(windows: PowerWindows, train_samples: int, infer_samples: int) -> dict[str, Any]:
    """Measured GPU energy (``gpu_energy_j`` = training epochs + the inference pass); None (not 0) with the reason
    where the meter could not measure."""
    epochs = [w for w in windows.windows if w["name"].startswith("epoch_")]
    infer = next((w for w in windows.windows if w["name"] == "inference"), None)
    train_j = sum(w["energy_j"] for w in epochs) if epochs and all(w["energy_j"] is not None for w in epochs) else None
    infer_j = infer["energy_j"] if infer else None
    powers = [w["mean_power_w"] for w in windows.windows if w["mean_power_w"] is not None]
    peaks = [w["peak_power_w"] for w in windows.windows if w["peak_power_w"] is not None]
    return {
        "gpu_energy_j": train_j + infer_j if train_j is not None and infer_j is not None else None,
        "gpu_energy_train_j": train_j,
        "gpu_energy_infer_j": infer_j,
        "gpu_j_per_train_sample": train_j / train_samples if train_j is not None and train_samples else None,
        "gpu_j_per_infer_sample": infer_j / infer_samples if infer_j is not None and infer_samples else None,
        "gpu_mean_power_w": sum(powers) / len(powers) if powers else None,
        "gpu_peak_power_w": max(peaks) if peaks else None,
        "gpu_name": windows.meter.gpu_name,
        "power_method": windows.meter.method,
        "power_reason": windows.meter.reason,
    }


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / (2**20 if sys.platform == "darwin" else 2**10)


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
        "train_samples": samples,
    }


def make_meter(cell: Cell, device: torch.device) -> PowerMeter:
    power = cell.spec.power
    if power.mode == "off":
        return create_power_meter("cpu")  # a null meter
    return create_power_meter(device, interval_s=power.interval_s, required=power.mode == "required")


class DataCache:
    """Loaded datasets shared by the cells of a run (keyed by data spec and seed); datasets are read-only."""

    def __init__(self, data_root=None) -> None:
        self.data_root = data_root
        self._bundles: dict[tuple, Any] = {}

    def get(self, cell: Cell):
        key = (json.dumps(spec_to_dict(cell.spec.data), sort_keys=True), cell.spec.seed)
        if key not in self._bundles:
            self._bundles[key] = load_data(cell.spec.data, cell.spec.seed, root=self.data_root)
        return self._bundles[key]


def preflight(cells: list[Cell], device: torch.device, data: DataCache) -> None:
    """Fail before any training on what would fail later: datasets missing, a model that cannot be built,
    GPU power required but unmeasurable."""
    if any(c.spec.power.mode == "required" for c in cells):
        create_power_meter(device, required=True).close()
    for cell in cells:
        check_noise_spec(cell.spec)
        info = data.get(cell).info
        with torch.device("meta"):
            create_model(cell.spec.model, info)


def split_info(bundle) -> dict[str, Any] | None:
    """How a dataset without an official test split was split (e.g. CIFAR10-DVS), as the dataset reports it."""
    info = {}
    for name in ("train", "test"):
        dataset = getattr(bundle, name)
        found = getattr(getattr(dataset, "dataset", dataset), "split_info", None)
        if found:
            info[name] = found
    return info or None


def run_cell(
    suite: Suite,
    cell: Cell,
    store: CellStore,
    device: torch.device,
    *,
    data: DataCache | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train (or resume) and measure one cell into ``store``; return its final metrics."""
    progress = progress or Progress()
    data = data or DataCache()
    spec = cell.spec
    seed_everything(spec.seed, spec.train.deterministic)
    bundle = data.get(cell)
    train_noise = make_train_transform(spec.data.train_noise, spec.seed, bundle.info)
    train_bundle = bundle
    if train_noise is not None and train_noise.event_transform is not None:
        noisy = load_data(spec.data, spec.seed, root=data.data_root, event_transform=train_noise.event_transform)
        train_bundle = dataclasses.replace(bundle, train=noisy.train)
    model = create_model(spec.model, bundle.info).to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    resume = store.load_checkpoint()
    if resume is None:
        store.write_json(
            "spec.json", {"suite": suite.name, "cell_id": cell.cell_id, "axes": cell.axes, **spec_to_dict(spec)}
        )
        store.write_json(
            "provenance.json", {**provenance(device, spec.seed), "data_T": bundle.T, "data_split": split_info(bundle)}
        )
    progress.cell_start(cell, spec.train.epochs)
    history_so_far: list[dict[str, Any]] = list((resume or {}).get("history", []))
    for record in history_so_far:
        progress.epoch(record)

    def on_epoch(record: dict[str, Any]) -> None:
        history_so_far.append(record)
        store.write_json("history.json", history_so_far)
        progress.epoch(record)

    monitor = ThresholdMonitor(model)  # init statistics: the model is freshly built from the seed, before any resume
    if resume is None:
        store.write_json("thresholds_init.json", monitor.initial)
    batch_size, loss = test_batch_size(spec.train), spec.train.loss
    with make_meter(cell, device) as meter:
        windows = PowerWindows(meter)
        try:
            history = fit(
                model, train_bundle, spec.train, device, seed=spec.seed, on_batch=progress.batch, on_epoch=on_epoch,
                hooks=[windows, monitor, *([train_noise] if train_noise else [])], checkpoint=store.save_checkpoint,
                resume=resume, input_transform=train_noise.image_transform if train_noise else None,
                evaluate=lambda m: evaluate(m, bundle, device, seed=spec.seed, batch_size=batch_size, loss=loss),
            )  # fmt: skip
        finally:
            monitor.close()
        clean, _ = windows.measure(
            "inference",
            lambda: evaluate(
                model, bundle, device, seed=spec.seed, batch_size=batch_size, loss=spec.train.loss, return_outputs=True
            ),
        )
        store.save_outputs(clean.pop("rates"), clean.pop("labels"))
        store.write_json("power.json", windows.windows)
        timeline = meter.timeline()
        if timeline:
            atomic_write_bytes(store.path / "power_timeline.csv", pd.DataFrame(timeline).to_csv(index=False).encode())
    metrics = final_metrics(history, bundle.T)
    metrics.update(test_acc=clean["test_acc"], test_loss=clean["test_loss"])
    metrics.update(power_metrics(windows, metrics["train_samples"], clean["test_samples"]))
    metrics["peak_memory_mib"] = peak_memory_mib(device)
    if spec.energy.enabled:
        energy = measure_energy(model, bundle, device, seed=spec.seed, spec=spec.energy, batch_size=batch_size)
        metrics.update(energy.metrics)
        store.write_json("layers.json", energy.layers)
    if spec.noise.sweeps:
        done = {row_key(r) for r in read_noise_rows(store.path)}
        rows = evaluate_noise(model, spec, device, data_root=data.data_root, bundle=bundle, clean=clean, done=done)
        write_noise_rows(store.path, rows)
    store.save_model(model)
    store.write_json("metrics.json", {"status": "done", **metrics})
    store.mark_done("done")
    store.remove_checkpoint()
    return metrics


def record_failure(store: CellStore, exc: BaseException) -> str:
    history = store.read_json("history.json", []) or []
    reason = f"{type(exc).__name__}: {exc}"
    store.write_json(
        "metrics.json",
        {
            "status": "failed",
            "error": reason,
            "failed_epoch": len(history) + 1,
            "traceback": traceback.format_exc(),
            "test_acc": None,
        },
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
    cells = [c for c in suite.cells if cell_filter is None or cell_filter(c)]
    pending = [c for c in cells if store.cell(suite.name, c.slug).status() not in ("done", "failed")]
    data = DataCache(data_root)
    preflight(pending if not retry_failed else cells, torch_device, data)
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
            status = cell_store.status()
            if status == "done" or (status == "failed" and not retry_failed):
                summary.skipped.append(cell.cell_id)
                if status == "failed":
                    summary.failed[cell.cell_id] = (cell_store.read_json("metrics.json") or {}).get("error", "failed")
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
