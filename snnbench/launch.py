"""Scale out: a suite's cells in parallel on several devices of one machine, or as SLURM jobs through submitit.

Both launchers rely on the results store's guarantees and add no scheduler of their own:

* every cell is trained under its per-cell ``flock`` (``CellStore.lock``), so two processes never train one cell and
  a process that finds a cell locked skips it;
* ``done.json`` (status ``done`` | ``failed``) is written last, and an unfinished cell resumes from
  ``checkpoint.pt``, so a killed worker or job loses at most one epoch and a rerun finishes only what is missing.

:func:`run_parallel` starts one worker process per entry of ``devices`` (``spawn`` context); each runs
:func:`snnbench.runner.run_suite` on the same results directory and the locks split the cells between them.
:func:`submit_slurm` submits one submitit job per unfinished cell (a job array), each running :func:`run_one_cell`.
:func:`cell_status` reads a results directory: done, failed, running (lock held), unfinished or pending per cell.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import pickle
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snnbench import errors
from snnbench.errors import SnnbenchError
from snnbench.results.store import DONE, CellStore, ResultsStore, atomic_write_json, read_json
from snnbench.runner import Progress
from snnbench.suite import Cell, Suite, load_suite

JOBS_DIR = ".submitit"
JOBS_FILE = "jobs.json"
STATUSES = ("done", "failed", "running", "unfinished", "pending")
# SLURM job states (sacct) of a job that may still train its cell: such a cell is not resubmitted
ACTIVE_SLURM_STATES = {
    "PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "COMPLETING", "SUSPENDED",
    "RESIZING", "SIGNALING", "STAGE_OUT",
}  # fmt: skip


class LaunchError(SnnbenchError):
    """A launcher cannot start: no SLURM on this machine, sbatch refused the job, bad worker devices."""


# --------------------------------------------------------------------------------------------------------------
# helpers shared by the launchers and status


def is_locked(cell_dir: str | os.PathLike) -> bool:
    """Whether a live process holds the cell's lock (a non-blocking shared ``flock`` attempt on ``.lock``).

    The probe holds a shared lock for microseconds; a runner that tries the cell at that very moment skips it as
    busy (a parallel worker retries it in its next pass). Locks die with their process, even on SIGKILL.
    """
    path = Path(cell_dir) / ".lock"
    try:
        handle = open(path, "rb")  # noqa: SIM115  (closed below)
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def _finished(store: CellStore) -> str | None:
    """``done`` / ``failed`` from done.json, else None (a half-written or missing file counts as not finished)."""
    try:
        return read_json(store.path / DONE).get("status", "done")
    except (OSError, ValueError):
        return None


def _runnable(status: str | None, retry_failed: bool) -> bool:
    return status is None or (status == "failed" and retry_failed)


def _absolute(path: str | os.PathLike | None) -> str | None:
    return None if path is None else str(Path(path).expanduser().resolve())


def default_threads(n_workers: int) -> int:
    """CPU threads per worker: the CPUs this process may use, split evenly."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, cpus // max(1, n_workers))


def worker_devices(
    workers: int | None = None, device: str = "auto", devices: str | Sequence[str] | None = None
) -> list[str]:
    """The device of each local worker, from ``--workers N``, ``--device`` and ``--devices a,b``.

    ``devices`` gives one worker per entry (with ``workers`` too: that many workers, cycling over the list);
    otherwise ``workers`` workers on ``device``, where ``auto`` spreads them over the visible GPUs (cuda:0, cuda:1,
    cuda:0, ...) or uses the CPU.
    """
    if isinstance(devices, str):
        devices = [d.strip() for d in devices.split(",") if d.strip()]
    if workers is not None and workers < 1:
        raise LaunchError(f"--workers is {workers}", hint="use 1 or more")
    if devices:
        n = workers or len(devices)
        return [devices[i % len(devices)] for i in range(n)]
    n = workers or 1
    if device == "auto":
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return [f"cuda:{i % gpus}" for i in range(n)] if gpus else ["cpu"] * n
    return [device] * n


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


def _set_threads(threads: int | None) -> None:
    import torch

    if threads:
        torch.set_num_threads(int(threads))


