"""Measured GPU energy of a cell: one power window per training epoch and one for the inference pass
(:class:`~snnbench.measure.power.PowerMeter` windows), summed into per-cell joules.

``gpu_energy_j = sum_epochs E_epoch + E_inference``; per-sample figures divide by the samples each phase processed.
A window the meter could not measure has ``energy_j = None``; any missing window makes the sum None (with the
meter's reason), never 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from snnbench.measure.power import PowerMeter


class PowerWindows:
    """A fit hook that opens one power window per epoch; keeps every window's record."""

    def __init__(self, meter: PowerMeter) -> None:
        self.meter = meter
        self.windows: list[dict[str, Any]] = []

    def on_epoch_begin(self, epoch: int) -> None:
        self.meter.begin(f"epoch_{epoch}")

    def on_epoch_end(self, epoch: int, record: dict[str, Any]) -> None:
        window = self.meter.end(f"epoch_{epoch}").to_dict(json_safe=True)
        self.windows.append(window)
        record["gpu_energy_j"] = window["energy_j"]

    def measure(self, name: str, fn: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
        self.meter.begin(name)
        result = fn()
        window = self.meter.end(name).to_dict(json_safe=True)
        self.windows.append(window)
        return result, window


def power_metrics(windows: PowerWindows, train_samples: int, infer_samples: int) -> dict[str, Any]:
    """Measured GPU energy (``gpu_energy_j`` = training epochs + the inference pass); None (not 0) with the reason
    where the meter could not measure."""
    epochs = [w for w in windows.windows if w["name"].startswith("epoch_")]
    infer = next((w for w in windows.windows if w["name"] == "inference"), None)
    train_j = sum(w["energy_j"] for w in epochs) if epochs and all(w["energy_j"] is not None for w in epochs) else None
    infer_j = infer["energy_j"] if infer else None
    powers = [w["mean_power_w"] for w in windows.windows if w["mean_power_w"] is not None]
    peaks = [w["peak_power_w"] for w in windows.windows if w["peak_power_w"] is not None]
    return {
        "gpu_energy_j": train_j + infer_j if train_j is not None and infer_j is not None else None,
        "gpu_energy_train_j": train_j,
        "gpu_energy_infer_j": infer_j,
        "gpu_j_per_train_sample": train_j / train_samples if train_j is not None and train_samples else None,
        "gpu_j_per_infer_sample": infer_j / infer_samples if infer_j is not None and infer_samples else None,
        "gpu_mean_power_w": sum(powers) / len(powers) if powers else None,
        "gpu_peak_power_w": max(peaks) if peaks else None,
        "gpu_name": windows.meter.gpu_name,
        "power_method": windows.meter.method,
        "power_reason": windows.meter.reason,
    }
