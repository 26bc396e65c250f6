"""Command-line interface: thin click commands over the runner, the report and the registries.

User errors print one line (``error: ...``) and exit with code 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table as RichTable

import snnbench
from snnbench.errors import SnnbenchError

err_console = Console(stderr=True)
out_console = Console(width=None if sys.stdout.isatty() else 200)


@click.group()
@click.version_option(snnbench.__version__, prog_name="snnbench")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Benchmark and energy-profile spiking neural networks with learnable thresholds."""
    ctx.obj = {"debug": debug}


def _load(suite_path: str, overrides: tuple[str, ...]):
    from snnbench.suite import load_suite

    return load_suite(suite_path, overrides)


def _cells_table(suite, results: str) -> RichTable:
    from snnbench.results import ResultsStore

    store = ResultsStore(results)
    table = RichTable(title=f"suite '{suite.name}': {len(suite.cells)} cells")
    for col in ("#", "cell_id", "dataset", "model", "depth", "variant", "seed", "T", "epochs", "status"):
        table.add_column(col)
    for cell in suite.cells:
        s = cell.spec
        status = store.cell(suite.name, cell.slug).status()
        table.add_row(
            str(cell.index), cell.cell_id, s.data.dataset, s.model.name, str(s.model.depth), s.train.variant,
            str(s.seed), str(s.data.T or "default"), str(s.train.epochs), status,
        )  # fmt: skip
    return table


OVERRIDE = click.option("-o", "--override", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a key.")


@cli.command()
@click.argument("suite_path", metavar="SUITE", type=click.Path(dir_okay=False))
@OVERRIDE
def validate(suite_path: str, overrides: tuple[str, ...]) -> None:
    """Check a suite file and show how many cells it expands to."""
    suite = _load(suite_path, overrides)
    click.echo(f"{suite_path}: ok, suite '{suite.name}' with {len(suite.cells)} cells")


@cli.command()
@click.argument("suite_path", metavar="SUITE", type=click.Path(dir_okay=False))
@click.option("--results", default="results", show_default=True, help="Results root directory.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--data-root", default=None, help="Dataset directory (overrides data.root and $SNNBENCH_DATA_ROOT).")
@OVERRIDE
@click.option("--dry-run", is_flag=True, help="Show the cells and their status; train nothing.")
@click.option("--fail-fast", is_flag=True, help="Stop at the first failed cell.")
@click.option("--retry-failed", is_flag=True, help="Rerun cells recorded as failed.")
def run(suite_path, results, device, data_root, overrides, dry_run, fail_fast, retry_failed) -> None:
    """Train and measure every cell of SUITE; finished cells are skipped."""
    from snnbench.progress import RichProgress
    from snnbench.runner import run_suite

    suite = _load(suite_path, overrides)
    if dry_run:
        out_console.print(_cells_table(suite, results))
        return
    try:
        with RichProgress(len(suite.cells), err_console) as progress:
            summary = run_suite(
                suite, results, device=device, data_root=data_root, progress=progress,
                fail_fast=fail_fast, retry_failed=retry_failed,
            )  # fmt: skip
    except KeyboardInterrupt:
        err_console.print("interrupted: finished cells are saved; run the same command again to resume")
        sys.exit(130)
    busy = f", {len(summary.busy)} running in another process" if summary.busy else ""
    err_console.print(
        f"{len(summary.done)} trained, {len(summary.skipped)} already finished, {len(summary.failed)} failed{busy}"
    )
    for cell_id, reason in summary.failed.items():
        err_console.print(f"failed {cell_id}: {reason}", markup=False, highlight=False)
    if summary.failed:
        sys.exit(1)


@cli.command()
@click.argument("results_dirs", metavar="[RESULTS_DIR]...", nargs=-1, type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["markdown", "csv", "json"]), default="markdown", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False), default=None, help="Write to a file instead of stdout.")
def report(results_dirs: tuple[str, ...], fmt: str, output: str | None) -> None:
    """Compile tables from results directories (default: results)."""
    from snnbench.errors import ResultsError
    from snnbench.report import build_report

    roots = list(results_dirs) or ["results"]
    for root in roots:
        if not Path(root).is_dir():
            raise ResultsError(f"results directory '{root}' does not exist", hint="run a suite first, or pass its path")
    text = build_report(roots, fmt)
    if output:
        from snnbench.results.store import atomic_write_bytes

        atomic_write_bytes(Path(output), text.encode())
        err_console.print(f"wrote {output}")
    else:
        click.echo(text, nl=False)


@cli.command(name="list")
@click.argument("what", type=click.Choice(["datasets", "models", "variants", "surrogates"]), default="datasets")
def list_(what: str) -> None:
    """List registered datasets, models, learning variants or surrogates."""
    table = RichTable()
    if what == "datasets":
        from snnbench.data import DATASETS

        for col in ("name", "kind", "shape (C,H,W)", "classes", "default T", "files"):
            table.add_column(col)
        for entry in DATASETS:
            info = entry.meta["info"]
            present = entry.meta.get("files_present")
            files = "built-in" if info.builtin else ("?" if present is None else ("present" if present() else "missing"))
            table.add_row(info.name, info.kind, str(info.shape), str(info.num_classes), str(info.default_T), files)
    elif what == "models":
        from snnbench.models import MODELS

        table.add_column("name")
        table.add_column("description")
        for entry in MODELS:
            table.add_row(entry.name, entry.meta.get("description", ""))
    elif what == "variants":
        from snnbench.suite import VARIANTS

        table.add_column("variant")
        table.add_column("what trains")
        for name, text in VARIANTS.items():
            table.add_row(name, text)
    else:
        from snnbench.neurons import SURROGATES

        table.add_column("surrogate")
        table.add_column("default alpha")
        for entry in SURROGATES:
            table.add_row(entry.name, str(entry.meta["default_alpha"]))
    out_console.print(table)


@cli.command()
def env() -> None:
    """Show versions, devices and GPU power-measurement status."""
    import torch

    from snnbench.measure.power import nvml_status
    from snnbench.results.provenance import git_commit

    out_console.print(f"snnbench {snnbench.__version__} (commit {git_commit() or 'unknown'})")
    out_console.print(f"python {platform.python_version()}, torch {torch.__version__}, CUDA build {torch.version.cuda}")
    out_console.print(f"CPU threads: {torch.get_num_threads()}")
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            out_console.print(f"cuda:{i}: {torch.cuda.get_device_name(i)}")
    else:
        out_console.print("CUDA: not available")
    status = nvml_status()
    if not status.get("init_ok"):
        out_console.print(f"NVML: unavailable ({status.get('error')})")
    else:
        out_console.print(f"NVML: ok, driver {status.get('driver_version')}")
        for gpu in status.get("gpus", []):
            counter = "yes" if gpu.get("energy_counter_supported") else "no"
            out_console.print(
                f"  gpu {gpu['index']}: {gpu['name']}, energy counter: {counter}, power limit {gpu.get('power_limit_w')} W"
            )


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
    except click.exceptions.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "snnbench"
        err_console.print(f"error: {exc.format_message()} (hint: see '{command} --help')", markup=False, soft_wrap=True)
        sys.exit(2)
    except click.exceptions.ClickException as exc:
        err_console.print(f"error: {exc.format_message()}", markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