# --------------------------------------------------------------------------------------------------------------
# local worker pool


class _Stop(BaseException):
    """Raised in a worker to stop before the next cell (fail-fast elsewhere, or the parent's request).

    A BaseException, so the runner neither records it as a cell failure nor swallows it; the cell lock is released.
    """


class _WorkerProgress(Progress):
    """Reports every finished cell to the parent at once (so a worker killed later still counts its cells) and stops
    before starting a cell once ``stop`` is set."""

    def __init__(self, conn, stop, fail_fast: bool) -> None:
        self.conn, self.stop, self.fail_fast = conn, stop, fail_fast
        self.trained = 0
        self.ready = False

    def suite_start(self, suite: Suite, device, results) -> None:
        if not self.ready:  # preflight passed (data present, models build)
            self.ready = True
            self.conn.send(("ready",))

    def cell_start(self, cell: Cell, total_epochs: int) -> None:
        if self.stop.is_set():
            raise _Stop()

    def cell_end(self, cell: Cell, status: str, metrics: dict[str, Any]) -> None:
        self.trained += 1
        info = {"test_acc": metrics.get("test_acc"), "error": metrics.get("error")}
        self.conn.send(("cell", cell.cell_id, status, info))
        if status == "failed" and self.fail_fast:
            self.stop.set()


def _exit_with_parent() -> None:
    """A worker whose parent dies (SIGKILL, SLURM time limit) exits too instead of training on as an orphan."""
    import multiprocessing

    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os._exit(3)

    threading.Thread(target=watch, name="snnbench-parent-watch", daemon=True).start()


def _worker_main(
    index: int, device: str, suite_path: str, overrides: list[str], results: str, data_root: str | None,
    fail_fast: bool, retry_failed: bool, threads: int | None, stop, conn,
) -> None:  # fmt: skip
    """One worker: run_suite passes over the shared results directory until no cell it could take is left."""
    _exit_with_parent()
    try:
        from snnbench.runner import resolve_device, run_suite

        _set_threads(threads)
        torch_device = resolve_device(device)
        if torch_device.type == "cuda" and torch_device.index is not None:
            import torch

            torch.cuda.set_device(torch_device)  # kernels launched on the current device (e.g. Triton) use this one
        suite = load_suite(suite_path, overrides)
        progress = _WorkerProgress(conn, stop, fail_fast)
        cell_filter, retry, busy = None, retry_failed, []
        while not stop.is_set():
            before = progress.trained
            summary = run_suite(
                suite, results, device=device, data_root=data_root, progress=progress, fail_fast=fail_fast,
                retry_failed=retry, cell_filter=cell_filter,
            )  # fmt: skip
            busy = summary.busy
            if fail_fast and summary.failed:
                break
            # Cells skipped as busy: still held by another worker (it finishes them), or released meanwhile by a
            # worker that died or a momentary status probe: take those in another pass. Stop when a pass trains
            # nothing, i.e. every cell left is held by a live process.
            if not busy or progress.trained == before:
                break
            cell_filter = lambda c, ids=frozenset(busy): c.cell_id in ids  # noqa: E731
            retry = False  # failed cells were retried in the first pass; do not retry a fresh failure
        conn.send(("ok", busy))
    except _Stop:
        conn.send(("ok", []))
    except SnnbenchError as exc:
        conn.send(("user_error", type(exc).__name__, str(exc)))
    except KeyboardInterrupt:
        conn.send(("interrupted",))
    except BaseException as exc:  # noqa: BLE001  (reported by the parent with its traceback)
        conn.send(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    finally:
        conn.close()


@dataclass
class ParallelSummary:
    """What a parallel run did; ``ok`` is False when a cell failed or a worker died (exit non-zero)."""

    total: int = 0
    workers: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)  # cells trained by this run (once each)
    failed: dict[str, str] = field(default_factory=dict)  # cell_id -> error, new and earlier failures (like run_suite)
    skipped: list[str] = field(default_factory=list)  # finished before this run
    busy: list[str] = field(default_factory=list)  # unfinished, locked by a process outside this run at the end
    remaining: list[str] = field(default_factory=list)  # unfinished, unlocked at the end: rerun to finish them
    crashed: dict[str, str] = field(default_factory=dict)  # worker label -> why it ended early
    trained_by: dict[str, str] = field(default_factory=dict)  # cell_id -> worker label
    tracebacks: dict[str, str] = field(default_factory=dict)  # worker label -> traceback of an unexpected error

    @property
    def ok(self) -> bool:
        return not self.failed and not self.crashed


