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


def training_gmac_per_sample(cell, cache: dict) -> float:
    """Rough training cost of a cell, device-independent: 3 (forward + backward) × T × the network's dense MACs per
    step × epochs, per training sample, in GMAC."""
    import json

    import torch

    from snnbench.data import dataset_info
    from snnbench.measure.energy import ann_macs
    from snnbench.models import create_model
    from snnbench.suite import spec_to_dict

    spec = cell.spec
    info = dataset_info(spec.data.dataset)
    key = (json.dumps(spec_to_dict(spec.model), sort_keys=True), spec.data.dataset)
    if key not in cache:
        cache[key] = sum(ann_macs(create_model(spec.model, info), torch.zeros(info.shape)).values())
    T = spec.data.T or info.default_T
    return 3 * T * cache[key] * spec.train.epochs / 1e9


def _cells_table(suite, results: str) -> RichTable:
    from snnbench.results import ResultsStore

    store = ResultsStore(results)
    table = RichTable(title=f"suite '{suite.name}': {len(suite.cells)} cells")
    columns = ("#", "cell_id", "dataset", "model", "depth", "variant", "seed", "T", "epochs", "GMAC/sample", "status")
    for col in columns:
        table.add_column(col, justify="right" if col in ("#", "GMAC/sample") else "left")
    cache: dict = {}
    for cell in suite.cells:
        s = cell.spec
        status = store.cell(suite.name, cell.slug).status()
        cost = f"{training_gmac_per_sample(cell, cache):.3g}"
        table.add_row(
            str(cell.index), cell.cell_id, s.data.dataset, s.model.name, str(s.model.depth), s.train.variant,
            str(s.seed), str(s.data.T or "default"), str(s.train.epochs), cost, status,
        )  # fmt: skip
    table.caption = (
        "GMAC/sample: rough training cost per training sample over all epochs, 3 x T x dense MACs per step x epochs"
    )
    return table


def dataset_rows(data_root: str):
    """``(info, files)`` per registered dataset; ``files`` says whether the dataset's files are under ``data_root``."""
    from snnbench.data import DATASETS, DatasetRequest
    from snnbench.errors import DataError

    for entry in DATASETS:
        info = entry.meta["info"]
        if info.builtin:
            yield info, "built-in"
            continue
        request = DatasetRequest(split="train", root=Path(data_root), download=False, T=info.default_T)
        try:
            entry.obj(request)
            yield info, "present"
        except DataError as exc:
            missing = "not found" in exc.message or "missing" in exc.message
            yield info, "missing" if missing else f"unusable: {exc.message}"
        except Exception as exc:  # noqa: BLE001  (a listing must not crash on one broken dataset)
            yield info, f"unreadable ({type(exc).__name__})"


def require_results_dir(path: str) -> None:
    from snnbench.errors import ResultsError

    if not Path(path).is_dir():
        raise ResultsError(f"results directory '{path}' does not exist", hint="run a suite first, or pass its path")


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
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Local worker processes sharing the cells (on --device; auto: spread over the GPUs).")  # fmt: skip
@click.option("--devices", default=None, metavar="LIST",
              help="One local worker per device, e.g. cuda:0,cuda:1 (with --workers: cycled).")  # fmt: skip
@click.option("--launcher", type=click.Choice(["local", "slurm", "submitit-local"]), default="local",
              show_default=True, help="local: this machine; slurm: one SLURM job per unfinished cell (submitit); "
              "submitit-local: the same jobs as local processes (testing).")  # fmt: skip
@click.option("--partition", default=None, help="SLURM partition.")
@click.option("--time", "time_min", type=click.IntRange(min=1), default=None,
              help="SLURM time limit per job in minutes (a job that hits it is requeued and resumes); default: the "
                   "suite's slurm.time_min (60).")  # fmt: skip
@click.option("--gpus-per-job", type=click.IntRange(min=0), default=None, help="Default: slurm.gpus_per_job (1).")
@click.option("--cpus-per-task", type=click.IntRange(min=1), default=None,
              help="SLURM CPUs (and torch threads) per job.")  # fmt: skip
