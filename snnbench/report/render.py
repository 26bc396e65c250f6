"""Renderers: markdown for reading; csv and json give the tidy per-cell table for analysis."""

from __future__ import annotations

import json

import pandas as pd

from snnbench.report.tables import Table, summary_line

FORMATS = ("markdown", "csv", "json")


def markdown_table(frame: pd.DataFrame) -> str:
    frame = frame.reset_index()
    header = [str(c) for c in frame.columns]
    rows = [[str(v) for v in row] for row in frame.itertuples(index=False)]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def render_markdown(cells: pd.DataFrame, tables: list[Table]) -> str:
    parts = ["# snnbench report", "", summary_line(cells)]
    for table in tables:
        parts += ["", f"## {table.title}", "", markdown_table(table.frame)]
        if table.note:
            parts += ["", f"_{table.note}_"]
    return "\n".join(parts) + "\n"


def render_csv(cells: pd.DataFrame) -> str:
    return cells.to_csv(index=False)


def render_json(cells: pd.DataFrame) -> str:
    records = json.loads(cells.to_json(orient="records"))  # NaN -> null
    return json.dumps(records, indent=2) + "\n"


def render(cells: pd.DataFrame, tables: list[Table], fmt: str) -> str:
    if fmt == "markdown":
        return render_markdown(cells, tables)
    if fmt == "csv":
        return render_csv(cells)
    return render_json(cells)
