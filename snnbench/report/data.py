"""What a report is compiled from: the per-cell frame and the long frames of the results store, filtered once.

Cells are grouped for every table by ``dataset``, ``model`` and each *configuration column* that varies among the
finished cells (``T`` and the other swept matrix axes, e.g. ``model.neuron.tau``); within a group, rows are
``variant`` × ``depth`` and the cells of one row are its seeds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from snnbench.errors import ResultsError, SnnbenchError, did_you_mean, unknown_name_hint
from snnbench.report.format import label
from snnbench.report.layer_names import with_layer_names
from snnbench.results import frame as F

VARIANT_ORDER = ["stl", "sl", "tl"]

# Per-cell csv/json: these columns first, then the rest of the per-cell frame.
LEAD_COLUMNS = [
    "suite", "cell_id", "dataset", "model", "depth", "variant", "seed", "status", "test_acc", "train_time_s",
    "train_samples_per_s",
]  # fmt: skip


def variant_key(v: object) -> tuple[int, str]:
    return (VARIANT_ORDER.index(v) if v in VARIANT_ORDER else len(VARIANT_ORDER), str(v))


def order_variants(values: Iterable[Any]) -> list[Any]:
    return sorted(set(values), key=variant_key)


def parse_where(clauses: Sequence[str]) -> dict[str, list[str]]:
    """``["dataset=mnist", "depth=1,2", "depth=3"]`` -> ``{"dataset": ["mnist"], "depth": ["1", "2", "3"]}``."""
    wanted: dict[str, list[str]] = {}
    for clause in clauses:
        key, sep, value = clause.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise SnnbenchError(f"--where '{clause}' is not KEY=VALUE", hint="e.g. --where dataset=mnist_digits")
        wanted.setdefault(key, []).extend(v.strip() for v in value.split(",") if v.strip())
    return wanted


def _matches(column: pd.Series, values: list[str]) -> pd.Series:
    """Rows whose value equals one of ``values``: numerically for numeric columns, else as text."""
    mask = pd.Series(False, index=column.index)
    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    for value in values:
        if numeric:
            try:
                mask |= column == float(value)
                continue
            except ValueError:
                pass
        mask |= column.map(label) == value
    return mask


def filter_cells(cells: pd.DataFrame, where: Sequence[str]) -> pd.DataFrame:
    """Keep the cells matching every ``KEY=VALUE`` (a key given more than once, or ``KEY=a,b``: any of the values)."""
    wanted = parse_where(where)
    for key, values in wanted.items():
        if key not in cells.columns:
            raise SnnbenchError(f"--where: unknown column '{key}'", hint=unknown_name_hint(key, cells.columns))
        mask = _matches(cells[key], values)
        if not mask.any():
            present = sorted({label(v) for v in cells[key].dropna()})
            guess = did_you_mean(values[0], present)
            hint = (guess + " " if guess else "") + f"values of {key}: {', '.join(present[:20]) or 'none'}"
            raise ResultsError(f"no cells match --where {key}={','.join(values)}", hint=hint)
        cells = cells[mask]
    return cells


@dataclass
class ReportData:
    """The filtered per-cell frame and, loaded on first use, the long frames restricted to its cells."""

    roots: list[Path]
    cells: pd.DataFrame
    _cache: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, roots: Sequence[str | Path], where: Sequence[str] = ()) -> ReportData:
        cells = F.cells_frame(*roots)
        if cells.empty:
            raise ResultsError(
                f"no cells under {', '.join(str(r) for r in roots)}: no folder there holds a spec.json or done.json",
                hint="pass the --results directory of a run (snnbench run SUITE --results DIR)",
            )
        if where:
            cells = filter_cells(cells, where)
        return cls([Path(r) for r in roots], cells.reset_index(drop=True))

    @cached_property
    def done(self) -> pd.DataFrame:
        return self.cells[self.cells["status"] == "done"]

    @cached_property
    def config_columns(self) -> list[str]:
        """``T`` and swept matrix axes (dotted columns) that take more than one value among the finished cells."""
        return F.config_columns(self.done)

    @property
    def group_columns(self) -> list[str]:
        """What separates one table from the next: dataset, model and the varying configuration columns."""
        return ["dataset", "model", *self.config_columns]

    def group_title(self, keys: Sequence[str], values: Sequence[Any]) -> str:
        parts = [
            label(v) if k in ("dataset", "model") else f"{k}={label(v)}" for k, v in zip(keys, values, strict=False)
        ]
        return ", ".join(parts)

    def memo(self, name: str, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """``compute()`` once per report: a frame several sections read (e.g. the claims, for the summary and the
        claims section)."""
        if name not in self._cache:
            self._cache[name] = compute()
        return self._cache[name]

    def _long(self, name: str, loader) -> pd.DataFrame:
        if name not in self._cache:
            frame = loader(*self.roots)
            frame = frame[frame["path"].isin(set(self.cells["path"]))]
            extra = [c for c in self.config_columns if c not in frame.columns]
            if extra and not frame.empty:
                frame = frame.merge(self.cells[["path", *extra]], on="path", how="left")
            self._cache[name] = frame.reset_index(drop=True)
        return self._cache[name]

    @property
    def layers(self) -> pd.DataFrame:
        """Layer rows with ``layer_name`` (``conv1``, ``fc1``, ``output``: :mod:`snnbench.report.layer_names`)."""
        return self._long("layers", lambda *roots: with_layer_names(F.layers_frame(*roots)))

    @property
    def noise(self) -> pd.DataFrame:
        return self._long("noise", F.noise_frame)

    @property
    def history(self) -> pd.DataFrame:
        return self._long("history", F.epochs_frame)

    @property
    def thresholds(self) -> pd.DataFrame:
        return self._long("thresholds", F.thresholds_frame)

    @property
    def power(self) -> pd.DataFrame:
        return self._long("power", F.power_frame)


def noise_name(kind: Any, params: Any) -> str:
    """``gaussian`` or, with options, ``gaussian (clip=false)`` (``params``: the compact JSON of ``noise_params``)."""
    try:
        options = json.loads(params) if isinstance(params, str) and params else {}
    except ValueError:
        options = {"params": params}
    if not isinstance(options, dict) or not options:
        return label(kind)
    text = ", ".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in sorted(options.items()))
    return f"{label(kind)} ({text})"


def groupby(frame: pd.DataFrame, keys: list[str]):
    """``frame.groupby(keys)`` keeping missing keys (cells from suites without that axis), sorted."""
    if frame.empty:
        return []
    return frame.groupby(keys, sort=True, dropna=False)


def per_cell(cells: pd.DataFrame) -> pd.DataFrame:
    """The tidy per-cell table with :data:`LEAD_COLUMNS` first."""
    lead = [c for c in LEAD_COLUMNS if c in cells.columns]
    return cells[lead + [c for c in cells.columns if c not in lead]]
