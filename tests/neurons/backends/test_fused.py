"""The fused multi-step LIF must match the reference loop: forward bit for bit, gradients to fp32 rounding."""

from __future__ import annotations

import itertools

import pytest
import torch

from snnbench.neurons import (
    LIF,
    LIF_BACKENDS,
    LIFParameters,
    create_surrogate,
    lif_multistep,
    lif_multistep_reference,
)
from snnbench.neurons.backends import dispatch, fused
from snnbench.registry import Entry

SURROGATES = ("arctan", "sigmoid", "rectangular", "triangle")
GRANULARITIES = ("neuron", "channel", "layer")
FEATURES = (4, 3, 3)


def theta_shape(granularity: str) -> tuple[int, ...]:
    return {"neuron": FEATURES, "channel": (FEATURES[0], 1, 1), "layer": ()}[granularity]


@pytest.fixture
def compile_mode(request):
    before = dispatch.policy()
    fused.set_compile(request.param)
    yield request.param
    dispatch.set_policy(before)


def run_both(p: LIFParameters, granularity: str, style: str, *, T: int = 5, B: int = 3, seed: int = 0, device="cpu"):
    """Reference and fused on the same data; ``tl``: only theta learns; ``sl``: only the input carries grad."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(T, B, *FEATURES, generator=gen) * 1.5 + 0.8
    theta = torch.rand(theta_shape(granularity), generator=gen) + 0.5
    grad_out = torch.randn(T, B, *FEATURES, generator=gen)
    results = []
    for fn in (
        lambda xs, th: lif_multistep_reference(xs, th, p)[0],
        lambda xs, th: fused.lif_multistep_fused(xs, th, p),
    ):
        xs = x.clone().to(device).requires_grad_(style == "sl")
        th = theta.clone().to(device).requires_grad_(style == "tl")
        spikes = fn(xs, th)
        spikes.backward(grad_out.to(device))
        results.append((spikes.detach(), xs.grad, th.grad))
    return results


def assert_match(ref, fus, style: str) -> None:
    (s_ref, gx_ref, gt_ref), (s_fus, gx_fus, gt_fus) = ref, fus
    assert s_ref.dtype == s_fus.dtype and s_ref.shape == s_fus.shape
    assert torch.equal(s_ref, s_fus), "forward spikes differ from the reference"
    assert 0.05 < s_ref.float().mean().item() < 0.95, "test data should make some neurons spike and some not"
    if style == "sl":
        assert gt_ref is None and gt_fus is None
        torch.testing.assert_close(gx_fus, gx_ref)
    else:
        assert gx_ref is None and gx_fus is None
        assert gt_fus.shape == gt_ref.shape
        torch.testing.assert_close(gt_fus, gt_ref)


@pytest.mark.parametrize("compile_mode", [False], indirect=True)
@pytest.mark.parametrize(
    "granularity,surrogate,detach_reset,style",
    list(itertools.product(GRANULARITIES, SURROGATES, (False, True), ("tl", "sl"))),
)
def test_eager_matches_reference(compile_mode, granularity, surrogate, detach_reset, style):
    p = LIFParameters(tau=0.5, surrogate=create_surrogate(surrogate), detach_reset=detach_reset)
    ref, fus = run_both(p, granularity, style)
    assert_match(ref, fus, style)


@pytest.mark.parametrize("compile_mode", [True], indirect=True)
@pytest.mark.parametrize(
    "granularity,surrogate,detach_reset",
    [
        ("neuron", "arctan", False),
        ("channel", "sigmoid", True),
        ("layer", "rectangular", False),
        ("neuron", "triangle", True),
    ],
)
def test_compiled_matches_reference(compile_mode, granularity, surrogate, detach_reset):
    # tau=0.3 is not a power of two: bitwise equality then needs the same rounding order (no FMA contraction)
    p = LIFParameters(tau=0.3, surrogate=create_surrogate(surrogate), detach_reset=detach_reset)
    for style in ("tl", "sl"):
        ref, fus = run_both(p, granularity, style)
        assert_match(ref, fus, style)
    bwd_key = ("bwd", fused._surrogate_key(p.surrogate), 0.3, detach_reset)
    assert ("fwd", 0.3) in fused._compiled and bwd_key in fused._compiled, "the compiled path did not run"
    assert not fused._failed, f"torch.compile fell back to eager: {fused._failed}"


@pytest.mark.parametrize("compile_mode", [False], indirect=True)
@pytest.mark.parametrize("tau", [0.0, 0.3, 0.9, 1.0])
def test_eager_other_tau_and_both_grads(compile_mode, tau):
    p = LIFParameters(tau=tau, surrogate=create_surrogate("arctan", 3.0))
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(6, 2, 5, 7, generator=gen)
    theta = torch.rand(5, 7, generator=gen)
    out = []
    for fn in (lambda a, b: lif_multistep_reference(a, b, p)[0], lambda a, b: fused.lif_multistep_fused(a, b, p)):
        xs, th = x.clone().requires_grad_(), theta.clone().requires_grad_()
        s = fn(xs, th)
        (s * torch.arange(s.numel()).reshape(s.shape).sin()).sum().backward()
        out.append((s, xs.grad, th.grad))
    assert torch.equal(out[0][0], out[1][0])
    torch.testing.assert_close(out[1][1], out[0][1])
    torch.testing.assert_close(out[1][2], out[0][2])


def test_no_grad_and_mixed_dtype():
    p = LIFParameters()
    x = torch.randn(4, 2, 6) * 3
    theta = torch.rand(6)
    with torch.no_grad():
        assert torch.equal(fused.lif_multistep_fused(x, theta, p), lif_multistep_reference(x, theta, p)[0])
    # bf16 input with an fp32 threshold: the reference promotes to fp32 after the first subtraction
    xb = x.to(torch.bfloat16).requires_grad_()
    s_ref = lif_multistep_reference(xb, theta, p)[0]
    s_fus = fused.lif_multistep_fused(xb, theta, p)
    assert s_fus.dtype == s_ref.dtype == torch.float32
    assert torch.equal(s_ref, s_fus)
    s_fus.sum().backward()
    assert xb.grad.dtype == torch.bfloat16


def test_fused_saves_only_z_and_theta():
    x = torch.randn(4, 2, 6, requires_grad=True)
    theta = torch.rand(6, requires_grad=True)
    s = fused.lif_multistep_fused(x, theta, LIFParameters())
    saved = s.grad_fn.saved_tensors
    assert len(saved) == 2 and saved[0].shape == x.shape and saved[1] is not None


def spy_backends(monkeypatch) -> list[str]:
    calls: list[str] = []
    for name in ("reference", "fused"):
        entry = LIF_BACKENDS.entry(name)

        def spy(x_seq, theta, p, _fn=entry.obj, _name=name):
            calls.append(_name)
            return _fn(x_seq, theta, p)

        monkeypatch.setitem(LIF_BACKENDS._entries, name, Entry(name, spy, dict(entry.meta)))
    return calls


def test_auto_picks_fused_and_falls_back_to_reference(monkeypatch):
    calls = spy_backends(monkeypatch)
    x, theta, p = torch.randn(3, 2, 4), torch.rand(4), LIFParameters()
    out_fused = lif_multistep(x, theta, p)
    assert calls == ["fused"]
    monkeypatch.setitem(LIF_BACKENDS.entry("fused").meta, "available", lambda x_seq: False)
    out_ref = lif_multistep(x, theta, p)
    assert calls == ["fused", "reference"]
    assert torch.equal(out_fused, out_ref)


def test_fused_available_predicate():
    assert fused.fused_available(torch.zeros(2, 2))
    assert not fused.fused_available(torch.zeros(2, 2, device="meta"))


def test_compile_failure_falls_back_to_eager(monkeypatch, caplog):
    def broken_compile(fn, **kwargs):
        def run(*args):
            raise RuntimeError("no compiler here")

        return run

    monkeypatch.setattr(fused, "_compiled", {})
    monkeypatch.setattr(fused, "_failed", set())
    monkeypatch.setattr(fused.torch, "compile", broken_compile)
    monkeypatch.setattr(dispatch, "_policy", "always")
    p = LIFParameters(surrogate=create_surrogate("sigmoid"))
    with caplog.at_level("WARNING", logger=fused.__name__):
        ref, fus = run_both(p, "neuron", "tl")
    assert_match(ref, fus, "tl")
    assert {k[0] for k in fused._failed} == {"fwd", "bwd"}
    assert "falls back" in caplog.text or "eager" in caplog.text


@pytest.mark.parametrize(
    "compile_mode,granularity",
    [(False, "neuron"), (False, "channel"), (False, "layer"), (True, "channel")],  # compiling costs seconds
    indirect=["compile_mode"],
)
def test_lif_module_reference_equals_fused(compile_mode, granularity):
    torch.manual_seed(3)
    mods = [
        LIF(FEATURES, theta_init=1.0, theta_jitter=0.2, granularity=granularity, backend=b)
        for b in ("reference", "fused")
    ]
    mods[1].load_state_dict(mods[0].state_dict())
    x = torch.randn(4, 2, *FEATURES) * 1.5 + 0.5
    outs = []
    for m in mods:
        xs = x.clone().requires_grad_()
        s = m(xs)
        (s * torch.linspace(-1, 1, s.numel()).reshape(s.shape)).sum().backward()
        outs.append((s, xs.grad, m.theta.grad))
    assert torch.equal(outs[0][0], outs[1][0])
    torch.testing.assert_close(outs[1][1], outs[0][1])
    torch.testing.assert_close(outs[1][2], outs[0][2])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("backend", ["fused", "triton"])
@pytest.mark.parametrize(
    "granularity,surrogate,detach_reset", [("neuron", "arctan", False), ("channel", "triangle", True)]
)
def test_cuda_backends_match_reference(backend, granularity, surrogate, detach_reset):
    if backend not in LIF_BACKENDS:
        pytest.skip(f"backend {backend} not registered")
    p = LIFParameters(tau=0.3, surrogate=create_surrogate(surrogate), detach_reset=detach_reset)
    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(6, 8, *FEATURES, generator=gen) * 1.5 + 0.8).cuda()
    theta = (torch.rand(theta_shape(granularity), generator=gen) + 0.5).cuda()
    g = torch.randn(x.shape, generator=gen).cuda()
    assert LIF_BACKENDS.entry(backend).meta["available"](x)
    outs = []
    for fn in (LIF_BACKENDS.get("reference"), LIF_BACKENDS.get(backend)):
        xs, th = x.clone().requires_grad_(), theta.clone().requires_grad_()
        s = fn(xs, th, p)
        s.backward(g)
        outs.append((s, xs.grad, th.grad))
    assert torch.equal(outs[0][0], outs[1][0])
    torch.testing.assert_close(outs[1][1], outs[0][1])
    torch.testing.assert_close(outs[1][2], outs[0][2])


def lif_then_pool(xs, th, p):
    T, B = xs.shape[:2]
    spikes = lif_multistep_reference(xs, th, p)[0]
    return torch.nn.functional.max_pool2d(spikes.flatten(0, 1), 2).unflatten(0, (T, B))


def pool_case(theta_shape_, channels_last, seed=4):
    """Input ``[4, 3, 5, 6, 8]`` (optionally channels-last), threshold, and a pooled-output gradient."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(12, 5, 6, 8, generator=gen) * 1.5 + 0.3
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    theta = torch.rand(theta_shape_, generator=gen) + 0.5
    return x.unflatten(0, (4, 3)), theta, torch.randn(4, 3, 5, 3, 4, generator=gen)


