"""One cell, start to finish: train (or resume) and measure into its results folder.

    fit (BPTT, a checkpoint per epoch; threshold statistics and GPU power per epoch)
      -> final inference pass (test_outputs.pt) -> model.pt
      -> energy (layers.json) -> noise sweeps (noise.json) -> metrics.json, done.json

User errors (missing data, bad device) propagate as one line; the caller records any other exception against the
cell (:func:`record_failure`).
"""

from __future__ import annotations

import dataclasses
import json
import resource
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from snnbench.data import load_data
from snnbench.data.noise import make_train_transform
from snnbench.measure.accuracy import evaluate, test_batch_size
from snnbench.measure.energy import measure_energy
from snnbench.measure.gpu_energy import PowerWindows, power_metrics
from snnbench.measure.power import PowerMeter, create_power_meter
from snnbench.measure.robustness import evaluate_noise, sweep_points
from snnbench.measure.thresholds import ThresholdMonitor
from snnbench.models import create_model
from snnbench.neurons.backends.dispatch import expected_calls, paths_used, reset_paths_used
from snnbench.neurons.backends.dispatch import policy as lif_policy
from snnbench.results import load_model, provenance
from snnbench.results.noise import read_noise_rows, row_key, write_noise_rows
from snnbench.results.store import LAYERS, CellStore, ResultsStore
from snnbench.runner.heap import keep_heap
from snnbench.runner.progress import Progress
from snnbench.runner.threads import recorded_threads, use_cell_settings
from snnbench.seeds import seed_everything
from snnbench.suite import Cell, Suite, cell_id_of, spec_to_dict
from snnbench.train import fit, parameter_counts


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


def split_info(bundle) -> dict[str, Any] | None:
    """How a dataset without an official test split was split (e.g. CIFAR10-DVS), as the dataset reports it."""
    info = {}
    for name in ("train", "test"):
        dataset = getattr(bundle, name)
        found = getattr(getattr(dataset, "dataset", dataset), "split_info", None)
        if found:
            info[name] = found
    return info or None


class MissingInitSource(RuntimeError):
    """``train.init_from`` names a cell that has not finished (recorded against the cell that needs it)."""


def init_source_id(cell: Cell) -> str:
    """The cell id of the network ``cell`` starts from under ``train.init_from``."""
    spec = cell.spec
    train = dataclasses.replace(spec.train, variant=spec.train.init_from, init_from=None)
    return cell_id_of(dataclasses.replace(spec, train=train))


def init_source(cell: Cell, results_root: Path) -> CellStore | None:
    """The finished cell that ``cell.spec.train.init_from`` names: the same spec with ``train.variant`` set to that
    variant (and no ``init_from``), found by its cell id anywhere under ``results_root``; None when absent."""
    spec = cell.spec
    source = dataclasses.replace(
        spec, train=dataclasses.replace(spec.train, variant=spec.train.init_from, init_from=None)
    )
    source_id = cell_id_of(source)
    for store in ResultsStore(results_root).iter_cells():
        if store.path.name.endswith("-" + source_id) and store.finished() == "done" and store.has_model():
            return store
    return None


def _start(suite: Suite, cell: Cell, store: CellStore, device: torch.device, bundle, model: torch.nn.Module) -> None:
    """First visit of a cell: record its spec and provenance; with ``train.init_from`` load the source network."""
    spec = cell.spec
    info: dict[str, Any] = {}
    if spec.train.init_from:
        source = init_source(cell, store.path.parent.parent)
        if source is None:
            raise MissingInitSource(
                f"train.init_from: {spec.train.init_from} needs the finished {spec.train.init_from} cell of seed "
                f"{spec.seed} with this cell's settings; run it first (put it in the same suite, or rerun this one)"
            )
        model.load_state_dict(source.load_state_dict())
        info["init_from"] = str(source.path)
    store.write_spec({"suite": suite.name, "cell_id": cell.cell_id, "axes": cell.axes, **spec_to_dict(spec)})
    store.write_provenance(
        {
            **provenance(device, spec.seed),
            "cpu_heap": keep_heap(),
            "data_T": bundle.T,
            "data_split": split_info(bundle),
            **info,
        }
    )


