"""The CPU heap of a training process: activation-sized blocks stay in the process from one step to the next.

glibc serves an allocation above ``M_MMAP_THRESHOLD`` (128 KiB, adapting up to 32 MiB) with a fresh ``mmap`` and
unmaps it on ``free``. A training step allocates and frees the same activation tensors every step, so each of them
is page-faulted in again, and zero-filled by the kernel, every step. The cost grows faster than the tensors: once
the activations of a step pass the adaptive threshold (the reference network at T = 8, time folded into the batch:
40 MiB per conv activation), a step took 1.9-2.1x as long as with a heap that keeps its memory (docs/performance.md).

:func:`keep_heap` turns that off for the process, through ``mallopt``: no ``mmap`` for allocations
(``M_MMAP_MAX = 0``, so large blocks come from the heap and are reused), and free memory at the top of the heap is
returned to the kernel only past :data:`TRIM_THRESHOLD` (``M_TRIM_THRESHOLD``), growing it :data:`TOP_PAD` at a time
(``M_TOP_PAD``). The resident size then stays near the peak of a step instead of dropping between steps, as it does
with PyTorch's CUDA caching allocator. ``snnbench run`` applies it in every process that trains (sequential runs,
local workers, submitit jobs) and records it in each cell's provenance; ``SNNBENCH_HEAP=system`` (or any
``MALLOC_*`` setting of the user's own) leaves the allocator alone. A no-op outside glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX = -1, -2, -4  # glibc's <malloc.h>
TRIM_THRESHOLD = 1 << 30
TOP_PAD = 64 << 20

_applied: str | None = None


def _user_settings() -> list[str]:
    named = [k for k in os.environ if k.startswith("MALLOC_")]
    return named + (["GLIBC_TUNABLES"] if "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", "") else [])


def keep_heap() -> str:
    """Apply the heap settings once per process; returns what this process's heap does (for provenance)."""
    global _applied
    if _applied is not None:
        return _applied
    user = _user_settings()
    if os.environ.get("SNNBENCH_HEAP", "").strip().lower() == "system":
        _applied = "system default (SNNBENCH_HEAP=system)"
    elif user:
        _applied = f"system, with the user's {', '.join(sorted(user))}"
    elif not sys.platform.startswith("linux"):
        _applied = "system default (not glibc)"
    else:
        _applied = _mallopt()
    return _applied


def _mallopt() -> str:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = all(libc.mallopt(k, v) == 1 for k, v in _SETTINGS)
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return "system default (no mallopt)"
    if not ok:
        return "system default (mallopt refused)"
    return f"kept: no mmap, trim above {TRIM_THRESHOLD >> 20} MiB, pad {TOP_PAD >> 20} MiB"


_SETTINGS = ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD))


def heap_setting() -> str | None:
    """What :func:`keep_heap` did in this process (None before it ran)."""
    return _applied
