"""Training: learning variants, optimiser and schedule, the loss, and the BPTT loop."""

from snnbench.train.loop import TrainHook, TrainingDiverged, fit, train_epoch
from snnbench.train.loss import loss_fn
from snnbench.train.optim import build_optimizer, build_scheduler
from snnbench.train.variants import TRAINS, ParameterCounts, apply_variant, parameter_counts, split_parameters

__all__ = [
    "TRAINS",
    "ParameterCounts",
    "TrainHook",
    "TrainingDiverged",
    "apply_variant",
    "build_optimizer",
    "build_scheduler",
    "loss_fn",
    "fit",
    "parameter_counts",
    "split_parameters",
    "train_epoch",
]
