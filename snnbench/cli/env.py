"""``snnbench env``: versions, devices and GPU power-measurement status."""

from __future__ import annotations

import os
import platform

import click
import torch

import snnbench
from snnbench.cli.common import out_console
from snnbench.machine import describe_cpu, user_cache_dir
from snnbench.measure.power import nvml_status
from snnbench.neurons.backends.dispatch import CACHE_FILE
from snnbench.neurons.backends.dispatch import policy as lif_policy
from snnbench.results.provenance import git_commit
from snnbench.runner.threads import launch_threads


@click.command()
def env() -> None:
    """Show versions, devices and GPU power-measurement status."""
    out_console.print(f"snnbench {snnbench.__version__} (commit {git_commit() or 'unknown'})")
    out_console.print(f"python {platform.python_version()}, torch {torch.__version__}, CUDA build {torch.version.cuda}")
    out_console.print(f"CPU: {describe_cpu()}")
    out_console.print(
        f"CPU threads: {launch_threads()} (the CPUs of this process; a cell without train.threads uses them)"
    )
    where = user_cache_dir()
    kernels = os.environ.get("TORCHINDUCTOR_CACHE_DIR") or where / "inductor"
    how = {
        "auto": f"eager or compiled, measured per shape\n  timings: {where / CACHE_FILE}\n  kernels: {kernels}",
        "always": "compiled (SNNBENCH_LIF_COMPILE=1)",
        "never": "eager (SNNBENCH_LIF_COMPILE=0)",
    }[lif_policy()]
    out_console.print(f"fused LIF path: {lif_policy()}: {how}")
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
