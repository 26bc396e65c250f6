"""One self-contained HTML file: inline CSS, tables, figures embedded as base64 PNG. No scripts, no external links."""

from __future__ import annotations

import base64
import html

from snnbench.report.table import Table, table_cells

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { padding: 0.25em 0.7em; border-top: 1px solid #eee; text-align: right; white-space: nowrap; }
th { border-bottom: 2px solid #444; border-top: 2px solid #444; background: #fafafa; }
td.label, th.label { text-align: left; }
tr:last-child td { border-bottom: 2px solid #444; }
p.note { font-size: 0.8em; color: #555; font-style: italic; max-width: 70em; }
nav { font-size: 0.85em; } nav a { margin-right: 1em; }
figure { display: inline-block; margin: 1em 1em 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.8em; color: #555; }
"""


def html_table(table: Table) -> str:
    header, rows = table_cells(table, lambda t: "\x00" + t + "\x01")
    n_labels = table.frame.index.nlevels

    def cell(text: str) -> str:
        return html.escape(text).replace("\x00", "<b>").replace("\x01", "</b>")

    def tag(name: str, i: int, text: str) -> str:
        cls = ' class="label"' if i < n_labels else ""
        return f"<{name}{cls}>{cell(text)}</{name}>"

    lines = ["<table>", "<thead><tr>" + "".join(tag("th", i, h) for i, h in enumerate(header)) + "</tr></thead>"]
    lines.append("<tbody>")
    lines += ["<tr>" + "".join(tag("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in rows]
    lines += ["</tbody>", "</table>"]
    return "\n".join(lines)


def _anchor(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name)


def render_html(summary: str, tables: list[Table], figures: list[tuple[str, bytes]] = ()) -> str:
    """``figures``: (title, PNG bytes) pairs, embedded as data URIs."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        "<title>snnbench report</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        "<h1>snnbench report</h1>",
        f"<p>{html.escape(summary)}</p>",
    ]
    links = [f'<a href="#{_anchor(t.name or t.title)}">{html.escape(t.title)}</a>' for t in tables]
    if figures:
        links.append('<a href="#figures">Figures</a>')
    if links:
        parts.append("<nav>" + "<br>\n".join(links) + "</nav>")
    if not tables:
        parts.append("<p><i>No tables: nothing in the selected results holds what they need.</i></p>")
    for table in tables:
        parts.append(f'<h2 id="{_anchor(table.name or table.title)}">{html.escape(table.title)}</h2>')
        parts.append(html_table(table))
        if table.note:
            parts.append(f'<p class="note">{html.escape(table.note)}</p>')
    if figures:
        parts.append('<h2 id="figures">Figures</h2>')
        for title, png in figures:
            data = base64.b64encode(png).decode("ascii")
            alt = html.escape(title)
            parts.append(f'<figure><img alt="{alt}" src="data:image/png;base64,{data}"><figcaption>{alt}</figcaption>'
                         "</figure>")  # fmt: skip
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"
