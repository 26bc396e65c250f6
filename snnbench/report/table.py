"""A display table, what every section builds and every renderer draws (string cells, row labels in the index), and
the helpers the sections share: best-value marks, row order, labels, per-group summaries."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from snnbench.report import format as fmt
from snnbench.report.data import variant_key


@dataclass
class Table:
    name: str  # unique, e.g. "accuracy/mnist_digits/mlp"
    title: str
    frame: pd.DataFrame  # display-ready: index = row labels, string cells
    note: str = ""
    bold: pd.DataFrame | None = None  # same shape as frame: True = best value of its column (per depth)
    section: str = ""


@dataclass
class Block:
    """One section of a rendered report: its heading, its tables and, right after them, its figures (``figures``:
    (title, PNG path or link) pairs for markdown, (title, PNG bytes) pairs for HTML)."""

    name: str
    title: str
    tables: list[Table]
    figures: list[tuple[str, object]]


def table_cells(table: Table, bold_fn) -> tuple[list[str], list[list[str]]]:
    """Header and body rows (row labels first) as text, bold cells wrapped by ``bold_fn``."""
    frame = table.frame
    index_names = [str(n) if n is not None else "" for n in frame.index.names]
    header = index_names + [str(c) for c in frame.columns]
    rows = []
    for i, (ix, values) in enumerate(zip(frame.index, frame.itertuples(index=False), strict=True)):
        labels = list(ix) if isinstance(ix, tuple) else [ix]
        cells = []
        for j, value in enumerate(values):
            text = "" if value is None else str(value)
            if table.bold is not None and bool(table.bold.iat[i, j]) and text:
                text = bold_fn(text)
            cells.append(text)
        rows.append([str(v) for v in labels] + cells)
    return header, rows


# --------------------------------------------------------------------------------------------------------- markdown


def best_mask(values: pd.DataFrame, best: dict[str, str | None], block: pd.Series | None = None) -> pd.DataFrame:
    """True where a value is the best of its column (within each ``block`` of rows, e.g. a depth); ties all win.

    A block with fewer than two values has no best.
    """
    mask = pd.DataFrame(False, index=values.index, columns=values.columns)
    blocks = pd.Series(0, index=values.index) if block is None else block
    for column, direction in best.items():
        if direction not in ("max", "min") or column not in values.columns:
            continue
        col = pd.to_numeric(values[column], errors="coerce")
        for b in pd.unique(blocks):
            rows = (blocks == b).to_numpy()
            sub = col[rows].dropna()
            if len(sub) < 2 or sub.nunique() < 2:
                continue
            target = sub.max() if direction == "max" else sub.min()
            hit = col[rows].to_numpy() == target
            mask.loc[mask.index[rows][hit], column] = True
    return mask


def sorted_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of a (depth, variant) index in depth order, then stl, sl, tl, others."""
    order = sorted(frame.index, key=lambda ix: (num_key(ix[0]), variant_key(ix[1])))
    return frame.reindex(order)


def num_key(v: object) -> tuple[int, float, str]:
    try:
        return (0, float(v), "")
    except (TypeError, ValueError):
        return (1, math.inf, str(v))


def label_index(frame: pd.DataFrame) -> pd.DataFrame:
    """Index values as readable text (depth 2.0 -> 2)."""
    frame = frame.copy()
    if isinstance(frame.index, pd.MultiIndex):
        frame.index = pd.MultiIndex.from_tuples(
            [tuple(fmt.label(v) for v in ix) for ix in frame.index], names=frame.index.names
        )
    else:
        frame.index = pd.Index([fmt.label(v) for v in frame.index], name=frame.index.name)
    return frame


def make_table(section: str, name: str, title: str, text: pd.DataFrame, bold: pd.DataFrame | None, note: str) -> Table:
    if bold is not None:
        bold = label_index(bold.reindex(index=text.index, columns=text.columns, fill_value=False).astype(bool))
    return Table(name=name, title=title, frame=label_index(text), note=note, bold=bold, section=section)


def slug(*parts: object) -> str:
    return "/".join(fmt.label(p) for p in parts)


def summary_frame(done: pd.DataFrame, keys: list[str], columns: list[str]) -> pd.DataFrame:
    """Numeric summary per ``keys``: ``n`` (cells) and ``<metric>_mean``, ``<metric>_std`` of every metric present."""
    present = [c for c in columns if c in done.columns]
    if done.empty:
        return pd.DataFrame(columns=[*keys, "n", *(f"{c}_{s}" for c in present for s in ("mean", "std"))])
    grouped = done.groupby(keys, dropna=False, sort=True)
    out = grouped.size().rename("n").to_frame()
    for c in present:
        values = pd.to_numeric(done[c], errors="coerce").groupby([done[k] for k in keys], dropna=False)
        out[f"{c}_mean"] = values.mean()
        out[f"{c}_std"] = values.std(ddof=1)
    out = out.reset_index()
    out["_v"] = out["variant"].map(variant_key) if "variant" in out else 0
    out = out.sort_values([*[k for k in keys if k != "variant"], "_v"], kind="stable").drop(columns="_v")
    return out.reset_index(drop=True)
