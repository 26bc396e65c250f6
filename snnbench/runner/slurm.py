"""SLURM (and submitit's local executor) through submitit: one job per unfinished cell, as a job array.

Each job runs :func:`run_one_cell` under the cell's lock; a job that hits its time limit is requeued by submitit and
resumes from the cell's checkpoint. Job ids are recorded in ``<results>/<suite>/.submitit/jobs.json`` so a rerun
resubmits only cells that are neither finished, running, nor queued.
"""

from __future__ import annotations

import datetime as dt
import os
import pickle
import signal
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snnbench.errors import LaunchError
from snnbench.results import ResultsStore
from snnbench.results.store import atomic_write_json, read_json
from snnbench.runner.pool import absolute, count_finished, runnable
from snnbench.runner.preflight import check_suite
from snnbench.runner.suite import run_suite
from snnbench.runner.threads import launch_threads
from snnbench.suite import Cell, Suite, load_suite

JOBS_DIR = ".submitit"
JOBS_FILE = "jobs.json"
# SLURM job states (sacct) of a job that may still train its cell: such a cell is not resubmitted
ACTIVE_SLURM_STATES = {
    "PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "COMPLETING", "SUSPENDED",
    "RESIZING", "SIGNALING", "STAGE_OUT",
}  # fmt: skip


@dataclass(frozen=True)
class SlurmOptions:
    """What a submission asks SLURM for: the suite's ``slurm`` section, overridden by command-line options."""

    partition: str | None = None
    time_min: int = 60
    gpus_per_job: int = 1
    cpus_per_task: int | None = None
    mem_gb: float | None = None
    array_parallelism: int | None = None
    sbatch: dict[str, Any] | None = None
    setup: tuple[str, ...] = ()

    @classmethod
    def resolve(cls, suite_slurm, **cli: Any) -> SlurmOptions:
        """The suite's ``slurm`` spec with every option given on the command line (not None) winning; ``sbatch``
        merges (command line wins per key) and ``setup`` lines add up (suite first)."""
        s = suite_slurm
        pick = lambda key: cli.get(key) if cli.get(key) is not None else getattr(s, key)  # noqa: E731
        return cls(
            partition=pick("partition"), time_min=pick("time_min"), gpus_per_job=pick("gpus_per_job"),
            cpus_per_task=pick("cpus_per_task"), mem_gb=pick("mem_gb"), array_parallelism=pick("array_parallelism"),
            sbatch={**s.sbatch, **parse_sbatch(cli.get("sbatch"))}, setup=(*s.setup, *(cli.get("setup") or ())),
        )  # fmt: skip


def parse_sbatch(options: Sequence[str] | dict[str, Any] | None) -> dict[str, Any]:
    """``["account=myproj", "exclusive"]`` -> ``{"account": "myproj", "exclusive": True}`` (extra #SBATCH lines)."""
    if isinstance(options, dict):
        return dict(options)
    out: dict[str, Any] = {}
    for text in options or ():
        key, sep, value = str(text).partition("=")
        key = key.strip().lstrip("-")
        if not key:
            raise LaunchError(f"--sbatch '{text}' is not KEY=VALUE", hint="e.g. --sbatch account=myproj")
        out[key] = value.strip() if sep else True
    return out


def run_one_cell(
    suite_path: str, overrides: Sequence[str], results: str, cell_id: str, device: str = "auto",
    data_root: str | None = None, threads: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Train and measure one cell (the body of a SLURM job); a no-op when it is finished or held by another job.
    ``threads``: the launch thread count the submission resolved (:func:`job_threads`), used unless the cell sets
    ``train.threads``; None (a job pickled without one): the CPUs this job may use."""
    suite = load_suite(suite_path, list(overrides))
    if not any(c.cell_id == cell_id for c in suite.cells):
        raise LaunchError(f"cell {cell_id} is not in suite '{suite.name}'", hint="was the suite file edited?")
    summary = run_suite(
        suite, results, device=device, data_root=data_root, cell_filter=lambda c: c.cell_id == cell_id, threads=threads
    )
    status = "busy" if summary.busy else "failed" if summary.failed else "done"
    trained = bool(summary.done) or cell_id in summary.failed and cell_id not in summary.skipped
    return {"cell_id": cell_id, "status": status, "trained": trained, "error": summary.failed.get(cell_id)}


def _requeue_or_exit_on_timeout() -> None:
    """Inside a submitit job: on the time-limit/preemption signal submitit checkpoints (requeues) :class:`CellJob`.
    When it gives up (too many timeouts) it raises an ``Exception`` inside training, which the runner would record as
    a *cell failure*; turn that into an exit so the cell stays unfinished and resumes from its checkpoint."""
    try:
        import submitit
        from submitit.core.utils import UncompletedJobError

        submitit.JobEnvironment()  # raises outside a submitit job
        sig = getattr(signal, "SIG" + submitit.JobEnvironment.USR_SIG)
    except Exception:  # noqa: BLE001  (not inside a submitit job)
        return
    original = signal.getsignal(sig)
    if not callable(original):
        return

    def handler(signum, frame):
        try:
            original(signum, frame)
        except UncompletedJobError as exc:
            raise SystemExit(f"{exc} The cell keeps its checkpoint; resubmit to resume it.") from None

    signal.signal(sig, handler)


@dataclass
class CellJob:
    """A picklable, checkpointable submitit task: one cell. On a timeout or preemption submitit requeues it and the
    cell resumes from its last epoch's checkpoint."""

    suite_path: str
    overrides: list[str]
    results: str
    cell_id: str
    device: str = "auto"
    data_root: str | None = None
    threads: int | None = None  # the launch thread count (job_threads); None: the CPUs the job may use

    def __call__(self) -> dict[str, Any]:
        _requeue_or_exit_on_timeout()
        return run_one_cell(
            self.suite_path, self.overrides, self.results, self.cell_id, self.device, self.data_root, self.threads
        )

    def checkpoint(self, *args: Any, **kwargs: Any):
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)


