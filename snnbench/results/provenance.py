"""Provenance recorded with every cell: what code, on what software and hardware, with what seed."""

from __future__ import annotations

import datetime as dt
import platform
import socket
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

import snnbench
from snnbench.machine import describe_cpu


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """Commit of the snnbench source tree (with ``-dirty`` when modified), or None outside a checkout."""
    root = Path(snnbench.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model and vector extensions (``AMD EPYC (AVX2, FMA)``)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return describe_cpu()


def provenance(device: torch.device, seed: int) -> dict[str, Any]:
    return {
        "snnbench_version": snnbench.__version__,
        "snnbench_commit": git_commit(),
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "cudnn_version": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "device": str(device),
        "device_name": device_name(device),
        "cpu": describe_cpu(),
        "num_threads": torch.get_num_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "seed": seed,
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
