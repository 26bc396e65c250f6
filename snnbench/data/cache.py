"""On-disk cache of binned event frames, and the event dataset that uses it.

Layout: ``<cache_dir>/<dataset>-<key16>/<index>.npy``, one file per source sample, plus ``meta.json`` naming what
the key covers. ``cache_dir`` is ``options['cache_dir']`` or ``<root>/.snnbench-cache``. The key is the SHA-256 of
the canonical JSON of everything that changes the frames: the snnbench cache format version, dataset, source
(train/test file set), number of source samples, T, binning, sensor size, downsampling and any dataset-specific
parameters (e.g. the DVS-emulation settings). Entries are named by source index, so splits drawn from one source
share the cache.

* Frames are stored exactly, as the smallest unsigned integer type that holds the counts (usually uint8).
* Writes are atomic (a temp file in the same directory, then ``os.replace``): two processes building the same
  entry at once both succeed and readers never see half a file.
* A corrupt or truncated entry is rebuilt with a ``RuntimeWarning``; an unwritable cache directory disables writes
  with one warning. Neither is fatal.
* With an ``event_transform`` (event noise) the cache is bypassed entirely: noisy frames are never read from or
  written to the clean cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from snnbench.data import events as _events

CACHE_FORMAT_VERSION = 1
CACHE_DIR_NAME = ".snnbench-cache"


def cache_dir_for(root: Path, options: dict[str, Any]) -> Path:
    """``options['cache_dir']`` if set, else ``<root>/.snnbench-cache``."""
    return Path(options.get("cache_dir") or Path(root) / CACHE_DIR_NAME).expanduser()


def cache_key(params: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``params`` plus the cache format version."""
    blob = json.dumps({"format": CACHE_FORMAT_VERSION, **params}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _compact(frames: np.ndarray) -> np.ndarray:
    """Counts as the smallest exact unsigned type (float32 if they are not small whole numbers)."""
    top = float(frames.max()) if frames.size else 0.0
    if frames.min(initial=0) < 0 or not np.array_equal(frames, np.floor(frames)):
        return frames.astype(np.float32)
    for dtype in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(dtype).max:
            return frames.astype(dtype)
    return frames.astype(np.float32)


class FrameCache:
    """Binned frames of one dataset source under one key; counts hits, misses and rebuilt entries."""

    def __init__(self, base_dir: Path, params: dict[str, Any]) -> None:
        self.params = dict(params)
        self.key = cache_key(self.params)
        self.dir = Path(base_dir) / f"{params.get('dataset', 'data')}-{self.key[:16]}"
        self.hits = self.misses = self.rebuilt = 0
        self.writable = True

    def path(self, index: int) -> Path:
        return self.dir / f"{index:07d}.npy"

    def load(self, index: int, shape: tuple[int, ...]) -> np.ndarray | None:
        """The cached frames of source sample ``index`` as float32, or None (missing or corrupt)."""
        path = self.path(index)
        try:
            frames = np.load(path, allow_pickle=False)
            if frames.shape != tuple(shape):
                raise ValueError(f"shape {frames.shape} != {tuple(shape)}")
        except (FileNotFoundError, NotADirectoryError):
            self.misses += 1
            return None
        except (OSError, ValueError, EOFError) as err:
            warnings.warn(f"frame cache: corrupt entry {path} ({err}); rebuilding it", RuntimeWarning, stacklevel=3)
            self.rebuilt += 1
            return None
        self.hits += 1
        return frames.astype(np.float32)

    def store(self, index: int, frames: np.ndarray) -> None:
        if not self.writable:
            return
        try:
            if not self.dir.is_dir():
                self.dir.mkdir(parents=True, exist_ok=True)
                meta = json.dumps({"format": CACHE_FORMAT_VERSION, "key": self.key, **self.params}, default=str)
                _atomic_write(self.dir / "meta.json", lambda f: f.write(meta.encode()))
            _atomic_write(self.path(index), lambda f: np.save(f, _compact(frames), allow_pickle=False))
        except OSError as err:
            self.writable = False
            warnings.warn(f"frame cache: cannot write to {self.dir} ({err}); not caching", RuntimeWarning, stacklevel=3)


class EventFrames(Dataset):
    """``(frames float32 [T, 2, H, W], label)`` for the source samples ``indices``, binned on first use.

    ``read(j)`` returns the raw events of source sample ``j`` (a tonic-format structured array); ``labels[j]`` its
    class. ``event_transform`` runs on the raw events before binning, and bypasses the cache.
    """

    def __init__(
        self,
        read: Callable[[int], np.ndarray],
        labels: Sequence[int],
        indices: Sequence[int],
        *,
        T: int,
        sensor_size: tuple[int, int],
        binning: str = "time",
        downsample: int = 1,
        event_transform: Callable | None = None,
        cache: FrameCache | None = None,
    ) -> None:
        if binning not in _events.BINNINGS:
            raise ValueError(f"binning must be one of {_events.BINNINGS}, got {binning!r}")
        self.read = read
        self.labels = np.asarray(labels, dtype=np.int64)
        self.indices = np.asarray(indices, dtype=np.int64)
        self.T = T
        self.sensor_size = tuple(sensor_size)
        self.binning = binning
        self.downsample = downsample
        self.event_transform = event_transform
        self.cache = cache if event_transform is None else None
        self.frame_shape = _events.frame_shape(self.sensor_size, downsample)
        self.split_info: dict[str, Any] | None = None

    @property
    def targets(self) -> list[int]:
        return self.labels[self.indices].tolist()

    def __len__(self) -> int:
        return len(self.indices)

    def frames(self, j: int) -> np.ndarray:
        """Binned frames of source sample ``j``: from the cache, or read, transformed, binned (and cached)."""
        shape = (self.T, *self.frame_shape)
        if self.cache is not None:
            cached = self.cache.load(j, shape)
            if cached is not None:
                return cached
        events = self.read(j)
        if self.event_transform is not None:
            events = self.event_transform(events)
        frames = _events.bin_events(events, self.T, self.sensor_size, self.binning, self.downsample)
        if self.cache is not None:
            self.cache.store(j, frames)
        return frames

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        j = int(self.indices[i])
        return torch.from_numpy(self.frames(j)), int(self.labels[j])