@click.option("--mem-gb", type=click.FloatRange(min=0, min_open=True), default=None, help="SLURM memory per job.")
@click.option("--array-parallelism", type=click.IntRange(min=1), default=None,
              help="At most this many of the suite's jobs run at once.")  # fmt: skip
@click.option("--sbatch", "sbatch_opts", multiple=True, metavar="KEY[=VALUE]",
              help="Extra #SBATCH option (repeatable), e.g. account=myproj, qos=high, exclusive.")  # fmt: skip
@click.option("--setup", multiple=True, metavar="CMD",
              help="Shell line run in each job first (repeatable), e.g. 'module load cuda'.")  # fmt: skip
@click.option("--wait", is_flag=True, help="SLURM: wait for the jobs, with progress.")
def run(
    suite_path, results, device, data_root, overrides, dry_run, fail_fast, retry_failed, workers, devices, launcher,
    partition, time_min, gpus_per_job, cpus_per_task, mem_gb, array_parallelism, sbatch_opts, setup, wait,
) -> None:  # fmt: skip
    """Train and measure every cell of SUITE; finished cells are skipped.

    Scale out with --workers/--devices (one machine) or --launcher slurm (a job per cell); see docs/scale-out.md.
    """
    suite = _load(suite_path, overrides)
    if dry_run:
        out_console.print(_cells_table(suite, results))
        return
    if launcher != "local":
        if workers or devices:
            raise SnnbenchError("--workers/--devices are for --launcher local", hint="SLURM runs one job per cell")
        _submit(suite, suite_path, overrides, results, device, data_root, retry_failed, launcher, partition, time_min,
                gpus_per_job, cpus_per_task, mem_gb, array_parallelism, sbatch_opts, setup, wait)  # fmt: skip
        return
    if workers or devices:
        _run_parallel(
            suite, suite_path, overrides, results, device, data_root, fail_fast, retry_failed, workers, devices
        )
        return
    from snnbench.progress import RichProgress
    from snnbench.runner import run_suite

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


def _run_parallel(suite, suite_path, overrides, results, device, data_root, fail_fast, retry_failed, workers, devices):
    from snnbench.launch import RichParallelProgress, run_parallel, worker_devices

    try:
        with RichParallelProgress(err_console, suite, results) as progress:
            summary = run_parallel(
                suite_path, overrides, results, devices=worker_devices(workers, device, devices), data_root=data_root,
                fail_fast=fail_fast, retry_failed=retry_failed, on_start=progress.on_start,
                on_progress=progress.on_progress, on_cell=progress.on_cell,
            )  # fmt: skip
    except KeyboardInterrupt:
        err_console.print("interrupted: finished cells are saved; run the same command again to resume")
        sys.exit(130)
    extra = f", {len(summary.busy)} running in another process" if summary.busy else ""
    extra += f", {len(summary.remaining)} unfinished" if summary.remaining else ""
    err_console.print(
        f"{len(summary.done)} trained, {len(summary.skipped)} already finished, {len(summary.failed)} failed{extra}"
    )
    for cell_id, reason in summary.failed.items():
        err_console.print(f"failed {cell_id}: {reason}", markup=False, highlight=False)
    debug = click.get_current_context().find_root().obj.get("debug")
    for worker, reason in summary.crashed.items():
        err_console.print(f"error: {worker} {reason}", markup=False, highlight=False)
        if debug and worker in summary.tracebacks:
            err_console.print(summary.tracebacks[worker], markup=False, highlight=False)
    if summary.crashed:
        err_console.print("run the same command again to finish the unfinished cells (they resume from checkpoints)")
    if not summary.ok:
        sys.exit(1)


