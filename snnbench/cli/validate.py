"""``snnbench validate SUITE``: every check ``run`` makes before training, without the data files."""

from __future__ import annotations

import click

from snnbench.cli.common import OVERRIDE, load
from snnbench.runner.preflight import check_suite


@click.command()
@click.argument("suite_path", metavar="SUITE", type=click.Path(dir_okay=False))
@OVERRIDE
def validate(suite_path: str, overrides: tuple[str, ...]) -> None:
    """Check a suite file as `run` would before training, and show how many cells it expands to."""
    suite = load(suite_path, overrides)
    check_suite(suite)
    click.echo(f"{suite_path}: ok, suite '{suite.name}' with {len(suite.cells)} cells")
