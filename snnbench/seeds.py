"""Seeding and determinism. One seed drives model init, shuffling, and spike encoding through separate streams.

A stream is an independent ``torch.Generator`` derived from the cell seed: ``make_generator(seed, stream)`` with

* ``TRAIN_STREAM`` (1): training encodings and training-input noise,
* ``TEST_STREAM`` (2): test encodings, the same in every test-split pass (accuracy, energy, noise sweeps),
* ``TEST_STREAM + TRANSFORM_OFFSET`` (102): test-input noise, apart from the encodings so a noisy pass sees the
  same spikes as the clean one.

Shuffling draws from :func:`shuffle_seed` (the data loader's own generator); noise that must not depend on batch
order (event noise, per-sample draws) from :func:`derived_seed`, a hash of the cell seed and what is drawn.
"""

from __future__ import annotations

import hashlib
import json
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
