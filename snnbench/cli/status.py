"""``snnbench status``: what each cell of a results directory is doing."""

from __future__ import annotations

import json

import click

from snnbench.cli.common import OVERRIDE, load, out_console, require_results_dir
from snnbench.cli.display import status_table
from snnbench.runner.status import cell_status, status_line


@click.command()
@click.argument("results_dir", metavar="RESULTS_DIR", type=click.Path(file_okay=False), default="results")
@click.option("--suite", "suite_path", type=click.Path(dir_okay=False), default=None,
              help="The suite file (with the run's -o overrides): also lists the cells not started yet.")  # fmt: skip
@OVERRIDE
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def status(results_dir: str, suite_path: str | None, overrides: tuple[str, ...], fmt: str) -> None:
    """Show each cell of RESULTS_DIR: done, failed, running, unfinished or pending, epochs, test_acc, job, error."""
    suite = load(suite_path, overrides) if suite_path else None
    if suite is None:
        require_results_dir(results_dir)
    rows = cell_status(results_dir, suite)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    out_console.print(status_table(rows, title=f"suite '{suite.name}'" if suite else str(results_dir)))
    out_console.print(status_line(rows), markup=False, highlight=False)
