"""Seeding and determinism. One seed drives model init, shuffling, and spike encoding through separate streams.

A stream is an independent ``torch.Generator`` derived from the cell seed: ``make_generator(seed, stream)`` with

* ``TRAIN_STREAM`` (1): training encodings and training-input noise,
* ``TEST_STREAM`` (2): test encodings, the same in every test-split pass (accuracy, energy, noise sweeps),
* ``TEST_STREAM + TRANSFORM_OFFSET`` (102): test-input noise, apart from the encodings so a noisy pass sees the
  same spikes as the clean one.

Shuffling draws from :func:`shuffle_seed` (the data loader's own generator); noise that must not depend on batch
order (event noise, per-sample draws) from :func:`derived_seed`, a hash of the cell seed and what is drawn.

Determinism (``train.deterministic``, default true): :func:`seed_everything` turns off cuDNN autotuning and asks for
deterministic cuDNN kernels; on CUDA, :func:`set_deterministic_algorithms` also sets torch's deterministic
algorithms (``warn_only``: an op without a deterministic kernel warns instead of failing) and cuBLAS's fixed
workspace (``CUBLAS_WORKSPACE_CONFIG=:4096:8``, which must be in the environment before the first cuBLAS call of the
process: :func:`deterministic_cublas`). CPU runs are left alone: their kernels are deterministic for a given thread
count either way.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from typing import Any

import numpy as np
import torch

TRAIN_STREAM = 1
TEST_STREAM = 2
TRANSFORM_OFFSET = 100


def seed_everything(seed: int, deterministic: bool = True) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


CUBLAS_WORKSPACE_CONFIG = ":4096:8"


def deterministic_algorithms(device_type: str, deterministic: bool) -> bool | None:
    """What ``torch.use_deterministic_algorithms`` is set to for a cell on ``device_type``: its
    ``train.deterministic`` on CUDA; None (left alone) elsewhere, so CPU numbers stay what they were."""
    return bool(deterministic) if device_type == "cuda" else None


def deterministic_cublas() -> None:
    """cuBLAS's deterministic workspace, unless the environment sets one (read at the first cuBLAS call)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE_CONFIG)


def set_deterministic_algorithms(device: torch.device | str, deterministic: bool) -> None:
    """Apply :func:`deterministic_algorithms` before a cell trains or is measured on ``device``."""
    wanted = deterministic_algorithms(torch.device(device).type, deterministic)
    if wanted is None:
        return
    if wanted:
        deterministic_cublas()
    torch.use_deterministic_algorithms(wanted, warn_only=True)


def shuffle_seed(seed: int, epoch: int) -> int:
    """The training split's shuffling seed in ``epoch`` (a fresh order every epoch, the same on every rerun)."""
    return seed * 7919 + epoch


def derived_seed(seed: int, *parts: Any) -> int:
    """A 63-bit seed from ``(seed, *parts)`` (SHA-256 of their canonical JSON): the same parts, the same stream,
    whatever else was drawn before."""
    blob = json.dumps([int(seed), *parts], separators=(",", ":"), default=str)
    return int.from_bytes(hashlib.sha256(blob.encode()).digest()[:8], "little") >> 1


def make_generator(seed: int, stream: int, device: torch.device | str = "cpu") -> torch.Generator:
    """An independent random stream (``TRAIN_STREAM``, ``TEST_STREAM``, ...) for ``seed``."""
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + stream)