@pytest.mark.parametrize(
    "compile_mode,theta_shape_,channels_last,style",
    [
        (True, (5, 6, 8), False, "both"),
        (True, (5, 6, 8), True, "both"),
        (True, (5, 1, 1), True, "tl"),
        (True, (), False, "sl"),
        (False, (5, 6, 8), False, "both"),
    ],
    indirect=["compile_mode"],
)
def test_lif_maxpool2d_matches_lif_then_pool(compile_mode, theta_shape_, channels_last, style):
    """Fused LIF + 2x2 max-pool == reference LIF then max_pool2d (first-maximum gradient routing included), for
    per-neuron/channel/layer thresholds and either input layout; the compiled result is channels-last."""
    p = LIFParameters(tau=0.3, surrogate=create_surrogate("arctan"), detach_reset=False)
    x, theta, g = pool_case(theta_shape_, channels_last)
    outs = []
    for fused_path in (False, True):
        xs = x.clone().requires_grad_(style in ("sl", "both"))
        th = theta.clone().requires_grad_(style in ("tl", "both"))
        out = fused.lif_maxpool2d(xs, th, p) if fused_path else lif_then_pool(xs, th, p)
        if fused_path:
            assert (type(out.grad_fn).__name__ == "FusedLIFMaxPool2dBackward") == compile_mode
            if compile_mode:
                assert out.flatten(0, 1).is_contiguous(memory_format=torch.channels_last)
        out.backward(g)
        outs.append((out.detach(), xs.grad, th.grad))
    assert torch.equal(outs[0][0], outs[1][0])
    assert 0.1 < outs[0][0].mean().item() < 0.9, "some windows should spike and some not"
    for ref, got in zip(outs[0][1:], outs[1][1:], strict=True):
        assert (ref is None) == (got is None)
        if ref is not None:
            assert got.shape == ref.shape
            torch.testing.assert_close(got, ref)


