"""Datasets, spike encodings and loaders. ``load_data(spec, seed)`` is the one entry point the runner uses."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from snnbench.data import builtin as _builtin  # noqa: F401  (registers the offline datasets)
from snnbench.data import dvs_emulation, neuromorphic, static  # noqa: F401  (registers the real datasets)
from snnbench.data.augment import AUGMENTS, augment_batch
from snnbench.data.encoding import ENCODINGS, encode, input_is_spiking
from snnbench.data.registry import DATASETS, DatasetInfo, DatasetRequest, dataset_info, register_dataset
from snnbench.errors import SuiteError

DATA_ROOT_ENV = "SNNBENCH_DATA_ROOT"

__all__ = [
    "AUGMENTS",
    "DATASETS",
    "DATA_ROOT_ENV",
    "ENCODINGS",
    "DataBundle",
    "DatasetInfo",
    "DatasetRequest",
    "dataset_info",
    "encode",
    "input_is_spiking",
    "load_data",
    "register_dataset",
    "resolve_root",
]


def resolve_root(spec_root: str, override: str | os.PathLike | None = None) -> Path:
    """Data root by precedence: ``--data-root`` > ``$SNNBENCH_DATA_ROOT`` > the suite's ``data.root``."""
    return Path(override or os.environ.get(DATA_ROOT_ENV) or spec_root).expanduser()


@dataclass
class DataBundle:
    """Both splits of one dataset with what a model and the training loop need to know."""

    info: DatasetInfo
    train: Dataset
    test: Dataset
    T: int
    encoding: str
    augment: str = "none"  # data.augment, applied to training batches only (augment_train)

    @property
    def spiking_input(self) -> bool:
        return input_is_spiking(self.encoding, self.info.kind)

    def loader(
        self, split: str, batch_size: int, *, shuffle: bool = False, seed: int = 0, num_workers: int = 0
    ) -> DataLoader:
        dataset = self.train if split == "train" else self.test
        generator = torch.Generator().manual_seed(seed) if shuffle else None
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            generator=generator,
            num_workers=num_workers,
            pin_memory=torch.cuda.is_available(),
            persistent_workers=num_workers > 0,
        )

    def augment_train(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A *training* loader batch after ``data.augment`` (:mod:`snnbench.data.augment`); before encoding."""
        return augment_batch(x, self.augment, generator)

    def to_input(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A loader batch as time-first network input ``[T, B, C, H, W]`` (encoding static images)."""
        return encode(x, self.T, self.encoding, self.info.kind, generator)


def _subset(dataset: Dataset, n: int | None) -> Dataset:
    if n is None or n >= len(dataset):  # type: ignore[arg-type]
        return dataset
    return Subset(dataset, range(n))


def load_data(spec, seed: int = 0, *, root: str | os.PathLike | None = None, event_transform=None) -> DataBundle:
    """Build train and test splits for a :class:`~snnbench.suite.DataSpec`."""
    info = dataset_info(spec.dataset)
    if spec.augment == "crop_flip" and not info.hflip_ok:
        raise SuiteError(
            f"data.augment is crop_flip, but a horizontal flip changes the class of some '{spec.dataset}' samples",
            where="data.augment",
            hint="use data.augment: crop (translation only) for digits and gestures",
        )
    T = spec.T or info.default_T
    loader = DATASETS.get(spec.dataset)
    splits = {}
    for split in ("train", "test"):
        request = DatasetRequest(
            split=split,
            root=resolve_root(spec.root, root),
            download=spec.download,
            T=T,
            seed=seed,
            options={
                "binning": spec.binning,
                "cache": spec.cache,
                "cache_dir": spec.cache_dir,
                "test_fraction": spec.test_fraction,
            },
            event_transform=event_transform,
        )
        splits[split] = loader(request)
    return DataBundle(
        info=info,
        train=_subset(splits["train"], spec.train_subset),
        test=_subset(splits["test"], spec.test_subset),
        T=T,
        encoding=spec.encoding,
        augment=spec.augment,
    )
