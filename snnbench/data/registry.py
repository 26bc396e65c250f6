"""Dataset registry: each dataset registers a loader with the facts a model and a report need.

A loader is ``fn(request: DatasetRequest) -> torch.utils.data.Dataset`` returning ``(x, label)`` pairs:

* ``kind='static'``: ``x`` is an image ``float32 [C, H, W]`` in [0, 1]; spike encoding happens later, on the
  device (:mod:`snnbench.data.encoding`), so image noise can be added before it.
* ``kind='event'``: ``x`` is already binned into frames ``float32 [T, P, H, W]`` (P polarity channels); event noise
  is applied to the raw events before binning through ``request.event_transform``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from snnbench.registry import Registry


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is: its kind, one sample's frame shape ``(C, H, W)``, classes and default T. (What a model
    family builds for a dataset lives with the models, :mod:`snnbench.models.defaults`.)"""

    name: str
    kind: str  # "static" | "event"
    shape: tuple[int, int, int]
    num_classes: int
    default_T: int = 4
    description: str = ""
    builtin: bool = False  # ships with snnbench's dependencies: needs no files and no download
    expected_files: str = ""  # what must be under root, for the missing-data message
    hflip_ok: bool = False  # a horizontal mirror keeps every class (data.augment: crop_flip is allowed)
    split_sizes: tuple[int, int] | None = None  # (train, test) samples of fixed splits; None: known after loading

    @property
    def num_features(self) -> int:
        c, h, w = self.shape
        return c * h * w


@dataclass(frozen=True)
class DatasetRequest:
    """Everything a loader needs to build one split."""

    split: str  # "train" | "test"
    root: Path
    download: bool
    T: int
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)  # binning, cache dir, test_fraction, ...
    event_transform: Callable | None = None  # applied to raw events before binning (event datasets only)


DATASETS: Registry[Callable[[DatasetRequest], Dataset]] = Registry("dataset")


def register_dataset(info: DatasetInfo) -> Callable:
    """Register a loader under ``info.name``; the info rides along as registry metadata."""
    return DATASETS.register(info.name, info=info)


def dataset_info(name: str) -> DatasetInfo:
    return DATASETS.entry(name).meta["info"]
