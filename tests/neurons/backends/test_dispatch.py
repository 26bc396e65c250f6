"""Eager or compiled, chosen by measurement: both paths give the same bits, and the choice is measured once per
machine and signature, recorded, and reused."""

from __future__ import annotations

import json
import time

import pytest
import torch

from snnbench.neurons.backends import dispatch, fused
from snnbench.neurons.functional import LIFParameters
from snnbench.neurons.surrogate import create_surrogate


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh decision cache and the ``auto`` policy; restored afterwards."""
    monkeypatch.setenv("SNNBENCH_CACHE_DIR", str(tmp_path))
    before = dispatch.policy()
    dispatch.set_policy("auto")
    dispatch.forget_decisions()
    dispatch.reset_paths_used()
    yield tmp_path / dispatch.CACHE_FILE
    dispatch.forget_decisions()
    dispatch.set_policy(before)


def sleeper(eager_s: float, compiled_s: float, calls: list[str], compile_s: float = 0.3):
    """A trial that takes ``eager_s`` / ``compiled_s`` per call, and ``compile_s`` more on its first compiled call."""

    def trial(compiled: bool) -> None:
        first_compile = compiled and "compiled" not in calls
        calls.append("compiled" if compiled else "eager")
        time.sleep((compiled_s + compile_s * first_compile) if compiled else eager_s)

    return trial


def test_large_op_is_measured_and_the_faster_path_recorded(cache):
    calls: list[str] = []
    device = torch.device("cpu")
    assert dispatch.choose("op A", device, sleeper(0.02, 0.002, calls)) is True
    n = dispatch.TRIAL_CALLS + 1
    assert calls == ["eager"] * n + ["compiled"] * n
    stored = json.loads(cache.read_text())[dispatch.machine_key(device)]
    entry = stored["signatures"]["op A"]
    assert entry["path"] == "compiled" and entry["how"] == "measured"
    assert entry["eager_ms"] > 5 * entry["compiled_ms"]
    assert stored["compile_s"] == [pytest.approx(0.3, abs=0.1)]  # feeds the next break-even estimate
    # a slower compiled kernel loses
    assert dispatch.choose("op B", device, sleeper(0.02, 0.03, calls)) is False
    assert dispatch.paths_used() == {"op A": "compiled", "op B": "eager"}


def test_op_too_small_to_repay_a_compile_is_not_compiled(cache):
    calls: list[str] = []
    # 0.1 ms x 1000 calls = 0.1 s, well under the compile time assumed before any was measured
    assert dispatch.choose("tiny", torch.device("cpu"), sleeper(1e-4, 0.0, calls)) is False
    assert set(calls) == {"eager"}
    entry = json.loads(cache.read_text())[dispatch.machine_key(torch.device("cpu"))]["signatures"]["tiny"]
    assert entry["how"] == "too small" and entry["compiled_ms"] is None


def test_a_longer_run_compiles_what_a_short_one_did_not(cache):
    """The recorded timing stays; the break-even test uses the calls the run expects (the runner's epochs x
    batches), so the same op compiles for a run long enough to repay it."""
    device = torch.device("cpu")
    calls: list[str] = []
    with dispatch.expected_calls(train=10):
        assert dispatch.choose("op", device, sleeper(0.02, 0.002, calls)) is False  # 0.2 s of eager in all
    assert set(calls) == {"eager"}
    dispatch.forget_decisions()  # a later process: the eager timing is recorded
    calls.clear()
    with dispatch.expected_calls(train=100_000, infer=10):
        assert dispatch.choose("op", device, sleeper(0.02, 0.002, calls)) is True
        assert calls == ["compiled"] * (dispatch.TRIAL_CALLS + 1)
        assert dispatch.choose("op infer", device, sleeper(0.02, 0.002, calls), mode="infer") is False


def test_recorded_decision_is_reused_by_a_later_process(cache):
    device = torch.device("cpu")
    dispatch.choose("op", device, sleeper(0.02, 0.002, []))
    dispatch.forget_decisions()  # a new process: only the file remains
    calls: list[str] = []
    assert dispatch.choose("op", device, sleeper(0.02, 0.002, calls)) is True
    assert calls == []
    # another thread count is another machine key: measured afresh
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads + 1)
        dispatch.forget_decisions()
        dispatch.choose("op", device, sleeper(0.001, 0.0, calls))
        assert calls
    finally:
        torch.set_num_threads(threads)


def test_damaged_cache_file_is_measured_again_and_rewritten(cache):
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text("{not json")
    calls: list[str] = []
    assert dispatch.choose("op", torch.device("cpu"), sleeper(1e-4, 0.0, calls)) is False
    assert calls and "op" in json.loads(cache.read_text())[dispatch.machine_key(torch.device("cpu"))]["signatures"]


@pytest.mark.parametrize("policy,expected", [("always", True), ("never", False)])
def test_fixed_policies_skip_the_measurement(cache, policy, expected):
    dispatch.set_policy(policy)
    calls: list[str] = []
    assert dispatch.choose("op", torch.device("cpu"), sleeper(0.02, 0.0, calls)) is expected
    assert calls == [] and not cache.exists()
    with pytest.raises(ValueError, match="policy"):
        dispatch.set_policy("sometimes")


def test_trial_uses_private_inputs_and_leaves_the_random_stream_alone(cache):
    p = LIFParameters()
    x = torch.randn(4, 3, 8, requires_grad=True)
    theta = torch.full((8,), 0.5, requires_grad=True)
    state = torch.get_rng_state()
    spikes = fused.lif_multistep_fused(x, theta, p)
    assert torch.equal(torch.get_rng_state(), state)
    assert x.grad is None and theta.grad is None  # the trial's backward ran on its own tensors
    (used,) = dispatch.paths_used().items()
    assert used == ("lif cpu [4x3x8] float32 theta [8] arctan train", "eager")  # too small to compile
    assert spikes.shape == x.shape


def _run(fn, x0: torch.Tensor, th0: torch.Tensor, policy: str):
    dispatch.set_policy(policy)
    x, th = x0.clone().requires_grad_(), th0.clone().requires_grad_()
    y = fn(x, th)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(1))
    (y * g).sum().backward()
    return y.detach(), x.grad, th.grad


@pytest.mark.parametrize(
    "op,theta_shape,channels_last,detach_reset",
    [
        ("lif", (24,), False, False),
        ("pool", (6, 4, 4), True, True),
        ("pool", (6, 1, 1), False, False),
        ("pool", (), True, False),
    ],
)
def test_eager_and_compiled_paths_agree_bit_for_bit(cache, op, theta_shape, channels_last, detach_reset):
    """Forward spikes, input gradient and threshold gradient: identical bits, so a path choice made by timing can
    never change a result. tau = 0.3 is not a power of two (a fused multiply-add would show)."""
    p = LIFParameters(tau=0.3, surrogate=create_surrogate("arctan", 2.0), detach_reset=detach_reset)
    gen = torch.Generator().manual_seed(0)
    shape = (3, 5, 24) if op == "lif" else (3, 5, 6, 4, 4)
    x0 = 2 * torch.randn(shape, generator=gen)
    if channels_last:
        x0 = x0.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
    th0 = 1.0 + 0.1 * torch.randn(theta_shape, generator=gen)
    fn = (
        (lambda x, t: fused.lif_multistep_fused(x, t, p))
        if op == "lif"
        else (lambda x, t: fused.lif_maxpool2d(x, t, p))
    )
    eager = _run(fn, x0, th0, "never")
    compiled = _run(fn, x0, th0, "always")
    assert fused._failed == set() or all(k[0] not in ("fwd", "bwd", "pool_z", "pool_bwd") for k in fused._failed)
    for name, a, b in zip(("spikes", "input grad", "theta grad"), eager, compiled, strict=True):
        assert torch.equal(a, b), name
    assert eager[0].sum() > 0 and eager[2].abs().sum() > 0
