r"""Eager or compiled: which implementation of a fused LIF op runs, decided per machine and shape by measurement.

The fused LIF ops (:mod:`snnbench.neurons.backends.fused`) have two implementations of the same arithmetic: an eager
loop (nothing to build) and ``torch.compile`` kernels (one pass over memory, seconds to build per new shape). They
give bit-identical spikes and gradients (``tests/neurons/backends/test_dispatch.py``), so the choice changes speed,
never a number. Under the default policy ``auto`` the choice is made once per *signature* (op, device, argument
shapes, strides and dtypes, surrogate, whether a gradient is needed):

1. the eager op is timed on random inputs of the signature (forward, and backward when training), best of
   :data:`TRIAL_CALLS`, unless this machine (CPU model and vector extensions or GPU name, torch version, thread
   count) has timed it before: timings are kept in ``<user cache>/lif_paths.json``;
2. when removing all of the eager time could not repay a compile within the calls the run expects,

   .. math:: t_\text{eager} \cdot N_\text{calls} < t_\text{compile},

   eager it is (:math:`N_\text{calls}`: :func:`expected_calls`, set by the runner from the epochs and batches of a
   cell, :data:`BREAK_EVEN_CALLS` otherwise; :math:`t_\text{compile}`: the median compile time measured on this
   machine, :data:`COMPILE_S_PRIOR` before the first);
3. else the compiled op is timed the same way (compiling it, or loading it from the kernel cache) and runs when it
   is faster by :data:`MARGIN`.

Timings are recorded and the trial never touches the caller's tensors or random streams. Other policies:
``always`` (compile every signature) and ``never`` (eager only), from ``SNNBENCH_LIF_COMPILE`` (``1`` / ``0``; ``auto``
or unset: measure) or :func:`set_policy`. Compiled kernels persist in inductor's on-disk cache, which snnbench puts
under ``<user cache>/inductor`` unless ``TORCHINDUCTOR_CACHE_DIR`` is set: a signature compiles once per machine and
later processes load it. :func:`paths_used` tells the runner which path each signature took (cell provenance).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from snnbench.machine import describe_cpu, user_cache_dir

__all__ = [
    "BREAK_EVEN_CALLS",
    "Decision",
    "choose",
    "compile_enabled",
    "ensure_kernel_cache",
    "expected_calls",
    "paths_used",
    "policy",
    "reset_paths_used",
    "set_policy",
]

log = logging.getLogger(__name__)

POLICIES = ("auto", "always", "never")
BREAK_EVEN_CALLS = 1000  # calls a compile must pay for itself within, when the run does not say
COMPILE_S_PRIOR = 5.0  # seconds per compile assumed before this machine has compiled anything
TRIAL_CALLS = 3  # timed calls per path, after one untimed call (which builds the compiled kernel)
MARGIN = 0.9  # compiled must take under this share of the eager time
CACHE_FILE = "lif_paths.json"
COMPILE_TIMES_KEPT = 16


def _policy_from_env(value: str) -> str:
    value = value.strip().lower()
    if value in ("0", "false", "no", "off", "never", "eager"):
        return "never"
    if value in ("1", "true", "yes", "on", "always", "compiled"):
        return "always"
    return "auto"


_policy = _policy_from_env(os.environ.get("SNNBENCH_LIF_COMPILE", "auto"))


def set_policy(value: str | bool | None) -> None:
    """``auto`` (or None): measure; ``always`` (or True): compile; ``never`` (or False): eager only."""
    global _policy
    if value is None or isinstance(value, bool):
        value = "auto" if value is None else "always" if value else "never"
    if value not in POLICIES:
        raise ValueError(f"LIF compile policy must be one of {POLICIES}, got {value!r}")
    _policy = value


def policy() -> str:
    return _policy


def compile_enabled(device_type: str = "cpu") -> bool:
    """Whether compiled kernels may run at all (``always`` or ``auto``, on a CPU or CUDA device)."""
    return _policy != "never" and device_type in ("cpu", "cuda")


_expected: dict[str, int] = {}  # "train" / "infer" -> calls per signature the current run expects


@contextlib.contextmanager
def expected_calls(train: int | None = None, infer: int | None = None) -> Iterator[None]:
    """How many calls per signature the code inside will make, training and inference (the runner: a cell's
    epochs x batches); the break-even test of a compile uses them instead of :data:`BREAK_EVEN_CALLS`."""
    before = dict(_expected)
    _expected.update({k: max(1, int(v)) for k, v in (("train", train), ("infer", infer)) if v is not None})
    try:
        yield
    finally:
        _expected.clear()
        _expected.update(before)


@dataclass(frozen=True)
class Decision:
    """The path of one signature and why: ``how`` is ``measured``, ``recorded`` (this machine, earlier) or ``too
    small`` (eager could not repay a compile). Times are per call, milliseconds."""

    path: str
    how: str
    eager_ms: float | None = None
    compiled_ms: float | None = None
    compile_s: float | None = None


_lock = threading.Lock()
_decisions: dict[tuple[str, int, int], Decision] = {}  # (signature, CPU threads, expected calls) -> decision
_used: dict[str, str] = {}  # signature -> path, since reset_paths_used()
_disk: dict[str, dict] = {}  # machine key -> its entry of the cache file, loaded once per process


def reset_paths_used() -> None:
    _used.clear()


def paths_used() -> dict[str, str]:
    """``signature -> 'compiled' | 'eager'`` for every signature that ran since :func:`reset_paths_used`."""
    return dict(_used)


def ensure_kernel_cache() -> None:
    """Point inductor's on-disk kernel cache at ``<user cache>/inductor`` unless the user chose a directory."""
    if "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(user_cache_dir() / "inductor")


