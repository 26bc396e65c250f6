"""Spiking network models: time-first layers, a registry, and depth-parametrised families."""

from snnbench.models import families as _families  # noqa: F401  (registers the built-in families)
from snnbench.models.layers import (
    PopulationReadout,
    SeqDropout,
    SpikingNet,
    SpikingSequential,
    StepBatchNorm1d,
    StepBatchNorm2d,
    TimeFold,
)
from snnbench.models.registry import MODELS, create_model, register_model

__all__ = [
    "MODELS",
    "PopulationReadout",
    "SeqDropout",
    "SpikingNet",
    "SpikingSequential",
    "StepBatchNorm1d",
    "StepBatchNorm2d",
    "TimeFold",
    "create_model",
    "register_model",
]
