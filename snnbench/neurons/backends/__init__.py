"""Faster multi-step LIF implementations. Importing this package registers them in
:data:`snnbench.neurons.functional.LIF_BACKENDS`, where ``backend="auto"`` picks the available one with the highest
priority: ``triton`` (20, float32 CUDA tensors) then ``fused`` (10, CPU or CUDA); ``reference`` is the fallback.
Each must match the reference in forward values and in input/threshold gradients."""

from snnbench.neurons.backends import fused, triton  # noqa: F401  (register the backends)
from snnbench.neurons.backends.fused import compile_enabled, lif_maxpool2d, lif_multistep_fused, set_compile

__all__ = ["compile_enabled", "lif_maxpool2d", "lif_multistep_fused", "set_compile"]
