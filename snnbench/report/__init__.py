"""Reports compiled from the results store only (never trains): tables, statistics, figures and renderers.

>>> text = build_report(["results"], "markdown", tables=["accuracy", "stats"], where=["dataset=mnist_digits"])

See ``docs/report.md`` for every table, column and unit.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from snnbench.analysis.stats import compare, compare_variants
from snnbench.errors import SnnbenchError, unknown_name_hint
from snnbench.report.data import ReportData, filter_cells, per_cell
from snnbench.report.html import render_html
from snnbench.report.render import FORMATS, render_csv, render_json, render_latex, render_markdown
from snnbench.report.sections import SECTIONS, TABLE_NAMES, build_tables, summary_line
from snnbench.report.table import Block, Table

# Which table section each figure kind belongs to (``--table`` selects figures too).
PLOT_SECTIONS = {
    "accuracy_depth": "accuracy", "noise_levels": "noise", "firing_layers": "layers", "firing_steps": "layers",
    "energy_depth": "energy", "thresholds_epochs": "thresholds", "training_curves": "accuracy",
    "power_timelines": "cost",
}  # fmt: skip


def select_tables(names: Sequence[str] | None) -> list[str]:
    """Validate ``--table`` names (``a,b`` allowed); empty = all, in section order."""
    chosen: list[str] = []
    for item in names or ():
        for name in (n.strip() for n in str(item).split(",")):
            if not name:
                continue
            if name not in SECTIONS:
                raise SnnbenchError(f"unknown table '{name}'", hint=unknown_name_hint(name, TABLE_NAMES))
            if name not in chosen:
                chosen.append(name)
    return [n for n in TABLE_NAMES if n in chosen] if chosen else []


def _tidy(data: ReportData, sections: list[str], fmt: str):
    if not sections:
        return per_cell(data.cells)
    if len(sections) == 1:
        return SECTIONS[sections[0]].tidy(data)
    if fmt == "csv":
        raise SnnbenchError(
            f"csv holds one table, {len(sections)} were asked for ({', '.join(sections)})",
            hint="pass one --table, or use --format json",
        )
    return {name: SECTIONS[name].tidy(data) for name in sections}


def _figures(data: ReportData, sections: list[str], plots_dir: Path | None, embed: bool, link_base: Path | None):
    """Draw the figures of ``sections``; write PNG+SVG into ``plots_dir``. Returns ``{section: [(title, link)]}``
    (markdown links to the written PNGs) and ``{section: [(title, PNG bytes)]}`` (when ``embed``)."""
    from snnbench.report.plots import PLOT_KINDS, release, write_plot  # matplotlib loads only when figures are drawn

    links: dict[str, list[tuple[str, str]]] = {}
    pngs: dict[str, list[tuple[str, bytes]]] = {}
    wanted = set(sections or TABLE_NAMES)
    if plots_dir is not None:
        try:
            plots_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SnnbenchError(f"cannot create plots directory '{plots_dir}': {exc.strerror or exc}") from None
    for kind in PLOT_KINDS:
        section = PLOT_SECTIONS.get(kind.__name__)
        if section not in wanted:
            continue
        for plot in kind(data):
            try:
                if plots_dir is not None:
                    png_path, _, png = write_plot(plot, plots_dir)
                    base = link_base or Path.cwd()
                    link = Path(os.path.relpath(png_path.resolve(), base.resolve())).as_posix()
                    links.setdefault(section, []).append((plot.title, link))
                elif embed:
                    png = plot.png()
                if embed:
                    pngs.setdefault(section, []).append((plot.title, png))
            finally:
                release(plot)
    return links, pngs


def blocks(tables: list[Table], figures: dict[str, list[tuple[str, object]]]) -> list[Block]:
    """The report's sections in order, each with its tables and the figures that illustrate them."""
    out = []
    for name, section in SECTIONS.items():
        mine = [t for t in tables if t.section == name]
        if mine or figures.get(name):
            out.append(Block(name, section.title or name, mine, list(figures.get(name, []))))
    return out


def build_report(
    roots: Sequence[str | Path],
    fmt: str = "markdown",
    *,
    tables: Sequence[str] | None = None,
    where: Sequence[str] = (),
    plots_dir: str | Path | None = None,
    output: str | Path | None = None,
) -> str:
    """The report text in ``fmt`` (markdown, csv, latex, html, json) of the cells under ``roots``.

    ``tables``: section names (default: all; csv/json default to the tidy per-cell table). ``where``: ``KEY=VALUE``
    filters on per-cell columns. ``plots_dir``: also write every figure there as PNG and SVG (markdown links them,
    relative to ``output``'s directory). HTML always embeds the figures.
    """
    if fmt not in FORMATS:
        raise SnnbenchError(f"unknown report format '{fmt}'", hint=unknown_name_hint(fmt, FORMATS))
    sections = select_tables(tables)
    data = ReportData.load(roots, where)
    plots = Path(plots_dir) if plots_dir is not None else None
    link_base = Path(output).parent if output else None
    links, pngs = ({}, {})
    if plots is not None or fmt == "html":
        links, pngs = _figures(data, sections, plots, fmt == "html", link_base)
    if fmt in ("csv", "json"):
        frame = _tidy(data, sections, fmt)
        return render_csv(frame) if fmt == "csv" else render_json(frame)
    shown = build_tables(data, sections or None)
    summary = summary_line(data.cells)
    if fmt == "latex":
        return render_latex(summary, shown)
    if fmt == "html":
        return render_html(summary, blocks(shown, pngs))
    return render_markdown(summary, blocks(shown, links))


__all__ = [
    "FORMATS",
    "SECTIONS",
    "TABLE_NAMES",
    "ReportData",
    "Block",
    "Table",
    "blocks",
    "build_report",
    "build_tables",
    "compare",
    "compare_variants",
    "filter_cells",
    "select_tables",
]
