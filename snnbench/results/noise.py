"""A cell's ``noise.json``: one row per noise measurement, identified by ``(noise_kind, noise_level, noise_params)``
(params with their defaults filled in)::

    {"noise_kind": "gaussian", "noise_level": 0.1, "noise_params": {"clip": true},
     "test_acc": 0.87, "test_loss": 0.021, "test_samples": 1000}

Measurements merge, never overwrite: :func:`write_noise_rows` takes the cell lock, re-reads the file inside it and
writes the union, so two processes measuring one cell at once (two ``snnbench eval``, or an eval during a run's
measurement pass) both keep their rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from snnbench.data.noise import NoiseKey, params_key
from snnbench.errors import ResultsError
from snnbench.results.store import NOISE, CellStore, atomic_write_json

# How long a writer waits for the cell lock before giving up (another eval merging, or a run training the cell).
LOCK_WAIT_S = 60.0


class CellBusy(ResultsError):
    """The cell stayed locked by another process for longer than the writer waits."""


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


def write_noise_rows(
    cell_dir: str | Path, rows: Sequence[dict[str, Any]], wait_s: float = LOCK_WAIT_S
) -> list[dict[str, Any]]:
    """Merge ``rows`` into the cell's ``noise.json`` under the cell lock (re-read inside it, atomic write); return
    the rows now stored. A lock held elsewhere for more than ``wait_s`` seconds raises :class:`CellBusy`."""
    store = CellStore(Path(cell_dir))
    with store.lock(wait_s) as acquired:
        if not acquired:
            raise CellBusy(
                f"{store.path} stayed locked by another process for {wait_s:g} s; the new noise rows were not stored",
                hint="run 'snnbench eval' again when the other process is done (levels already measured are skipped)",
            )
        merged = merge_rows(read_noise_rows(store.path), rows)
        atomic_write_json(store.path / NOISE_FILE, merged)
    return merged
