"""Synthetic results stores written in the runner's formats (no training, exact numbers known in advance), shared by
the analysis and report tests."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pytest

from snnbench.results.store import CellStore, atomic_write_json

# mnist_digits / mlp, depth 1: three seeds of each variant; stl − sl = [0.01, 0.02, 0.03] per seed (paired).
ACC_D1 = {"stl": [0.91, 0.92, 0.93], "sl": [0.90, 0.90, 0.90], "tl": [0.85, 0.87, 0.86]}
# depth 2: one seed each of stl and sl; tl seed 0 failed, tl seed 1 unfinished.
ACC_D2 = {"stl": 0.95, "sl": 0.94}
# fashion / mlp, depth 1: no shared seeds -> Welch.
ACC_FASHION = {"stl": {0: 0.80, 1: 0.82, 2: 0.84}, "sl": {3: 0.78, 4: 0.79}}
NOISE_LEVELS = [0.0, 0.1, 0.2]
FAILED_ERROR = "RuntimeError: CUDA out of memory | tried to allocate 2 GiB\ntraceback line"


def energy_metrics(depth: int, variant: str, seed: int) -> dict[str, Any]:
    rate = {"stl": 0.10, "sl": 0.20, "tl": 0.15}[variant] + 0.01 * seed
    sops = 1.0e6 * depth * (1 + rate)
    macs = 1.0e5 * depth
    e_ac, e_mac = 0.9, 4.6
    energy = (sops * e_ac + macs * e_mac) * 1e-6  # pJ -> µJ
    ann_macs = 2.0e6 * depth
    return {
        "firing_rate": rate, "silent_fraction": 0.05, "sops_per_sample": sops, "macs_per_sample": macs,
        "est_energy_uj_per_sample": energy, "ann_macs_per_sample": ann_macs,
        "ann_energy_uj_per_sample": ann_macs * e_mac * 1e-6, "energy_ratio_to_ann": energy / (ann_macs * e_mac * 1e-6),
        "e_ac_pj": e_ac, "e_mac_pj": e_mac,
    }  # fmt: skip


def no_gpu() -> dict[str, Any]:
    keys = ("gpu_energy_train_j", "gpu_energy_infer_j", "gpu_j_per_train_sample", "gpu_j_per_infer_sample",
            "gpu_mean_power_w", "gpu_peak_power_w")  # fmt: skip
    return {**dict.fromkeys(keys, math.nan), "gpu_name": None, "power_method": "unavailable",
            "power_reason": "device is cpu", "peak_memory_mib": None}  # fmt: skip


def gpu(seed: int) -> dict[str, Any]:
    return {
        "gpu_energy_train_j": 100.0 + seed, "gpu_energy_infer_j": 5.0, "gpu_j_per_train_sample": 0.002,
        "gpu_j_per_infer_sample": 0.0005, "gpu_mean_power_w": 150.0, "gpu_peak_power_w": 210.0,
        "gpu_name": "NVIDIA H200", "power_method": "energy_counter", "power_reason": None, "peak_memory_mib": 512.0,
    }  # fmt: skip


def layers_rows(depth: int, variant: str, seed: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(1, depth + 1):
        rows.append({"layer": f"fc{i}", "kind": "linear", "input": "analog" if i == 1 else "spikes",
                     "fan_out_mean": 1.0, "sops_per_sample": 1e6 if i > 1 else 0.0,
                     "macs_per_sample": 1e5 if i == 1 else 0.0, "ann_macs_per_sample": 1e6})  # fmt: skip
        rate = {"stl": 0.10, "sl": 0.20, "tl": 0.15}[variant] * i + 0.01 * seed
        rows.append({"layer": f"lif{i}", "kind": "lif", "neurons": 128, "firing_rate": rate, "silent_fraction": 0.1})
    return rows


def history(accs: list[float], layers: list[str], theta0: float = 2.0, step: float = 0.1) -> list[dict[str, Any]]:
    out = []
    for e, acc in enumerate(accs, start=1):
        out.append({
            "epoch": e, "lr": 1e-3, "train_loss": 0.5 / e, "train_acc": acc - 0.01, "train_samples": 100,
            "train_time_s": 2.0, "train_samples_per_s": 50.0, "test_acc": acc, "test_loss": 0.4 / e,
            "test_samples": 50,
            "thresholds": {l: {"mean": theta0 + step * e, "std": 0.1, "min": 1.5, "max": 2.5 + step * e,
                               "drift": step * e} for l in layers},
            "firing_rates": {l: 0.1 * e for l in layers},
        })  # fmt: skip
    return out


def write_cell(
    root: Path,
    suite: str,
    dataset: str,
    model: str,
    depth: int,
    variant: str,
    seed: int,
    *,
    status: str = "done",
    test_acc: float | None = None,
    metrics: dict[str, Any] | None = None,
    layers: list[dict[str, Any]] | None = None,
    noise: list[dict[str, Any]] | None = None,
    epochs: int = 2,
    power: list[tuple[float, float]] | None = None,
    axes: dict[str, Any] | None = None,
    T: int = 4,
) -> Path:
    key = json.dumps([suite, dataset, model, depth, variant, seed, axes], sort_keys=True)
    cell_id = hashlib.sha256(key.encode()).hexdigest()[:12]
    cell = CellStore(root / suite / f"{dataset}-{model}-d{depth}-{variant}-s{seed}-{cell_id}")
    axes = {"train.variant": variant, "model.depth": depth, **(axes or {})}
    cell.write_json("spec.json", {
        "suite": suite, "cell_id": cell_id, "axes": axes, "seed": seed,
        "data": {"dataset": dataset, "T": T}, "model": {"name": model, "depth": depth}, "train": {"variant": variant},
    })  # fmt: skip
    atomic_write_json(root / suite / "suite.json", {"suite": suite, "description": "", "schema_version": 1})
    lif = [f"lif{i}" for i in range(1, depth + 1)]
    if status == "unfinished":
        cell.write_json("history.json", history([0.5], lif)[:1])
        return cell.path
    cell.write_json("thresholds_init.json", {l: {"mean": 2.0, "std": 0.0, "min": 2.0, "max": 2.0} for l in lif})
    if status == "failed":
        cell.write_json("history.json", history([0.4], lif))
        cell.write_json("metrics.json", {"status": "failed", "error": FAILED_ERROR, "traceback": "Traceback...\n"})
        cell.mark_done("failed")
        return cell.path
    accs = [test_acc - 0.05 * (epochs - e) for e in range(1, epochs + 1)]
    cell.write_json("history.json", history(accs, lif, step=0.0 if variant == "sl" else 0.1))
    cell.write_json("metrics.json", {
        "status": "done", "test_acc": test_acc, "test_loss": 0.3, "best_test_acc": test_acc, "train_acc": test_acc,
        "epochs": epochs, "T": T, "train_time_s": 2.0 * epochs * depth, "train_samples_per_s": 50.0 / depth,
        **(metrics or {}),
    })  # fmt: skip
    if layers is not None:
        cell.write_json("layers.json", layers)
    if noise is not None:
        cell.write_json("noise.json", noise)
    if power is not None:
        lines = ["t_s,power_w,gpu_util_pct"] + [f"{t},{p},50" for t, p in power]
        (cell.path / "power_timeline.csv").write_text("\n".join(lines) + "\n")
    cell.mark_done("done")
    return cell.path


def noise_rows(acc: float, depth: int) -> list[dict[str, Any]]:
    """gaussian (no options) and bitflip at two settings of an option (kept apart by ``noise_params``)."""
    rows = [
        {"noise_kind": kind, "noise_level": lv, "test_acc": acc - lv * (0.5 if kind == "gaussian" else 1.0) / depth,
         "test_loss": 0.3 + lv, "test_samples": 50}
        for kind in ("gaussian", "bitflip") for lv in NOISE_LEVELS
    ]  # fmt: skip
    for row in rows:
        if row["noise_kind"] == "bitflip":
            row["noise_params"] = {"per_step": True}
    rows += [{**r, "noise_params": {"per_step": False}, "test_acc": r["test_acc"] - 0.1} for r in rows[3:]]
    return rows


def build_store(root: Path) -> Path:
    """The standard synthetic store (see the module constants for the accuracies)."""
    for variant, accs in ACC_D1.items():
        for seed, acc in enumerate(accs):
            write_cell(
                root, "s1", "mnist_digits", "mlp", 1, variant, seed, test_acc=acc,
                metrics={**energy_metrics(1, variant, seed), **no_gpu()}, layers=layers_rows(1, variant, seed),
                noise=noise_rows(acc, 1),
            )  # fmt: skip
    for variant, acc in ACC_D2.items():
        write_cell(
            root, "s1", "mnist_digits", "mlp", 2, variant, 0, test_acc=acc,
            metrics={**energy_metrics(2, variant, 0), **no_gpu()}, layers=layers_rows(2, variant, 0),
            noise=noise_rows(acc, 2),
        )  # fmt: skip
    write_cell(root, "s1", "mnist_digits", "mlp", 2, "tl", 0, status="failed")
    write_cell(root, "s1", "mnist_digits", "mlp", 2, "tl", 1, status="unfinished")
    for variant, accs in ACC_FASHION.items():
        for seed, acc in accs.items():
            power = [(0.1 * i, 100.0 + 10 * (i % 5)) for i in range(30)] if seed in (0, 3) else None
            write_cell(
                root, "s2", "fashion_mnist", "mlp", 1, variant, seed, test_acc=acc,
                metrics={**energy_metrics(1, variant, seed), **gpu(seed)}, power=power,
            )  # fmt: skip
    return root


@pytest.fixture(scope="session")
def store(tmp_path_factory) -> Path:
    """A read-only synthetic store shared by the tests (build your own with ``write_cell`` to modify one)."""
    return build_store(tmp_path_factory.mktemp("results"))


def run_in_process(capsys, *args: object) -> tuple[int, str, str]:
    """Run ``snnbench ARGS`` in this process; return (exit code, stdout, stderr) as captured by ``capsys``."""
    from snnbench.cli import main

    capsys.readouterr()
    code = 0
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def run_report(capsys):
    """Run ``snnbench report ...`` in-process; return (exit code, stdout, stderr)."""
    return lambda *args: run_in_process(capsys, "report", *args)


def noise_row(kind, level, acc, params=None) -> dict[str, Any]:
    """One ``noise.json`` row."""
    return {"noise_kind": kind, "noise_level": level, "noise_params": params or {}, "test_acc": acc}


def noise_sweep(kind, levels, **params):
    """A ``NoiseSweep`` of ``kind`` at ``levels``."""
    from snnbench.suite.schema import NoiseSweep

    return NoiseSweep(kind=kind, levels=tuple(float(v) for v in levels), params=params)
