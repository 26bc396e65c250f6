"""Results as pandas tables.

``cells_frame(root)`` gives the tidy per-cell table, one row per cell directory, with unit-carrying columns:

=======================  ===========================================================
column                   meaning
=======================  ===========================================================
suite, cell_id           suite name; stable id of the training configuration
dataset, model, depth    ``data.dataset``, ``model.name``, ``model.depth``
variant, seed, T         ``train.variant``, ``seed``, time steps
status                   ``done`` | ``failed`` | ``damaged`` | ``unfinished``
test_acc                 final test accuracy, 0–1 (NaN unless done)
best_test_acc            best test accuracy over epochs, 0–1
epochs                   epochs trained
train_time_s             wall time of all training epochs, seconds
train_samples_per_s      training samples per second over all epochs
error                    the failure, for failed cells; the damaged file and what to do, for damaged ones
path                     the cell directory
=======================  ===========================================================

Every other scalar in ``metrics.json`` (energy, GPU power, memory, ...) follows as a column of the same name, and
every other matrix axis of the cell's suite (e.g. ``model.neuron.tau``) as a column named by its dotted key path.

Long tables, one row per cell and item, each led by ``suite, cell_id, dataset, model, depth, variant, seed, status``
and ended by ``path``:

* :func:`history_frame` — per epoch (``history.json``),
* :func:`layers_frame` — per layer (``layers.json``),
* :func:`noise_frame` — per noise kind and level (``noise.json``),
* :func:`thresholds_frame` — per epoch and layer threshold statistics (epoch 0 = ``thresholds_init.json``),
* :func:`power_frame` — the GPU power timeline (``power_timeline.csv``).

A damaged file (:mod:`snnbench.results.store`, damage policy) hides nothing: its cell is a row of status ``damaged``
whose ``error`` names the file and what to do, the long tables skip that file, and every other cell is reported.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from snnbench.results.store import (
    DAMAGED,
    HISTORY,
    LAYERS,
    METRICS,
    NOISE,
    POWER_TIMELINE,
    SPEC,
    THRESHOLDS_INIT,
    CellStore,
    DamagedFile,
    ResultsStore,
)

NAN = math.nan

CELL_COLUMNS = [
    "suite", "cell_id", "dataset", "model", "depth", "variant", "seed", "T", "status", "test_acc", "best_test_acc",
    "epochs", "train_time_s", "train_samples_per_s", "error", "path",
]  # fmt: skip

# Columns that lead every long table (plus ``path`` last, the join key back to :func:`cells_frame`).
KEY_COLUMNS = ["suite", "cell_id", "dataset", "model", "depth", "variant", "seed", "status"]

# Matrix axes already covered by a cell column; any other axis becomes a column named by its key path.
AXIS_COLUMNS = {
    "train.variant": "variant", "model.depth": "depth", "data.dataset": "dataset", "model.name": "model",
    "seed": "seed", "data.T": "T",
}  # fmt: skip

# metrics.json entries that are not results (multi-line, or duplicates of a cell column).
_SKIP_METRICS = {"traceback"}

LAYER_COLUMNS = [
    "layer", "kind", "neurons", "firing_rate", "silent_fraction", "input", "fan_out_mean", "sops_per_sample",
    "macs_per_sample", "ann_macs_per_sample",
]  # fmt: skip
NOISE_COLUMNS = ["noise_kind", "noise_level", "noise_params", "test_acc", "test_loss", "test_samples"]
THRESHOLD_COLUMNS = ["epoch", "layer", "mean", "std", "min", "max"]
POWER_COLUMNS = ["t_s", "power_w"]


def _num(value: Any) -> float:
    return NAN if value is None else float(value)


def _read(cell: CellStore, name: str, default: Any = None) -> Any:
    """A cell's JSON file, or ``default`` when absent or damaged (the cell's row says ``damaged`` and why)."""
    try:
        value = cell.read_json(name, default)
    except DamagedFile:
        return default
    return default if value is None else value


def _scalar(value: Any) -> Any:
    """Axis values as hashable scalars (lists and mappings as compact JSON)."""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return value


def _axis_text(value: Any) -> str:
    """An axis value as it reads: integral floats without ``.0`` (2.0 and 2 are one value), missing as empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def config_columns(done: pd.DataFrame) -> list[str]:
    """``T`` and the swept matrix axes (dotted columns) that take more than one value among the cells of ``done``:
    the configuration that, with dataset and model, separates groups of comparable cells (report, claims)."""
    candidates = ["T"] + [c for c in done.columns if "." in c]
    return [c for c in candidates if c in done.columns and done[c].map(_axis_text).nunique() > 1]


