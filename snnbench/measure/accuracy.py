"""Test-set accuracy and loss. Every call re-seeds the test encoding stream, so repeated evaluations see the same
spikes (:mod:`snnbench.seeds`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from snnbench.seeds import TEST_STREAM, TRANSFORM_OFFSET, make_generator
from snnbench.train.loss import loss_fn


def test_batch_size(train_spec) -> int:
    """Batch size of every test-split pass (per-epoch test accuracy, inference, energy, noise): the training batch,
    at least 100. One value everywhere, so each pass sees the same seeded encodings."""
    return max(train_spec.batch_size, 100)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    bundle,
    device: torch.device,
    *,
    seed: int,
    batch_size: int = 100,
    loss: str = "mse",
    input_transform: Callable[[Tensor, torch.Generator], Tensor] | None = None,
    return_outputs: bool = False,
) -> dict[str, Any]:
    """``test_acc`` (0–1), ``test_loss`` and ``test_output_firing_rate`` on the test split.

    ``test_output_firing_rate`` is the output layer's firing rate, spikes / (output neurons x T x samples): the mean
    of the class rates, which average each class's population over time. Exactly 0 means no output spike at all.

    ``input_transform(x, generator)`` alters each raw batch (images in [0, 1] or binned frames) before encoding,
    e.g. to add noise; it draws from its own generator so the encoding stream is the same as without it.
    """
    model.eval()
    encode_gen = make_generator(seed, TEST_STREAM, device)
    transform_gen = make_generator(seed, TEST_STREAM + TRANSFORM_OFFSET, device)
    correct, total, loss_sum, rate_sum = 0, 0, 0.0, 0.0
    all_rates, all_labels = [], []
    for x, y in bundle.loader("test", batch_size):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if input_transform is not None:
            x = input_transform(x, transform_gen)
        rates = model(bundle.to_input(x, encode_gen))
        loss_sum += float(loss_fn(rates, y, loss)) * len(y)
        correct += int((rates.argmax(1) == y).sum())
        rate_sum += float(rates.float().mean(1).sum())
        total += len(y)
        if return_outputs:
            all_rates.append(rates.float().cpu())
            all_labels.append(y.cpu())
    result: dict[str, Any] = {
        "test_acc": correct / total,
        "test_loss": loss_sum / total,
        "test_samples": total,
        "test_output_firing_rate": rate_sum / total,
    }
    if return_outputs:
        result.update(rates=torch.cat(all_rates), labels=torch.cat(all_labels))
    return result