def job_threads(options: SlurmOptions) -> int:
    """The launch thread count of a submission's jobs: ``cpus_per_task`` when given (what each job is allocated,
    on machines other than the submitting one), else the CPUs of the submitting process, as for a local run."""
    return options.cpus_per_task or launch_threads()


def jobs_path(results: str | os.PathLike, suite_name: str) -> Path:
    return Path(results) / suite_name / JOBS_DIR / JOBS_FILE


def read_jobs(results: str | os.PathLike, suite_name: str) -> dict[str, dict[str, Any]]:
    """cell_id -> the last job submitted for it (job_id, executor, folder, host, submitted_at, previous ids)."""
    path = jobs_path(results, suite_name)
    try:
        return read_json(path).get("cells", {})
    except (OSError, ValueError):
        return {}


def _local_job_alive(record: dict[str, Any]) -> bool:
    if record.get("host") != socket.gethostname():
        return False
    try:
        pid = int(record["job_id"])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, KeyError):
        return False
    return b"submitit" in cmdline


def active_jobs(records: dict[str, dict[str, Any]]) -> set[str]:
    """cell_ids whose recorded job may still run it: queued or running in SLURM (one sacct call), or a live local
    submitit process on this host."""
    active = {cid for cid, r in records.items() if r.get("executor") == "local" and _local_job_alive(r)}
    slurm = {cid: r for cid, r in records.items() if r.get("executor") == "slurm"}
    if slurm:
        try:
            from submitit.slurm.slurm import SlurmJob

            for r in slurm.values():
                SlurmJob(folder=r["folder"], job_id=str(r["job_id"]))  # registers it with the shared sacct watcher
            SlurmJob.watcher.update()
            for cid, r in slurm.items():
                state = SlurmJob.watcher.get_state(str(r["job_id"]), mode="cache")
                if (state.split() or ["UNKNOWN"])[0].upper() in ACTIVE_SLURM_STATES:
                    active.add(cid)
        except Exception:  # noqa: BLE001  (sacct unusable: resubmit; the cell locks still prevent double training)
            pass
    return active


def _record_jobs(results: str, suite_name: str, submitted: list[tuple[Cell, Any]], executor: str, folder: str) -> None:
    path = jobs_path(results, suite_name)
    data = {"suite": suite_name, "cells": read_jobs(results, suite_name)}
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    for cell, job in submitted:
        old = data["cells"].get(cell.cell_id) or {}
        previous = [*old.get("previous", []), old["job_id"]] if old.get("job_id") else []
        data["cells"][cell.cell_id] = {
            "job_id": str(job.job_id), "slug": cell.slug, "executor": executor, "folder": folder,
            "host": socket.gethostname(), "submitted_at": now, "previous": previous,
        }  # fmt: skip
    atomic_write_json(path, data)


def cells_to_submit(suite: Suite, results: str | os.PathLike, *, retry_failed: bool = False) -> list[Cell]:
    """Cells a submission should cover: not finished (or failed, with ``retry_failed``), not running (lock held),
    and without a recorded job that is still queued or running."""
    store = ResultsStore(results)
    active = active_jobs(read_jobs(results, suite.name))
    cells = []
    for cell in suite.cells:
        cell_store = store.cell(suite.name, cell.slug)
        if not runnable(cell_store.finished(), retry_failed) or cell.cell_id in active or cell_store.is_locked():
            continue
        cells.append(cell)
    return cells


