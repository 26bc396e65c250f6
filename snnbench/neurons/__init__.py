"""LIF neurons: pure functional dynamics, surrogate gradients, the module shell, and faster backends."""

from snnbench.neurons import backends  # noqa: F401  (registers the fused and Triton LIF backends)
from snnbench.neurons.functional import LIF_BACKENDS, LIFParameters, lif_multistep, lif_multistep_reference, lif_step
from snnbench.neurons.module import GRANULARITIES, LIF, threshold_shape
from snnbench.neurons.surrogate import SURROGATES, Surrogate, create_surrogate, heaviside

__all__ = [
    "GRANULARITIES",
    "LIF",
    "LIF_BACKENDS",
    "LIFParameters",
    "SURROGATES",
    "Surrogate",
    "create_surrogate",
    "heaviside",
    "lif_multistep",
    "lif_multistep_reference",
    "lif_step",
    "threshold_shape",
]