def _submit(suite, suite_path, overrides, results, device, data_root, retry_failed, launcher, partition, time_min,
            gpus_per_job, cpus_per_task, mem_gb, array_parallelism, sbatch_opts, setup, wait) -> None:  # fmt: skip
    from snnbench.launch import (
        RichParallelProgress,
        cell_status,
        jobs_path,
        parse_sbatch,
        status_line,
        submit_slurm,
        wait_for_jobs,
    )  # fmt: skip

    # the suite's slurm section gives defaults; options on the command line win
    slurm = suite.cells[0].spec.slurm
    partition = partition or slurm.partition
    time_min = time_min or slurm.time_min
    gpus_per_job = slurm.gpus_per_job if gpus_per_job is None else gpus_per_job
    cpus_per_task = cpus_per_task or slurm.cpus_per_task
    mem_gb = mem_gb or slurm.mem_gb
    array_parallelism = array_parallelism or slurm.array_parallelism
    sbatch = {**slurm.sbatch, **parse_sbatch(sbatch_opts)}
    setup = (*slurm.setup, *setup)

    jobs = submit_slurm(
        suite_path, overrides, results, executor="slurm" if launcher == "slurm" else "local", partition=partition,
        time_min=time_min, gpus_per_job=gpus_per_job, cpus_per_task=cpus_per_task, mem_gb=mem_gb,
        array_parallelism=array_parallelism, sbatch=sbatch, setup=setup, device=device,
        data_root=data_root, retry_failed=retry_failed,
    )  # fmt: skip
    if not jobs:
        err_console.print("nothing to submit: every cell is finished, running or queued (see 'snnbench status')")
        return
    ids = [str(job.job_id) for job in jobs]
    err_console.print(
        f"submitted {len(jobs)} job(s) for suite '{suite.name}': {ids[0]}" + (f" .. {ids[-1]}" if len(ids) > 1 else "")
        + f"; job ids in {jobs_path(results, suite.name)}", markup=False, highlight=False, soft_wrap=True,
    )  # fmt: skip
    if not (wait or launcher == "submitit-local"):  # local submitit jobs are children of this process: wait for them
        err_console.print(f"follow with: snnbench status {results} --suite {suite_path}", markup=False, highlight=False)
        return
    with RichParallelProgress(err_console, suite, results) as progress:
        errors = wait_for_jobs(jobs, suite, results, on_progress=progress.on_progress)
    rows = cell_status(results, suite)
    err_console.print(status_line(rows), markup=False, highlight=False)
    for job_id, error in errors.items():
        err_console.print(f"job {job_id}: {error}", markup=False, highlight=False, soft_wrap=True)
    if errors or any(r["status"] == "failed" for r in rows):
        sys.exit(1)


@cli.command()
@click.argument("results_dir", metavar="RESULTS_DIR", type=click.Path(file_okay=False), default="results")
@click.option("--suite", "suite_path", type=click.Path(dir_okay=False), default=None,
              help="The suite file (with the run's -o overrides): also lists the cells not started yet.")  # fmt: skip
@OVERRIDE
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def status(results_dir: str, suite_path: str | None, overrides: tuple[str, ...], fmt: str) -> None:
    """Show each cell of RESULTS_DIR: done, failed, running, unfinished or pending, epochs, test_acc, job, error."""
    import json

    from snnbench.launch import cell_status, status_line, status_table

    suite = _load(suite_path, overrides) if suite_path else None
    if suite is None:
        require_results_dir(results_dir)
    rows = cell_status(results_dir, suite)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    out_console.print(status_table(rows, title=f"suite '{suite.name}'" if suite else str(results_dir)))
    out_console.print(status_line(rows), markup=False, highlight=False)


@cli.command()
@click.argument("results_dirs", metavar="[RESULTS_DIR]...", nargs=-1, type=click.Path(file_okay=False))
@click.option(
    "--format", "fmt", type=click.Choice(["markdown", "csv", "latex", "html", "json"]), default="markdown",
    show_default=True, help="csv/json: tidy tables for analysis; html: one self-contained file with the figures.",
)  # fmt: skip
@click.option("--output", type=click.Path(dir_okay=False), default=None, help="Write to a file instead of stdout.")
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False), default=None,
              help="Also write the figures (PNG and SVG) into this directory.")  # fmt: skip
@click.option("--table", "tables", multiple=True, metavar="NAME",
              help="Only these tables (repeatable): accuracy, noise, energy, layers, thresholds, cost, stats, "
                   "fusion, failures. csv/json: that table's tidy data instead of the per-cell table.")  # fmt: skip
