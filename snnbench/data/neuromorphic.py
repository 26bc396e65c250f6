"""Real event datasets through tonic: ``nmnist``, ``dvs_gesture``, ``cifar10_dvs``.

Each yields ``(frames float32 [T, 2, H, W], int label)``: tonic reads a sample's raw events, ``request.event_transform``
(event noise) runs on them, :func:`snnbench.data.events.bin_events` bins them (``options['binning']``: ``time`` or
``count``) and :mod:`snnbench.data.cache` keeps the frames on disk. Frames stay at the sensor size (34×34 for
N-MNIST, 128×128 for the DVS128 sets); the conv family average-pools 128×128 inputs by ``front_pool=4``.

Layouts, as tonic 1.7 expects them under the data root (``ROOT``):

* N-MNIST: ``ROOT/NMNIST/{Train,Test}/<digit>/<id>.bin`` (extracted ``train.zip`` / ``test.zip``, 40-bit ATIS events).
* DVS128 Gesture: ``ROOT/DVSGesture/{ibmGestureTrain,ibmGestureTest}/user<NN>_<lighting>/<label>.npy`` (tonic's
  preprocessed release: one ``[N, 4]`` array ``x, y, p, t_ms`` per gesture).
* CIFAR10-DVS: ``ROOT/CIFAR10DVS/<class name>/<id>.aedat4`` (AEDAT 4; reading needs the ``aedat`` package). It has
  no official test split: a stratified split with a fixed seed holds out ``options['test_fraction']`` of each class;
  its parameters are on the returned dataset's ``split_info``.

tonic's own presence check wants the downloaded archive next to thousands of extracted files and otherwise starts a
download. snnbench checks for the extracted files itself *before* building a tonic class, raises a one-line
``DataError`` when they are absent (or downloads through the real tonic class when ``download`` is true), and then
builds a minimal tonic subclass whose ``_check_exists`` is true, so construction never touches the network. Sample
order is sorted by file path, so indices (and the CIFAR10-DVS split) do not depend on the file system.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from snnbench.data.builtin import SPLIT_SEED, stratified_split
from snnbench.data.cache import EventFrames, FrameCache, cache_dir_for
from snnbench.data.events import frame_shape
from snnbench.data.registry import DatasetInfo, DatasetRequest, register_dataset
from snnbench.data.static import download_guard, missing_data_error
from snnbench.errors import DataError


@dataclass(frozen=True)
class TonicSpec:
    name: str  # snnbench name
    cls_name: str  # tonic class, also tonic's folder under the root
    folders: dict[str, str]  # split -> folder under ROOT/<cls_name> ("" = one folder for both splits)
    pattern: str  # glob (relative to the folder) that matches sample files
    sensor_size: tuple[int, int]  # (width, height)
    layout: str  # the full layout, for DatasetInfo.expected_files
    expected: str
    how: str

    def folder(self, root: Path, split: str) -> Path:
        return Path(root) / self.cls_name / self.folders.get(split, "")


NMNIST = TonicSpec(
    "nmnist",
    "NMNIST",
    {"train": "Train", "test": "Test"},
    "[0-9]/*.bin",
    (34, 34),
    "ROOT/NMNIST/{Train,Test}/<digit>/*.bin",
    "<digit>/*.bin (N-MNIST's 40-bit ATIS event files)",
    "extract train.zip and test.zip from https://www.garrickorchard.com/datasets/n-mnist into ROOT/NMNIST",
)
DVS_GESTURE = TonicSpec(
    "dvs_gesture",
    "DVSGesture",
    {"train": "ibmGestureTrain", "test": "ibmGestureTest"},
    "user*_*/*.npy",
    (128, 128),
    "ROOT/DVSGesture/{ibmGestureTrain,ibmGestureTest}/user<NN>_<lighting>/<label>.npy",
    "user<NN>_<lighting>/<label>.npy (tonic's preprocessed DVS128 Gesture)",
    "extract tonic's ibmGestureTrain.tar.gz and ibmGestureTest.tar.gz (figshare) into ROOT/DVSGesture",
)
CIFAR10_DVS = TonicSpec(
    "cifar10_dvs",
    "CIFAR10DVS",
    {},
    "*/*.aedat4",
    (128, 128),
    "ROOT/CIFAR10DVS/<class name>/*.aedat4",
    "<class name>/*.aedat4 (airplane ... truck, AEDAT 4)",
    "extract CIFAR10DVS.zip (figshare) and the ten <class>.zip inside it into ROOT/CIFAR10DVS",
)

_PRESENT: dict[str, type] = {}


def present_class(cls_name: str) -> type:
    """tonic's class ``cls_name`` with ``_check_exists`` always true (presence is checked before construction)."""
    if cls_name not in _PRESENT:
        import tonic.datasets

        base = getattr(tonic.datasets, cls_name)
        # same __name__: tonic stores files under ROOT/<class name>
        cls = type(cls_name, (base,), {"_check_exists": lambda self: True, "__module__": __name__})
        cls.__qualname__ = f"_Present{cls_name}"
        _PRESENT[cls_name] = cls
    return _PRESENT[cls_name]


def __getattr__(name: str) -> Any:  # lets pickle (spawned DataLoader workers) find the lazily built classes
    if name.startswith("_Present"):
        return present_class(name[len("_Present") :])
    raise AttributeError(name)


