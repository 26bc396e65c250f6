"""Shared helpers for the benchmark scripts: the settings `snnbench run` applies, peak memory, load, tables."""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
from collections.abc import Sequence


def run_settings(threads: int | None = None) -> str:
    """Apply the process settings ``snnbench run`` applies (its CPU heap, ``snnbench.runner.heap``; torch threads =
    the CPUs of the process, unless ``threads``) and nothing else; returns the line to print with the results: CPU
    model and vector extensions, threads, heap."""
    import torch

    from snnbench.machine import cpu_count, describe_cpu
    from snnbench.runner.heap import keep_heap

    heap = keep_heap()
    torch.set_num_threads(threads or cpu_count())
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() and torch.cuda.device_count() else ""
    return f"CPU {describe_cpu()}, {torch.get_num_threads()} threads{gpu}; heap: {heap}"


def release_free_memory() -> None:
    """Return free heap memory to the OS (glibc ``malloc_trim``), so RSS drops to what is live."""
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) of this process; False where not supported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _proc_status_mb(field: str) -> float | None:
    """``field`` (e.g. ``VmRSS``) of ``/proc/self/status`` in MiB; None where unreadable."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """Peak resident set size in MiB since the last :func:`reset_peak_rss` (or process start)."""
    peak = _proc_status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def rss_mb() -> float:
    rss = _proc_status_mb("VmRSS")
    return rss if rss is not None else float("nan")


def load_note() -> str:
    try:
        one, five, fifteen = os.getloadavg()
        return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"
    except OSError:
        return "load average unavailable"


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-markdown table."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def fmt(r: Sequence[str]) -> str:
        return (
            "| "
            + " | ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
            + " |"
        )

    sep = "|" + "|".join(("-" * (w + 1) + ":") if i else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|"
    return "\n".join([fmt(cells[0]), sep, *map(fmt, cells[1:])])