@click.option("--where", "where", multiple=True, metavar="KEY=VALUE",
              help="Only cells whose column KEY equals VALUE (repeatable; KEY=a,b: any of).")  # fmt: skip
def report(results_dirs, fmt, output, plots_dir, tables, where) -> None:
    """Compile tables (and figures) from results directories (default: results); never trains."""
    from snnbench.errors import ResultsError
    from snnbench.report import build_report

    roots = list(results_dirs) or ["results"]
    for root in roots:
        require_results_dir(root)
    text = build_report(roots, fmt, tables=tables, where=where, plots_dir=plots_dir, output=output)
    if plots_dir:
        err_console.print(f"wrote figures to {plots_dir}", markup=False, highlight=False, soft_wrap=True)
    if output:
        from snnbench.report.render import write_file

        try:
            write_file(Path(output), text.encode())
        except OSError as exc:
            raise ResultsError(f"cannot write '{output}': {exc.strerror or exc}") from None
        err_console.print(f"wrote {output}", markup=False, highlight=False, soft_wrap=True)
    else:
        click.echo(text, nl=False)


@cli.command(name="list")
@click.argument(
    "what", type=click.Choice(["datasets", "models", "variants", "surrogates", "noise"]), default="datasets"
)
@click.option("--data-root", default=None, help="Where to look for dataset files ($SNNBENCH_DATA_ROOT or data).")
def list_(what: str, data_root: str | None) -> None:
    """List registered datasets, models, learning variants, surrogates or noise kinds."""
    from snnbench.data import resolve_root

    data_root = str(resolve_root("data", data_root))
    table = RichTable()
    if what == "noise":
        from snnbench.data.noise import describe_noise

        for col in ("noise kind", "applies to", "level", "unit", "params"):
            table.add_column(col)
        for row in describe_noise():
            table.add_row(row["name"], row["applies_to"], row["level"], row["unit"], row["params_text"])
    elif what == "datasets":
        for col in ("name", "kind", "shape (C,H,W)", "classes", "default T", f"files under {data_root}"):
            table.add_column(col)
        for info, files in dataset_rows(data_root):
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


@cli.command(name="eval")
@click.argument("results_dir", metavar="RESULTS_DIR", type=click.Path(file_okay=False))
@click.option("--suite", "suite_path", type=click.Path(dir_okay=False), help="Use this suite's noise sweeps.")
@click.option("--noise", "noise", multiple=True, metavar="KIND=L1,L2[:param=value]", help="A noise sweep.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--data-root", default=None, help="Dataset directory (overrides data.root).")
def eval_(results_dir: str, suite_path: str | None, noise: tuple[str, ...], device: str, data_root: str | None) -> None:
    """Add noise evaluations to finished cells without retraining; levels already measured are skipped.

    Without --suite or --noise each cell's own noise section is used.
    """
    from snnbench.measure.robustness import eval_results, parse_noise_options

    require_results_dir(results_dir)
    if suite_path and noise:
        raise SnnbenchError("give --suite or --noise, not both", hint="see 'snnbench eval --help'")
    sweeps, suite_name = None, None
    if noise:
        sweeps = parse_noise_options(noise)
    elif suite_path:
        suite = _load(suite_path, ())
        sweeps, suite_name = suite.cells[0].spec.noise, suite.name
    summary = eval_results(
        results_dir, sweeps, device, data_root=data_root, suite_name=suite_name,
        on_cell=lambda path, status, n: err_console.print(f"{status}: {path} (+{n} rows)", markup=False),
    )  # fmt: skip
    err_console.print(
        f"{len(summary.evaluated)} cells evaluated ({summary.rows_added} new rows), "
        f"{len(summary.up_to_date)} up to date, {len(summary.not_done)} not finished",
        markup=False,
    )


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
            limit = gpu.get("power_limit_w")
            out_console.print(f"  gpu {gpu['index']}: {gpu['name']}, energy counter: {counter}, power limit {limit} W")


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
