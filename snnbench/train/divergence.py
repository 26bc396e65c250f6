"""Divergence checks run after every epoch: a diverged network is a failed cell, never a "done" one at chance.

A loss can stay finite while the network is already lost: once a weight or threshold is NaN, the layer's membrane
``u[t] = tau u[t-1] + I[t]`` is NaN, ``H(u - theta)`` is 0 everywhere, the output rates are 0 and the MSE against
one-hot stays exactly ``1 / classes``. So after each epoch:

* every floating tensor the training owns — parameters, floating buffers (BatchNorm running statistics) and the
  optimiser state (Adam moments, SGD momentum) — must be finite; the check is one fused reduction per device and
  one host sync (the slow search for the culprit runs only on failure);
* a network whose output layer fired on an earlier epoch's test pass must still fire on this one: an output firing
  rate of exactly 0 over the whole test split (no spike of any output neuron at any step) after having spiked is
  divergence too.

Either raises :class:`TrainingDiverged` naming the epoch and the first non-finite tensor or the silence.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from snnbench.errors import SnnbenchError

DIVERGED_HINT = "lower train.lr or set train.grad_clip"


class TrainingDiverged(SnnbenchError):
    """Training diverged: a non-finite loss, parameter or optimiser state, or a network gone silent.

    ``epoch`` is the epoch it happened in and ``reason`` the short cause (also in the message)."""

    def __init__(self, reason: str, *, epoch: int, hint: str | None = DIVERGED_HINT) -> None:
        super().__init__(f"training diverged in epoch {epoch}: {reason}", hint=hint)
        self.epoch = epoch
        self.reason = reason


def named_training_tensors(model: nn.Module, optimizer: torch.optim.Optimizer) -> Iterator[tuple[str, torch.Tensor]]:
    """``(description, tensor)`` of every floating parameter, buffer and optimiser-state tensor, in model order."""
    names = {}
    for name, param in model.named_parameters():
        names[id(param)] = name
        yield f"parameter '{name}'", param.detach()
    for name, buffer in model.named_buffers():
        if buffer.is_floating_point():
            yield f"buffer '{name}'", buffer
    for param, state in optimizer.state.items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.is_floating_point():
                yield f"optimizer state '{key}' of '{names.get(id(param), '?')}'", value


def all_finite(tensors: Sequence[torch.Tensor]) -> bool:
    """Whether every element of every tensor is finite: one reduction per device, one host sync per device."""
    by_device: dict[torch.device, list[torch.Tensor]] = {}
    for t in tensors:
        by_device.setdefault(t.device, []).append(t)
    return all(bool(torch.stack([torch.isfinite(t).all() for t in ts]).all()) for ts in by_device.values())


def first_non_finite(model: nn.Module, optimizer: torch.optim.Optimizer) -> str | None:
    """Description of the first tensor with a NaN or infinite element, or None when all are finite."""
    named = list(named_training_tensors(model, optimizer))
    if all_finite([t for _, t in named]):
        return None
    return next(name for name, t in named if not bool(torch.isfinite(t).all()))


def check_epoch(
    model: nn.Module, optimizer: torch.optim.Optimizer, record: dict[str, Any], history: Sequence[dict[str, Any]]
) -> None:
    """Raise :class:`TrainingDiverged` if epoch ``record['epoch']`` left non-finite state or a silent network."""
    epoch = record["epoch"]
    culprit = first_non_finite(model, optimizer)
    if culprit is not None:
        raise TrainingDiverged(f"{culprit} is not finite (NaN or inf)", epoch=epoch)
    rate = record.get("test_output_firing_rate")
    spiked_before = next((r["epoch"] for r in reversed(history) if r.get("test_output_firing_rate", 0.0) > 0), None)
    if rate == 0.0 and spiked_before is not None:
        raise TrainingDiverged(
            f"the network went silent (no output spike on the test split; it spiked in epoch {spiked_before})",
            epoch=epoch,
        )
