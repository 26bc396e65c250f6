"""``snnbench env`` names the CPU and how the fused LIF path is chosen."""

from __future__ import annotations

import pytest

from snnbench.machine import describe_cpu
from snnbench.neurons.backends import dispatch
from tests.stores import run_in_process


@pytest.mark.parametrize(
    "policy,line",
    [
        ("auto", "fused LIF path: auto: eager or compiled, measured per shape\n  timings: "),
        ("never", "fused LIF path: never: eager (SNNBENCH_LIF_COMPILE=0)"),
    ],
)
def test_env_shows_the_cpu_and_the_lif_path_policy(capsys, monkeypatch, tmp_path, policy, line):
    monkeypatch.setenv("SNNBENCH_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(dispatch, "_policy", policy)
    code, out, _ = run_in_process(capsys, "env")
    assert code == 0
    assert f"CPU: {describe_cpu()}\n" in out
    assert line in out
    if policy == "auto":
        assert f"  timings: {tmp_path / 'lif_paths.json'}\n" in out
