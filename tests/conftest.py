import getpass
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Measured decisions (which LIF path is faster here) go to a per-session directory, not the user's cache; compiled
# kernels keep inductor's default location. Subprocesses (CLI tests) inherit both.
os.environ["SNNBENCH_CACHE_DIR"] = tempfile.mkdtemp(prefix="snnbench-test-cache-")
os.environ.setdefault(
    "TORCHINDUCTOR_CACHE_DIR", os.path.join(tempfile.gettempdir(), f"torchinductor_{getpass.getuser()}")
)


@pytest.fixture
def write_suite(tmp_path):
    """Write a suite file (dedented) under tmp_path and return its path."""

    def write(text: str, name: str = "suite.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 600):
    """Run ``python -m snnbench`` in a subprocess; return the CompletedProcess."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "snnbench", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def cli():
    return run_cli


from tests.stores import run_report, store  # noqa: E402, F401  (fixtures: synthetic results directories)