def cell_row(cell: CellStore) -> dict[str, Any]:
    spec = _read(cell, SPEC, {})
    metrics = _read(cell, METRICS, {})
    status = cell.status()
    damage = cell.damage() if status == DAMAGED else None
    done = status == "done"
    row = {
        **_identity(spec, cell),
        "T": metrics.get("T", _section(spec, "data").get("T")),
        "status": status,
        "test_acc": _num(metrics.get("test_acc")) if done else NAN,
        "best_test_acc": _num(metrics.get("best_test_acc")) if done else NAN,
        "epochs": metrics.get("epochs"),
        "train_time_s": _num(metrics.get("train_time_s")),
        "train_samples_per_s": _num(metrics.get("train_samples_per_s")),
        "error": str(damage) if damage is not None else metrics.get("error"),
        "path": str(cell.path),
    }
    for key, value in metrics.items():  # later measurements (energy, power, ...) extend the row
        if key not in row and key not in _SKIP_METRICS and isinstance(value, (int, float, str, type(None))):
            row[key] = value
    for axis, value in _section(spec, "axes").items():  # other swept settings, by dotted key path
        if axis not in AXIS_COLUMNS and axis not in row:
            row[axis] = _scalar(value)
    return row


def cells_frame(*roots: str | Path) -> pd.DataFrame:
    rows = [cell_row(cell) for root in roots for cell in ResultsStore(root).iter_cells()]
    frame = pd.DataFrame(rows, columns=None if rows else CELL_COLUMNS)
    extra = [c for c in frame.columns if c not in CELL_COLUMNS]
    return frame[CELL_COLUMNS + extra]


def _section(spec: dict[str, Any], name: str) -> dict[str, Any]:
    value = spec.get(name)
    return value if isinstance(value, dict) else {}


def _identity(spec: dict[str, Any], cell: CellStore) -> dict[str, Any]:
    """The columns that name a cell, from its ``spec.json``; without one (damaged), suite and cell_id from the
    cell's folder (``<suite>/<slug>-<cell_id>``)."""
    section = lambda name: _section(spec, name)  # noqa: E731
    return {
        "suite": spec.get("suite") or cell.path.parent.name,
        "cell_id": spec.get("cell_id") or cell.path.name.rsplit("-", 1)[-1],
        "dataset": section("data").get("dataset"),
        "model": section("model").get("name"),
        "depth": section("model").get("depth"),
        "variant": section("train").get("variant"),
        "seed": spec.get("seed"),
    }


def _key(cell: CellStore) -> dict[str, Any]:
    return {**_identity(_read(cell, SPEC, {}), cell), "status": cell.status()}


def _long_frame(
    roots: Iterable[str | Path], rows_of: Callable[[CellStore], list[dict[str, Any]]], columns: list[str]
) -> pd.DataFrame:
    """One row per item that ``rows_of(cell)`` yields, led by the cell's key columns and ended by ``path``."""
    rows = []
    for root in roots:
        for cell in ResultsStore(root).iter_cells():
            items = rows_of(cell)
            if not items:
                continue
            key = _key(cell)
            rows.extend({**key, **item, "path": str(cell.path)} for item in items)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=KEY_COLUMNS + columns + ["path"])
    for column in columns:
        if column not in frame.columns:
            frame[column] = NAN
    lead = KEY_COLUMNS + columns
    return frame[lead + [c for c in frame.columns if c not in lead and c != "path"] + ["path"]]


def history_frame(*roots: str | Path) -> pd.DataFrame:
    """Long table of per-epoch records: ``cell_id, variant, depth, dataset, seed, epoch, ...``."""
    rows = []
    for root in roots:
        for cell in ResultsStore(root).iter_cells():
            base = {k: v for k, v in _key(cell).items() if k != "status"}
            for record in _read(cell, HISTORY, []):
                rows.append({**base, **{k: v for k, v in record.items() if not isinstance(v, (dict, list))}})
    return pd.DataFrame(rows)


