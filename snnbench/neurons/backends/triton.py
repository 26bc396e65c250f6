r"""Hand-written Triton kernels for the multi-step LIF on CUDA (LIF backend ``triton``).

Same math and the same saved state as :mod:`snnbench.neurons.backends.fused` (only ``z = v - theta`` is kept for
backward), but with no compile step: one program owns ``BLOCK`` neurons and walks all ``T`` steps in registers,
forward and backward. ``theta`` is read through ``n % F`` from a copy expanded to the feature shape only, so
per-neuron, per-channel and per-layer thresholds cost the same. The kernels are compiled with FP contraction off,
so ``tau * u + I`` rounds exactly like the reference and forward spikes match it bit for bit.

Offered (``available``) only for float32 CUDA tensors when ``triton`` imports and the surrogate is one of the
four built-in ones; anything else goes to ``fused``/``reference``. The kernels also run under Triton's CPU
interpreter (``TRITON_INTERPRET=1``), which is how they are tested on machines without a GPU.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from snnbench.neurons.backends.fused import lif_multistep_fused
from snnbench.neurons.functional import LIF_BACKENDS, LIFParameters
from snnbench.neurons.surrogate import ArcTan, Rectangular, Sigmoid, Surrogate, Triangle

try:  # pragma: no cover - depends on the installation
    import triton
    import triton.language as tl

    HAVE_TRITON = True
except Exception:  # ImportError, or a broken triton install
    triton = tl = None
    HAVE_TRITON = False

__all__ = ["HAVE_TRITON", "lif_multistep_triton", "triton_available"]

_SURROGATE_CODES = {ArcTan: 0, Sigmoid: 1, Rectangular: 2, Triangle: 3}
BLOCK = 1024


def _surrogate_code(s: Surrogate) -> int | None:
    return _SURROGATE_CODES.get(type(s))


if HAVE_TRITON:

    @triton.jit
    def _lif_fwd_kernel(x_ptr, theta_ptr, s_ptr, z_ptr, N, F, T, tau, BLOCK: tl.constexpr):
        offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < N
        th = tl.load(theta_ptr + offs % F, mask=mask, other=0.0)
        u = tl.zeros([BLOCK], dtype=tl.float32)
        x_ptrs = x_ptr + offs
        s_ptrs = s_ptr + offs
        z_ptrs = z_ptr + offs
        for _t in range(T):
            x = tl.load(x_ptrs, mask=mask, other=0.0)
            v = u * tau + x
            z = v - th
            fired = z >= 0
            tl.store(s_ptrs, fired.to(tl.float32), mask=mask)
            tl.store(z_ptrs, z, mask=mask)
            u = tl.where(fired, 0.0, v)
            x_ptrs += N
            s_ptrs += N
            z_ptrs += N

    @triton.jit
    def _lif_bwd_kernel(
        g_ptr,
        z_ptr,
        theta_ptr,
        gx_ptr,
        gz_sum_ptr,
        N,
        F,
        T,
        last,
        tau,
        alpha,
        SURROGATE: tl.constexpr,
        DETACH_RESET: tl.constexpr,
        BLOCK: tl.constexpr,
    ):
        offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < N
        th = tl.load(theta_ptr + offs % F, mask=mask, other=0.0)
        gu = tl.zeros([BLOCK], dtype=tl.float32)
        acc = tl.zeros([BLOCK], dtype=tl.float32)
        g_ptrs = g_ptr + last + offs
        z_ptrs = z_ptr + last + offs
        gx_ptrs = gx_ptr + last + offs
        for _i in range(T):
            z = tl.load(z_ptrs, mask=mask, other=0.0)
            g = tl.load(g_ptrs, mask=mask, other=0.0)
            if not DETACH_RESET:
                g = g - gu * (z + th)
            if SURROGATE == 0:  # arctan
                w = 1.5707963267948966 * alpha * z
                sg = (alpha / 2) / (1 + w * w)
            elif SURROGATE == 1:  # sigmoid
                sig = 1 / (1 + tl.exp(-alpha * z))
                sg = alpha * sig * (1 - sig)
            elif SURROGATE == 2:  # rectangular
                sg = tl.where(tl.abs(z) < alpha / 2, 1.0, 0.0) / alpha
            else:  # triangle
                sg = tl.maximum(1 - tl.abs(z) / alpha, 0.0) / alpha
            gz = g * sg
            acc += gz
            gv = tl.where(z >= 0, 0.0, gu) + gz
            tl.store(gx_ptrs, gv, mask=mask)
            gu = tau * gv
            g_ptrs -= N
            z_ptrs -= N
            gx_ptrs -= N
        tl.store(gz_sum_ptr + offs, -acc, mask=mask)


def _launch(kernel, n: int, *args, **consts) -> None:
    grid = (triton.cdiv(n, BLOCK),)
    try:
        kernel[grid](*args, BLOCK=BLOCK, enable_fp_fusion=False, **consts)
    except TypeError:  # a triton without the option (or the interpreter): contraction is then the default
        kernel[grid](*args, BLOCK=BLOCK, **consts)


def _theta_flat(theta: Tensor, step_shape: tuple[int, ...]) -> tuple[Tensor, int]:
    """``theta`` as a contiguous vector indexed by ``n % F`` over the flattened step ``[B, *features]``."""
    feat = step_shape[1:]
    if theta.dim() <= len(feat):
        flat = theta.expand(feat).contiguous().view(-1)
    else:  # theta also varies along the batch axis
        flat = theta.expand(step_shape).contiguous().view(-1)
    return flat, max(flat.numel(), 1)


class TritonLIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_seq: Tensor, theta: Tensor, p: LIFParameters) -> Tensor:  # type: ignore[override]
        x = x_seq.contiguous()
        T, N = x.shape[0], x[0].numel()
        th, F = _theta_flat(theta.detach(), tuple(x.shape[1:]))
        spikes = torch.empty_like(x)
        z = torch.empty_like(x)
        if N > 0 and T > 0:
            _launch(_lif_fwd_kernel, N, x, th, spikes, z, N, F, T, float(p.tau))
        ctx.save_for_backward(z, th, theta)
        ctx.p, ctx.F = p, F
        return spikes

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_spikes: Tensor) -> tuple[Tensor | None, Tensor | None, None]:  # type: ignore[override]
        z, th, theta = ctx.saved_tensors
        p = ctx.p
        g = grad_spikes.contiguous().to(z.dtype)
        T, N = z.shape[0], z[0].numel()
        gx = torch.empty_like(z)
        gz_sum = torch.empty_like(z[0])
        if N > 0 and T > 0:
            _launch(
                _lif_bwd_kernel,
                N,
                g,
                z,
                th,
                gx,
                gz_sum,
                N,
                ctx.F,
                T,
                (T - 1) * N,  # offset of the last step
                float(p.tau),
                float(p.surrogate.alpha),
                SURROGATE=_surrogate_code(p.surrogate),
                DETACH_RESET=bool(p.detach_reset),
            )
        need_x, need_theta = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        g_theta = gz_sum.sum_to_size(theta.shape) if need_theta else None
        return (gx if need_x else None), g_theta, None


def triton_supported(x_seq: Tensor, theta: Tensor, p: LIFParameters) -> bool:
    if not HAVE_TRITON or x_seq.dim() < 2 or _surrogate_code(p.surrogate) is None:
        return False
    if x_seq.dtype != torch.float32 or theta.dtype != torch.float32 or not math.isfinite(p.tau):
        return False
    step = tuple(x_seq.shape[1:])
    try:
        return torch.broadcast_shapes(tuple(theta.shape), step) == step
    except RuntimeError:
        return False


def triton_available(x_seq: Tensor) -> bool:
    """The registry predicate: float32 CUDA input and a working triton (the rest is checked per call)."""
    return HAVE_TRITON and x_seq.is_cuda and x_seq.dtype == torch.float32


def lif_multistep_triton(x_seq: Tensor, theta: Tensor, p: LIFParameters) -> Tensor:
    """Spikes ``[T, ...]`` from the Triton kernels; other cases go to the fused backend."""
    if not triton_supported(x_seq, theta, p):
        return lif_multistep_fused(x_seq, theta, p)
    return TritonLIF.apply(x_seq, theta, p)


LIF_BACKENDS.register("triton", available=triton_available, priority=20)(lif_multistep_triton)
