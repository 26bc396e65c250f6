"""A cell's ``noise.json``: one row per noise measurement, identified by ``(noise_kind, noise_level, noise_params)``
(params with their defaults filled in)::

    {"noise_kind": "gaussian", "noise_level": 0.1, "noise_params": {"clip": true},
     "test_acc": 0.87, "test_loss": 0.021, "test_samples": 1000}
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from snnbench.data.noise import NoiseKey, params_key
from snnbench.results.store import NOISE, CellStore, atomic_write_json

NOISE_FILE = NOISE
ROW_KEYS = ("noise_kind", "noise_level", "noise_params", "test_acc", "test_loss", "test_samples")


def row_key(row: dict[str, Any]) -> NoiseKey:
    """Identity of a ``noise.json`` row: ``(kind, level, canonical params JSON)``."""
    return row["noise_kind"], float(row["noise_level"]), params_key(row.get("noise_params") or {})


def read_noise_rows(cell_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of a cell's ``noise.json`` ([] when absent)."""
    return list(CellStore(Path(cell_dir)).read_json(NOISE_FILE, []) or [])


def merge_rows(old: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``old`` then ``new``; a new row replaces an old one with the same :func:`row_key` (in place)."""
    merged = {row_key(r): r for r in old}
    for row in new:
        merged[row_key(row)] = row
    return list(merged.values())


def write_noise_rows(cell_dir: str | Path, rows: Sequence[dict[str, Any]]) -> None:
    """Merge ``rows`` into the cell's ``noise.json`` (atomic write)."""
    path = Path(cell_dir) / NOISE_FILE
    atomic_write_json(path, merge_rows(read_noise_rows(cell_dir), rows))
