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

**Status** (:meth:`CellStore.status`, the one definition every command uses): ``done`` / ``failed`` from
``done.json``; else ``running`` while a live process holds the cell's lock; else ``unfinished`` when training
started (``spec.json`` or ``checkpoint.pt``); else ``pending``.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import math
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from snnbench.errors import ResultsError

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
STATUSES = ("done", "failed", "running", "unfinished", "pending")


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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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


class CellStore:
    """Files of one cell: typed readers and writers over the layout above."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def write_json(self, name: str, obj: Any) -> None:
        atomic_write_json(self.path / name, obj)

    def read_json(self, name: str, default: Any = None) -> Any:
        p = self.path / name
        return read_json(p) if p.exists() else default

    # typed accessors (JSON files; ``None``/empty when absent)
    def read_spec(self) -> dict[str, Any] | None:
        return self.read_json(SPEC)

    def write_spec(self, spec: dict[str, Any]) -> None:
        self.write_json(SPEC, spec)

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
        return torch.load(self.path / MODEL, map_location="cpu", weights_only=True)

    def save_outputs(self, rates: torch.Tensor, labels: torch.Tensor) -> None:
        """Test-set class rates ``[N, classes]`` and labels, for decision fusion across cells."""
        atomic_torch_save(self.path / OUTPUTS, {"rates": rates.to(torch.float32), "labels": labels.to(torch.int64)})

    def load_outputs(self) -> dict[str, torch.Tensor] | None:
        path = self.path / OUTPUTS
        return torch.load(path, map_location="cpu", weights_only=True) if path.exists() else None

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        atomic_torch_save(self.path / CHECKPOINT, state)

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The last epoch checkpoint, or None. A corrupt or truncated one is discarded with a warning."""
        path = self.path / CHECKPOINT
        if not path.exists():
            return None
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001  (any unreadable checkpoint means: start over)
            warnings.warn(f"{path} is unreadable ({type(exc).__name__}); training this cell from scratch", stacklevel=2)
            path.unlink(missing_ok=True)
            return None

    def remove_checkpoint(self) -> None:
        (self.path / CHECKPOINT).unlink(missing_ok=True)

    @contextlib.contextmanager
    def lock(self) -> Iterator[bool]:
        """Exclusive, non-blocking per-cell lock; yields False when another process holds it.

        An ``flock`` on ``.lock``: the kernel releases it when the holder exits, even on SIGKILL, so a crashed
        run never leaves a cell locked.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / LOCK, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
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

    def status(self) -> str:
        """done | failed | running | unfinished | pending (module docstring)."""
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
            other = read_json(self.root / SUITE).get("suite")
            raise ResultsError(
                f"results directory {self.root} is the directory of suite '{other}', not a results root",
                hint=f"pass its parent, --results {self.root.parent}",
            )
        try:
            directory.mkdir(parents=True, exist_ok=True)
            if marker.exists():
                info = read_json(marker)
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
        """Every cell directory under the root (any depth), in path order."""
        for spec in sorted(self.root.rglob(SPEC)):
            yield CellStore(spec.parent)


def check_schema(info: dict[str, Any], path: Path) -> None:
    version = info.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ResultsError(
            f"{path} has results schema version {version}, this snnbench reads version {SCHEMA_VERSION}",
            hint="use the snnbench version that wrote it, or rerun into a new --results directory",
        )
