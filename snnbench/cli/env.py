"""``snnbench env``: versions, devices and GPU power-measurement status."""

from __future__ import annotations

import platform

import click
import torch

import snnbench
from snnbench.cli.common import out_console
from snnbench.measure.power import nvml_status
from snnbench.results.provenance import git_commit
from snnbench.runner.threads import launch_threads


@click.command()
def env() -> None:
    """Show versions, devices and GPU power-measurement status."""
    out_console.print(f"snnbench {snnbench.__version__} (commit {git_commit() or 'unknown'})")
    out_console.print(f"python {platform.python_version()}, torch {torch.__version__}, CUDA build {torch.version.cuda}")
    out_console.print(
        f"CPU threads: {launch_threads()} (the CPUs of this process; a cell without train.threads uses them)"
    )
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            out_console.print(f"cuda:{i}: {torch.cuda.get_device_name(i)}")
    else:
        out_console.print("CUDA: not available")
    status = nvml_status()
    if not status.get("init_ok"):
        out_console.print(f"NVML: unavailable ({status.get('error')})")
    else:
        out_console.print(f"NVML: ok, driver {status.get('driver_version')}")
        for gpu in status.get("gpus", []):
            counter = "yes" if gpu.get("energy_counter_supported") else "no"
            limit = gpu.get("power_limit_w")
            out_console.print(f"  gpu {gpu['index']}: {gpu['name']}, energy counter: {counter}, power limit {limit} W")
