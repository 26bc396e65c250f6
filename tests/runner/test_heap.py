"""The CPU heap a training process keeps (``snnbench.runner.heap``): applied once, recorded, and left alone when the
user asks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

# heap.py alone (it imports only the standard library), without importing torch: a fresh process per setting
SCRIPT = (
    "import importlib.util as u, sys; s = u.spec_from_file_location('heap', sys.argv[1]); m = u.module_from_spec(s); "
    "s.loader.exec_module(m); print(m.keep_heap()); print(m.keep_heap())"
)
HEAP = str(REPO / "snnbench" / "runner" / "heap.py")


def heap_line(env: dict[str, str]) -> list[str]:
    clean = {k: v for k, v in __import__("os").environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", SCRIPT, HEAP], env={**clean, **env}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_heap_is_kept_once_per_process():
    first, second = heap_line({})
    assert first == second == "kept: no mmap, trim above 1024 MiB, pad 64 MiB"


def test_user_settings_win():
    assert heap_line({"SNNBENCH_HEAP": "system"})[0] == "system default (SNNBENCH_HEAP=system)"
    assert heap_line({"MALLOC_ARENA_MAX": "2"})[0] == "system, with the user's MALLOC_ARENA_MAX"
