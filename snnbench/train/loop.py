"""Training by backpropagation through time (BPTT) with surrogate gradients.

Each epoch: shuffle (seeded), encode each batch on the device, forward all T steps, loss on the class rates,
backward through time, optimiser step; then step the ExponentialLR schedule and evaluate on the test split.
Hooks see every epoch's start and end (energy probes and power windows attach here). After each epoch,
:func:`~snnbench.train.divergence.check_epoch` raises :class:`TrainingDiverged` when a parameter or optimiser state
is no longer finite or the network went silent, so a diverged cell fails instead of being stored as done.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch
from torch import nn

from snnbench.seeds import TRAIN_STREAM, make_generator, shuffle_seed
from snnbench.train.divergence import TrainingDiverged, check_epoch
from snnbench.train.loss import loss_fn
from snnbench.train.optim import build_optimizer, build_scheduler
from snnbench.train.variants import apply_variant


class TrainHook(Protocol):
    def on_epoch_begin(self, epoch: int) -> None: ...

    def on_epoch_end(self, epoch: int, record: dict[str, Any]) -> None: ...


BatchCallback = Callable[[int, int, float, float], None]  # (batch_index, num_batches, loss, accuracy)


def train_epoch(
    model: nn.Module,
    bundle,
    optimizer: torch.optim.Optimizer,
    spec,
    device: torch.device,
    *,
    seed: int,
    epoch: int,
    generator: torch.Generator,
    on_batch: BatchCallback | None = None,
    input_transform: Callable | None = None,
) -> dict[str, float]:
    """One pass over the shuffled training split: each batch is augmented (``bundle.augment_train``, ``data.augment``),
    then ``input_transform(x, generator)`` (e.g. noise) runs, then encoding."""
    model.train()
    loader = bundle.loader("train", spec.batch_size, shuffle=True, seed=shuffle_seed(seed, epoch))
    loss_sum, correct, total = 0.0, 0, 0
    for i, (x, y) in enumerate(loader):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        x = bundle.augment_train(x, generator)
        if input_transform is not None:
            x = input_transform(x, generator)
        rates = model(bundle.to_input(x, generator))
        loss = loss_fn(rates, y, spec.loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if spec.grad_clip:
            nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], spec.grad_clip)
        optimizer.step()
        batch_loss = float(loss.detach())
        if not math.isfinite(batch_loss):
            raise TrainingDiverged(f"the loss became {batch_loss} in batch {i + 1}", epoch=epoch)
        batch_correct = int((rates.argmax(1) == y).sum())
        loss_sum += batch_loss * len(y)
        correct += batch_correct
        total += len(y)
        if on_batch is not None:
            on_batch(i, len(loader), batch_loss, batch_correct / len(y))
    return {"train_loss": loss_sum / total, "train_acc": correct / total, "train_samples": total}


def training_state(model, optimizer, scheduler, generator, history) -> dict[str, Any]:
    """Everything needed to continue training exactly: weights, optimiser, schedule, random streams, history."""
    return {
        "epoch": len(history),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generator": generator.get_state(),
        "history": history,
    }


def restore_state(state: dict[str, Any], model, optimizer, scheduler, generator) -> list[dict[str, Any]]:
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng_cpu"])
    if state["rng_cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng_cuda"])
    generator.set_state(state["generator"])
    return list(state["history"])


def fit(
    model: nn.Module,
    bundle,
    spec,
    device: torch.device,
    *,
    seed: int,
    hooks: Sequence[TrainHook] = (),
    on_batch: BatchCallback | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    checkpoint: Callable[[dict[str, Any]], None] | None = None,
    resume: dict[str, Any] | None = None,
    input_transform: Callable | None = None,
    evaluate: Callable[[nn.Module], dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Train ``model`` for ``spec.epochs`` epochs under ``spec.variant``; return the per-epoch history.

    ``evaluate(model)`` measures the model after each epoch (the runner passes the test-split accuracy); its
    entries join the epoch's record.

    After each epoch ``checkpoint(state)`` receives :func:`training_state`; passing such a state as ``resume``
    continues from the epoch after it and gives the same result as an uninterrupted run (CPU, deterministic).
    """
    trainable = apply_variant(model, spec.variant, spec.bn_affine)
    optimizer = build_optimizer(trainable, spec)
    scheduler = build_scheduler(optimizer, spec)
    generator = make_generator(seed, TRAIN_STREAM, device)
    history: list[dict[str, Any]] = []
    if resume is not None:
        history = restore_state(resume, model, optimizer, scheduler, generator)
    for epoch in range(len(history) + 1, spec.epochs + 1):
        for hook in hooks:
            hook.on_epoch_begin(epoch)
        lr = optimizer.param_groups[0]["lr"]
        start = time.perf_counter()
        train = train_epoch(
            model, bundle, optimizer, spec, device, seed=seed, epoch=epoch, generator=generator, on_batch=on_batch,
            input_transform=input_transform,
        )  # fmt: skip
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_time_s = time.perf_counter() - start
        scheduler.step()
        record: dict[str, Any] = {
            "epoch": epoch,
            "lr": lr,
            **train,
            "train_time_s": train_time_s,
            "train_samples_per_s": train["train_samples"] / train_time_s,
            **(evaluate(model) if evaluate is not None else {}),
        }
        check_epoch(model, optimizer, record, history)  # before any hook or checkpoint keeps a diverged state
        for hook in hooks:
            hook.on_epoch_end(epoch, record)
        history.append(record)
        if checkpoint is not None:
            checkpoint(training_state(model, optimizer, scheduler, generator, history))
        if on_epoch is not None:
            on_epoch(record)
    return history
