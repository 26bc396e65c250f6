r"""Fused multi-step LIF: all ``T`` steps in one autograd node, forward and backward.

The reference (:func:`snnbench.neurons.functional.lif_multistep_reference`) builds ``~6 T`` autograd nodes and
saves every intermediate. :class:`FusedLIF` runs the same recurrence

.. math::

    v[t] = \tau\, u[t-1] + I[t], \qquad z[t] = v[t] - \theta, \qquad s[t] = H(z[t]), \qquad u[t] = v[t] (1 - s[t])

as one :class:`torch.autograd.Function` and saves for backward only ``z = v - theta`` (one tensor the size of the
input) plus ``theta`` itself. Backward derives everything from ``z``: the spike ``s = z >= 0``, the surrogate
``g(z)`` and, only when the reset is not detached, the membrane ``v = z + theta``. Walking time backwards with
``gu`` the gradient reaching ``u[t]`` from step ``t + 1``:

.. math::

    \bar s[t] &= \partial L/\partial s[t] - [\text{reset not detached}]\; gu[t]\, v[t] \\
    gz[t] &= \bar s[t]\, g(z[t]) \\
    \partial L/\partial I[t] = gv[t] &= gu[t] (1 - s[t]) + gz[t], \qquad gu[t - 1] = \tau\, gv[t] \\
    \partial L/\partial \theta &= -\textstyle\sum_{t,\,\text{broadcast dims}} gz[t]

The ``theta`` gradient is summed down to ``theta``'s own shape (per neuron, per channel ``[C, 1, 1]`` or per layer
``()``), exactly what autograd does for the broadcast in the reference.

Two interchangeable implementations of each direction:

* ``compiled``: the whole time loop as one ``torch.compile`` (inductor) kernel per direction: one pass over memory
  (C++/OpenMP on CPU, Triton on CUDA). One compiled function per ``(surrogate, tau, detach_reset)`` and argument
  shape (see :func:`_compiled_fn`); a compile or run failure logs a warning once and falls back to eager for that
  key.
* ``eager``: the same loop with preallocated outputs and in-place ops (nothing to build, slower on large layers).

Both give bit-identical spikes and gradients; which one runs is measured per machine and shape
(:mod:`snnbench.neurons.backends.dispatch`).

Forward values equal the reference bit for bit (same operations in the same order: ``tau * u`` then ``+ I``, then
``- theta``, no fused multiply-add; the tests check the compiled kernels bit for bit with a tau that is not a
power of two), for finite inputs. The one deliberate difference: the
reset is ``v.masked_fill(s, 0)`` instead of ``v * (1 - s)``, which differs only when ``v`` is infinite (the
reference then yields ``inf * 0 = nan``). Gradients agree with the reference to fp32 rounding (the sums run in a
different order and ``v`` is recomputed as ``z + theta``).

Registered as LIF backend ``fused`` (see :data:`snnbench.neurons.functional.LIF_BACKENDS`).
"""

from __future__ import annotations

import logging
import types
from collections.abc import Callable

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from snnbench.neurons.backends.dispatch import choose, compile_enabled, ensure_kernel_cache, set_policy
from snnbench.neurons.functional import LIF_BACKENDS, LIFParameters, lif_multistep_reference
from snnbench.neurons.surrogate import Surrogate

__all__ = [
    "FusedLIF",
    "FusedLIFMaxPool2d",
    "compile_enabled",
    "fused_available",
    "lif_maxpool2d",
    "lif_multistep_fused",
    "set_compile",
]

log = logging.getLogger(__name__)


def set_compile(enabled: bool | None) -> None:
    """Compile always (``True``), never (``False``) or as measured (``None``, the default); see
    :func:`snnbench.neurons.backends.dispatch.set_policy`."""
    set_policy(enabled)


def fused_available(x_seq: Tensor) -> bool:
    """``fused`` runs anywhere the eager loop runs; it is offered for CPU and CUDA tensors."""
    return x_seq.device.type in ("cpu", "cuda")


# ----------------------------------------------------------------------------------------------------------------
# Functional forms (traced by torch.compile; also the exact definition of the math).


