"""Seeding and determinism. One seed drives model init, shuffling, and spike encoding through separate streams.

A stream is an independent ``torch.Generator`` derived from the cell seed: ``make_generator(seed, stream)`` with

* ``TRAIN_STREAM`` (1): training encodings and training-input noise,
* ``TEST_STREAM`` (2): test encodings, the same in every test-split pass (accuracy, energy, noise sweeps),
* ``TEST_STREAM + TRANSFORM_OFFSET`` (102): test-input noise, apart from the encodings so a noisy pass sees the
  same spikes as the clean one.

Shuffling draws from ``seed * 7919 + epoch`` (the data loader's own generator).
"""

from __future__ import annotations

import random

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


def make_generator(seed: int, stream: int, device: torch.device | str = "cpu") -> torch.Generator:
    """An independent random stream (``TRAIN_STREAM``, ``TEST_STREAM``, ...) for ``seed``."""
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + stream)