@pytest.mark.parametrize("compile_mode", [True], indirect=True)
def test_lif_maxpool2d_bf16_input_runs_fused_in_fp32_like_the_reference(compile_mode):
    """bf16 input (as under autocast) with an fp32 threshold: the fused kernels take it and compute in fp32, as the
    reference does for the forward, and return bf16 spikes; the input gradient is the fp32 one rounded once to
    bf16 (the reference's own bf16 gradient accumulates rounding through time, so the fp32 reference on the same
    values is the yardstick)."""
    p = LIFParameters(tau=0.5)
    x, theta, g = pool_case((5, 6, 8), channels_last=True)
    x, g = x.bfloat16(), g.bfloat16()  # the fused output is bf16, so its incoming gradient is too
    outs = []
    for fn, xin, gin in ((lif_then_pool, x.float(), g.float()), (fused.lif_maxpool2d, x, g)):
        xs, th = xin.clone().requires_grad_(), theta.clone().requires_grad_()
        out = fn(xs, th, p)
        out.backward(gin)
        outs.append((out, xs.grad, th.grad))
    assert type(outs[1][0].grad_fn).__name__ == "FusedLIFMaxPool2dBackward"
    assert outs[1][0].dtype == torch.bfloat16 and torch.equal(outs[0][0], outs[1][0].float())
    assert outs[1][1].dtype == torch.bfloat16
    torch.testing.assert_close(outs[1][1], outs[0][1].bfloat16(), rtol=0, atol=0)
    torch.testing.assert_close(outs[1][2], outs[0][2])