def _forward_step(x: Tensor, u: Tensor | None, theta: Tensor, tau: float) -> tuple[Tensor, Tensor, Tensor]:
    """One step: ``(z, fired, u_next)`` from input ``x`` and the membrane after the last reset ``u``."""
    v = x if u is None else tau * u + x
    z = v - theta
    fired = z >= 0
    return z, fired, v.masked_fill(fired, 0.0)


def _backward_step(
    g: Tensor, z: Tensor, theta: Tensor, gu: Tensor | None, surrogate: Surrogate, detach_reset: bool
) -> tuple[Tensor, Tensor]:
    """One step back: ``(gz, gv)`` from ``g = dL/ds[t]``, ``z[t]`` and ``gu = dL/du[t]`` (None at the last step)."""
    if gu is not None and not detach_reset:
        g = g - gu * (z + theta)
    gz = g * surrogate.grad(z)
    gv = gz if gu is None else gu.masked_fill(z >= 0, 0.0) + gz
    return gz, gv


def _make_forward(tau: float) -> Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]:
    def lif_fused_forward(x_seq: Tensor, theta: Tensor) -> tuple[Tensor, Tensor]:
        spikes, zs = [], []
        u = None
        for x in x_seq.unbind(0):
            z, fired, u = _forward_step(x, u, theta, tau)
            spikes.append(fired.to(z.dtype))
            zs.append(z)
        return torch.stack(spikes), torch.stack(zs)

    return lif_fused_forward


def _make_backward(surrogate: Surrogate, tau: float, detach_reset: bool) -> Callable[..., tuple[Tensor, Tensor]]:
    def lif_fused_backward(grad_spikes: Tensor, z_seq: Tensor, theta: Tensor) -> tuple[Tensor, Tensor]:
        gu = gz_sum = None
        grads_x = []
        for t in range(z_seq.shape[0] - 1, -1, -1):
            gz, gv = _backward_step(grad_spikes[t], z_seq[t], theta, gu, surrogate, detach_reset)
            gz_sum = gz if gz_sum is None else gz_sum + gz
            grads_x.append(gv)
            gu = tau * gv
        grads_x.reverse()
        return torch.stack(grads_x), -gz_sum

    return lif_fused_backward


# ----------------------------------------------------------------------------------------------------------------
# Eager forms: the same math with preallocated outputs and in-place updates.


def _forward_eager(x_seq: Tensor, theta: Tensor, tau: float, need_z: bool) -> tuple[Tensor, Tensor | None]:
    spikes = torch.empty_like(x_seq, memory_format=torch.contiguous_format)
    z_seq = torch.empty_like(spikes) if need_z else None
    u = None
    for t in range(x_seq.shape[0]):
        v = x_seq[t] if u is None else torch.mul(u, tau).add_(x_seq[t])
        z = torch.sub(v, theta, out=z_seq[t]) if z_seq is not None else v - theta
        fired = z >= 0
        spikes[t].copy_(fired)
        u = v.masked_fill(fired, 0.0)
    return spikes, z_seq


def _backward_eager(
    grad_spikes: Tensor, z_seq: Tensor, theta: Tensor, p: LIFParameters, need_x: bool, need_theta: bool
) -> tuple[Tensor | None, Tensor | None]:
    grad_x = torch.empty_like(z_seq) if need_x else None
    gz_sum = None
    gu = None
    for t in range(z_seq.shape[0] - 1, -1, -1):
        z = z_seq[t]
        g = grad_spikes[t]
        if gu is not None and not p.detach_reset:
            g = g - gu * (z + theta)
        gz = g * p.surrogate.grad(z)
        if need_theta:
            gz_sum = gz.clone() if gz_sum is None else gz_sum.add_(gz)
        gv = gz if gu is None else gu.masked_fill_(z >= 0, 0.0).add_(gz)
        if grad_x is not None:
            grad_x[t].copy_(gv)
        if t > 0:
            gu = gv * p.tau
    return grad_x, (gz_sum.neg_() if gz_sum is not None else None)


# ----------------------------------------------------------------------------------------------------------------
# Compiled kernels, one per key (direction, surrogate, tau, reset) and argument shape. Each gets its own code object
# so that torch.compile keeps a separate cache (and recompile limit) for it instead of sharing one.

_compiled: dict[tuple, dict[tuple, Callable]] = {}  # key -> {shape signature (or "dynamic") -> compiled function}
_failed: set[tuple] = set()
MAX_STATIC_SHAPES = 16  # per key; further shapes share one kernel compiled with symbolic sizes


