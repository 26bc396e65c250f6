"""The metric catalogue: every per-cell metric snnbench stores, with its unit, meaning and which end is better.

The per-cell table (``snnbench report --format csv``), the report's column headers and best-value marks, and
``docs/metrics.md`` all come from :data:`METRICS` (a test checks the doc against :func:`markdown_table`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """One stored metric: ``name`` (the ``metrics.json`` key and csv column), a short ``label`` for table headers,
    its ``unit``, a ``description``, and ``better`` (``higher`` | ``lower`` | None when neither end is better).
    ``measured``: a hardware measurement that can be unavailable (NaN with a reason), never estimated."""

    name: str
    label: str
    unit: str
    description: str
    better: str | None = None
    measured: bool = False

    @property
    def header(self) -> str:
        return self.label if self.unit == self.label else f"{self.label} ({self.unit})"

    @property
    def best(self) -> str | None:
        """``max`` / ``min`` for the report's best-value marks."""
        return {"higher": "max", "lower": "min"}.get(self.better or "")


_ALL = [
    # accuracy and training
    Metric("test_acc", "test accuracy", "0–1", "final test accuracy (clean test split)", "higher"),
    Metric("best_test_acc", "best test accuracy", "0–1", "best per-epoch test accuracy", "higher"),
    Metric("test_loss", "test loss", "loss", "final test loss (the training loss on the test split)", "lower"),
    Metric("train_acc", "train accuracy", "0–1", "training accuracy of the last epoch", "higher"),
    Metric("epochs", "epochs", "epochs", "epochs trained"),
    Metric("T", "T", "steps", "time steps per sample"),
    Metric("train_samples", "train samples", "samples", "training samples processed over all epochs"),
    Metric("train_time_s", "train time", "s", "wall time of all training epochs", "lower"),
    Metric("train_samples_per_s", "throughput", "samples/s", "training samples per second over all epochs", "higher"),
    Metric("wall_time_s", "cell wall time", "s", "wall time of the whole cell: training and measurements", "lower"),
    Metric("peak_memory_mib", "peak memory", "MiB", "peak CUDA memory allocated, or the process's peak RSS", "lower"),
    Metric(
        "trainable_params",
        "trainable parameters",
        "parameters",
        "scalars the variant trains (weights, biases, BatchNorm affine per train.bn_affine, thresholds)",
    ),
    Metric(
        "threshold_params",
        "threshold parameters",
        "parameters",
        "threshold values of all LIF layers (per neuron, channel or layer), trained or frozen",
    ),
    # energy profile (test split)
    Metric("firing_rate", "firing rate", "spikes/neuron/step", "spikes / (neurons × T), over all spiking layers"),
    Metric("silent_fraction", "silent neurons", "0–1", "share of neurons that never spiked on the test split"),
    Metric("sops_per_sample", "SOPs", "per sample", "synaptic accumulate operations (spike × actual fan-out)", "lower"),
    Metric("macs_per_sample", "MACs", "per sample", "multiply-accumulates of layers with analog input", "lower"),
    Metric(
        "firing_rate_step_cv_max",
        "rate variation over steps",
        "CV",
        "largest over layers of the coefficient of "
        "variation of a layer's firing rate across time steps (0 = the same rate at every step)",
        "lower",
    ),
    Metric("ann_macs_per_sample", "ANN MACs", "per sample", "dense MACs of the same network as an ANN (fvcore)"),
    Metric("est_energy_uj_per_sample", "est. energy", "µJ/sample", "SOPs × E_AC + MACs × E_MAC", "lower"),
    Metric("ann_energy_uj_per_sample", "ANN energy", "µJ/sample", "the same network's dense MACs × E_MAC"),
    Metric("energy_ratio_to_ann", "SNN/ANN energy", "×", "est. energy / ANN energy", "lower"),
    Metric("weight_reads_per_sample", "weight reads", "per sample", "one per SOP and per MAC (energy.memory)"),
    Metric("membrane_accesses_per_sample", "membrane accesses", "per sample", "a read and a write per neuron and step"),
    Metric("threshold_reads_per_sample", "threshold reads", "per sample", "one per threshold value and step"),
    Metric(
        "est_memory_energy_uj_per_sample",
        "est. memory energy",
        "µJ/sample",
        "weight, membrane and threshold accesses × their per-access energies (energy.memory; null when off)",
        "lower",
    ),
    Metric(
        "est_total_energy_uj_per_sample", "est. total energy", "µJ/sample", "est. energy + est. memory energy", "lower"
    ),
    # measured GPU energy (NVML)
    Metric("gpu_energy_j", "GPU energy", "J", "training epochs + inference pass, NVML", "lower", True),
    Metric("gpu_energy_train_j", "GPU train energy", "J", "all training epochs, NVML", "lower", True),
    Metric("gpu_energy_infer_j", "GPU inference energy", "J", "the test-split inference pass, NVML", "lower", True),
    Metric("gpu_j_per_train_sample", "GPU train", "J/sample", "GPU train energy / training samples", "lower", True),
    Metric("gpu_j_per_infer_sample", "GPU inference", "J/sample", "GPU inference energy / test samples", "lower", True),
    Metric("gpu_mean_power_w", "GPU mean power", "W", "mean of the power windows' mean power", None, True),
    Metric("gpu_peak_power_w", "GPU peak power", "W", "highest sampled power", None, True),
]

METRICS: dict[str, Metric] = {m.name: m for m in _ALL}


def markdown_table() -> str:
    """The catalogue as the markdown table of ``docs/metrics.md``."""
    lines = ["| metric | unit | better | meaning |", "| --- | --- | --- | --- |"]
    for m in _ALL:
        better = m.better or "—"
        measured = " Measured on the GPU: `unavailable` (NaN, with a reason) where it cannot be." if m.measured else ""
        lines.append(f"| `{m.name}` | {m.unit} | {better} | {m.description}.{measured} |")
    return "\n".join(lines) + "\n"