@pytest.mark.parametrize("compile_mode", [True], indirect=True)
def test_compiled_kernels_are_static_per_shape_then_dynamic(compile_mode, monkeypatch):
    """Each argument shape gets its own static kernel; past MAX_STATIC_SHAPES, one kernel with symbolic sizes."""
    monkeypatch.setattr(fused, "_compiled", {})
    monkeypatch.setattr(fused, "MAX_STATIC_SHAPES", 2)
    p = LIFParameters(tau=0.3)
    theta = torch.full((3, 4), 0.5)
    for batch in (2, 3, 4, 5):
        x = torch.randn(4, batch, 3, 4, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            assert torch.equal(fused.lif_multistep_fused(x, theta, p), lif_multistep_reference(x, theta, p)[0])
    kernels = fused._compiled[("fwd", 0.3)]
    assert len(kernels) == 3 and "dynamic" in kernels  # batch 2 and 3 static, 4 and 5 share the dynamic one


TRITON_INTERPRETER_CHECK = """
import torch
from snnbench.neurons import LIFParameters, create_surrogate, lif_multistep_reference
from snnbench.neurons.backends import triton as triton_lif
assert triton_lif.HAVE_TRITON
gen = torch.Generator().manual_seed(0)
for shape, surrogate, detach in [((4, 3, 3), "arctan", False), ((4, 1, 1), "sigmoid", True),
                                 ((), "rectangular", False), ((4, 3, 3), "triangle", True)]:
    p = LIFParameters(tau=0.3, surrogate=create_surrogate(surrogate), detach_reset=detach)
    x = torch.randn(5, 3, 4, 3, 3, generator=gen) * 1.5 + 0.8
    th = torch.rand(shape, generator=gen) + 0.5
    g = torch.randn(x.shape, generator=gen)
    out = []
    for fn in (lambda a, b: lif_multistep_reference(a, b, p)[0], lambda a, b: triton_lif.TritonLIF.apply(a, b, p)):
        xs, ts = x.clone().requires_grad_(), th.clone().requires_grad_()
        s = fn(xs, ts)
        s.backward(g)
        out.append((s.detach(), xs.grad, ts.grad))
    assert torch.equal(out[0][0], out[1][0])
    torch.testing.assert_close(out[1][1], out[0][1])
    torch.testing.assert_close(out[1][2], out[0][2])
print("ok")
"""


def test_triton_kernels_under_interpreter():
    """The CUDA kernels' math, run on CPU by Triton's interpreter (needs TRITON_INTERPRET before import)."""
    import os
    import subprocess
    import sys

    from snnbench.neurons.backends import triton as triton_lif

    if not triton_lif.HAVE_TRITON:
        pytest.skip("triton not installed")
    env = dict(os.environ, TRITON_INTERPRET="1", SNNBENCH_LIF_COMPILE="0")
    proc = subprocess.run(
        [sys.executable, "-c", TRITON_INTERPRETER_CHECK], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-3000:]


def test_triton_backend_not_offered_on_cpu():
    x = torch.randn(2, 2, 3)
    if "triton" in LIF_BACKENDS:
        assert not LIF_BACKENDS.entry("triton").meta["available"](x)


@pytest.mark.parametrize("compile_mode", [False], indirect=True)
@pytest.mark.parametrize("theta_shape_", [(5, 6, 8), (5, 1, 1), ()])
def test_fused_lif_keeps_a_channels_last_input_channels_last(compile_mode, theta_shape_):
    """A channels-last [T, B, C, H, W] input gives channels-last spikes and input gradient, with the reference's
    values and gradients."""
    p = LIFParameters(tau=0.3)
    x, theta, _ = pool_case(theta_shape_, channels_last=True)
    g = torch.randn(x.shape, generator=torch.Generator().manual_seed(5))
    outs = []
    for fn in (lambda a, b: lif_multistep_reference(a, b, p)[0], lambda a, b: fused.lif_multistep_fused(a, b, p)):
        xs, th = x.clone().requires_grad_(), theta.clone().requires_grad_()
        spikes = fn(xs, th)
        spikes.backward(g)
        outs.append((spikes, xs.grad, th.grad))
    assert outs[1][0].flatten(0, 1).is_contiguous(memory_format=torch.channels_last)
    assert outs[1][1].flatten(0, 1).is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(outs[0][0], outs[1][0])
    torch.testing.assert_close(outs[1][1], outs[0][1])
    torch.testing.assert_close(outs[1][2], outs[0][2])
