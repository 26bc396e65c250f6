"""Results as pandas tables, and reloading a finished cell's model.

``cells_frame(root)`` gives the tidy per-cell table, one row per cell directory, with unit-carrying columns:

=======================  ===========================================================
column                   meaning
=======================  ===========================================================
suite, cell_id           suite name; stable id of the training configuration
dataset, model, depth    ``data.dataset``, ``model.name``, ``model.depth``
variant, seed, T         ``train.variant``, ``seed``, time steps
status                   ``done`` | ``failed`` | ``unfinished``
test_acc                 final test accuracy, 0–1 (NaN unless done)
best_test_acc            best test accuracy over epochs, 0–1
epochs                   epochs trained
train_time_s             wall time of all training epochs, seconds
train_samples_per_s      training samples per second over all epochs
error                    the failure, for failed cells
path                     the cell directory
=======================  ===========================================================
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from snnbench.results.store import CellStore, ResultsStore

NAN = math.nan

CELL_COLUMNS = [
    "suite", "cell_id", "dataset", "model", "depth", "variant", "seed", "T", "status", "test_acc", "best_test_acc",
    "epochs", "train_time_s", "train_samples_per_s", "error", "path",
]  # fmt: skip


def _num(value: Any) -> float:
    return NAN if value is None else float(value)


def cell_row(cell: CellStore) -> dict[str, Any]:
    spec = cell.read_json("spec.json", {})
    metrics = cell.read_json("metrics.json", {}) or {}
    status = cell.status()
    done = status == "done"
    row = {
        "suite": spec.get("suite"),
        "cell_id": spec.get("cell_id"),
        "dataset": spec.get("data", {}).get("dataset"),
        "model": spec.get("model", {}).get("name"),
        "depth": spec.get("model", {}).get("depth"),
        "variant": spec.get("train", {}).get("variant"),
        "seed": spec.get("seed"),
        "T": metrics.get("T", spec.get("data", {}).get("T")),
        "status": status,
        "test_acc": _num(metrics.get("test_acc")) if done else NAN,
        "best_test_acc": _num(metrics.get("best_test_acc")) if done else NAN,
        "epochs": metrics.get("epochs"),
        "train_time_s": _num(metrics.get("train_time_s")),
        "train_samples_per_s": _num(metrics.get("train_samples_per_s")),
        "error": metrics.get("error"),
        "path": str(cell.path),
    }
    for key, value in metrics.items():  # later measurements (energy, power, ...) extend the row
        if key not in row and isinstance(value, (int, float, str, type(None))):
            row[key] = value
    return row


def cells_frame(*roots: str | Path) -> pd.DataFrame:
    rows = [cell_row(cell) for root in roots for cell in ResultsStore(root).iter_cells()]
    frame = pd.DataFrame(rows, columns=None if rows else CELL_COLUMNS)
    extra = [c for c in frame.columns if c not in CELL_COLUMNS]
    return frame[CELL_COLUMNS + extra]


def history_frame(*roots: str | Path) -> pd.DataFrame:
    """Long table of per-epoch records: ``cell_id, variant, depth, dataset, seed, epoch, ...``."""
    rows = []
    for root in roots:
        for cell in ResultsStore(root).iter_cells():
            base = {k: v for k, v in cell_row(cell).items() if k in ("suite", "cell_id", "dataset", "model", "depth", "variant", "seed")}
            for record in cell.read_json("history.json", []) or []:
                rows.append({**base, **{k: v for k, v in record.items() if not isinstance(v, (dict, list))}})
    return pd.DataFrame(rows)


def load_model(cell_dir: str | Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuild a finished cell's network from its ``spec.json`` and load ``model.pt``; returned in eval mode.

    >>> model = snnbench.load_model("results/quick/mnist_digits-mlp-d2-stl-s0-1a2b3c4d5e6f")
    >>> rates = model(spikes)  # spikes: [T, batch, C, H, W] -> class rates [batch, classes]

    The spec is attached as ``model.cell_spec`` (a :class:`~snnbench.suite.CellSpec`).
    """
    from snnbench.data import dataset_info
    from snnbench.models import create_model
    from snnbench.suite.fields import build_spec
    from snnbench.suite.schema import CellSpec

    cell = CellStore(Path(cell_dir))
    raw = cell.read_json("spec.json")
    if raw is None or not (cell.path / "model.pt").exists():
        from snnbench.errors import ResultsError

        raise ResultsError(f"{cell.path} holds no finished cell (spec.json and model.pt expected)")
    spec = build_spec(CellSpec, {k: raw[k] for k in ("seed", "data", "model", "train")}, (), lambda p: str(cell.path))
    model = create_model(spec.model, dataset_info(spec.data.dataset))
    state = torch.load(cell.path / "model.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.cell_spec = spec
    return model.to(device).eval()