def _epoch_rows(cell: CellStore) -> list[dict[str, Any]]:
    records = _read(cell, HISTORY, [])
    return [{k: v for k, v in r.items() if not isinstance(v, (dict, list))} for r in records if isinstance(r, dict)]


def epochs_frame(*roots: str | Path) -> pd.DataFrame:
    """Per-epoch records (flat values) led by the key columns and ended by ``path``, like the other long tables."""
    return _long_frame(roots, _epoch_rows, ["epoch", "test_acc", "train_acc", "train_loss", "test_loss"])


def _layer_rows(cell: CellStore) -> list[dict[str, Any]]:
    return [{"order": i, **row} for i, row in enumerate(_read(cell, LAYERS, [])) if isinstance(row, dict)]


def layers_frame(*roots: str | Path) -> pd.DataFrame:
    """Per-layer rows of ``layers.json`` (``order`` = position in the network, 0 first); missing keys are NaN."""
    return _long_frame(roots, _layer_rows, LAYER_COLUMNS + ["order"])


def _noise_rows(cell: CellStore) -> list[dict[str, Any]]:
    rows = []
    for row in _read(cell, NOISE, []):
        if isinstance(row, dict):
            params = row.get("noise_params") or {}
            rows.append({**row, "noise_params": _scalar(params) if isinstance(params, dict) else str(params)})
    return rows


def noise_frame(*roots: str | Path) -> pd.DataFrame:
    """Rows of ``noise.json``: test accuracy (0–1) under each ``noise_kind`` at each ``noise_level``;
    ``noise_params`` as compact JSON (``{}`` when none), so rows with different options stay apart."""
    return _long_frame(roots, _noise_rows, NOISE_COLUMNS)


def _threshold_rows(cell: CellStore) -> list[dict[str, Any]]:
    rows = []

    def add(epoch: int, stats: Any) -> None:
        for layer, s in (stats or {}).items():
            if isinstance(s, dict):
                values = dict.fromkeys(("mean", "std", "min", "max"), NAN)
                values.update({k: _num(v) for k, v in s.items() if isinstance(v, (int, float, type(None)))})
                rows.append({"epoch": epoch, "layer": layer, **values})

    add(0, _read(cell, THRESHOLDS_INIT, {}))
    for record in _read(cell, HISTORY, []):
        if isinstance(record, dict) and record.get("thresholds"):
            add(int(record.get("epoch", 0)), record["thresholds"])
    return rows


def thresholds_frame(*roots: str | Path) -> pd.DataFrame:
    """Threshold statistics per epoch and layer (``mean, std, min, max`` over the layer's neurons, and ``drift``, the
    mean absolute change since init, where recorded); epoch 0 is ``thresholds_init.json`` (before training), epoch k
    the ``thresholds`` of history record k."""
    return _long_frame(roots, _threshold_rows, THRESHOLD_COLUMNS)


def _epoch_rate_rows(cell: CellStore) -> list[dict[str, Any]]:
    return [
        {"epoch": record.get("epoch"), "layer": layer, "firing_rate": _num(rate)}
        for record in _read(cell, HISTORY, [])
        if isinstance(record, dict)
        for layer, rate in (record.get("firing_rates") or {}).items()
    ]


def epoch_firing_frame(*roots: str | Path) -> pd.DataFrame:
    """Per-epoch firing rate of each layer (``firing_rates`` of the history records), spikes/neuron/step."""
    return _long_frame(roots, _epoch_rate_rows, ["epoch", "layer", "firing_rate"])


def _power_rows(cell: CellStore) -> list[dict[str, Any]]:
    path = cell.path / POWER_TIMELINE
    if not path.exists():
        return []
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError):
        return []  # damaged: the cell's row says so (snnbench.results.store)
    if not {"t_s", "power_w"} <= set(frame.columns):
        return []
    return frame.to_dict("records")


def power_frame(*roots: str | Path) -> pd.DataFrame:
    """The GPU power timeline of each cell: ``t_s`` (s since the meter started), ``power_w`` (W), and the optional
    ``gpu_util_pct`` (%), ``mem_used_mib`` (MiB), ``sm_clock_mhz`` (MHz), ``temperature_c`` (°C)."""
    return _long_frame(roots, _power_rows, POWER_COLUMNS)
