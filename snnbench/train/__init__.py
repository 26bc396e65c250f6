"""Training: learning variants, optimiser and schedule, seeding, and the BPTT loop."""

from snnbench.train.evaluate import evaluate, loss_fn
from snnbench.train.loop import TrainHook, TrainingDiverged, fit, train_epoch
from snnbench.train.optim import build_optimizer, build_scheduler
from snnbench.train.seed import make_generator, seed_everything
from snnbench.train.variants import TRAINS, ParameterCounts, apply_variant, parameter_counts, split_parameters

__all__ = [
    "TRAINS",
    "ParameterCounts",
    "TrainHook",
    "TrainingDiverged",
    "apply_variant",
    "build_optimizer",
    "build_scheduler",
    "evaluate",
    "loss_fn",
    "fit",
    "make_generator",
    "parameter_counts",
    "seed_everything",
    "split_parameters",
    "train_epoch",
]
