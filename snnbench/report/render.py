"""Renderers: markdown and LaTeX (booktabs) for reading, csv and json for analysis (tidy tables). HTML: ``html.py``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from snnbench.report.table import Block, Table, table_cells
from snnbench.results.store import atomic_write_bytes

FORMATS = ("markdown", "csv", "latex", "html", "json")


def write_file(path: Path, data: bytes) -> None:
    """Atomic write, readable by others (``rw-r--r--``): reports and figures are meant to be shared."""
    atomic_write_bytes(path, data)
    path.chmod(0o644)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(table: Table | pd.DataFrame) -> str:
    if isinstance(table, pd.DataFrame):
        table = Table(name="", title="", frame=table)
    header, rows = table_cells(table, lambda t: f"**{t}**")
    header = [_md_escape(h) for h in header]
    rows = [[_md_escape(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def render_markdown(summary: str, blocks: list[Block]) -> str:
    """The summary line, then each section (``## title``): its tables (``### title`` unless the section has one
    table of the same title), notes, and the links of its figures (``blocks[i].figures``: (title, path or URL))."""
    parts = ["# snnbench report", "", summary]
    if not any(b.tables for b in blocks):
        parts += ["", "_No tables: nothing in the selected results holds what they need._"]
    for block in blocks:
        if not block.tables and not block.figures:
            continue
        parts += ["", f"## {block.title}"]
        for table in block.tables:
            if table.title != block.title:
                parts += ["", f"### {table.title}"]
            parts += ["", markdown_table(table)]
            if table.note:
                parts += ["", f"_{table.note}_"]
        for title, path in block.figures:
            parts += ["", f"![{_md_escape(title)}]({str(path).replace(' ', '%20')})"]
    return "\n".join(parts) + "\n"


# ------------------------------------------------------------------------------------------------------------ latex

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$", "µ": r"$\mu$", "×": r"$\times$",
    "Δ": r"$\Delta$", "−": r"$-$", "–": "--", "—": "---", "≥": r"$\geq$", "<": r"\textless{}", ">": r"\textgreater{}",
    "∞": r"$\infty$", "…": r"\ldots{}",
}  # fmt: skip
_LATEX_RE = re.compile("|".join(re.escape(k) for k in _LATEX_SPECIAL))


def latex_escape(text: str) -> str:
    return _LATEX_RE.sub(lambda m: _LATEX_SPECIAL[m.group()], str(text))


def numeric_like(text: str) -> bool:
    text = text.lstrip("\x00")
    return text in ("—", "", "unavailable") or bool(re.match(r"^[+−-]?[\d.<\[]", text))


def latex_table(table: Table) -> str:
    """A booktabs ``tabular`` in a ``table`` float (needs ``\\usepackage{booktabs}``)."""
    header, rows = table_cells(table, lambda t: "\x00" + t + "\x01")
    n_labels = table.frame.index.nlevels
    align = "l" * n_labels + "".join(
        "r" if rows and all(numeric_like(r[n_labels + j]) for r in rows) else "l" for j in range(len(header) - n_labels)
    )

    def cell(text: str) -> str:
        return latex_escape(text).replace("\x00", r"\textbf{").replace("\x01", "}")

    label = re.sub(r"[^A-Za-z0-9:/_-]+", "-", table.name or table.title)
    lines = [
        r"\begin{table}[htbp]",
        r"\centering",
        rf"\caption{{{latex_escape(table.title)}}}",
        rf"\label{{tab:{label}}}",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(cell(h) for h in header) + r" \\",
        r"\midrule",
        *(" & ".join(cell(c) for c in row) + r" \\" for row in rows),
        r"\bottomrule",
        r"\end{tabular}",
    ]
    if table.note:
        lines.append(rf"\par\smallskip{{\footnotesize {latex_escape(table.note)}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines)


def render_latex(summary: str, tables: list[Table]) -> str:
    parts = [
        "% snnbench report: " + summary,
        "% needs \\usepackage{booktabs}",
    ]
    parts += ["", *("\n\n".join(latex_table(t) for t in tables).splitlines())] if tables else ["% no tables"]
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------------------------------------- csv/json


def render_csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False)


def _records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records", force_ascii=False))  # NaN -> null


def render_json(frames: pd.DataFrame | dict[str, pd.DataFrame]) -> str:
    """One frame as a list of records; several as ``{table: [records]}``."""
    if isinstance(frames, dict):
        return json.dumps({k: _records(v) for k, v in frames.items()}, indent=2, ensure_ascii=False) + "\n"
    return json.dumps(_records(frames), indent=2, ensure_ascii=False) + "\n"
