"""Local worker pool: a suite's cells in parallel on several devices (or CPU workers) of one machine.

It relies on the results store's guarantees and adds no scheduler of its own: every cell is trained under its
per-cell ``flock``, so two processes never train one cell and a process that finds a cell locked skips it;
``done.json`` is written last and an unfinished cell resumes from ``checkpoint.pt``, so a killed worker loses at most
one epoch and a rerun finishes only what is missing.

:func:`run_parallel` starts one worker process per entry of ``devices`` (``spawn`` context); each runs
:func:`snnbench.runner.suite.run_suite` on the same results directory and the locks split the cells between them.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snnbench import errors
from snnbench.errors import LaunchError, SnnbenchError
from snnbench.results import ResultsStore
from snnbench.runner.device import resolve_device
from snnbench.runner.preflight import check_suite
from snnbench.runner.progress import Progress
from snnbench.runner.suite import run_suite
from snnbench.runner.threads import launch_threads
from snnbench.suite import Cell, Suite, load_suite


def runnable(status: str | None, retry_failed: bool) -> bool:
    """Whether a cell with this finished status (None: unfinished) is to run."""
    return status is None or (status == "failed" and retry_failed)


def absolute(path: str | os.PathLike | None) -> str | None:
    return None if path is None else str(Path(path).expanduser().resolve())


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
    fail_fast: bool, retry_failed: bool, threads: int, stop, conn,
) -> None:  # fmt: skip
    """One worker: run_suite passes over the shared results directory until no cell it could take is left; its cells
    train with the parent's launch thread count ``threads`` (or their own ``train.threads``)."""
    _exit_with_parent()
    try:
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
                retry_failed=retry, cell_filter=cell_filter, threads=threads,
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


def count_finished(cells: list[Cell], store: ResultsStore, suite: Suite, known: dict[str, str]) -> tuple[int, int]:
    """done / failed cells on disk; ``done`` ones are cached (they never change back)."""
    for cell in cells:
        if known.get(cell.cell_id) != "done":
            status = store.cell(suite.name, cell.slug).finished()
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
    worker has passed the runner's preflight (or at the end when no cell needed a worker). ``threads``: the launch
    thread count every worker trains the cells without ``train.threads`` with (default: the CPUs this process may
    use, not divided among the workers: :mod:`snnbench.runner.threads`). A user error in a worker (missing data, bad
    device) stops the others and is raised here; a worker that dies is reported in ``summary.crashed`` and its cell
    resumes on the next run. Bit-identical to a sequential run launched with the same thread count.
    """
    import multiprocessing
    from multiprocessing.connection import wait

    devices = [str(d).strip() for d in devices if str(d).strip()]
    if not devices:
        raise LaunchError("no worker devices given", hint="e.g. --workers 2, or --devices cuda:0,cuda:1")
    for device in dict.fromkeys(devices):
        resolve_device(device)  # one-line DeviceError before any worker starts
    suite_path, results, data_root = absolute(suite_path), absolute(results), absolute(data_root)
    suite = load_suite(suite_path, list(overrides))
    check_suite(suite)  # a suite error in one line before any worker starts
    store = ResultsStore(results)
    store.open_suite(suite.name, suite.description)
    summary = ParallelSummary(total=len(suite.cells))
    known: dict[str, str] = {}
    at_start = {c.cell_id: store.cell(suite.name, c.slug).finished() for c in suite.cells}
    to_run = [cid for cid, status in at_start.items() if runnable(status, retry_failed)]
    devices = devices[: max(1, len(to_run))] if to_run else []
    threads = threads or launch_threads()

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
                on_progress(*count_finished(suite.cells, store, suite, known), summary.total)
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
        on_progress(*count_finished(suite.cells, store, suite, known), summary.total)
    for cell in suite.cells:
        cell_store = store.cell(suite.name, cell.slug)
        status = cell_store.finished()
        if status == "failed":
            summary.failed[cell.cell_id] = cell_store.error()
        if status and cell.cell_id not in summary.trained_by and at_start[cell.cell_id]:
            summary.skipped.append(cell.cell_id)
        elif status is None:
            (summary.busy if cell_store.is_locked() else summary.remaining).append(cell.cell_id)
    return summary
