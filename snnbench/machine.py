"""What this process runs on: the CPU's model and vector extensions, and snnbench's per-user cache directory.

Timings mean little without the CPU they ran on: the benchmarks print :func:`describe_cpu`, each cell's provenance
records it, and measured decisions (:mod:`snnbench.neurons.backends.dispatch`) are kept per machine.
"""

from __future__ import annotations

import os
import platform
from functools import lru_cache
from pathlib import Path

# Extensions that change which CPU kernels are fastest (and whether bf16 runs in hardware), in the kernel's names.
VECTOR_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_info(cpuinfo: str | Path = "/proc/cpuinfo") -> tuple[str, set[str]] | None:
    """The CPU's model name and feature flags (Linux ``/proc/cpuinfo``), or None where they cannot be read."""
    try:
        lines = Path(cpuinfo).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    fields = [line.split(":", 1) for line in lines if ":" in line]
    name = next((value.strip() for key, value in fields if key.strip() == "model name"), platform.machine())
    return name, {flag for key, value in fields if key.strip() == "flags" for flag in value.split()}


@lru_cache(maxsize=1)
def _cpuinfo() -> tuple[str, frozenset[str]]:
    name, flags = cpu_info() or ("", set())
    return name or platform.processor() or platform.machine() or "unknown CPU", frozenset(flags)


def cpu_model() -> str:
    """The CPU's model name, e.g. ``AMD EPYC 9B14``."""
    return _cpuinfo()[0]


def cpu_flags() -> tuple[str, ...]:
    """Which of :data:`VECTOR_FLAGS` this CPU has (empty where the flags cannot be read)."""
    flags = _cpuinfo()[1]
    return tuple(f for f in VECTOR_FLAGS if f in flags)


def describe_cpu() -> str:
    """``model (FLAG, FLAG, ...)``, e.g. ``AMD EPYC (AVX2, FMA)``: the line a timing is reported with."""
    flags = cpu_flags()
    return f"{cpu_model()} ({', '.join(f.upper() for f in flags) or 'no AVX2'})"


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask; the machine's count where there is none)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def user_cache_dir() -> Path:
    """``$SNNBENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/snnbench``, else ``~/.cache/snnbench`` (not created here)."""
    if os.environ.get("SNNBENCH_CACHE_DIR"):
        return Path(os.environ["SNNBENCH_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "snnbench"