def machine_key(device: torch.device) -> str:
    """What a timing depends on besides the shapes: the device (and threads on a CPU) and torch's version."""
    if device.type == "cuda":
        where = torch.cuda.get_device_name(device)
    else:
        where = f"{describe_cpu()}, {torch.get_num_threads()} threads"
    return f"{where}, torch {torch.__version__}"


def _cache_path() -> Path:
    return user_cache_dir() / CACHE_FILE


def _read_cache() -> dict:
    try:
        data = json.loads(_cache_path().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):  # none yet, or damaged: measure again
        return {}


def _machine_entry(machine: str) -> dict:
    if machine not in _disk:
        entry = _read_cache().get(machine)
        _disk[machine] = entry if isinstance(entry, dict) else {}
        _disk[machine].setdefault("signatures", {})
        _disk[machine].setdefault("compile_s", [])
    return _disk[machine]


def _record(machine: str, signature: str, decision: Decision) -> None:
    """Merge this decision into the cache file (re-read first: other processes may have written meanwhile)."""
    entry = _machine_entry(machine)
    entry["signatures"][signature] = asdict(decision)
    if decision.how == "measured" and decision.compile_s is not None:
        entry["compile_s"] = ([*entry["compile_s"], round(decision.compile_s, 3)])[-COMPILE_TIMES_KEPT:]
    try:
        path = _cache_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _read_cache()
        old = data.get(machine) if isinstance(data.get(machine), dict) else {}
        merged = {
            "signatures": {**(old.get("signatures") or {}), **entry["signatures"]},
            "compile_s": entry["compile_s"],
        }
        data[machine] = merged
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".lif_paths.")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only home: decide again next time
        log.info("LIF path cache not written (%s)", exc)


def _best_time(run: Callable[[], None], sync: Callable[[], None]) -> tuple[float, float]:
    """(seconds of the first call, best seconds of :data:`TRIAL_CALLS` more)."""
    t0 = time.perf_counter()
    run()
    sync()
    first = time.perf_counter() - t0
    best = float("inf")
    for _ in range(TRIAL_CALLS):
        t0 = time.perf_counter()
        run()
        sync()
        best = min(best, time.perf_counter() - t0)
    return first, best


def choose(signature: str, device: torch.device, trial: Callable[[bool], None], mode: str = "train") -> bool:
    """True to run ``signature`` compiled. ``trial(compiled)`` runs the op once on fresh inputs of the signature;
    ``mode`` (``train`` or ``infer``) picks the expected number of calls."""
    if _policy != "auto":
        compiled = _policy == "always"
        _used[signature] = "compiled" if compiled else "eager"
        return compiled
    calls = _expected.get(mode, BREAK_EVEN_CALLS)
    key = (signature, torch.get_num_threads(), calls)
    decision = _decisions.get(key)
    if decision is None:
        with _lock:
            decision = _decisions.get(key) or _decide(signature, device, trial, calls)
            _decisions[key] = decision
    _used[signature] = decision.path
    return decision.path == "compiled"


def _decide(signature: str, device: torch.device, trial: Callable[[bool], None], calls: int) -> Decision:
    """Timings recorded for this machine where there are some, new ones where needed; then the rule."""
    machine = machine_key(device)
    entry = _machine_entry(machine)
    stored = entry["signatures"].get(signature)
    stored = stored if isinstance(stored, dict) else {}
    eager_ms, compiled_ms = stored.get("eager_ms"), stored.get("compiled_ms")
    compile_s, how, measured = stored.get("compile_s"), "recorded", False
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    if not isinstance(eager_ms, (int, float)):
        eager_ms, how, measured = _best_time(lambda: trial(False), sync)[1] * 1e3, "measured", True
    expected_compile_s = statistics.median(entry["compile_s"]) if entry["compile_s"] else COMPILE_S_PRIOR
    if not isinstance(compiled_ms, (int, float)) and eager_ms * 1e-3 * calls < expected_compile_s:
        decision = Decision("eager", "too small", eager_ms=eager_ms)
    else:
        if not isinstance(compiled_ms, (int, float)):
            first, best = _best_time(lambda: trial(True), sync)
            compiled_ms, compile_s, how, measured = best * 1e3, max(0.0, first - best), "measured", True
        path = "compiled" if compiled_ms < MARGIN * eager_ms else "eager"
        decision = Decision(path, how, eager_ms, compiled_ms, compile_s)
    if measured:
        _record(machine, signature, decision)
        log.info("fused LIF %s: %s (%s)", signature, decision.path, decision)
    return decision


def forget_decisions() -> None:
    """Drop this process's decisions and the loaded cache entries (tests: a later process)."""
    _decisions.clear()
    _disk.clear()
