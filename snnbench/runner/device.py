"""Where a run trains: device names (``auto``, ``cpu``, ``cuda[:N]``) and the devices of local workers (CPU threads:
:mod:`snnbench.runner.threads`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from snnbench.errors import DeviceError, LaunchError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` = first CUDA device if any, else CPU; ``cuda[:N]`` must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"unknown device '{name}'", hint="use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device '{name}' requested but CUDA is not available", hint="use --device cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(
                f"device '{name}' requested but only {torch.cuda.device_count()} CUDA device(s) exist",
                hint=f"use cuda:0..cuda:{torch.cuda.device_count() - 1}",
            )
    elif device.type != "cpu":
        raise DeviceError(f"unsupported device '{name}'", hint="use auto, cpu, cuda or cuda:N")
    return device


def worker_devices(
    workers: int | None = None, device: str = "auto", devices: str | Sequence[str] | None = None
) -> list[str]:
    """The device of each local worker, from ``--workers N``, ``--device`` and ``--devices a,b``.

    ``devices`` gives one worker per entry (with ``workers`` too: that many workers, cycling over the list);
    otherwise ``workers`` workers on ``device``, where ``auto`` spreads them over the visible GPUs (cuda:0, cuda:1,
    cuda:0, ...) or uses the CPU.
    """
    if isinstance(devices, str):
        text = devices
        devices = [d.strip() for d in devices.split(",") if d.strip()]
        if not devices:
            raise LaunchError(f"--devices '{text}' names no device", hint="e.g. --devices cuda:0,cuda:1 or cpu,cpu")
    if workers is not None and workers < 1:
        raise LaunchError(f"--workers is {workers}", hint="use 1 or more")
    if devices:
        n = workers or len(devices)
        return [devices[i % len(devices)] for i in range(n)]
    n = workers or 1
    if device == "auto":
        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return [f"cuda:{i % gpus}" for i in range(n)] if gpus else ["cpu"] * n
    return [device] * n
