"""The suite schema: frozen, strict spec dataclasses with defaults from the reference model (DESIGN.md).

A suite is ``name``, ``description``, the cell sections below (``seed``, ``data``, ``model``, ``train``) and a
``matrix`` of keys to sweep. Every key is documented in ``docs/suites.md``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from snnbench.errors import SuiteError
from snnbench.suite.fields import spec_field

# np.random.seed's range; it also keeps the derived stream seeds (seed x 1_000_003 + stream) within torch's int64
MAX_SEED = 2**32 - 1

VARIANTS = {
    "stl": "synapse-threshold synergistic learning: weights and thresholds train",
    "sl": "synaptic learning: weights train, thresholds frozen at init",
    "tl": "threshold learning: thresholds train, weights frozen at init",
}


def registry_names(module: str, attr: str) -> Callable[[], list[str]]:
    """Valid names of a registry, looked up when a suite is validated (keeps the suite stage import-light)."""
    return lambda: getattr(importlib.import_module(module), attr).names()


@dataclass(frozen=True)
class NeuronSpec:
    tau: float = spec_field(0.5, gt=0.0, le=1.0, doc="membrane decay factor per step, in (0, 1]")
    theta_init: float = spec_field(2.0, gt=0.0, doc="initial threshold")
    theta_jitter: float = spec_field(
        0.0,
        ge=0.0,
        doc="std of the Gaussian jitter added to the initial thresholds, in threshold units (the reference code's "
        "hete h adds h * N(0, 1) / 100: hete 0.01 is theta_jitter 1e-4)",
    )
    threshold: str = spec_field("neuron", choices=("neuron", "channel", "layer"))
    surrogate: str = spec_field("arctan", choices=registry_names("snnbench.neurons", "SURROGATES"))
    alpha: float | None = spec_field(None, gt=0.0, doc="surrogate slope/width; null = the surrogate's default")
    detach_reset: bool = False
    backend: str = spec_field(
        "auto",
        choices=lambda: ["auto", *registry_names("snnbench.neurons", "LIF_BACKENDS")()],
        doc="multi-step LIF implementation: auto, reference, or a faster one",
    )
    input_bias: bool = spec_field(
        False,
        doc="a trainable per-neuron input bias b (shape of the thresholds), u[t] = tau u[t-1] + I[t] + b; "
        "it trains with the synaptic weights (a control for per-neuron thresholds)",
    )


@dataclass(frozen=True)
class ModelSpec:
    name: str = spec_field("mlp", choices=registry_names("snnbench.models", "MODELS"))
    depth: int = spec_field(2, ge=1, doc="number of hidden spiking layers (mlp) or spiking conv layers (conv)")
    width: int | None = spec_field(None, ge=1, doc="hidden units (mlp) or conv channels (conv); null = default")
    channels: tuple[int, ...] | None = spec_field(None, ge=1, doc="conv: channels of each conv layer")
    pool_every: int | None = spec_field(None, ge=1, doc="conv: max-pool after every n conv layers")
    fc_width: int | None = spec_field(None, ge=0, doc="conv: width of the hidden spiking fc layer (0 = none)")
    population: int = spec_field(10, ge=1, doc="output neurons per class (population readout)")
    dropout: float = spec_field(0.0, ge=0.0, lt=1.0)
    dropout_placement: str | None = spec_field(
        None, choices=("every_block", "fc"), doc="after every spiking block, or only before fc layers; null = family's"
    )
    dropout_mask: str | None = spec_field(
        None, choices=("per_sample", "per_step"), doc="one mask per sample for all T steps, or a fresh mask per step"
    )
    batch_norm: bool = True
    bn_mode: str | None = spec_field(
        None,
        choices=("over_time", "per_step"),
        doc="BatchNorm statistics over T x batch, or per time step (shared "
        "affine and running statistics); null = the family's default",
    )
    kernel_size: int | None = spec_field(
        None, ge=1, doc="conv kernel size, odd (padding k // 2); null = the family's default (3; stl_mnist 5)"
    )
    conv_bias: bool | None = spec_field(
        None, doc="conv layers have a bias; null = the family's (only where no BatchNorm follows; stl_mnist none)"
    )
    fc_bias: bool | None = spec_field(
        None, doc="fc layers (hidden and output) have a bias; null = the family's (as conv_bias; stl_mnist none)"
    )
    precision: str = spec_field(
        "fp32",
        choices=("fp32", "bf16"),
        doc="bf16: conv/linear layers under bfloat16 autocast (CUDA, or CPUs with AVX512-BF16/AMX); LIF dynamics fp32",
    )
    neuron: NeuronSpec = NeuronSpec()


@dataclass(frozen=True)
class NoiseSweep:
    """One noise kind at a list of levels (see ``snnbench list noise``)."""

    kind: str = spec_field(choices=registry_names("snnbench.data.noise", "NOISE"))
    levels: tuple[float, ...] = spec_field(ge=0.0, min_len=1, doc="noise levels, e.g. std or probability")
    params: dict[str, Any] = spec_field({}, doc="kind-specific options, e.g. clip: false")


@dataclass(frozen=True)
class TrainNoise:
    """Noise added to training inputs (augmentation); part of the training configuration."""

    kind: str = spec_field(choices=registry_names("snnbench.data.noise", "NOISE"))
    level: float = spec_field(ge=0.0)
    params: dict[str, Any] = spec_field({})


@dataclass(frozen=True)
class DataSpec:
    dataset: str = spec_field("mnist_digits", choices=registry_names("snnbench.data", "DATASETS"))
    root: str = spec_field("data", doc="directory holding dataset files (env SNNBENCH_DATA_ROOT, --data-root)")
    download: bool = False
    T: int | None = spec_field(None, ge=1, doc="time steps; null = the dataset's default")
    encoding: str = spec_field("rate", choices=registry_names("snnbench.data.encoding", "ENCODINGS"))
    train_subset: int | None = spec_field(None, ge=1, doc="use only the first n training samples")
    test_subset: int | None = spec_field(None, ge=1, doc="use only the first n test samples")
    num_workers: int = spec_field(0, ge=0)
    binning: str = spec_field("time", choices=("time", "count"), doc="event datasets: equal-time or equal-count bins")
    cache: bool = spec_field(True, doc="event datasets: cache binned frames on disk")
    cache_dir: str | None = spec_field(None, doc="frame cache directory; null = <root>/.snnbench-cache")
    test_fraction: float = spec_field(0.2, gt=0.0, lt=1.0, doc="share held out as test where a dataset has no split")
    augment: str = spec_field(
        "none",
        choices=("none", "crop", "crop_flip"),
        doc="training split only: random zero-padded crop (translation), plus a random horizontal flip "
        "(crop_flip, not for digits or gestures); see docs/datasets.md",
    )
    train_noise: TrainNoise | None = None


@dataclass(frozen=True)
class TrainSpec:
    variant: str = spec_field("stl", choices=tuple(VARIANTS))
    epochs: int = spec_field(3, ge=1)
    batch_size: int = spec_field(50, ge=1)
    optimizer: str = spec_field("adam", choices=("adam", "adamw", "sgd"))
    lr: float = spec_field(1e-3, gt=0.0)
    momentum: float = spec_field(0.9, ge=0.0, lt=1.0, doc="sgd only")
    weight_decay: float = spec_field(1e-6, ge=0.0)
    lr_gamma: float = spec_field(0.93, gt=0.0, le=1.0, doc="ExponentialLR decay per epoch")
    threshold_lr_scale: float = spec_field(1.0, gt=0.0, doc="threshold learning rate = lr x this")
    threshold_weight_decay: float | None = spec_field(None, ge=0.0, doc="null = same as weight_decay")
    bn_affine: str = spec_field(
        "with_weights",
        choices=("with_weights", "always", "frozen"),
        doc="BatchNorm gamma/beta: train with the synaptic weights, in every variant, or never",
    )
    loss: str = spec_field("mse", choices=("mse", "ce"))
    grad_clip: float | None = spec_field(None, gt=0.0)
    init_from: str | None = spec_field(
        None,
        choices=tuple(VARIANTS),
        doc="start from the trained network of the finished cell of this variant with the same seed and otherwise "
        "the same spec, in the same results directory (e.g. tl on the weights sl learned)",
    )
    deterministic: bool = spec_field(
        True,
        doc="reproducible kernels: cuDNN without autotuning, and on CUDA torch's deterministic algorithms "
        "(CUBLAS_WORKSPACE_CONFIG=:4096:8 when unset); CPU kernels are deterministic either way",
    )
    threads: int | None = spec_field(
        None,
        ge=1,
        doc="intra-op CPU threads this cell trains and is measured with; null = the CPUs of the process that "
        "launches the run (sequential, --workers and submitit alike), so a cell's numbers never depend on how it "
        "was scheduled",
    )


@dataclass(frozen=True)
class EnergySpec:
    """Firing rates, synaptic operations and estimated energy on the test split (``docs/energy.md``)."""

    enabled: bool = True
    preset: str = spec_field("45nm_fp32", choices=("45nm_fp32", "45nm_fp16", "45nm_int8"))
    e_ac_pj: float | None = spec_field(None, gt=0.0, doc="energy of one accumulate, pJ (overrides the preset)")
    e_mac_pj: float | None = spec_field(None, gt=0.0, doc="energy of one multiply-accumulate, pJ (overrides)")
    test_samples: int | None = spec_field(None, ge=1, doc="measure on the first n test samples; null = all")
    ann_baseline: bool = spec_field(True, doc="count the dense MACs of the same network as an ANN (fvcore)")
    bn_cost: str = spec_field(
        "folded",
        choices=("folded", "mac"),
        doc="BatchNorm after a conv/linear: folded into its weights and bias at inference (free), or 1 MAC per "
        "output element and step",
    )
    bias_cost: str = spec_field(
        "none", choices=("none", "ac"), doc="bias adds (own or folded BatchNorm shift): free, or 1 AC per output, step"
    )
    pool_cost: str = spec_field(
        "none", choices=("none", "ac"), doc="pooling: free, or (kernel area - 1) ACs per output element and step"
    )
    neuron_update_cost: str = spec_field(
        "none", choices=("none", "ac", "mac"), doc="LIF membrane update: free, or 1 AC / 1 MAC per neuron and step"
    )
    avgpool_spikes: str = spec_field(
        "analog",
        choices=("analog", "events"),
        doc="average-pooled spikes: analog values (next synaptic layer costs MACs), or events (pooled value x kernel "
        "area events, next layer costs SOPs)",
    )
    memory: str = spec_field(
        "none",
        choices=("none", "sram_8kb", "sram_32kb", "sram_1mb", "dram"),
        doc="memory-access energy on top of the compute estimate: none, or where weights, membrane potentials and "
        "thresholds are read from (Horowitz 2014, 45 nm, per 32-bit access: 5, 10, 50, 650 pJ)",
    )
    e_weight_read_pj: float | None = spec_field(None, gt=0.0, doc="energy of one weight read, pJ (overrides memory)")
    e_membrane_access_pj: float | None = spec_field(
        None, gt=0.0, doc="energy of one membrane-potential read or write, pJ (overrides memory)"
    )
    e_threshold_read_pj: float | None = spec_field(None, gt=0.0, doc="energy of one threshold read, pJ (overrides)")

    def __post_init__(self) -> None:
        overrides = [k for k in MEMORY_OVERRIDES if getattr(self, k) is not None]
        if overrides and self.memory == "none":
            raise SuiteError(
                f"'energy.{overrides[0]}' is set but 'energy.memory' is none: the memory model is off",
                hint="set energy.memory to sram_8kb, sram_32kb, sram_1mb or dram, or remove the override",
            )


MEMORY_OVERRIDES = ("e_weight_read_pj", "e_membrane_access_pj", "e_threshold_read_pj")


@dataclass(frozen=True)
class NoiseSpec:
    """Noise sweeps evaluated on every trained cell without retraining."""

    sweeps: tuple[NoiseSweep, ...] = ()


@dataclass(frozen=True)
class PowerSpec:
    """GPU power logging over NVML (``docs/power.md``)."""

    mode: str = spec_field(
        "optional", choices=("optional", "required", "off"), doc="required: fail up front without NVML and a GPU"
    )
    interval_s: float = spec_field(0.1, gt=0.0, doc="power sampling interval, seconds")


@dataclass(frozen=True)
class SlurmSpec:
    """Defaults for ``snnbench run --launcher slurm`` (command-line options win); see ``docs/scale-out.md``."""

    partition: str | None = None
    time_min: int = spec_field(60, ge=1, doc="time limit per job, minutes (a job that hits it is requeued)")
    gpus_per_job: int = spec_field(1, ge=0)
    cpus_per_task: int | None = spec_field(None, ge=1)
    mem_gb: float | None = spec_field(None, gt=0.0)
    array_parallelism: int | None = spec_field(None, ge=1, doc="at most this many jobs of the suite at once")
    sbatch: dict[str, Any] = spec_field({}, doc="extra #SBATCH options, e.g. {account: myproj, qos: high}")
    setup: tuple[str, ...] = spec_field((), doc="shell lines run first in each job, e.g. 'module load cuda'")


@dataclass(frozen=True)
class CellSpec:
    """Everything one cell needs. ``seed``, ``data``, ``model`` and ``train`` define its ``cell_id``;
    ``energy``, ``noise`` and ``power`` only say what to measure on the trained network, ``slurm`` where to run it."""

    seed: int = spec_field(0, ge=0, le=MAX_SEED, doc="numpy and torch take seeds in [0, 2**32 - 1]")
    data: DataSpec = DataSpec()
    model: ModelSpec = ModelSpec()
    train: TrainSpec = TrainSpec()
    energy: EnergySpec = EnergySpec()
    noise: NoiseSpec = NoiseSpec()
    power: PowerSpec = PowerSpec()
    slurm: SlurmSpec = SlurmSpec()


TRAINING_SECTIONS = ("seed", "data", "model", "train")

# Short names for matrix axes and -o overrides.
ALIASES = {
    "variant": "train.variant",
    "depth": "model.depth",
    "dataset": "data.dataset",
    "T": "data.T",
    "epochs": "train.epochs",
}