def _own_code(fn: Callable, tag: str) -> Callable:
    code = fn.__code__.replace(co_name=f"{fn.__name__}_{tag}")
    return types.FunctionType(code, fn.__globals__, code.co_name, fn.__defaults__, fn.__closure__)


def _surrogate_key(s: Surrogate) -> tuple:
    return (type(s).__qualname__, s.name, float(s.alpha))


def _signature(args: tuple[Tensor, ...]) -> tuple:
    return tuple((tuple(a.shape), a.stride(), a.dtype, a.device) for a in args)


def _compiled_fn(key: tuple, make: Callable[[], Callable], args: tuple[Tensor, ...]) -> Callable | None:
    """The compiled kernel of ``key`` for these argument shapes.

    Every shape gets its own static kernel (own code object, so its own dynamo cache): static sizes let inductor
    unroll and vectorise the window and time loops, which it does not do with the symbolic sizes dynamo switches
    to when one function meets a second shape (the reference network's first-layer LIF + max-pool backward then
    ran about 2x slower).
    Past :data:`MAX_STATIC_SHAPES` shapes of one key, one kernel with symbolic sizes serves the rest.
    """
    if key in _failed:
        return None
    kernels = _compiled.setdefault(key, {})
    sig = _signature(args)
    fn = kernels.get(sig)
    if fn is None:
        ensure_kernel_cache()
        if len(kernels) < MAX_STATIC_SHAPES:
            tag = f"{len(_compiled)}_{len(kernels)}"
            fn = kernels[sig] = torch.compile(_own_code(make(), tag), dynamic=False)
        else:
            fn = kernels.get("dynamic")
            if fn is None:
                fn = kernels["dynamic"] = torch.compile(_own_code(make(), f"{len(_compiled)}_dyn"), dynamic=True)
    return fn


def _run_compiled(key: tuple, make: Callable[[], Callable], *args: Tensor) -> tuple | None:
    # plain tensors, never nn.Parameter (dynamo would guard on the parameter object itself)
    args = tuple(a.detach() if isinstance(a, torch.nn.Parameter) else a for a in args)
    fn = _compiled_fn(key, make, args)
    if fn is None:
        return None
    try:
        return fn(*args)
    except Exception as exc:  # compiler missing, unsupported op, ...: fall back to eager for good
        _failed.add(key)
        log.warning(
            "fused LIF: torch.compile failed for %s, using the eager loop (%s: %s)", key, type(exc).__name__, exc
        )
        return None


def _forward(x_seq: Tensor, theta: Tensor, tau: float, need_z: bool, compiled: bool) -> tuple[Tensor, Tensor | None]:
    if compiled and not torch.compiler.is_compiling():
        out = _run_compiled(("fwd", float(tau)), lambda: _make_forward(tau), x_seq, theta)
        if out is not None:
            return out
    if torch.compiler.is_compiling():
        return _make_forward(tau)(x_seq, theta)
    return _forward_eager(x_seq, theta, tau, need_z)


def _backward(
    grad_spikes: Tensor, z_seq: Tensor, theta: Tensor, p: LIFParameters, need_x: bool, need_theta: bool, compiled: bool
) -> tuple[Tensor | None, Tensor | None]:
    if compiled and not torch.compiler.is_compiling():
        key = ("bwd", _surrogate_key(p.surrogate), float(p.tau), bool(p.detach_reset))
        out = _run_compiled(key, lambda: _make_backward(p.surrogate, p.tau, p.detach_reset), grad_spikes, z_seq, theta)
        if out is not None:
            return out[0] if need_x else None, out[1] if need_theta else None
    if torch.compiler.is_compiling():
        gx, gth = _make_backward(p.surrogate, p.tau, p.detach_reset)(grad_spikes, z_seq, theta)
        return gx if need_x else None, gth if need_theta else None
    return _backward_eager(grad_spikes, z_seq, theta, p, need_x, need_theta)


def _theta_grad(gz_neg_sum: Tensor, theta_shape: torch.Size) -> Tensor:
    """``dL/dtheta`` from ``-sum_t gz`` per sample, ``[B, *features]``: summed over the batch, then over the
    dimensions ``theta`` broadcasts along. One order of summation for every path, so they agree bit for bit."""
    return gz_neg_sum.sum(0).sum_to_size(theta_shape)


