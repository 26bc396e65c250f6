"""``snnbench run SUITE``: train and measure every cell (here, in local worker processes, or as SLURM jobs)."""

from __future__ import annotations

import sys
import warnings

import click

from snnbench.cli.common import OVERRIDE, debug_enabled, err_console, load, out_console, say
from snnbench.cli.display import RichParallelProgress, RichProgress, cells_table
from snnbench.errors import SnnbenchError
from snnbench.runner import run_suite
from snnbench.runner.device import resolve_device, worker_devices
from snnbench.runner.pool import run_parallel
from snnbench.runner.preflight import PrecisionWarning
from snnbench.runner.slurm import SlurmOptions, jobs_path, submit_slurm, wait_for_jobs
from snnbench.runner.status import cell_status, status_line
from snnbench.runner.threads import launch_threads, oversubscription


@click.command()
@click.argument("suite_path", metavar="SUITE", type=click.Path(dir_okay=False))
@click.option("--results", default="results", show_default=True, help="Results root directory.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--data-root", default=None, help="Dataset directory (overrides data.root and $SNNBENCH_DATA_ROOT).")
@OVERRIDE
@click.option("--dry-run", is_flag=True,
              help="Show the cells, what they resolve to, their status and estimated time; train nothing.")  # fmt: skip
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
              help="SLURM CPUs per job; cells without train.threads train with that many threads.")  # fmt: skip
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
    """Train and measure every cell of SUITE; finished cells get only the measurements they lack.

    Scale out with --workers/--devices (one machine) or --launcher slurm (a job per cell); see docs/scale-out.md.
    """
    suite = load(suite_path, overrides)
    _one_line_warnings()
    if dry_run:
        notify = lambda line: err_console.print(line, markup=False, highlight=False)  # noqa: E731
        out_console.print(cells_table(suite, results, resolve_device(device), notify=notify))
        return
    if launcher != "local":
        if workers or devices:
            raise SnnbenchError("--workers/--devices are for --launcher local", hint="SLURM runs one job per cell")
        _submit(
            suite, suite_path, overrides, results, device, data_root, retry_failed, launcher, partition=partition,
            time_min=time_min, gpus_per_job=gpus_per_job, cpus_per_task=cpus_per_task, mem_gb=mem_gb,
            array_parallelism=array_parallelism, sbatch=sbatch_opts, setup=setup, wait=wait,
        )  # fmt: skip
        return
    if workers or devices:
        _run_parallel(
            suite, suite_path, overrides, results, device, data_root, fail_fast, retry_failed, workers, devices
        )
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
    measured = f"{len(summary.measured)} measured, " if summary.measured else ""
    err_console.print(
        f"{len(summary.done)} trained, {measured}{len(summary.skipped)} already finished, "
        f"{len(summary.failed)} failed{busy}"
    )
    for cell_id, reason in summary.failed.items():
        err_console.print(f"failed {cell_id}: {reason}", markup=False, highlight=False)
    for line in summary.advice():
        err_console.print(line, markup=False, highlight=False, soft_wrap=True)
    if summary.failed or summary.damaged:
        sys.exit(1)


def _one_line_warnings() -> None:
    """Print snnbench's preflight warnings as one line each (``warning: ...``), like its errors."""
    plain = warnings.formatwarning

    def formatwarning(message, category, *args, **kwargs):
        if issubclass(category, PrecisionWarning):
            return f"warning: {message}\n"
        return plain(message, category, *args, **kwargs)

    warnings.formatwarning = formatwarning


def _run_parallel(suite, suite_path, overrides, results, device, data_root, fail_fast, retry_failed, workers, devices):
    threads = launch_threads()  # every worker's cells train with this count, as in a sequential run

    def on_start(started: list[str]) -> None:
        progress.on_start(started)
        line = oversubscription(started, suite.cells, threads)
        if line:
            say(line)

    try:
        with RichParallelProgress(err_console, suite, results) as progress:
            summary = run_parallel(
                suite_path, overrides, results, devices=worker_devices(workers, device, devices), data_root=data_root,
                fail_fast=fail_fast, retry_failed=retry_failed, on_start=on_start, on_progress=progress.on_progress,
                on_cell=progress.on_cell, threads=threads,
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
    debug = debug_enabled()
    for worker, reason in summary.crashed.items():
        err_console.print(f"error: {worker} {reason}", markup=False, highlight=False)
        if debug and worker in summary.tracebacks:
            err_console.print(summary.tracebacks[worker], markup=False, highlight=False)
    if summary.crashed:
        err_console.print("run the same command again to finish the unfinished cells (they resume from checkpoints)")
    if not summary.ok:
        sys.exit(1)


def _submit(suite, suite_path, overrides, results, device, data_root, retry_failed, launcher, wait, **options) -> None:
    slurm = SlurmOptions.resolve(suite.cells[0].spec.slurm, **options)  # the suite's defaults; options given win
    if launcher == "slurm" and slurm.cpus_per_task is None and any(not c.spec.train.threads for c in suite.cells):
        say(f"note: no --cpus-per-task: cells without train.threads train with {launch_threads()} "
            "threads, the CPUs of this machine, whatever each job gets; pass --cpus-per-task (or set "
            "slurm.cpus_per_task) to match the jobs' allocation")  # fmt: skip
    jobs = submit_slurm(
        suite_path, overrides, results, executor="slurm" if launcher == "slurm" else "local", options=slurm,
        device=device, data_root=data_root, retry_failed=retry_failed,
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