def submit_slurm(
    suite_path: str | os.PathLike,
    overrides: Sequence[str] = (),
    results: str | os.PathLike = "results",
    *,
    executor: str = "slurm",
    options: SlurmOptions | None = None,
    folder: str | os.PathLike | None = None,
    device: str = "auto",
    data_root: str | None = None,
    retry_failed: bool = False,
    wait: bool = False,
    on_progress: Callable[[int, int, int], None] | None = None,
    **slurm: Any,
) -> list[Any]:
    """Submit one job per cell still to run (see :func:`cells_to_submit`) as a submitit job array; return the jobs.

    ``executor="slurm"`` submits with sbatch (run it on a login node; the results directory, the suite file and the
    data must be on a filesystem the compute nodes share, with working ``flock``). ``executor="local"`` runs the
    same jobs as local processes through submitit's LocalExecutor (all at once: for testing). ``options``: what to ask
    SLURM for (:class:`SlurmOptions`: partition, time limit, GPUs, ``sbatch`` extra ``#SBATCH`` options such as
    ``{"account": "myproj"}``, ``setup`` shell lines run before the job), or the same fields as keywords. Job ids
    go to ``<results>/<suite>/.submitit/jobs.json``, logs to ``folder`` (default ``<results>/<suite>/.submitit/%j``).
    ``wait``: block until the jobs end (``on_progress`` as for run_parallel). The jobs' cells without
    ``train.threads`` train with :func:`job_threads` threads.
    """
    if executor not in ("slurm", "local"):
        raise LaunchError(f"unknown executor '{executor}'", hint="use slurm or local")
    suite_path, results, data_root = absolute(suite_path), absolute(results), absolute(data_root)
    suite = load_suite(suite_path, list(overrides))
    check_suite(suite)  # what every job would check first: fail here, in one line, before anything is submitted
    store = ResultsStore(results)
    suite_dir = store.open_suite(suite.name, suite.description)
    cells = cells_to_submit(suite, results, retry_failed=retry_failed)
    if not cells:
        return []
    folder = str(folder or suite_dir / JOBS_DIR / "%j")
    try:
        import submitit
    except ImportError:
        raise LaunchError("submitit is not installed", hint="pip install submitit") from None
    try:
        ex = submitit.AutoExecutor(folder=folder, cluster=executor)
    except RuntimeError as exc:
        raise LaunchError(f"cannot submit to SLURM here: {exc}", hint="run on a SLURM login node") from None
    o = options or SlurmOptions(**{k: tuple(v) if k == "setup" else v for k, v in slurm.items()})
    params: dict[str, Any] = {
        "name": f"snnbench-{suite.name}", "timeout_min": int(o.time_min), "gpus_per_node": int(o.gpus_per_job),
        "cpus_per_task": o.cpus_per_task, "mem_gb": o.mem_gb, "slurm_partition": o.partition,
        "slurm_array_parallelism": o.array_parallelism, "slurm_additional_parameters": dict(o.sbatch or {}) or None,
        "slurm_setup": list(o.setup) or None,
    }  # fmt: skip
    try:
        ex.update_parameters(**{k: v for k, v in params.items() if v is not None})
    except (ValueError, NameError, AssertionError) as exc:
        raise LaunchError(f"bad SLURM options: {str(exc).splitlines()[0]}") from None
    threads = job_threads(o)
    tasks = [
        CellJob(suite_path, list(overrides), results, c.cell_id, device=device, data_root=data_root, threads=threads)
        for c in cells
    ]
    try:
        jobs = ex.submit_array(tasks)
    except Exception as exc:  # noqa: BLE001  (sbatch refused: show why on one line)
        message = " ".join(str(exc).split())
        raise LaunchError(
            f"submission failed: {message[:500]}", hint="check the --partition/--sbatch options"
        ) from None
    _record_jobs(results, suite.name, list(zip(cells, jobs, strict=True)), executor, folder)
    if wait:
        wait_for_jobs(jobs, suite, results, on_progress=on_progress)
    return jobs


def wait_for_jobs(
    jobs: list[Any], suite: Suite, results: str | os.PathLike, *, on_progress=None, poll_s: float = 2.0
) -> dict[str, str]:
    """Block until every job has ended; return job_id -> error line for the jobs that raised."""
    store, known = ResultsStore(results), {}
    while True:
        finished = all(job.done() for job in jobs)
        if on_progress:
            on_progress(*count_finished(suite.cells, store, suite, known), len(suite.cells))
        if finished:
            break
        time.sleep(poll_s)
    return job_errors(jobs)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[-1] if lines else str(text)


def job_errors(jobs: list[Any]) -> dict[str, str]:
    """job_id -> the last line of its error, for ended jobs that raised (e.g. a missing dataset)."""
    out = {}
    for job in jobs:
        try:
            exc = job.exception()
        except Exception as err:  # noqa: BLE001
            exc = err
        if exc is not None:
            out[str(job.job_id)] = _last_line(str(exc))
    return out


def job_error(record: dict[str, Any]) -> str | None:
    """The error of a recorded job that ended by raising, from its submitit result pickle."""
    try:
        from submitit.core.utils import JobPaths

        path = JobPaths(record["folder"], job_id=str(record["job_id"]), task_id=0).result_pickle
        with open(path, "rb") as handle:
            outcome, payload = pickle.load(handle)
    except Exception:  # noqa: BLE001  (no result yet, or not readable)
        return None
    return f"job {record['job_id']}: {_last_line(payload)}" if outcome == "error" else None
