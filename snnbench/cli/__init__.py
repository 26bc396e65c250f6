"""Command-line interface: one small module per command, parsing and printing only.

User errors print one line (``error: ...``) and exit with code 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import sys

import click

import snnbench
from snnbench.cli.common import err_console
from snnbench.cli.env import env
from snnbench.cli.eval import eval_
from snnbench.cli.list import list_
from snnbench.cli.report import report
from snnbench.cli.run import run
from snnbench.cli.status import status
from snnbench.cli.validate import validate
from snnbench.errors import SnnbenchError


@click.group()
@click.version_option(snnbench.__version__, prog_name="snnbench")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Benchmark and energy-profile spiking neural networks with learnable thresholds."""
    ctx.obj = {"debug": debug}


for command in (validate, run, status, report, list_, eval_, env):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Entry point: map user errors to one line and exit code 2."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="snnbench", standalone_mode=False)
    except SnnbenchError as exc:
        if debug:
            raise
        err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as exc:  # bare ``snnbench`` (or a group without its command): help
        click.echo(exc.format_message())
        sys.exit(0)
    except PermissionError as exc:  # any file snnbench may not read or write: one line naming it
        if debug:
            raise
        err_console.print(f"error: permission denied: {exc.filename}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except click.exceptions.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "snnbench"
        err_console.print(f"error: {exc.format_message()} (hint: see '{command} --help')", markup=False, soft_wrap=True)
        sys.exit(2)
    except click.exceptions.ClickException as exc:
        err_console.print(f"error: {exc.format_message()}", markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
