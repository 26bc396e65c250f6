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


@lru_cache(maxsize=1)
def _cpuinfo() -> tuple[str, frozenset[str]]:
    model, flags = "", frozenset()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not model:
                    model = value.strip()
                elif key == "flags" and not flags:
                    flags = frozenset(value.split())
                if model and flags:
                    break
    except OSError:  # not Linux
        pass
    return model or platform.processor() or platform.machine() or "unknown CPU", flags


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