@dataclass
class _Worker:
    index: int
    device: str
    process: Any
    conn: Any
    label: str
    result: tuple | None = None
    eof: bool = False


def _count(cells: list[Cell], store: ResultsStore, suite: Suite, known: dict[str, str]) -> tuple[int, int]:
    """done / failed cells on disk; ``done`` ones are cached (they never change back)."""
    for cell in cells:
        if known.get(cell.cell_id) != "done":
            status = _finished(store.cell(suite.name, cell.slug))
            if status:
                known[cell.cell_id] = status
            else:
                known.pop(cell.cell_id, None)
    values = list(known.values())
    return values.count("done"), values.count("failed")


def _user_error(class_name: str, text: str) -> SnnbenchError:
    cls = getattr(errors, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, SnnbenchError)):
        cls = SnnbenchError
    return cls(text)


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "did not exit"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def _stop_workers(workers: list[_Worker], grace_s: float) -> None:
    deadline = time.monotonic() + grace_s
    for w in workers:
        w.process.join(max(0.0, deadline - time.monotonic()))
    for w in workers:
        if w.process.is_alive():
            w.process.terminate()
    for w in workers:
        w.process.join(10)
        if w.process.is_alive():
            w.process.kill()
            w.process.join(5)


def run_parallel(
    suite_path: str | os.PathLike,
    overrides: Sequence[str] = (),
    results: str | os.PathLike = "results",
    *,
    devices: Sequence[str],
    data_root: str | None = None,
    fail_fast: bool = False,
    retry_failed: bool = False,
    on_progress: Callable[[int, int, int], None] | None = None,
    on_cell: Callable[[Cell, str, dict[str, Any], str], None] | None = None,
    on_start: Callable[[list[str]], None] | None = None,
    threads: int | None = None,
    poll_s: float = 0.5,
) -> ParallelSummary:
    """Run a suite's cells with one worker process per entry of ``devices`` (e.g. ``["cuda:0", "cuda:1"]``, or
    ``["cpu"] * n``) on one shared results directory; results equal a sequential run's.

    ``on_progress(done, failed, total)`` is called every ``poll_s`` from the results directory's done.json files;
    ``on_cell(cell, status, info, worker)`` when a worker finishes a cell; ``on_start(devices)`` once, when the first
    worker has passed the runner's preflight (or at the end when no cell needed a worker). ``threads``: torch CPU
    threads per worker (default: this process's CPUs // workers). A user error in a worker (missing data, bad
    device) stops the others and is raised here; a worker that dies is reported in ``summary.crashed`` and its cell
    resumes on the next run. Bit-identical to a sequential run with the same number of torch threads.
    """
    import multiprocessing
    from multiprocessing.connection import wait

    from snnbench.runner import resolve_device

    devices = [str(d).strip() for d in devices if str(d).strip()]
    if not devices:
        raise LaunchError("no worker devices given", hint="e.g. --workers 2, or --devices cuda:0,cuda:1")
    for device in dict.fromkeys(devices):
        resolve_device(device)  # one-line DeviceError before any worker starts
    suite_path, results, data_root = _absolute(suite_path), _absolute(results), _absolute(data_root)
    suite = load_suite(suite_path, list(overrides))
    store = ResultsStore(results)
    store.open_suite(suite.name, suite.description)
    summary = ParallelSummary(total=len(suite.cells))
    known: dict[str, str] = {}
    at_start = {c.cell_id: _finished(store.cell(suite.name, c.slug)) for c in suite.cells}
    runnable = [cid for cid, status in at_start.items() if _runnable(status, retry_failed)]
    devices = devices[: max(1, len(runnable))] if runnable else []
    threads = threads or default_threads(len(devices) or 1)

    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    workers: list[_Worker] = []
    user_error: SnnbenchError | None = None
    by_id = {c.cell_id: c for c in suite.cells}
    try:
        for index, device in enumerate(devices):
            reader, writer = ctx.Pipe(duplex=False)
            label = f"worker {index} ({device})"
            process = ctx.Process(
                target=_worker_main, name=f"snnbench-worker-{index}",
                args=(index, device, suite_path, list(overrides), results, data_root, fail_fast, retry_failed,
                      threads, stop, writer),
            )  # fmt: skip
            process.start()
            writer.close()
            workers.append(_Worker(index, device, process, reader, label))
        summary.workers = [w.label for w in workers]
        running = list(workers)
        last_poll, started = -float("inf"), False
        while running:
            waitables = [w.conn for w in running if not w.eof] + [w.process.sentinel for w in running]
            wait(waitables, timeout=poll_s)
            for w in list(running):
                while not w.eof and w.conn.poll():
                    try:
                        message = w.conn.recv()
                    except (EOFError, OSError):
                        w.eof = True
                        break
                    if message[0] == "ready":
                        if on_start and not started:
                            on_start([x.device for x in workers])
                        started = True
                    elif message[0] == "cell":
                        _, cell_id, status, info = message
                        if status == "done":
                            summary.done.append(cell_id)
                        summary.trained_by[cell_id] = w.label
                        if on_cell:
                            on_cell(by_id[cell_id], status, info, w.label)
                    else:
                        w.result = message
                if w.process.exitcode is None or not w.eof and w.conn.poll():
                    continue
                running.remove(w)
                w.process.join()
                result = w.result or ("died",)
                if result[0] == "ok":
                    continue
                if result[0] == "user_error":
                    user_error = user_error or _user_error(result[1], result[2])
                    stop.set()
                elif result[0] == "error":
                    summary.crashed[w.label] = result[1]
                    summary.tracebacks[w.label] = result[2]
                elif result[0] == "interrupted":
                    raise KeyboardInterrupt
                else:
                    summary.crashed[w.label] = f"died ({_describe_exit(w.process.exitcode)})"
            if user_error is not None:
                break
            if on_progress and started and time.monotonic() - last_poll >= poll_s:
                last_poll = time.monotonic()
                on_progress(*_count(suite.cells, store, suite, known), summary.total)
    except BaseException:
        stop.set()
        _stop_workers(workers, grace_s=5.0)
        raise
    finally:
        for w in workers:
            w.conn.close()
    if user_error is not None:
        _stop_workers(workers, grace_s=0.0)  # the other workers would hit the same error
        raise user_error
    if on_start and not workers:
        on_start([])
    if on_progress:
        on_progress(*_count(suite.cells, store, suite, known), summary.total)
    for cell in suite.cells:
        cell_store = store.cell(suite.name, cell.slug)
        status = _finished(cell_store)
        if status == "failed":
            summary.failed[cell.cell_id] = (cell_store.read_json("metrics.json") or {}).get("error", "failed")
        if status and cell.cell_id not in summary.trained_by and at_start[cell.cell_id]:
            summary.skipped.append(cell.cell_id)
        elif status is None:
            (summary.busy if is_locked(cell_store.path) else summary.remaining).append(cell.cell_id)
    return summary