# ----------------------------------------------------------------------------------------------------------------
# Path choice: eager or compiled, per signature, by measurement (snnbench.neurons.backends.dispatch). A trial runs the
# op on fresh random inputs of the caller's shapes, strides and dtypes, from a private generator.


def _call_signature(op: str, x_seq: Tensor, theta: Tensor, p: LIFParameters, grad: bool) -> str:
    shape = "x".join(map(str, x_seq.shape))
    layout = "" if x_seq.is_contiguous() else f" strides {tuple(x_seq.stride())}"
    dtypes = str(x_seq.dtype).removeprefix("torch.")
    if theta.dtype != x_seq.dtype:
        dtypes += "/" + str(theta.dtype).removeprefix("torch.")
    theta_shape = "x".join(map(str, theta.shape)) or "scalar"
    mode = "train" if grad else "infer"
    return f"{op} {x_seq.device.type} [{shape}]{layout} {dtypes} theta [{theta_shape}] {p.surrogate.name} {mode}"


def _trial(fn: Callable[..., Tensor], x_seq: Tensor, theta: Tensor, p: LIFParameters, grad: bool):
    """``run(compiled)``: one call of ``fn`` on random inputs shaped, strided and typed as this call's (built on the
    first run: most calls only look their decision up)."""
    shape, stride, device, dtype = x_seq.shape, x_seq.stride(), x_seq.device, x_seq.dtype
    theta_shape, theta_dtype, theta_grad = theta.shape, theta.dtype, theta.requires_grad
    inputs: list[Tensor] = []

    def run(compiled: bool) -> None:
        if not inputs:
            gen = torch.Generator(device=device).manual_seed(0)
            x = torch.empty_strided(shape, stride, device=device, dtype=dtype).normal_(generator=gen)
            th = 1.0 + 0.5 * torch.randn(theta_shape, generator=gen, device=device)
            inputs.extend((x, th.to(theta_dtype)))
        with torch.enable_grad() if grad else torch.no_grad():
            xr = inputs[0].clone().requires_grad_(grad)
            tr = inputs[1].clone().requires_grad_(grad and theta_grad)
            y = fn(xr, tr, p, compiled)
            if grad:
                y.backward(torch.ones_like(y))

    return run


def _use_compiled(op: str, fn: Callable[..., Tensor], x_seq: Tensor, theta: Tensor, p: LIFParameters) -> bool:
    """Whether ``op`` runs compiled for this call's signature (False while being traced by torch.compile)."""
    if torch.compiler.is_compiling() or not compile_enabled(x_seq.device.type):
        return False
    grad = torch.is_grad_enabled() and (x_seq.requires_grad or theta.requires_grad)
    signature = _call_signature(op, x_seq, theta, p, grad)
    return choose(signature, x_seq.device, _trial(fn, x_seq, theta, p, grad), "train" if grad else "infer")


# ----------------------------------------------------------------------------------------------------------------


class FusedLIF(torch.autograd.Function):
    """Multi-step LIF as one autograd node; saves only ``z = v - theta`` (and ``theta``) for backward."""

    @staticmethod
    def forward(ctx, x_seq: Tensor, theta: Tensor, p: LIFParameters, compiled: bool) -> Tensor:  # type: ignore[override]
        x_dtype = x_seq.dtype
        dtype = torch.result_type(x_seq, theta)
        spikes, z_seq = _forward(x_seq.to(dtype), theta.to(dtype), p.tau, need_z=True, compiled=compiled)
        ctx.save_for_backward(z_seq, theta)
        ctx.p = p
        ctx.compiled = compiled
        ctx.x_dtype = x_dtype
        return spikes

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_spikes: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:  # type: ignore[override]
        z_seq, theta = ctx.saved_tensors
        need_x, need_theta = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        gx, gz_neg_sum = _backward(
            grad_spikes.to(z_seq.dtype), z_seq, theta.to(z_seq.dtype), ctx.p, need_x, need_theta, ctx.compiled
        )
        if gx is not None:
            gx = gx.to(ctx.x_dtype)
        g_theta = _theta_grad(gz_neg_sum, theta.shape).to(theta.dtype) if gz_neg_sum is not None else None
        return gx, g_theta, None, None


