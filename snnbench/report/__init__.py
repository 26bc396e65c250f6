"""Reports compiled from the results store only: tables and renderers."""

from __future__ import annotations

from pathlib import Path

from snnbench.report.render import FORMATS, render
from snnbench.report.tables import Table, build_tables
from snnbench.results import cells_frame


def build_report(roots: list[str | Path], fmt: str = "markdown") -> str:
    cells = cells_frame(*roots)
    return render(cells, build_tables(cells), fmt)


__all__ = ["FORMATS", "Table", "build_report", "build_tables", "render"]
