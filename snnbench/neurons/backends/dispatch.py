r"""Eager or compiled: which implementation of a fused LIF op runs, decided per machine and shape by measurement.

The fused LIF ops (:mod:`snnbench.neurons.backends.fused`) have two implementations of the same arithmetic: an eager
loop (nothing to build) and ``torch.compile`` kernels (one pass over memory, seconds to build per new shape). They
give bit-identical spikes and gradients (``tests/neurons/backends/test_dispatch.py``), so the choice changes speed,
never a number. Under the default policy ``auto`` the choice is made once per *signature* (op, device, argument
shapes, strides and dtypes, surrogate, whether a gradient is needed):

1. the decision recorded for this machine (CPU model and vector extensions or GPU name, torch version, thread count)
   in ``<user cache>/lif_paths.json`` is reused;
2. else the eager op is timed on random inputs of the signature (forward, and backward when training), best of
   :data:`TRIAL_CALLS`. When removing all of it could not repay a compile within :data:`BREAK_EVEN_CALLS` calls,

   .. math:: t_\text{eager} \cdot N_\text{break-even} < t_\text{compile},

   eager it is (:math:`t_\text{compile}`: the median compile time measured on this machine, :data:`COMPILE_S_PRIOR`
   before the first);
3. else the op is compiled and timed the same way; compiled wins when it is faster by :data:`MARGIN`.

The decision is recorded and the trial never touches the caller's tensors or random streams. Other policies:
``always`` (compile every signature) and ``never`` (eager only), from ``SNNBENCH_LIF_COMPILE`` (``1`` / ``0``; ``auto``
or unset: measure) or :func:`set_policy`. Compiled kernels persist in inductor's on-disk cache, which snnbench puts
under ``<user cache>/inductor`` unless ``TORCHINDUCTOR_CACHE_DIR`` is set: a signature compiles once per machine and
later processes load it. :func:`paths_used` tells the runner which path each signature took (cell provenance).
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
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
    "paths_used",
    "policy",
    "reset_paths_used",
    "set_policy",
]

log = logging.getLogger(__name__)

POLICIES = ("auto", "always", "never")
BREAK_EVEN_CALLS = 1000  # calls a compile must pay for itself within (~ one epoch of a small dataset)
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


@dataclass(frozen=True)
class Decision:
    """The path of one signature and why: ``how`` is ``measured``, ``recorded`` (this machine, earlier), ``policy``,
    or ``too small`` (eager could not repay a compile). Times are per call, milliseconds."""

    path: str
    how: str
    eager_ms: float | None = None
    compiled_ms: float | None = None
    compile_s: float | None = None


_lock = threading.Lock()
_decisions: dict[tuple[str, int], Decision] = {}  # (signature, CPU threads) -> decision, this process
_used: dict[str, str] = {}  # signature -> path, since reset_paths_used()
_disk: dict | None = None  # the cache file's entry for this machine, loaded once


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
    global _disk
    if _disk is None:
        _disk = {}
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
    if decision.compile_s is not None:
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


def _measure(trial: Callable[[bool], None], device: torch.device, compile_s_expected: float) -> Decision:
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    _, eager = _best_time(lambda: trial(False), sync)
    if eager * BREAK_EVEN_CALLS < compile_s_expected:
        return Decision("eager", "too small", eager_ms=eager * 1e3)
    first, compiled = _best_time(lambda: trial(True), sync)
    path = "compiled" if compiled < MARGIN * eager else "eager"
    return Decision(path, "measured", eager * 1e3, compiled * 1e3, compile_s=max(0.0, first - compiled))


def choose(signature: str, device: torch.device, trial: Callable[[bool], None]) -> bool:
    """True to run ``signature`` compiled. ``trial(compiled)`` runs the op once on fresh inputs of the signature."""
    if _policy != "auto":
        compiled = _policy == "always"
        _used[signature] = "compiled" if compiled else "eager"
        return compiled
    key = (signature, torch.get_num_threads())
    decision = _decisions.get(key)
    if decision is None:
        with _lock:
            decision = _decide(key, device, trial)
    _used[signature] = decision.path
    return decision.path == "compiled"


def _decide(key: tuple[str, int], device: torch.device, trial: Callable[[bool], None]) -> Decision:
    if key in _decisions:
        return _decisions[key]
    signature = key[0]
    machine = machine_key(device)
    entry = _machine_entry(machine)
    stored = entry["signatures"].get(signature)
    if isinstance(stored, dict) and stored.get("path") in ("compiled", "eager"):
        decision = Decision(stored["path"], "recorded", stored.get("eager_ms"), stored.get("compiled_ms"))
    else:
        expected = statistics.median(entry["compile_s"]) if entry["compile_s"] else COMPILE_S_PRIOR
        decision = _measure(trial, device, expected)
        _record(machine, signature, decision)
        log.info("fused LIF %s: %s (%s)", signature, decision.path, decision)
    _decisions[key] = decision
    return decision


def forget_decisions() -> None:
    """Drop this process's decisions and the loaded cache entry (tests; a changed thread count)."""
    global _disk
    _decisions.clear()
    _disk = None
