"""bf16 on a CPU without native bfloat16 is correct but slow: the preflight says so in one line, once."""

from __future__ import annotations

import warnings

import pytest
import torch

from snnbench.cli.run import _one_line_warnings
from snnbench.machine import cpu_info
from snnbench.runner.preflight import PrecisionWarning, check_precision
from snnbench.suite import load_suite

SUITE = """
name: bf16
data: {dataset: mnist_digits}
model: {name: mlp, width: 8, depth: 1, precision: bf16}
matrix:
  variant: [stl, sl]
"""
AVX2_ONLY = ("AMD EPYC 7B13", {"fpu", "avx", "avx2", "fma"})
MESSAGE = (
    "model.precision is bf16, but this CPU (AMD EPYC 7B13) has no AVX512-BF16 or AMX: bf16 is emulated and trains "
    "about 3.5x slower than fp32; use -o model.precision=fp32 here, or bf16 on a GPU"
)


@pytest.fixture
def cells(write_suite):
    return load_suite(write_suite(SUITE)).cells


def test_bf16_on_a_cpu_without_bf16_warns_once(cells):
    with pytest.warns(PrecisionWarning) as caught:
        check_precision(cells, torch.device("cpu"), AVX2_ONLY)
    assert [str(w.message) for w in caught] == [MESSAGE]


@pytest.mark.parametrize(
    "device, cpu, overrides",
    [
        ("cpu", ("Xeon", {"avx2", "avx512f", "avx512_bf16"}), []),
        ("cpu", ("Xeon", {"avx2", "amx_bf16"}), []),
        ("cuda", AVX2_ONLY, []),
        ("cpu", AVX2_ONLY, ["model.precision=fp32"]),
    ],
)
def test_no_warning_where_bf16_is_native_or_not_used(write_suite, device, cpu, overrides):
    cells = load_suite(write_suite(SUITE), overrides).cells
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_precision(cells, torch.device(device), cpu)


def test_cpu_info_reads_model_name_and_flags(tmp_path):
    (tmp_path / "cpuinfo").write_text(
        "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu avx2 fma\n\n"
        "processor\t: 1\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu avx2 fma\n"
    )
    assert cpu_info(tmp_path / "cpuinfo") == ("AMD EPYC 7B13", {"fpu", "avx2", "fma"})
    assert cpu_info(tmp_path / "missing") is None


def test_cli_prints_the_warning_as_one_line(monkeypatch):
    monkeypatch.setattr(warnings, "formatwarning", warnings.formatwarning)  # restored after the test
    _one_line_warnings()
    assert warnings.formatwarning(MESSAGE, PrecisionWarning, "x.py", 1) == f"warning: {MESSAGE}\n"
    assert warnings.formatwarning("other", UserWarning, "x.py", 1).startswith("x.py:1: UserWarning: other")