def _channels_last_5d(x_seq: Tensor) -> bool:
    """``[T, B, C, H, W]`` stored channels-last (and not also contiguous, as when C == 1 or H == W == 1)."""
    return x_seq.dim() == 5 and not x_seq.is_contiguous() and x_seq.permute(0, 1, 3, 4, 2).is_contiguous()


def _lif(x_seq: Tensor, theta: Tensor, p: LIFParameters, compiled: bool) -> Tensor:
    """The fused LIF on the given path (``x_seq`` in its physical layout, ``theta`` broadcasting to one step)."""
    if torch.is_grad_enabled() and (x_seq.requires_grad or theta.requires_grad):
        return FusedLIF.apply(x_seq, theta, p, compiled)
    dtype = torch.result_type(x_seq, theta)
    with torch.no_grad():
        return _forward(x_seq.to(dtype), theta.to(dtype), p.tau, need_z=False, compiled=compiled)[0]


def _lif_any_layout(x_seq: Tensor, theta: Tensor, p: LIFParameters, compiled: bool | None = None) -> Tensor:
    step_shape = tuple(x_seq.shape[1:])
    if x_seq.dim() < 2 or torch.broadcast_shapes(tuple(theta.shape), step_shape) != step_shape:
        return lif_multistep_reference(x_seq, theta, p)[0]  # theta would widen the output: keep the oracle's result
    if _channels_last_5d(x_seq) and theta.dim() <= 3:
        # run on the physical [T, B, H, W, C] order so spikes and gradients keep the input's channels-last layout
        # (contiguous NCHW outputs behind channels-last BatchNorm made its backward ~6x slower)
        return _lif_any_layout(x_seq.permute(0, 1, 3, 4, 2), _theta_hwc(theta), p, compiled).permute(0, 1, 4, 2, 3)
    if compiled is None:
        compiled = _use_compiled("lif", _lif, x_seq, theta, p)
    return _lif(x_seq, theta, p, compiled)


def lif_multistep_fused(x_seq: Tensor, theta: Tensor, p: LIFParameters) -> Tensor:
    """Spikes ``[T, ...]``; same contract as :func:`~snnbench.neurons.functional.lif_multistep_reference`.
    Eager or compiled as measured for this shape (:mod:`snnbench.neurons.backends.dispatch`)."""
    return _lif_any_layout(x_seq, theta, p)


# ----------------------------------------------------------------------------------------------------------------
# LIF followed by a 2x2/stride-2 max-pool over the spikes, as compiled kernels (conv-BN-LIF-pool blocks): forward
# = membrane kernel + pool kernel, backward = one kernel.
# The kernels work channels-last, ``[T, B, H, W, C]``: a pooling window is then four rows of C contiguous values, so
# every window operation vectorises over channels. They save the same ``z`` as FusedLIF (channels-last) and never
# materialise the full-resolution spikes or the pool's indices. Max-pool routes a window's gradient to its first
# maximum in row-major order (PyTorch's rule): the first spiking neuron of the window, or the window's first
# neuron when none spikes. Inputs may come in either layout; outputs (pooled spikes, input gradient) are
# channels-last, which the next convolution takes as is.


