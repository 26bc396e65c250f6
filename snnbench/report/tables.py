"""Report tables compiled from the tidy per-cell frame (:func:`snnbench.results.cells_frame`). No training here."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

VARIANT_ORDER = ["stl", "sl", "tl"]


@dataclass
class Table:
    name: str
    title: str
    frame: pd.DataFrame  # display-ready: index = row labels, string cells
    note: str = ""


def mean_std(values: pd.Series) -> str:
    """``mean ± std (n=k)`` with the sample std (ddof=1); ``mean (n=1)`` for a single value."""
    values = values.dropna()
    n = len(values)
    if n == 0:
        return "—"
    if n == 1:
        return f"{values.iloc[0]:.4f} (n=1)"
    return f"{values.mean():.4f} ± {values.std(ddof=1):.4f} (n={n})"


def _variant_key(v: object) -> tuple[int, str]:
    return (VARIANT_ORDER.index(v) if v in VARIANT_ORDER else len(VARIANT_ORDER), str(v))


def accuracy_tables(cells: pd.DataFrame) -> list[Table]:
    """Per dataset (and model): variants × depths, test accuracy mean ± std over seeds of finished cells."""
    tables = []
    done = cells[cells["status"] == "done"]
    for (dataset, model), group in done.groupby(["dataset", "model"], sort=True):
        pivot = group.groupby(["variant", "depth"])["test_acc"].apply(mean_std).unstack("depth")
        pivot = pivot.reindex(sorted(pivot.index, key=_variant_key))
        pivot.columns = [f"depth {d}" for d in pivot.columns]
        pivot.index.name = "variant"
        tables.append(
            Table(
                name=f"accuracy/{dataset}/{model}",
                title=f"Test accuracy (0–1) — {dataset}, {model}",
                frame=pivot.fillna("—"),
                note="mean ± sample std over seeds (n = seeds finished)",
            )
        )
    return tables


def failures_table(cells: pd.DataFrame) -> list[Table]:
    bad = cells[cells["status"] != "done"]
    if bad.empty:
        return []
    frame = bad[["cell_id", "dataset", "model", "depth", "variant", "seed", "status", "error"]].fillna("")
    return [Table(name="failures", title="Failed or unfinished cells", frame=frame.set_index("cell_id"))]


def summary_line(cells: pd.DataFrame) -> str:
    counts = cells["status"].value_counts().to_dict()
    parts = [f"{counts.get(s, 0)} {s}" for s in ("done", "failed", "unfinished") if counts.get(s)]
    best = cells.loc[cells["status"] == "done", "test_acc"]
    best_text = "" if best.empty or math.isnan(best.max()) else f"; best test_acc {best.max():.4f}"
    return f"{len(cells)} cells: " + ", ".join(parts or ["none"]) + best_text


def build_tables(cells: pd.DataFrame) -> list[Table]:
    return accuracy_tables(cells) + failures_table(cells)
