"""One self-contained HTML file: inline CSS, tables, figures embedded as base64 PNG. No scripts, no external links."""

from __future__ import annotations

import base64
import html

from snnbench.report.render import numeric_like
from snnbench.report.table import Block, Table, table_cells

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #222; overflow-wrap: anywhere; }
h1 { font-size: 1.6em; } h2 { font-size: 1.3em; margin-top: 2.2em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.02em; margin: 1.6em 0 0.3em; }
div.table { max-width: 100%; overflow-x: auto; margin: 0.5em 0; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { padding: 0.25em 0.7em; border-top: 1px solid #eee; text-align: right; white-space: nowrap;
         overflow-wrap: normal; }
th { border-bottom: 2px solid #444; border-top: 2px solid #444; background: #fafafa; white-space: normal;
     vertical-align: bottom; min-width: 4em; }
td.label, th.label { text-align: left; }
tr:last-child td { border-bottom: 2px solid #444; }
p.note { font-size: 0.8em; color: #555; font-style: italic; max-width: 70em; }
details.toc { font-size: 0.85em; margin: 1.5em 0; } details.toc ol { margin: 0.3em 0; }
figure { display: inline-block; max-width: 100%; margin: 1em 1em 1em 0; vertical-align: top; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.8em; color: #555; }
"""


def html_table(table: Table) -> str:
    header, rows = table_cells(table, lambda t: "\x00" + t + "\x01")
    n_labels = table.frame.index.nlevels

    def cell(text: str) -> str:
        return html.escape(text).replace("\x00", "<b>").replace("\x01", "</b>")

    # row labels and columns of words (not numbers) read left-aligned
    left = [i < n_labels or not rows or not all(numeric_like(r[i]) for r in rows) for i in range(len(header))]

    def tag(name: str, i: int, text: str) -> str:
        cls = ' class="label"' if left[i] else ""
        inner = cell(text).replace("/", "/<wbr>") if name == "th" else cell(text)  # units wrap at their slashes
        return f"<{name}{cls}>{inner}</{name}>"

    lines = ["<table>", "<thead><tr>" + "".join(tag("th", i, h) for i, h in enumerate(header)) + "</tr></thead>"]
    lines.append("<tbody>")
    lines += ["<tr>" + "".join(tag("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in rows]
    lines += ["</tbody>", "</table>"]
    return "\n".join(lines)


def _anchor(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name)


def _figure(title: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    alt = html.escape(title)
    return f'<figure><img alt="{alt}" src="data:image/png;base64,{data}"><figcaption>{alt}</figcaption></figure>'


def _block(block: Block) -> list[str]:
    """A section: heading, each table (in a box that scrolls sideways when wider than the page), notes, figures."""
    parts = [f'<h2 id="sec-{_anchor(block.name)}">{html.escape(block.title)}</h2>']
    for table in block.tables:
        if table.title != block.title:
            parts.append(f'<h3 id="{_anchor(table.name or table.title)}">{html.escape(table.title)}</h3>')
        parts += ['<div class="table">', html_table(table), "</div>"]
        if table.note:
            parts.append(f'<p class="note">{html.escape(table.note)}</p>')
    parts += [_figure(title, png) for title, png in block.figures]
    return parts


def render_html(summary: str, blocks: list[Block]) -> str:
    """The summary line, the first section (the summary), a collapsed table of contents, then every other section:
    its tables, notes and, right after them, its figures (``blocks[i].figures``: (title, PNG bytes) pairs, embedded
    as data URIs)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>snnbench report</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        "<h1>snnbench report</h1>",
        f"<p>{html.escape(summary)}</p>",
    ]
    shown = [b for b in blocks if b.tables or b.figures]
    if not any(b.tables for b in blocks):
        parts.append("<p><i>No tables: nothing in the selected results holds what they need.</i></p>")
    lead = shown[:1] if shown and shown[0].name == "summary" else []
    for block in lead:
        parts += _block(block)
    rest = shown[len(lead) :]
    if len(rest) > 1:
        links = "".join(f'<li><a href="#sec-{_anchor(b.name)}">{html.escape(b.title)}</a></li>' for b in rest)
        parts.append(f'<details class="toc"><summary>Contents</summary><ol>{links}</ol></details>')
    for block in rest:
        parts += _block(block)
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"