def _has_samples(folder: Path, pattern: str) -> bool:
    return folder.is_dir() and next(iter(folder.glob(pattern)), None) is not None


def open_tonic(spec: TonicSpec, request: DatasetRequest, **kwargs: Any):
    """The tonic dataset for ``request.split`` (or the single set when ``spec.folders`` is empty), path-sorted."""
    folder = spec.folder(request.root, request.split)
    if not _has_samples(folder, spec.pattern):
        missing = missing_data_error(spec.name, folder, spec.expected, spec.how.replace("ROOT", str(request.root)))
        if not request.download:
            raise missing
        import tonic.datasets

        with download_guard(spec.name, folder):
            getattr(tonic.datasets, spec.cls_name)(str(request.root), **kwargs)
        if not _has_samples(folder, spec.pattern):
            raise missing
    dataset = present_class(spec.cls_name)(str(request.root), **kwargs)
    order = sorted(range(len(dataset.data)), key=lambda i: str(dataset.data[i]))
    for attr in ("data", "targets", "users", "lighting"):
        if isinstance(getattr(dataset, attr, None), list):
            values = getattr(dataset, attr)
            setattr(dataset, attr, [values[i] for i in order])
    if not dataset.data:
        raise DataError(f"no sample files in {folder}", where=f"dataset '{spec.name}'", hint=spec.how)
    return dataset


class TonicEvents:
    """Picklable ``read(j)``: the raw events of sample ``j`` of a tonic dataset (built without transforms)."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __call__(self, j: int) -> np.ndarray:
        return self.dataset[j][0]


def _event_frames(spec: TonicSpec, request: DatasetRequest, dataset, source: str, indices) -> EventFrames:
    import tonic

    root = Path(request.root)
    options = request.options
    cache = None
    if options.get("cache", True):
        files = "\n".join(os.path.relpath(str(p), root) for p in dataset.data)
        params = {
            "dataset": spec.name,
            "source": source,
            "n_source": len(dataset.data),
            "files_sha256": hashlib.sha256(files.encode()).hexdigest(),
            "T": request.T,
            "binning": options.get("binning", "time"),
            "sensor_size": spec.sensor_size,
            "downsample": 1,
            "reader": f"tonic {tonic.__version__} {spec.cls_name}",
        }
        cache = FrameCache(cache_dir_for(root, options), params)
    return EventFrames(
        TonicEvents(dataset),
        dataset.targets,
        indices,
        T=request.T,
        sensor_size=spec.sensor_size,
        binning=options.get("binning", "time"),
        event_transform=request.event_transform,
        cache=cache,
    )


def _official_split(spec: TonicSpec, request: DatasetRequest) -> EventFrames:
    dataset = open_tonic(spec, request, train=request.split == "train")
    frames = _event_frames(spec, request, dataset, request.split, range(len(dataset.data)))
    frames.split_info = {"method": "official", "split": request.split, "n": len(dataset.data)}
    return frames


def _event_info(spec: TonicSpec, classes: int, T: int, description: str, hflip_ok: bool = False) -> DatasetInfo:
    return DatasetInfo(
        name=spec.name,
        kind="event",
        shape=frame_shape(spec.sensor_size),
        num_classes=classes,
        default_T=T,
        description=description,
        expected_files=f"{spec.layout} ({spec.how}; or data.download: true)",
        hflip_ok=hflip_ok,
    )


@register_dataset(
    _event_info(
        NMNIST,
        10,
        8,
        "N-MNIST: MNIST digits recorded by an ATIS camera on 3 saccades, 34x34 (60k / 10k, tonic)",
    )
)
def nmnist(request: DatasetRequest) -> EventFrames:
    return _official_split(NMNIST, request)


@register_dataset(
    _event_info(
        DVS_GESTURE,
        11,
        16,
        "DVS128 Gesture: 11 hand gestures, 29 people, 128x128 DVS (1,077 / 264, tonic)",
    )
)
def dvs_gesture(request: DatasetRequest) -> EventFrames:
    return _official_split(DVS_GESTURE, request)


@register_dataset(
    _event_info(
        CIFAR10_DVS,
        10,
        10,
        "CIFAR10-DVS: CIFAR-10 images moved before a 128x128 DVS (10,000; stratified split)",
        hflip_ok=True,
    )
)
def cifar10_dvs(request: DatasetRequest) -> EventFrames:
    dataset = open_tonic(CIFAR10_DVS, request)
    if importlib.util.find_spec("aedat") is None:
        raise DataError(
            "reading CIFAR10-DVS .aedat4 files needs the 'aedat' package",
            where="dataset 'cifar10_dvs'",
            hint="pip install aedat",
        )
    fraction = float(request.options.get("test_fraction", 0.2))
    train_idx, test_idx = stratified_split(np.asarray(dataset.targets), fraction, seed=SPLIT_SEED)
    frames = _event_frames(CIFAR10_DVS, request, dataset, "all", train_idx if request.split == "train" else test_idx)
    frames.split_info = {
        "method": "stratified",
        "seed": SPLIT_SEED,
        "test_fraction": fraction,
        "n_total": len(dataset.data),
        "n_train": len(train_idx),
        "n_test": len(test_idx),
        "test_indices_sha256": hashlib.sha256(np.sort(test_idx).astype("<i8").tobytes()).hexdigest(),
    }
    return frames
