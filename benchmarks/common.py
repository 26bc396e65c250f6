"""Shared helpers for the benchmark scripts: malloc settings, thread count, peak memory, load, tables."""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import sys
from collections.abc import Sequence

# glibc serves allocations above M_MMAP_THRESHOLD (128 KiB, adapting up to 32 MiB) with fresh mmap()s that are
# unmapped on free: every step then page-faults its activations in again (zero-filled by the kernel). Keeping
# large blocks in the heap and not trimming it removes that cost. The variables must be set before the process
# starts, so the scripts re-exec themselves once.
MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(1 << 30),
    "MALLOC_TRIM_THRESHOLD_": str(1 << 31),
    "MALLOC_TOP_PAD_": str(64 << 20),
}


def reexec_with_malloc_env(enabled: bool) -> None:
    """Restart this script with :data:`MALLOC_ENV` unless already set (no-op when disabled or not on Linux)."""
    if not enabled or not sys.platform.startswith("linux") or os.environ.get("SNNBENCH_BENCH_REEXEC") == "1":
        return
    env = dict(os.environ, SNNBENCH_BENCH_REEXEC="1")
    for key, value in MALLOC_ENV.items():
        env.setdefault(key, value)
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def malloc_note() -> str:
    set_vars = {k: os.environ[k] for k in MALLOC_ENV if k in os.environ}
    return ", ".join(f"{k}={v}" for k, v in set_vars.items()) or "glibc defaults"


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