def _windows(fired: Tensor) -> Tensor:
    """``[B, H, W, C] -> [B, H/2, 2, W/2, 2, C]``: window row on dim 2, window column on dim 4."""
    B, H, W, C = fired.shape
    return fired.reshape(B, H // 2, 2, W // 2, 2, C)


def _window_any(w: Tensor) -> tuple[Tensor, Tensor]:
    """``(any spike in the window's first row, any spike in the window)``, each ``[B, H/2, 1, W/2, 1, C]``."""
    row0 = w[:, :, :1, :, :1] | w[:, :, :1, :, 1:]
    row1 = w[:, :, 1:, :, :1] | w[:, :, 1:, :, 1:]
    return row0, row0 | row1


def _theta_hwc(theta: Tensor) -> Tensor:
    """A threshold of shape ``[C|1, H|1, W|1]`` (or fewer leading dims) as a contiguous ``[H|1, W|1, C|1]``."""
    theta = theta.reshape((1,) * (3 - theta.dim()) + tuple(theta.shape))
    return theta.permute(1, 2, 0).contiguous()


def _make_pool_membrane(tau: float) -> Callable[[Tensor, Tensor], Tensor]:
    """``z = v - theta`` of every step, channels-last ``[T, B, H, W, C]`` (the pool is a second, cheap kernel:
    one fused kernel for both recomputed the recurrence per window and ran at half the speed)."""

    def lif_pool_membrane(x_seq: Tensor, theta_hwc: Tensor) -> Tensor:
        dtype = torch.promote_types(x_seq.dtype, theta_hwc.dtype)  # as the reference: bf16 input, fp32 theta -> fp32
        zs = []
        u = None
        for x in x_seq.permute(0, 1, 3, 4, 2).to(dtype).contiguous().unbind(0):
            z, _, u = _forward_step(x, u, theta_hwc, tau)
            zs.append(z)
        return torch.stack(zs)

    return lif_pool_membrane


def _make_spike_pool(dtype: torch.dtype) -> Callable[[Tensor], Tensor]:
    def spike_maxpool(z_seq: Tensor) -> Tensor:
        T, B, H, W, C = z_seq.shape
        fired = (z_seq >= 0).reshape(T * B, H, W, C)
        pooled = _window_any(_windows(fired))[1].reshape(T, B, H // 2, W // 2, C)
        return pooled.to(dtype).permute(0, 1, 4, 2, 3)

    return spike_maxpool


def _lif_pool_forward(x_seq: Tensor, theta_hwc: Tensor, tau: float) -> tuple[Tensor, Tensor]:
    """``(pooled spikes [T, B, C, H/2, W/2] channels-last in x's dtype, z [T, B, H, W, C])`` by the compiled
    kernels."""
    z_seq = _run_compiled(("pool_z", float(tau)), lambda: _make_pool_membrane(tau), x_seq, theta_hwc)
    dtype = x_seq.dtype
    make = lambda: _make_spike_pool(dtype)  # noqa: E731
    pooled = _run_compiled(("pool_spikes", dtype), make, z_seq) if z_seq is not None else None
    if pooled is None:
        raise RuntimeError("compiled LIF+max-pool unavailable")
    return pooled, z_seq


def _make_pool_backward(
    surrogate: Surrogate, tau: float, detach_reset: bool, grad_dtype: torch.dtype
) -> Callable[..., tuple[Tensor, Tensor]]:
    def lif_pool_backward(grad_pooled: Tensor, z_seq: Tensor, theta_hwc: Tensor) -> tuple[Tensor, Tensor]:
        T, B, H, W, C = z_seq.shape
        g_windows = grad_pooled.permute(0, 1, 3, 4, 2).to(z_seq.dtype).reshape(T, B, H // 2, 1, W // 2, 1, C)
        second = torch.arange(2, device=z_seq.device) == 1
        in_row1, in_col1 = second.view(2, 1, 1, 1), second.view(2, 1)
        first_cell = ~in_row1 & ~in_col1
        gu = gz_sum = None
        grads_x = []
        for t in range(T - 1, -1, -1):
            z = z_seq[t]
            w = _windows(z >= 0)
            row0, any_spike = _window_any(w)
            earlier = (row0 & in_row1) | (w[:, :, :, :, :1] & in_col1)  # a spike before this cell, row-major
            routed = (w & ~earlier) | (~any_spike & first_cell)
            g = (routed.to(z.dtype) * g_windows[t]).reshape(B, H, W, C)
            gz, gv = _backward_step(g, z, theta_hwc, gu, surrogate, detach_reset)
            gz_sum = gz if gz_sum is None else gz_sum + gz
            grads_x.append(gv)
            gu = tau * gv
        grads_x.reverse()
        # -sum_t gz per sample, [B, H, W, C]: the batch sum runs outside (inductor would otherwise keep every
        # step's gz for a separate reduction loop)
        return torch.stack(grads_x).to(grad_dtype).permute(0, 1, 4, 2, 3), -gz_sum

    return lif_pool_backward


class FusedLIFMaxPool2d(torch.autograd.Function):
    """``max_pool2d(LIF(x), 2)`` per time step as one autograd node (compiled kernels only)."""

    @staticmethod
    def forward(ctx, x_seq: Tensor, theta: Tensor, p: LIFParameters) -> Tensor:  # type: ignore[override]
        theta_hwc = _theta_hwc(theta.detach())
        pooled, z_seq = _lif_pool_forward(x_seq, theta_hwc, p.tau)
        ctx.save_for_backward(z_seq, theta_hwc)
        ctx.p = p
        ctx.theta_shape = theta.shape
        ctx.x_dtype = x_seq.dtype
        return pooled

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_pooled: Tensor) -> tuple[Tensor | None, Tensor | None, None]:  # type: ignore[override]
        z_seq, theta_hwc = ctx.saved_tensors
        p = ctx.p
        key = ("pool_bwd", _surrogate_key(p.surrogate), float(p.tau), bool(p.detach_reset), ctx.x_dtype)
        make = lambda: _make_pool_backward(p.surrogate, p.tau, p.detach_reset, ctx.x_dtype)  # noqa: E731
        out = _run_compiled(key, make, grad_pooled, z_seq, theta_hwc)
        if out is None:
            raise RuntimeError("compiled LIF+max-pool backward unavailable")
        gx, g_theta = out
        need_x, need_theta = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if need_theta:  # [B, H, W, C] summed down to theta's own shape, as FusedLIF does on channels-last input
            g_theta = _theta_grad(g_theta, theta_hwc.shape).permute(2, 0, 1).reshape(ctx.theta_shape)
        return (gx if need_x else None), (g_theta if need_theta else None), None


def _pool_steps(spikes: Tensor, dtype: torch.dtype) -> Tensor:
    """``max_pool2d(·, 2)`` of every step of ``[T, B, C, H, W]`` spikes, in ``dtype``."""
    T, B = spikes.shape[:2]
    return torch.nn.functional.max_pool2d(spikes.flatten(0, 1), 2).unflatten(0, (T, B)).to(dtype)


def _lif_pool_eager(x_seq: Tensor, theta: Tensor, p: LIFParameters) -> Tensor:
    """The eager path: the fused LIF on channels-last input (the layout the compiled kernels use, so the threshold
    gradient is summed in the same order), then ``max_pool2d``."""
    if not _channels_last_5d(x_seq):
        x_seq = x_seq.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
    return _pool_steps(_lif_any_layout(x_seq, theta, p, compiled=False), x_seq.dtype)


def _lif_pool(x_seq: Tensor, theta: Tensor, p: LIFParameters, compiled: bool) -> Tensor:
    if compiled:
        try:
            if torch.is_grad_enabled() and (x_seq.requires_grad or theta.requires_grad):
                return FusedLIFMaxPool2d.apply(x_seq, theta, p)
            return _lif_pool_forward(x_seq, _theta_hwc(theta.detach()), p.tau)[0]
        except RuntimeError as exc:
            if "compiled LIF+max-pool" not in str(exc):
                raise
    return _lif_pool_eager(x_seq, theta, p)


def lif_maxpool2d(x_seq: Tensor, theta: Tensor, p: LIFParameters) -> Tensor:
    """``max_pool2d(spikes, 2)`` of a LIF layer, ``[T, B, C, H, W] -> [T, B, C, H/2, W/2]``.

    Two paths, chosen per shape by measurement (:mod:`snnbench.neurons.backends.dispatch`), with bit-identical
    values and gradients: the compiled channels-last kernels (CPU or CUDA, even ``H`` and ``W``), or the eager fused
    LIF followed by ``max_pool2d``. The result is channels-last either way. Spikes come back in the input's dtype
    (0 and 1 are exact in all of them). As in the reference, a bf16/fp16 input with an fp32 threshold runs the
    dynamics in fp32; its gradient is computed in fp32, returned in the input's dtype.
    """
    poolable = (
        x_seq.dim() == 5
        and x_seq.shape[-1] % 2 == 0
        and x_seq.shape[-2] % 2 == 0
        and theta.dim() <= 3
        and x_seq.is_floating_point()
        and theta.is_floating_point()
        and torch.broadcast_shapes(tuple(theta.shape), tuple(x_seq.shape[2:])) == tuple(x_seq.shape[2:])
    )
    if not poolable:
        return _pool_steps(lif_multistep_fused(x_seq, theta, p), x_seq.dtype)
    return _lif_pool(x_seq, theta, p, _use_compiled("lif_pool", _lif_pool, x_seq, theta, p))


LIF_BACKENDS.register("fused", available=fused_available, priority=10)(lif_multistep_fused)