class RichParallelProgress:
    """Callbacks for :func:`run_parallel` / :func:`wait_for_jobs` drawn with rich: a header once the first worker has
    passed its preflight (so a user error prints nothing but its one line), a cells bar, a line per finished cell.

    Use as a context manager; pass ``on_start``, ``on_progress`` and ``on_cell`` to :func:`run_parallel`.
    """

    def __init__(self, console, suite: Suite, results: str | os.PathLike) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
        from rich.progress import Progress as Bars

        self.console, self.suite, self.results = console, suite, Path(results)
        self.bars = Bars(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=console,
        )  # fmt: skip
        self.task = self.bars.add_task("cells", total=len(suite.cells), info="")
        self.started = False

    def __enter__(self) -> RichParallelProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.started:
            self.bars.__exit__(*exc)

    def _start(self) -> None:
        if not self.started:
            self.bars.__enter__()
            self.started = True

    def on_start(self, devices: list[str]) -> None:
        where = self.results / self.suite.name
        workers = f"{len(devices)} workers ({', '.join(devices)})" if devices else "no cell left to run"
        self.console.print(
            f"suite '{self.suite.name}': {len(self.suite.cells)} cells, {workers} -> {where}", markup=False
        )
        self._start()

    def on_progress(self, done: int, failed: int, total: int) -> None:
        self._start()
        self.bars.update(self.task, completed=done + failed, total=total, info=f"{failed} failed" if failed else "")

    def on_cell(self, cell: Cell, status: str, info: dict[str, Any], worker: str) -> None:
        from rich.markup import escape

        self._start()
        s = cell.spec
        label = escape(f"{s.data.dataset} {s.model.name} d{s.model.depth} {s.train.variant} s{s.seed} [{cell.cell_id}]")
        if status == "done":
            acc = info.get("test_acc")
            acc_text = f"{acc:.4f}" if isinstance(acc, (int, float)) else "-"
            self.bars.console.print(f"[green]done[/] {label}: test_acc {acc_text} ({escape(worker)})")
        else:
            self.bars.console.print(f"[red]failed[/] {label}: {escape(str(info.get('error')))} ({escape(worker)})")


