"""The results store: one directory per cell, every file written atomically, a completion marker last.

Layout (the file names below are this module's constants; no other module spells them)::

    <results>/<suite>/suite.json                           SUITE: suite name, description, schema version
    <results>/<suite>/<slug>-<cell_id>/spec.json           SPEC: resolved cell spec (+ cell_id, suite, matrix axes)
                                       provenance.json     PROVENANCE: version/commit, torch/CUDA, device, seed, host
                                       history.json        HISTORY: per-epoch records
                                       thresholds_init.json THRESHOLDS_INIT: threshold statistics before training
                                       metrics.json        METRICS: final metrics, status ("done" | "failed"), error
                                       layers.json         LAYERS: per-layer firing rates, SOPs, MACs
                                       noise.json          NOISE: noise-sweep rows (snnbench.results.noise)
                                       power.json          POWER: GPU power windows (one per epoch, inference)
                                       power_timeline.csv  POWER_TIMELINE: sampled GPU power
                                       model.pt            MODEL: state_dict (loads with weights_only=True)
                                       test_outputs.pt     OUTPUTS: test-set class rates and labels (decision fusion)
                                       checkpoint.pt       CHECKPOINT: last epoch's training state while unfinished
                                       .lock               LOCK: the per-cell flock of the process working on it
                                       done.json           DONE: written last: the cell is finished

A file is written to a temporary name in the same directory, flushed, fsynced, then renamed over the target, so a
reader never sees half a file. A cell without ``done.json`` is unfinished whatever else it holds.

**Status** (:meth:`CellStore.status`, the one definition every command uses): ``damaged`` when a file of the cell
cannot be read as what it should be (:meth:`CellStore.damage`); else ``done`` / ``failed`` from ``done.json``; else
``running`` while a live process holds the cell's lock; else ``unfinished`` when training started (``spec.json`` or
``checkpoint.pt``); else ``pending``.

**Damage policy** (every command applies it through this module): a file that is not what this layout says (not
JSON, JSON of another shape, a torch file that is not an archive, a file where a cell folder should be) never
crashes a command and never hides the other cells. The cell's status is ``damaged``, its error names the file and
what to do (:class:`DamagedFile`); ``run`` and ``eval`` leave it alone, ``report`` and ``status`` list it. Nothing
finished is ever deleted: the hint says to move the file away, or to train the cell again with ``--retry-failed``.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import math
import os
import re
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from snnbench.errors import ResultsError
from snnbench.results.damage import (
    DamagedFile,
    checkpoint_problem,
    csv_header_problem,
    read_shaped_json,
    short,
    torch_problem,
)

SCHEMA_VERSION = 1
SUITE = "suite.json"
SPEC = "spec.json"
PROVENANCE = "provenance.json"
HISTORY = "history.json"
THRESHOLDS_INIT = "thresholds_init.json"
METRICS = "metrics.json"
LAYERS = "layers.json"
NOISE = "noise.json"
POWER = "power.json"
POWER_TIMELINE = "power_timeline.csv"
MODEL = "model.pt"
OUTPUTS = "test_outputs.pt"
CHECKPOINT = "checkpoint.pt"
LOCK = ".lock"
DONE = "done.json"
DAMAGED = "damaged"
STATUSES = ("done", "failed", DAMAGED, "running", "unfinished", "pending")
# a cell folder's name: ``<slug>-<cell_id>`` (12 hex digits)
CELL_NAME = re.compile(r"-[0-9a-f]{12}$")

# What each JSON file of a cell holds: its top-level type and, for lists, the keys every item must have.
JSON_SHAPES: dict[str, tuple[type, tuple[str, ...]]] = {
    DONE: (dict, ()), METRICS: (dict, ()), SPEC: (dict, ()), PROVENANCE: (dict, ()), THRESHOLDS_INIT: (dict, ()),
    HISTORY: (list, ()), LAYERS: (list, ()), POWER: (list, ()), NOISE: (list, ("noise_kind", "noise_level")),
}  # fmt: skip
TORCH_FILES = (MODEL, OUTPUTS)
# The keys of a training checkpoint (snnbench.train.loop.training_state).
CHECKPOINT_KEYS = ("epoch", "model", "optimizer", "scheduler", "rng_cpu", "rng_cuda", "generator", "history")
RETRAIN_HINT = "move it away, or run the suite again with --retry-failed to train this cell again"
DAMAGE_HINTS = {
    NOISE: "move it away, then 'snnbench eval' measures the noise levels again",
    SUITE: "move it away; 'snnbench run' writes a new one",
    **dict.fromkeys((DONE, METRICS, SPEC, MODEL), RETRAIN_HINT),
}
NOT_A_FOLDER = "a file where a cell folder should be"


def damaged(path: Path, problem: str) -> DamagedFile:
    """The :class:`DamagedFile` of ``path``, with the hint this layout gives for that file."""
    hint = DAMAGE_HINTS.get(path.name, "move it away; the rest of the cell is kept")
    if problem == NOT_A_FOLDER:
        hint = "move it away; 'snnbench run' trains the cell into a folder of that name"
    return DamagedFile(path, problem, hint)


def _not_writable(path: Path, exc: OSError) -> ResultsError:
    return ResultsError(
        f"cannot write {path} ({exc.strerror or type(exc).__name__})",
        hint="make the results directory writable, or pass another --results directory",
    )


def _json_safe(obj: Any) -> Any:
    """NaN/inf become ``null`` (strict JSON); everything else passes through."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync, rename over ``path``. A directory that cannot be
    written is a one-line :class:`ResultsError` naming the path."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except (PermissionError, FileExistsError, NotADirectoryError) as exc:
        raise _not_writable(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    text = json.dumps(_json_safe(obj), indent=2, sort_keys=False, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode())


def atomic_torch_save(path: Path, obj: Any) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def read_checked(path: Path, default: Any = None) -> Any:
    """A results JSON file of this layout, or ``default`` when absent; anything else than what :data:`JSON_SHAPES`
    says it holds (unreadable, not JSON, another shape) raises :class:`DamagedFile`."""
    kind, keys = JSON_SHAPES.get(path.name, (dict if path.name == SUITE else object, ()))
    try:
        value = read_shaped_json(path, kind, keys)
    except FileNotFoundError:
        return default
    except DamagedFile as exc:
        raise damaged(path, exc.problem) from None
    if path.name == DONE and value.get("status", "done") not in ("done", "failed"):
        raise damaged(path, f"status {value.get('status')!r} is neither 'done' nor 'failed'")
    return value


_HELD: dict[tuple[Path, int], int] = {}  # (cell dir, thread) -> depth: the locks this process holds


class CellStore:
    """Files of one cell: typed readers and writers over the layout above."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def write_json(self, name: str, obj: Any) -> None:
        atomic_write_json(self.path / name, obj)

    def read_json(self, name: str, default: Any = None) -> Any:
        """The cell's JSON file ``name``, or ``default`` when absent; a damaged one raises :class:`DamagedFile`."""
        if not self.path.is_dir() and self.path.exists():
            raise damaged(self.path, NOT_A_FOLDER)
        value = read_checked(self.path / name, default)
        return default if value is None else value

    # typed accessors (JSON files; ``None``/empty when absent)
    def read_spec(self) -> dict[str, Any] | None:
        return self.read_json(SPEC)

    def write_spec(self, spec: dict[str, Any]) -> None:
        self.write_json(SPEC, spec)

    def read_provenance(self) -> dict[str, Any]:
        return dict(self.read_json(PROVENANCE, {}) or {})

    def write_provenance(self, info: dict[str, Any]) -> None:
        self.write_json(PROVENANCE, info)

    def read_history(self) -> list[dict[str, Any]]:
        return list(self.read_json(HISTORY, []) or [])

    def write_history(self, history: list[dict[str, Any]]) -> None:
        self.write_json(HISTORY, history)

    def write_thresholds_init(self, stats: dict[str, Any]) -> None:
        self.write_json(THRESHOLDS_INIT, stats)

    def read_metrics(self) -> dict[str, Any]:
        return dict(self.read_json(METRICS, {}) or {})

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        self.write_json(METRICS, metrics)

    def write_layers(self, layers: list[dict[str, Any]]) -> None:
        self.write_json(LAYERS, layers)

    def write_power(self, windows: list[dict[str, Any]], timeline_csv: bytes | None = None) -> None:
        self.write_json(POWER, windows)
        if timeline_csv is not None:
            atomic_write_bytes(self.path / POWER_TIMELINE, timeline_csv)

    def error(self) -> str:
        """The recorded error of a failed cell."""
        return self.read_metrics().get("error", "failed")

    def has_model(self) -> bool:
        return (self.path / MODEL).exists()

    def save_model(self, model: torch.nn.Module) -> None:
        atomic_torch_save(self.path / MODEL, {k: v.detach().cpu() for k, v in model.state_dict().items()})

    def load_state_dict(self) -> dict[str, torch.Tensor]:
        """``model.pt``; one that does not load is a :class:`DamagedFile`."""
        path = self.path / MODEL
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise
        except Exception as exc:  # noqa: BLE001  (any unloadable file is damage, reported in one line)
            raise damaged(path, f"does not load ({type(exc).__name__}: {short(exc)})") from None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise damaged(path, "holds no state_dict (a mapping of tensors)")
        return state

    def save_outputs(self, rates: torch.Tensor, labels: torch.Tensor) -> None:
        """Test-set class rates ``[N, classes]`` and labels, for decision fusion across cells."""
        atomic_torch_save(self.path / OUTPUTS, {"rates": rates.to(torch.float32), "labels": labels.to(torch.int64)})

    def load_outputs(self) -> dict[str, torch.Tensor] | None:
        path = self.path / OUTPUTS
        return torch.load(path, map_location="cpu", weights_only=True) if path.exists() else None

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        atomic_torch_save(self.path / CHECKPOINT, state)

    def load_checkpoint(self, model: torch.nn.Module | None = None) -> dict[str, Any] | None:
        """The last epoch checkpoint, or None. One that is unusable — corrupt, truncated, not a training state
        (:data:`CHECKPOINT_KEYS`), or, given ``model``, a state of another network — is discarded with a warning, so
        the cell starts over instead of failing the same way on every retry. A checkpoint is never a finished
        result."""
        path = self.path / CHECKPOINT
        if not path.exists():
            return None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            problem = checkpoint_problem(state, CHECKPOINT_KEYS, model)
        except Exception as exc:  # noqa: BLE001  (any unreadable checkpoint means: start over)
            problem = f"unreadable ({type(exc).__name__})"
        if problem is None:
            return state
        warnings.warn(f"{path} is {problem}; training this cell from scratch", stacklevel=2)
        path.unlink(missing_ok=True)
        return None

    def has_checkpoint(self) -> bool:
        return (self.path / CHECKPOINT).exists()

    def remove_checkpoint(self) -> None:
        (self.path / CHECKPOINT).unlink(missing_ok=True)

    @contextlib.contextmanager
    def lock(self, wait_s: float = 0.0) -> Iterator[bool]:
        """Exclusive per-cell lock; yields False when another process holds it for longer than ``wait_s`` seconds
        (0: do not wait). Every write to a cell holds it: training, ``eval``, any later measurement.

        An ``flock`` on ``.lock``: the kernel releases it when the holder exits, even on SIGKILL, so a crashed
        run never leaves a cell locked. Re-entrant within a thread (a measurement inside a run's lock). A folder
        that cannot be written is a one-line :class:`ResultsError` naming the path.
        """
        key = (self.path.resolve(), threading.get_ident())
        if key in _HELD:
            _HELD[key] += 1
            try:
                yield True
            finally:
                _HELD[key] -= 1
            return
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            handle = open(self.path / LOCK, "a+")  # noqa: SIM115  (closed below)
        except (PermissionError, FileExistsError, NotADirectoryError) as exc:
            raise _not_writable(self.path / LOCK, exc) from None
        with handle:
            if not _flock(handle, wait_s):
                yield False
                return
            _HELD[key] = 1
            try:
                yield True
            finally:
                del _HELD[key]
                fcntl.flock(handle, fcntl.LOCK_UN)

    def is_locked(self) -> bool:
        """Whether a live process holds the cell's lock (a non-blocking shared ``flock`` attempt on ``.lock``).

        The probe holds a shared lock for microseconds; a runner that tries the cell at that very moment skips it as
        busy (a parallel worker retries it in its next pass). Locks die with their process, even on SIGKILL.
        """
        try:
            handle = open(self.path / LOCK, "rb")  # noqa: SIM115  (closed below)
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

    def is_done(self) -> bool:
        return (self.path / DONE).exists()

    def finished(self) -> str | None:
        """``done`` / ``failed`` from done.json, else None (a half-written or missing file counts as not finished)."""
        try:
            return read_json(self.path / DONE).get("status", "done")
        except (OSError, ValueError, AttributeError):
            return None

    def started(self) -> bool:
        return (self.path / SPEC).exists() or (self.path / CHECKPOINT).exists()

    def damage(self) -> DamagedFile | None:
        """The first damaged file of the cell (module docstring: damage policy), or None when every file present is
        what the layout says. Reads the JSON files; torch files are checked to be archives, not loaded."""
        if not self.path.exists():
            return None
        if not self.path.is_dir():
            return damaged(self.path, NOT_A_FOLDER)
        for name in JSON_SHAPES:
            try:
                read_checked(self.path / name)
            except DamagedFile as exc:
                return exc
        for name in TORCH_FILES:
            path = self.path / name
            problem = torch_problem(path) if path.exists() else None
            if problem:
                return damaged(path, problem)
        timeline = self.path / POWER_TIMELINE
        problem = csv_header_problem(timeline, ("t_s", "power_w")) if timeline.exists() else None
        return damaged(timeline, problem) if problem else None

    def status(self) -> str:
        """damaged | done | failed | running | unfinished | pending (module docstring)."""
        if self.damage() is not None:
            return DAMAGED
        finished = self.finished()
        if finished:
            return finished
        if self.is_locked():
            return "running"
        return "unfinished" if self.started() else "pending"

    def mark_done(self, status: str) -> None:
        self.write_json(DONE, {"status": status, "schema_version": SCHEMA_VERSION})

    def clear_done(self) -> None:
        (self.path / DONE).unlink(missing_ok=True)


class ResultsStore:
    """A results root holding one directory per suite."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def suite_dir(self, suite_name: str) -> Path:
        return self.root / suite_name

    def open_suite(self, suite_name: str, description: str = "") -> Path:
        """Create (or check) ``<root>/<suite>`` and its ``suite.json``."""
        directory = self.suite_dir(suite_name)
        marker = directory / SUITE
        if (self.root / SUITE).exists():
            other = read_checked(self.root / SUITE, {}).get("suite")
            raise ResultsError(
                f"results directory {self.root} is the directory of suite '{other}', not a results root",
                hint=f"pass its parent, --results {self.root.parent}",
            )
        try:
            directory.mkdir(parents=True, exist_ok=True)
            if marker.exists():
                info = read_checked(marker, {})
                if info.get("suite") != suite_name:
                    raise ResultsError(
                        f"results directory {directory} belongs to suite '{info.get('suite')}'",
                        hint="choose another --results directory",
                    )
                check_schema(info, marker)
            else:
                atomic_write_json(
                    marker, {"suite": suite_name, "description": description, "schema_version": SCHEMA_VERSION}
                )
        except (PermissionError, FileExistsError, NotADirectoryError) as exc:
            raise ResultsError(
                f"results directory {directory} is not writable ({exc.strerror or type(exc).__name__})",
                hint="pass --results with a writable directory",
            ) from None
        return directory

    def cell(self, suite_name: str, slug: str) -> CellStore:
        return CellStore(self.suite_dir(suite_name) / slug)

    def iter_cells(self) -> Iterator[CellStore]:
        """Every cell under the root (any depth), in path order: each folder holding ``spec.json``, ``done.json``
        or ``metrics.json`` (a cell that failed before its spec was written has the last two), and each entry of a
        suite folder named like a cell that is a file (damaged) or a folder holding anything."""
        found = {p.parent for name in (SPEC, DONE, METRICS) for p in self.root.rglob(name)}
        for marker in self.root.rglob(SUITE):
            found.update(suite_cells(marker.parent))
        for path in sorted(found):
            yield CellStore(path)


def suite_cells(suite_dir: Path) -> list[Path]:
    """The entries of a suite folder that are cells: folders named ``<slug>-<cell_id>`` holding any file that is
    not hidden, and files of such a name (damaged: a file where a cell folder should be)."""
    try:
        entries = sorted(suite_dir.iterdir())
    except OSError:
        return []
    cells = []
    for entry in entries:
        if entry.name.startswith(".") or not CELL_NAME.search(entry.name):
            continue
        if not entry.is_dir() or any(not p.name.startswith(".") for p in entry.iterdir()):
            cells.append(entry)
    return cells


def _flock(handle, wait_s: float) -> bool:
    """Take an exclusive flock on ``handle``, retrying for up to ``wait_s`` seconds; False when not acquired."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def check_schema(info: dict[str, Any], path: Path) -> None:
    version = info.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ResultsError(
            f"{path} has results schema version {version}, this snnbench reads version {SCHEMA_VERSION}",
            hint="use the snnbench version that wrote it, or rerun into a new --results directory",
        )
