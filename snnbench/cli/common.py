"""What every command shares: the consoles, the ``-o`` option, loading a suite, and checking a results directory."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from snnbench.errors import ResultsError
from snnbench.suite import Suite, load_suite

err_console = Console(stderr=True)
out_console = Console(width=None if sys.stdout.isatty() else 200)

OVERRIDE = click.option("-o", "--override", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a key.")


def load(suite_path: str, overrides: tuple[str, ...] = ()) -> Suite:
    return load_suite(suite_path, overrides)


def require_results_dir(path: str) -> None:
    if not Path(path).is_dir():
        raise ResultsError(f"results directory '{path}' does not exist", hint="run a suite first, or pass its path")


def say(text: str) -> None:
    """One plain line on stderr (no rich markup, no highlighting, no wrapping)."""
    err_console.print(text, markup=False, highlight=False, soft_wrap=True)


def debug_enabled() -> bool:
    return bool((click.get_current_context().find_root().obj or {}).get("debug"))
