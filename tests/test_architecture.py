"""The architecture is enforced, not only described: import-linter checks the contracts in pyproject.toml (the layers
of docs/architecture.md), and a deliberate upward import is caught."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def lint_imports(cwd: Path, env_path: Path | None = None) -> subprocess.CompletedProcess:
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    env = {"PYTHONPATH": str(env_path or cwd), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-c", code, "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_every_import_contract_is_kept():
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_layers(tmp_path):
    """measure importing the runner (an upper floor) must fail the check: the contract is not vacuous."""
    pytest.importorskip("importlinter")
    shutil.copytree(REPO / "snnbench", tmp_path / "snnbench", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    bad = tmp_path / "snnbench" / "measure" / "upward.py"
    bad.write_text('"""An import against the flow."""\n\nfrom snnbench.runner import run_suite  # noqa: F401\n')
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "snnbench.measure.upward -> snnbench.runner" in result.stdout
