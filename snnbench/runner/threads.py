"""How many intra-op CPU threads a cell trains and is measured with: one rule for every launcher.

CPU reductions (BatchNorm statistics, conv weight gradients, sums) split their work by torch's thread count, so a
cell's numbers depend on it. The rule (:func:`cell_threads`): the cell's ``train.threads`` when set; else the count
the cell recorded in ``provenance.json`` when it started (a resumed or re-measured cell keeps it); else the *launch
count*, the number of CPUs the process that launches the run may use (:func:`launch_threads`), not divided among
workers. A launcher resolves its launch count once and hands it to its local workers and submitit jobs, so a
sequential run, ``--workers N`` and ``--launcher submitit-local`` train every cell with the same count and give the
same numbers. ``--launcher slurm`` hands its jobs ``--cpus-per-task`` (or ``slurm.cpus_per_task``) when given: the
jobs run on other machines than the login node.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import ParamSpec, TypeVar

import torch

from snnbench.machine import cpu_count
from snnbench.results.store import CellStore, DamagedFile
from snnbench.seeds import set_deterministic_algorithms
from snnbench.suite import Cell, CellSpec


def launch_threads() -> int:
    """The CPUs this process may use (its affinity mask; ``os.cpu_count()`` where there is none)."""
    return cpu_count()


def cell_threads(spec: CellSpec, launch: int | None = None, recorded: int | None = None) -> int:
    """The thread count of a cell: ``train.threads``, else ``recorded`` (what the cell started with), else
    ``launch`` (the launcher's count), else this process's CPUs."""
    return spec.train.threads or recorded or launch or launch_threads()


def recorded_threads(store: CellStore) -> int | None:
    """The thread count a cell recorded in its provenance when it started (None when absent or unreadable)."""
    try:
        value = (store.read_provenance() or {}).get("num_threads")
    except DamagedFile:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None


def use_threads(threads: int) -> None:
    """Set torch's intra-op thread count of this process (before a cell trains or is measured)."""
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def use_cell_settings(spec: CellSpec, device: torch.device, launch: int | None, recorded: int | None) -> None:
    """Before a cell trains or is measured: its thread count (:func:`cell_threads`) and its determinism settings
    (:func:`snnbench.seeds.set_deterministic_algorithms`)."""
    use_threads(cell_threads(spec, launch, recorded))
    set_deterministic_algorithms(device, spec.train.deterministic)


P = ParamSpec("P")
R = TypeVar("R")


def restores_threads(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate a run that sets per-cell thread counts and determinism: the caller's settings are back afterwards."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        threads = torch.get_num_threads()
        deterministic = torch.are_deterministic_algorithms_enabled()
        warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
        try:
            return fn(*args, **kwargs)
        finally:
            use_threads(threads)
            if torch.are_deterministic_algorithms_enabled() != deterministic:
                torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)

    return wrapper


def oversubscription(devices: Sequence[str], cells: Iterable[Cell], launch: int, cpus: int | None = None) -> str | None:
    """One line when the CPU workers of ``devices`` times the largest thread count of ``cells`` exceed ``cpus``
    (default: this process's), else None. Nothing changes: every cell trains with its own count, as in a sequential
    run, and the workers share the cores."""
    workers = sum(1 for d in devices if str(d).strip().startswith("cpu"))
    threads = max((cell_threads(c.spec, launch) for c in cells), default=0)
    cpus = cpus or launch_threads()
    if workers < 2 or workers * threads <= cpus:
        return None
    plural = "s" if threads != 1 else ""
    return (
        f"note: {workers} CPU workers x {threads} thread{plural} per cell on {cpus} CPUs: the cores are "
        "oversubscribed so that each cell trains with the thread count of a sequential run (the same numbers); "
        "-o train.threads=1 runs the cells side by side without oversubscribing (new cells, other numbers)"
    )
