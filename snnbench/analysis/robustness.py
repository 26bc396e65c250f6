r"""Noise robustness from stored noise rows: the accuracy drop at each level and the normalised area under the
accuracy-noise curve (nAUC), per cell and noise kind.

**nAUC.** For one kind with measured levels ``L_0 < L_1 < ... < L_n`` and accuracies ``a_i``:
``AUC = sum_i (L_{i+1} - L_i) (a_i + a_{i+1}) / 2`` (trapezoid rule) and
``nAUC = AUC / ((L_n - L_0) * clean_acc)``: the mean accuracy over the swept range relative to clean accuracy.
1 means no accuracy lost anywhere in the range, 0 means accuracy 0 over the whole range; it exceeds 1 when noise
helps. With one level, ``nAUC = a_0 / clean_acc``. Undefined (None) when ``clean_acc`` is 0 or missing. Only the
measured levels count: include level 0 in a sweep to anchor the curve at the clean accuracy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from snnbench.data.noise import params_key
from snnbench.results.frame import cell_row
from snnbench.results.noise import read_noise_rows, row_key
from snnbench.results.store import CellStore, ResultsStore


def _trapezoid(levels: Sequence[float], accs: Sequence[float]) -> float:
    return sum((levels[i + 1] - levels[i]) * (accs[i] + accs[i + 1]) / 2 for i in range(len(levels) - 1))


def normalised_auc(levels: Sequence[float], accs: Sequence[float], clean_acc: float | None) -> float | None:
    """Area under the accuracy-noise curve over the sorted ``levels``, divided by (level span × clean accuracy):
    1 means no loss at any level. A single level gives ``acc / clean``; None without a positive clean accuracy."""
    if clean_acc is None or clean_acc != clean_acc or clean_acc <= 0:
        return None
    span = levels[-1] - levels[0]
    return _trapezoid(levels, accs) / (span * clean_acc) if span > 0 else accs[0] / clean_acc


def robustness_summary(rows: Iterable[dict[str, Any]], clean_acc: float | None) -> list[dict[str, Any]]:
    """Per noise kind (and params): accuracy drop at each level and the normalised AUC (module docstring).

    Returns one dict per (kind, params) in first-seen order: ``noise_kind``, ``noise_params``, ``clean_acc``,
    ``levels`` (sorted, unique; the first row of a repeated level counts), ``test_acc``, ``acc_drop``
    (``clean_acc - acc``, accuracy points 0-1), ``relative_drop`` (``acc_drop / clean_acc``), ``level_min``,
    ``level_max``, ``auc`` (trapezoid, accuracy x level unit) and ``nauc``.
    """
    groups: dict[tuple[str, str], dict[float, float]] = {}
    params_of: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        kind, level, pkey = row_key(row)
        acc = row.get("test_acc")
        if acc is None:
            continue
        group = groups.setdefault((kind, pkey), {})
        params_of.setdefault((kind, pkey), dict(row.get("noise_params") or {}))
        group.setdefault(level, float(acc))
    ok = clean_acc is not None and clean_acc == clean_acc and clean_acc > 0  # not None, not NaN, positive
    out = []
    for (kind, pkey), by_level in groups.items():
        levels = sorted(by_level)
        accs = [by_level[level] for level in levels]
        auc = _trapezoid(levels, accs)
        nauc = normalised_auc(levels, accs, clean_acc)
        out.append(
            {
                "noise_kind": kind,
                "noise_params": params_of[(kind, pkey)],
                "clean_acc": clean_acc,
                "levels": levels,
                "test_acc": accs,
                "acc_drop": [clean_acc - a if clean_acc is not None else None for a in accs],
                "relative_drop": [(clean_acc - a) / clean_acc if ok else None for a in accs],
                "level_min": levels[0],
                "level_max": levels[-1],
                "auc": auc,
                "nauc": nauc,
            }
        )
    return out


def _cell_base(cell: CellStore) -> dict[str, Any]:
    row = cell_row(cell)
    return {k: row.get(k) for k in ("suite", "cell_id", "dataset", "model", "depth", "variant", "seed", "T", "path")}


def _clean_acc(cell: CellStore, rows: Sequence[dict[str, Any]]) -> float | None:
    acc = cell.read_metrics().get("test_acc")
    if acc is None:
        zero = [r for r in rows if float(r["noise_level"]) == 0 and r.get("test_acc") is not None]
        acc = zero[0]["test_acc"] if zero else None
    return None if acc is None else float(acc)


def robustness_frame(*roots: str | Path):
    """One row per (cell, kind, params): the cell's axes, ``noise_kind``, ``noise_params``, ``level_min``,
    ``level_max``, ``levels`` (count), ``clean_acc``, ``worst_acc``, ``auc`` and ``nauc`` (module docstring)."""
    import pandas as pd

    out = []
    for root in roots:
        for cell in ResultsStore(root).iter_cells():
            rows = read_noise_rows(cell.path)
            if not rows:
                continue
            base, clean = _cell_base(cell), _clean_acc(cell, rows)
            for s in robustness_summary(rows, clean):
                out.append(
                    {
                        **base,
                        "noise_kind": s["noise_kind"],
                        "noise_params": params_key(s["noise_params"]),
                        "level_min": s["level_min"],
                        "level_max": s["level_max"],
                        "levels": len(s["levels"]),
                        "clean_acc": clean,
                        "worst_acc": min(s["test_acc"]),
                        "auc": s["auc"],
                        "nauc": s["nauc"],
                    }
                )
    return pd.DataFrame(out)