def lif_calls(spec, bundle) -> dict[str, int]:
    """Calls per LIF signature a cell makes: training batches over all epochs, and test-split passes (one per epoch,
    the clean pass, each noise level). Whether compiling a LIF kernel pays is judged against these
    (``snnbench.neurons.backends.dispatch``)."""
    train_batches = -(-len(bundle.train) // spec.train.batch_size)
    test_batches = -(-len(bundle.test) // test_batch_size(spec.train))
    passes = spec.train.epochs + 1 + sum(1 for _ in sweep_points(spec))
    return {"train": spec.train.epochs * train_batches, "infer": passes * test_batches}


def _record_lif_paths(store: CellStore) -> None:
    """Add to the cell's provenance which path (eager or compiled) each fused LIF signature trained on, and the
    policy that chose it (``snnbench.neurons.backends.dispatch``)."""
    info = store.read_provenance()
    store.write_provenance({**info, "lif_compile_policy": lif_policy(), "lif_paths": paths_used()})


def _train(cell: Cell, store: CellStore, device: torch.device, model, bundle, data: DataCache, progress: Progress,
           resume: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
    """BPTT with a checkpoint per epoch, then the clean inference pass; GPU power windows around both. Returns the
    training metrics and the clean test result (rates and labels stored as test_outputs.pt)."""
    spec = cell.spec
    train_noise = make_train_transform(spec.data.train_noise, spec.seed, bundle.info)
    train_bundle = bundle
    if train_noise is not None and train_noise.event_transform is not None:
        noisy = load_data(spec.data, spec.seed, root=data.data_root, event_transform=train_noise.event_transform)
        train_bundle = dataclasses.replace(bundle, train=noisy.train)
    history_so_far: list[dict[str, Any]] = list((resume or {}).get("history", []))
    for record in history_so_far:
        progress.epoch(record)

    def on_epoch(record: dict[str, Any]) -> None:
        history_so_far.append(record)
        store.write_history(history_so_far)
        progress.epoch(record)

    monitor = ThresholdMonitor(model)  # init statistics: the model as built (or inherited), before any resume
    if resume is None:
        store.write_thresholds_init(monitor.initial)
    eval_kw = {"seed": spec.seed, "batch_size": test_batch_size(spec.train), "loss": spec.train.loss}
    with make_meter(cell, device) as meter:
        windows = PowerWindows(meter)
        try:
            history = fit(
                model, train_bundle, spec.train, device, seed=spec.seed, on_batch=progress.batch, on_epoch=on_epoch,
                hooks=[windows, monitor, *([train_noise] if train_noise else [])], checkpoint=store.save_checkpoint,
                resume=resume, input_transform=train_noise.image_transform if train_noise else None,
                evaluate=lambda m: evaluate(m, bundle, device, **eval_kw),
            )  # fmt: skip
        finally:
            monitor.close()
        clean, _ = windows.measure("inference", lambda: evaluate(model, bundle, device, return_outputs=True, **eval_kw))
        store.save_outputs(clean.pop("rates"), clean.pop("labels"))
        timeline = meter.timeline()
        store.write_power(windows.windows, pd.DataFrame(timeline).to_csv(index=False).encode() if timeline else None)
    metrics = final_metrics(history, bundle.T)
    metrics.update(test_acc=clean["test_acc"], test_loss=clean["test_loss"])
    metrics.update(power_metrics(windows, metrics["train_samples"], clean["test_samples"]))
    metrics["peak_memory_mib"] = peak_memory_mib(device)
    return metrics, clean


def measure_cell(cell: Cell, store: CellStore, device: torch.device, model, bundle, data: DataCache,
                 clean: dict[str, Any] | None = None, *, energy: bool = True) -> dict[str, Any]:  # fmt: skip
    """The measurement sections of a trained cell: energy (layers.json; skipped with ``energy=False``) and the noise
    levels not yet in noise.json. A section that raises is recorded in ``measure_errors`` (section -> error) instead
    of failing the cell: the trained network is already saved."""
    spec = cell.spec
    metrics: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if spec.energy.enabled and energy:
        try:
            result = measure_energy(
                model, bundle, device, seed=spec.seed, spec=spec.energy, batch_size=test_batch_size(spec.train)
            )
            metrics.update(result.metrics)
            store.write_layers(result.layers)
        except Exception as exc:  # noqa: BLE001  (recorded against the cell; training is kept)
            errors["energy"] = f"{type(exc).__name__}: {exc}"
    if spec.noise.sweeps:
        try:
            done = {row_key(r) for r in read_noise_rows(store.path)}
            rows = evaluate_noise(model, spec, device, data_root=data.data_root, bundle=bundle, clean=clean, done=done)
            write_noise_rows(store.path, rows)
        except Exception as exc:  # noqa: BLE001
            errors["noise"] = f"{type(exc).__name__}: {exc}"
    if errors:
        metrics["measure_errors"] = errors
    return metrics


@dataclass(frozen=True)
class MissingMeasurements:
    """What a finished cell's suite, as written now, asks that the cell's folder lacks. The measurement sections
    (energy, noise, power) are outside the cell id, so a suite can add them to cells that have already trained."""

    energy: bool = False  # enabled, but no layers.json or it was measured with other energy settings
    noise_points: int = 0  # sweep levels that fit the dataset and have no row in noise.json
    retry: tuple[str, ...] = ()  # ``measure_errors`` sections to run again

    def __bool__(self) -> bool:
        return self.energy or self.noise_points > 0 or bool(self.retry)

    def __str__(self) -> str:
        """What a run will measure, e.g. ``energy, 3 noise levels``."""
        parts = ["energy"] if self.energy else []
        parts += (
            [f"{self.noise_points} noise level{'s' if self.noise_points != 1 else ''}"] if self.noise_points else []
        )
        parts += [f"retry {section}" for section in self.retry if section != "energy"]
        return ", ".join(parts)


def _as_stored(section: Any) -> Any:
    """A spec section as spec.json holds it (a JSON round trip: tuples become lists)."""
    return json.loads(json.dumps(spec_to_dict(section)))


def missing_measurements(cell: Cell, store: CellStore) -> MissingMeasurements:
    """Compare a ``done`` cell's folder with ``cell.spec``'s measurement sections (nothing is loaded but JSON)."""
    spec = cell.spec
    errors = store.read_metrics().get("measure_errors") or {}
    enabled = {"energy": spec.energy.enabled, "noise": bool(spec.noise.sweeps)}
    retry = tuple(section for section in errors if enabled.get(section, True))
    energy = spec.energy.enabled and (
        store.read_json(LAYERS) is None or (store.read_spec() or {}).get("energy") != _as_stored(spec.energy)
    )
    have = {row_key(r) for r in read_noise_rows(store.path)}
    missing = {key for *_, key in sweep_points(spec)} - have
    return MissingMeasurements(energy=energy or "energy" in retry, noise_points=len(missing), retry=retry)


def prepare(cell: Cell, device: torch.device, threads: int | None, recorded: int | None = None) -> None:
    """Before a cell trains or is measured: its thread count (:func:`snnbench.runner.threads.cell_threads`), its
    determinism settings and its seed."""
    use_cell_settings(cell.spec, device, threads, recorded)
    seed_everything(cell.spec.seed, cell.spec.train.deterministic)


def complete_cell(
    cell: Cell, store: CellStore, device: torch.device, *, data: DataCache | None = None, threads: int | None = None
) -> str | None:
    """Bring a ``done`` cell up to ``cell.spec``: reload its network (:func:`snnbench.results.load_model`), measure
    only what :func:`missing_measurements` finds, merge the results into metrics.json and record the measurement
    sections in spec.json. Nothing trains; the caller holds the cell lock. Measured with the thread count the cell
    trained with (``threads``: the launch count, for a cell that recorded none). Returns what was measured, e.g.
    ``"+3 noise rows"``, or None when the cell was complete."""
    missing = missing_measurements(cell, store)
    if not missing:
        return None
    spec = cell.spec
    data = data or DataCache()
    before = {row_key(r) for r in read_noise_rows(store.path)}
    prepare(cell, device, threads, recorded_threads(store))
    try:
        model = load_model(store.path, device)
    except Exception as exc:  # noqa: BLE001  (a done cell whose network cannot be reloaded keeps its results)
        found = {"measure_errors": {"model": f"{type(exc).__name__}: {exc}"}}
    else:
        found = measure_cell(cell, store, device, model, data.get(cell), data, energy=missing.energy)
    ran = {"model"} | ({"energy"} if missing.energy else set()) | ({"noise"} if spec.noise.sweeps else set())
    metrics = store.read_metrics()
    new_errors = found.pop("measure_errors", {})
    errors = {k: v for k, v in (metrics.pop("measure_errors", None) or {}).items() if k not in ran} | new_errors
    store.write_metrics({**metrics, **found, **({"measure_errors": errors} if errors else {})})
    raw = store.read_spec() or {}
    sections = {"energy": _as_stored(spec.energy)} if missing.energy and "energy" not in errors else {}
    if spec.noise.sweeps:
        sections["noise"] = _as_stored(spec.noise)
    store.write_spec({**raw, **sections})
    return _describe(missing, len({row_key(r) for r in read_noise_rows(store.path)} - before), new_errors)


def _describe(missing: MissingMeasurements, rows_added: int, errors: dict[str, str]) -> str:
    parts = []
    if missing.energy:
        parts.append("energy failed" if "energy" in errors else "energy")
    if missing.noise_points or "noise" in missing.retry:
        parts.append(f"+{rows_added} noise row{'s' if rows_added != 1 else ''}")
    parts += [f"{section} failed" for section in errors if section != "energy"]
    return ", ".join(dict.fromkeys(parts)) or "measurement errors cleared"


def run_cell(
    suite: Suite,
    cell: Cell,
    store: CellStore,
    device: torch.device,
    *,
    data: DataCache | None = None,
    progress: Progress | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Train (or resume) and measure one cell into ``store``; return its final metrics. The trained network is
    saved before any measurement pass. ``threads``: the launch thread count, used unless the cell sets
    ``train.threads`` (a resumed cell keeps the count it started with)."""
    progress = progress or Progress()
    data = data or DataCache()
    spec = cell.spec
    prepare(cell, device, threads, recorded_threads(store) if store.has_checkpoint() else None)
    bundle = data.get(cell)
    model = create_model(spec.model, bundle.info).to(device)
    counts = parameter_counts(model, spec.train.variant, spec.train.bn_affine)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    resume = store.load_checkpoint(model)
    if resume is None:
        _start(suite, cell, store, device, bundle, model)
    progress.cell_start(cell, spec.train.epochs)
    reset_paths_used()
    with expected_calls(**lif_calls(spec, bundle)):
        metrics, clean = _train(cell, store, device, model, bundle, data, progress, resume)
        _record_lif_paths(store)
        metrics.update(trainable_params=counts.trainable_params, threshold_params=counts.threshold_params)
        store.save_model(model)
        metrics.update(measure_cell(cell, store, device, model, bundle, data, clean))
    store.write_metrics({"status": "done", **metrics})
    store.mark_done("done")
    store.remove_checkpoint()
    return metrics


def record_failure(store: CellStore, exc: BaseException) -> str:
    history = store.read_history()
    reason = f"{type(exc).__name__}: {exc}"
    store.write_metrics(
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
