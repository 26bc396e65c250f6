"""What a cell will cost before it runs (the dry run's columns).

* :func:`training_gmac_per_sample`: device-independent, ``3 × T × dense MACs per step × epochs`` per training sample
  (forward + backward ≈ 3 × forward), in GMAC. The dense MACs are those of the same network as an ANN
  (:func:`snnbench.measure.energy.ann_macs`).
* :func:`split_sizes`: the train/test samples a cell will use, from the dataset registry (no data is loaded).
* :func:`calibrate` times a few training steps and inference passes of a cell's network on random input of the
  right shape, and :func:`estimate_time_s` turns that throughput into an estimate of the cell's wall time::

      time_s ≈ epochs × (n_train / train_rate + n_test / test_rate)       training + per-epoch test
             + n_test / test_rate × (1 + energy + nonzero noise levels)   final inference + measurement passes

  Data loading, encoding and event binning are not timed, so the estimate is a lower bound of a cold run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import torch

from snnbench.data import dataset_info
from snnbench.measure.energy import ann_macs
from snnbench.measure.robustness import sweep_points
from snnbench.models import create_model
from snnbench.suite import CellSpec, spec_to_dict
from snnbench.train import apply_variant, build_optimizer, loss_fn

CALIBRATION_BATCH = 32  # samples per timed step (at most the suite's batch size)
CALIBRATION_STEPS = 3  # timed steps after one warm-up step
SLOW_STEP_S = 2.0  # a warm-up step slower than this is timed alone (keeps the dry run to seconds)


def training_gmac_per_sample(spec: CellSpec, cache: dict | None = None) -> float:
    """Rough training cost of one cell per training sample over all epochs, GMAC; ``cache`` (model spec ->
    MACs per step) spares rebuilding the same network for every cell of a suite."""
    cache = {} if cache is None else cache
    info = dataset_info(spec.data.dataset)
    key = (json.dumps(spec_to_dict(spec.model), sort_keys=True), spec.data.dataset)
    if key not in cache:
        cache[key] = sum(ann_macs(create_model(spec.model, info), torch.zeros(info.shape)).values())
    T = spec.data.T or info.default_T
    return 3 * T * cache[key] * spec.train.epochs / 1e9


def resolved_T(spec: CellSpec) -> int:
    """The time steps a cell trains with: ``data.T``, or the dataset's default when null."""
    return spec.data.T or dataset_info(spec.data.dataset).default_T


def split_sizes(spec: CellSpec) -> tuple[int | None, int | None]:
    """``(train, test)`` samples the cell uses: the dataset's split sizes cut by ``train_subset``/``test_subset``;
    None where the registry does not know the split (it is known only after loading)."""
    sizes = dataset_info(spec.data.dataset).split_sizes
    train, test = sizes if sizes else (None, None)
    cut = lambda n, limit: n if limit is None or n is None else min(n, limit)  # noqa: E731
    return cut(train, spec.data.train_subset), cut(test, spec.data.test_subset)


def network_key(spec: CellSpec) -> str:
    """Cells with equal keys run the same network on the same input shape, batch size and variant."""
    parts = [spec_to_dict(spec.model), spec.data.dataset, resolved_T(spec), spec.train.batch_size, spec.train.variant]
    return json.dumps(parts, sort_keys=True)


@dataclass(frozen=True)
class Throughput:
    """Samples per second of a network's training step (forward + backward + optimiser) and of inference."""

    train_samples_per_s: float
    test_samples_per_s: float
    source: str  # "calibrated" (timed steps here) or "measured" (finished cells' training)


def _timed(step, steps: int, device: torch.device) -> float:
    """Seconds per call of ``step``: the fastest of ``steps`` timed calls after a warm-up call (the fastest is the
    least disturbed by other processes), or the warm-up alone when it was slow."""

    def once() -> float:
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    warm_s = once()
    return warm_s if warm_s > SLOW_STEP_S else min(once() for _ in range(steps))


def calibrate(spec: CellSpec, device: torch.device | str = "cpu", steps: int = CALIBRATION_STEPS) -> Throughput:
    """Time training steps and inference passes of ``spec``'s network on random input ``[T, B, C, H, W]`` (spikes at
    a 20 % rate, or analog values under direct coding), ``B = min(batch_size, CALIBRATION_BATCH)``."""
    device = torch.device(device)
    info = dataset_info(spec.data.dataset)
    model = create_model(spec.model, info).to(device)
    optimizer = build_optimizer(apply_variant(model, spec.train.variant, spec.train.bn_affine), spec.train)
    batch = min(spec.train.batch_size, CALIBRATION_BATCH)
    generator = torch.Generator().manual_seed(0)
    x = torch.rand((resolved_T(spec), batch, *info.shape), generator=generator)
    x = (x if spec.data.encoding == "direct" else (x < 0.2).float()).to(device)
    y = torch.randint(0, info.num_classes, (batch,), generator=generator).to(device)

    def train_step() -> None:
        loss = loss_fn(model(x), y, spec.train.loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def test_step() -> None:
        with torch.no_grad():
            model(x)

    model.train()
    train_s = _timed(train_step, steps, device)
    model.eval()
    test_s = _timed(test_step, steps, device)
    return Throughput(batch / train_s, batch / test_s, "calibrated")


def estimate_time_s(spec: CellSpec, rate: Throughput) -> float | None:
    """Estimated wall time of one cell from ``rate`` (module docstring); None when the split sizes are unknown."""
    n_train, n_test = split_sizes(spec)
    if n_train is None or n_test is None:
        return None
    energy_n = min(n_test, spec.energy.test_samples or n_test) if spec.energy.enabled else 0
    noise_passes = sum(1 for _, level, _, _ in sweep_points(spec) if level > 0)
    test_samples = spec.train.epochs * n_test + n_test * (1 + noise_passes) + energy_n
    return spec.train.epochs * n_train / rate.train_samples_per_s + test_samples / rate.test_samples_per_s