# --------------------------------------------------------------------------------------------------------------
# SLURM (and submitit's local executor) through submitit


def run_one_cell(
    suite_path: str, overrides: Sequence[str], results: str, cell_id: str, device: str = "auto",
    data_root: str | None = None, threads: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Train and measure one cell (the body of a SLURM job); a no-op when it is finished or held by another job."""
    from snnbench.runner import run_suite

    _set_threads(threads or int(os.environ.get("SLURM_CPUS_PER_TASK") or 0) or None)
    suite = load_suite(suite_path, list(overrides))
    if not any(c.cell_id == cell_id for c in suite.cells):
        raise LaunchError(f"cell {cell_id} is not in suite '{suite.name}'", hint="was the suite file edited?")
    summary = run_suite(suite, results, device=device, data_root=data_root, cell_filter=lambda c: c.cell_id == cell_id)
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

        sig = submitit.JobEnvironment()._usr_sig()
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
    threads: int | None = None

    def __call__(self) -> dict[str, Any]:
        _requeue_or_exit_on_timeout()
        return run_one_cell(
            self.suite_path, self.overrides, self.results, self.cell_id, self.device, self.data_root, self.threads
        )

    def checkpoint(self, *args: Any, **kwargs: Any):
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)


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
        if not _runnable(_finished(cell_store), retry_failed) or cell.cell_id in active or is_locked(cell_store.path):
            continue
        cells.append(cell)
    return cells


def submit_slurm(
    suite_path: str | os.PathLike,
    overrides: Sequence[str] = (),
    results: str | os.PathLike = "results",
    *,
    executor: str = "slurm",
    partition: str | None = None,
    time_min: int = 60,
    gpus_per_job: int = 1,
    cpus_per_task: int | None = None,
    mem_gb: float | None = None,
    array_parallelism: int | None = None,
    sbatch: dict[str, Any] | None = None,
    setup: Sequence[str] | None = None,
    folder: str | os.PathLike | None = None,
    device: str = "auto",
    data_root: str | None = None,
    retry_failed: bool = False,
    wait: bool = False,
    on_progress: Callable[[int, int, int], None] | None = None,
) -> list[Any]:
    """Submit one job per cell still to run (see :func:`cells_to_submit`) as a submitit job array; return the jobs.

    ``executor="slurm"`` submits with sbatch (run it on a login node; the results directory, the suite file and the
    data must be on a filesystem the compute nodes share, with working ``flock``). ``executor="local"`` runs the
    same jobs as local processes through submitit's LocalExecutor (all at once: for testing). ``sbatch``: extra
    ``#SBATCH`` options, e.g. ``{"account": "myproj", "qos": "high"}``; ``setup``: shell lines run before the job
    (``module load ...``). Job ids go to ``<results>/<suite>/.submitit/jobs.json``, logs to ``folder`` (default
    ``<results>/<suite>/.submitit/%j``). ``wait``: block until the jobs end (``on_progress`` as for run_parallel).
    """
    if executor not in ("slurm", "local"):
        raise LaunchError(f"unknown executor '{executor}'", hint="use slurm or local")
    suite_path, results, data_root = _absolute(suite_path), _absolute(results), _absolute(data_root)
    suite = load_suite(suite_path, list(overrides))
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
    params: dict[str, Any] = {
        "name": f"snnbench-{suite.name}", "timeout_min": int(time_min), "gpus_per_node": int(gpus_per_job),
        "cpus_per_task": cpus_per_task, "mem_gb": mem_gb, "slurm_partition": partition,
        "slurm_array_parallelism": array_parallelism, "slurm_additional_parameters": dict(sbatch) if sbatch else None,
        "slurm_setup": list(setup) if setup else None,
    }  # fmt: skip
    try:
        ex.update_parameters(**{k: v for k, v in params.items() if v is not None})
    except (ValueError, NameError, AssertionError) as exc:
        raise LaunchError(f"bad SLURM options: {str(exc).splitlines()[0]}") from None
    tasks = [
        CellJob(
            suite_path, list(overrides), results, c.cell_id, device=device, data_root=data_root, threads=cpus_per_task
        )
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
            on_progress(*_count(suite.cells, store, suite, known), len(suite.cells))
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


def _job_error(record: dict[str, Any]) -> str | None:
    """The error of a recorded job that ended by raising, from its submitit result pickle."""
    try:
        from submitit.core.utils import JobPaths

        path = JobPaths(record["folder"], job_id=str(record["job_id"]), task_id=0).result_pickle
        with open(path, "rb") as handle:
            outcome, payload = pickle.load(handle)
    except Exception:  # noqa: BLE001  (no result yet, or not readable)
        return None
    return f"job {record['job_id']}: {_last_line(payload)}" if outcome == "error" else None


# --------------------------------------------------------------------------------------------------------------
# status


def _cell_row(suite_name: str, cell_store: CellStore, cell_id: str, slug: str, epochs_total: int | None) -> dict:
    finished = _finished(cell_store)
    if finished:
        status = finished
    elif is_locked(cell_store.path):
        status = "running"
    elif (cell_store.path / "spec.json").exists() or (cell_store.path / "checkpoint.pt").exists():
        status = "unfinished"
    else:
        status = "pending"
    metrics = (cell_store.read_json("metrics.json") or {}) if finished else {}
    try:
        history = cell_store.read_json("history.json") or []
    except ValueError:
        history = []
    if epochs_total is None:
        try:
            epochs_total = ((cell_store.read_json("spec.json") or {}).get("train") or {}).get("epochs")
        except ValueError:
            epochs_total = None
    return {
        "suite": suite_name, "cell_id": cell_id, "slug": slug, "status": status, "epochs": len(history),
        "epochs_total": epochs_total, "test_acc": metrics.get("test_acc"),
        "error": metrics.get("error") if status == "failed" else None, "job_id": None,
    }  # fmt: skip


def _suite_dirs(results: Path, suite_name: str | None) -> list[Path]:
    if (results / "suite.json").exists():  # a suite directory itself
        return [results]
    if suite_name:
        return [results / suite_name]
    return sorted(p.parent for p in results.glob("*/suite.json"))


def cell_status(results: str | os.PathLike, suite: Suite | str | None = None) -> list[dict[str, Any]]:
    """One row per cell: suite, cell_id, slug, status (done | failed | running | unfinished | pending), epochs (done
    so far), epochs_total, test_acc, error, job_id (last submitted SLURM/submitit job).

    With a :class:`Suite` every cell of the suite is listed, pending ones included; with a suite name or None the
    cells found on disk (under every suite of ``results``, or ``results`` itself when it is a suite directory).
    """
    results = Path(results)
    rows: list[dict[str, Any]] = []
    if isinstance(suite, Suite):
        suite_dir = (
            results if (results / "suite.json").exists() and results.name == suite.name else results / suite.name
        )
        entries = [(suite.name, suite_dir, CellStore(suite_dir / c.slug), c.cell_id, c.slug, c.spec.train.epochs)
                   for c in suite.cells]  # fmt: skip
    else:
        entries = []
        for suite_dir in _suite_dirs(results, suite):
            name = suite_dir.name
            with contextlib.suppress(OSError, ValueError):
                name = read_json(suite_dir / "suite.json").get("suite", name)
            for cell_dir in sorted(p for p in suite_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
                store = CellStore(cell_dir)
                try:
                    cell_id = (store.read_json("spec.json") or {}).get("cell_id")
                except ValueError:
                    cell_id = None
                entries.append(
                    (name, suite_dir, store, cell_id or cell_dir.name.rsplit("-", 1)[-1], cell_dir.name, None)
                )
    jobs_by_suite: dict[Path, dict[str, dict[str, Any]]] = {}
    for name, suite_dir, store, cell_id, slug, epochs_total in entries:
        row = _cell_row(name, store, cell_id, slug, epochs_total)
        if suite_dir not in jobs_by_suite:
            jobs_by_suite[suite_dir] = read_jobs(suite_dir.parent, suite_dir.name)
        record = jobs_by_suite[suite_dir].get(cell_id)
        if record:
            row["job_id"] = record.get("job_id")
            if row["status"] in ("pending", "unfinished"):
                row["error"] = _job_error(record)
        rows.append(row)
    return rows


def status_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {s: sum(r["status"] == s for r in rows) for s in STATUSES}


def status_line(rows: list[dict[str, Any]]) -> str:
    counts = status_counts(rows)
    return f"{len(rows)} cells: " + ", ".join(f"{n} {s}" for s, n in counts.items())


def status_table(rows: list[dict[str, Any]], title: str | None = None):
    """A rich Table of :func:`cell_status` rows."""
    from rich.markup import escape
    from rich.table import Table

    colors = {"done": "green", "failed": "red", "running": "cyan", "unfinished": "yellow", "pending": "dim"}
    table = Table(title=title)
    multi = len({r["suite"] for r in rows}) > 1
    for col in (["suite"] if multi else []) + ["cell_id", "cell", "status", "epochs", "test_acc", "job", "error"]:
        table.add_column(col, overflow="fold")
    for r in rows:
        cell = r["slug"][: -len(r["cell_id"]) - 1] if r["slug"].endswith("-" + r["cell_id"]) else r["slug"]
        epochs = f"{r['epochs']}/{r['epochs_total']}" if r["epochs_total"] is not None else str(r["epochs"])
        acc = f"{r['test_acc']:.4f}" if isinstance(r["test_acc"], (int, float)) else ""
        values = [r["cell_id"], escape(cell), f"[{colors[r['status']]}]{r['status']}[/]", epochs, acc,
                  escape(str(r["job_id"] or "")), escape(r["error"] or "")]  # fmt: skip
        table.add_row(*([escape(r["suite"])] if multi else []), *values)
    return table


def format_status(rows: list[dict[str, Any]]) -> str:
    """Plain-text table (for logs and tests)."""
    header = ("cell_id", "status", "epochs", "test_acc", "job", "error")
    lines = [header]
    for r in rows:
        epochs = f"{r['epochs']}/{r['epochs_total']}" if r["epochs_total"] is not None else str(r["epochs"])
        acc = f"{r['test_acc']:.4f}" if isinstance(r["test_acc"], (int, float)) else "-"
        lines.append((r["cell_id"], r["status"], epochs, acc, str(r["job_id"] or "-"), r["error"] or ""))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header) - 1)]
    out = [
        "  ".join(str(v).ljust(w) for v, w in zip(line[:-1], widths, strict=True)) + "  " + line[-1] for line in lines
    ]
    return "\n".join(s.rstrip() for s in out) + "\n" + status_line(rows) + "\n"


__all__ = [
    "CellJob", "LaunchError", "ParallelSummary", "RichParallelProgress", "active_jobs", "cell_status",
    "cells_to_submit", "default_threads", "format_status", "is_locked", "job_errors", "parse_sbatch", "read_jobs",
    "run_one_cell", "run_parallel", "status_counts", "status_line", "status_table", "submit_slurm", "wait_for_jobs",
    "worker_devices",
]  # fmt: skip
