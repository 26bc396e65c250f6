"""Seeding and determinism. One seed drives model init, shuffling, and spike encoding through separate streams."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool = True) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def make_generator(seed: int, stream: int, device: torch.device | str = "cpu") -> torch.Generator:
    """An independent random stream (e.g. 1 = training encodings, 2 = test encodings) for ``seed``."""
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + stream)
