"""Threshold dynamics during training: a :func:`~snnbench.train.fit` hook (``docs/energy.md``).

``ThresholdMonitor(model)`` records each LIF layer's threshold statistics at construction (``initial``) and, at the
end of every epoch, adds to the history record:

* ``record["thresholds"] = {layer: {"mean", "std", "min", "max", "drift"}}`` — statistics over the elements of
  ``theta`` (one per neuron, per channel or a single value, by granularity; population std, so 0 for one value);
  ``drift`` is the mean absolute change of theta since construction.
* ``record["firing_rates"] = {layer: rate}`` — the layer's firing rate over that epoch's **training** batches
  (spikes / (neurons × T) per sample, train mode: dropout active, thresholds moving during the epoch). Counted by
  running-counter probes attached in ``on_epoch_begin`` and removed in ``on_epoch_end``; forward passes in eval
  mode (the epoch's test evaluation) are not counted.

Construct the monitor before a checkpoint is restored into the model, so ``initial`` holds the init thresholds.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import Tensor, nn

from snnbench.measure.probes import Probes, attach_probes, lif_layers

__all__ = ["ThresholdMonitor", "theta_stats"]


def theta_stats(theta: Tensor, initial: Tensor | None = None) -> dict[str, float]:
    """``mean``, ``std`` (population), ``min``, ``max`` of a threshold tensor; ``drift`` = mean |theta - initial|."""
    t = theta.detach().to(torch.float64).flatten()
    stats = {
        "mean": float(t.mean()),
        "std": float(t.std(unbiased=False)),
        "min": float(t.min()),
        "max": float(t.max()),
    }
    if initial is not None:
        stats["drift"] = float((t - initial.to(t.device, torch.float64).flatten()).abs().mean())
    return stats


class ThresholdMonitor:
    """A fit hook (``on_epoch_begin`` / ``on_epoch_end``) recording threshold statistics and train-mode firing
    rates per LIF layer (see module docstring). ``initial``: ``{layer: {mean, std, min, max}}`` at construction."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.layers = lif_layers(model)
        self._theta0 = {name: m.theta.detach().clone() for name, m in self.layers}
        self.initial: dict[str, dict[str, float]] = {name: theta_stats(m.theta) for name, m in self.layers}
        self._context: AbstractContextManager[Probes] | None = None
        self._probes: Probes | None = None

    def thresholds(self) -> dict[str, dict[str, float]]:
        return {name: theta_stats(m.theta, self._theta0[name]) for name, m in self.layers}

    def on_epoch_begin(self, epoch: int) -> None:
        self._close()
        # spiking_input only affects synaptic layers, which are not counted here
        self._context = attach_probes(self.model, spiking_input=True, synaptic=False, detail=False, train_only=True)
        self._probes = self._context.__enter__()

    def on_epoch_end(self, epoch: int, record: dict[str, Any]) -> None:
        record["thresholds"] = self.thresholds()
        if self._probes is not None:
            record["firing_rates"] = self._probes.firing_rates()
        self._close()

    def _close(self) -> None:
        if self._context is not None:
            context, self._context, self._probes = self._context, None, None
            context.__exit__(None, None, None)

    def close(self) -> None:
        """Remove the probes if an epoch ended abnormally (also safe to call twice)."""
        self._close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown
            self._close()
