"""``snnbench report``: tables and figures from results directories; never trains."""

from __future__ import annotations

from pathlib import Path

import click

from snnbench.cli.common import err_console, require_results_dir
from snnbench.errors import ResultsError
from snnbench.report import build_report
from snnbench.report.render import write_file


@click.command()
@click.argument("results_dirs", metavar="[RESULTS_DIR]...", nargs=-1, type=click.Path(file_okay=False))
@click.option(
    "--format", "fmt", type=click.Choice(["markdown", "csv", "latex", "html", "json"]), default="markdown",
    show_default=True, help="csv/json: tidy tables for analysis; html: one self-contained file with the figures.",
)  # fmt: skip
@click.option("--output", type=click.Path(dir_okay=False), default=None, help="Write to a file instead of stdout.")
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False), default=None,
              help="Also write the figures (PNG and SVG) into this directory.")  # fmt: skip
@click.option("--table", "tables", multiple=True, metavar="NAME",
              help="Only these tables (repeatable): summary, accuracy, noise, energy, layers, thresholds, cost, "
                   "stats, claims, fusion, failures. csv/json: that table's tidy data instead of the per-cell "
                   "table.")  # fmt: skip
@click.option("--where", "where", multiple=True, metavar="KEY=VALUE",
              help="Only cells whose column KEY equals VALUE (repeatable; KEY=a,b: any of).")  # fmt: skip
def report(results_dirs, fmt, output, plots_dir, tables, where) -> None:
    """Compile tables (and figures) from results directories (default: results); never trains."""
    roots = list(results_dirs) or ["results"]
    for root in roots:
        require_results_dir(root)
    text = build_report(roots, fmt, tables=tables, where=where, plots_dir=plots_dir, output=output)
    if plots_dir:
        err_console.print(f"wrote figures to {plots_dir}", markup=False, highlight=False, soft_wrap=True)
    if output:
        try:
            write_file(Path(output), text.encode())
        except OSError as exc:
            raise ResultsError(f"cannot write '{output}': {exc.strerror or exc}") from None
        err_console.print(f"wrote {output}", markup=False, highlight=False, soft_wrap=True)
    else:
        click.echo(text, nl=False)
