"""Checks made before any training, so a run fails in seconds with one line instead of deep inside a cell.

* :func:`check_suite` — everything that needs no data files and no device: each cell's noise sweeps and training
  noise (known params, level limits, a kind that fits the dataset) and that its network can be built for its
  dataset (on the ``meta`` device: no memory, no compute). ``snnbench validate`` runs exactly this, so a suite that
  validates passes ``run``'s preflight up to the data and the device. Errors name the suite file and line, or the
  ``-o`` that set the key.
* :func:`preflight` — :func:`check_suite`, then what ``run`` adds: the datasets' files are present and GPU power
  is measurable where a cell requires it; a :class:`PrecisionWarning` when ``model.precision: bf16`` would run on a
  CPU without bf16 instructions (correct but about 3.5x slower than fp32: a warning, not an error, since a user may
  want bf16 numerics on purpose, e.g. to check a GPU run on a laptop).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable
from pathlib import Path

import torch

from snnbench.data import dataset_info
from snnbench.data.noise import applies_to, check_noise_spec
from snnbench.errors import DeviceError, ResultsError, SnnbenchError, SuiteError
from snnbench.machine import cpu_info
from snnbench.measure.power import create_power_meter
from snnbench.models import create_model
from snnbench.models.layers import StepBatchNorm1d
from snnbench.runner.cell import DataCache, init_source, init_source_id
from snnbench.suite import Cell, Suite, spec_to_dict


def check_sweeps_apply(suite: Suite) -> None:
    """Every noise sweep fits some cell's dataset: an event-noise sweep in a suite of image datasets (or the reverse)
    would be skipped in every cell, so it is a mistake, not a no-op."""
    kinds = {dataset_info(c.spec.data.dataset).kind for c in suite.cells}
    datasets = ", ".join(sorted({c.spec.data.dataset for c in suite.cells}))
    for cell in suite.cells[:1]:
        for i, sweep in enumerate(cell.spec.noise.sweeps):
            kind = applies_to(sweep.kind)
            if kind not in kinds:
                raise SuiteError(
                    f"noise kind '{sweep.kind}' applies to {kind} data, and no dataset of this suite is ({datasets})",
                    where=suite.where(("noise", "sweeps", i), cell),
                    hint="see 'snnbench list noise' for the kinds of each data kind",
                )


def check_suite(suite: Suite, cells: Iterable[Cell] | None = None) -> None:
    """Raise the first problem of ``cells`` (default: all of the suite's) that needs no data and no device."""
    check_sweeps_apply(suite)
    built: set[str] = set()
    for cell in suite.cells if cells is None else cells:
        spec = cell.spec
        check_noise_spec(spec, where=lambda path, cell=cell: suite.where(path, cell))
        key = json.dumps([spec.data.dataset, spec_to_dict(spec.model)], sort_keys=True)
        if key in built:
            continue
        try:
            with torch.device("meta"):
                create_model(spec.model, dataset_info(spec.data.dataset))
        except SnnbenchError as exc:
            exc.where = exc.where or suite.where(("model",), cell)
            raise
        except Exception as exc:  # noqa: BLE001  (a network that cannot be built is a suite error, in one line)
            raise SuiteError(
                f"model '{spec.model.name}' cannot be built for dataset '{spec.data.dataset}': {exc}",
                where=suite.where(("model",), cell),
                hint="check model.depth, model.channels and the pooling against the input size",
            ) from None
        built.add(key)


def check_init_sources(suite: Suite, cells: list[Cell], results_root: Path) -> None:
    """Every cell with ``train.init_from`` has its source cell in this run or finished under ``results_root``."""
    in_suite = {c.cell_id for c in suite.cells}
    for cell in cells:
        if (
            cell.spec.train.init_from
            and init_source_id(cell) not in in_suite
            and init_source(cell, results_root) is None
        ):
            raise ResultsError(
                f"cell {cell.slug} starts from the {cell.spec.train.init_from} cell {init_source_id(cell)} "
                f"(train.init_from), which is neither in this suite nor finished under {results_root}",
                where=suite.where(("train", "init_from"), cell),
                hint=f"add variant {cell.spec.train.init_from} with the same settings to the suite, or run it first",
            )


def check_device(suite: Suite, cells: list[Cell], device: torch.device) -> None:
    """A LIF backend the device cannot run (``triton`` needs CUDA) fails here, not inside the first cell."""
    for cell in cells:
        if cell.spec.model.neuron.backend == "triton" and device.type != "cuda":
            raise DeviceError(
                f"model.neuron.backend: triton needs a CUDA device, this run is on {device}",
                where=suite.where(("model", "neuron", "backend"), cell),
                hint="use backend: auto (the fastest backend the device has) or run with --device cuda",
            )


def check_last_batch(suite: Suite, cell: Cell, bundle) -> None:
    """BatchNorm over fc features needs more than one value per feature in every training batch: the last batch of
    ``n_train mod batch_size`` samples (times T when statistics are over T × batch) must not hold a single one."""
    spec = cell.spec
    last = len(bundle.train) % spec.train.batch_size
    if last != 1 or not spec.model.batch_norm:
        return
    with torch.device("meta"):
        model = create_model(spec.model, bundle.info)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    if any(last * (1 if isinstance(m, StepBatchNorm1d) else bundle.T) == 1 for m in norms):
        raise SuiteError(
            f"the last training batch holds 1 sample ({len(bundle.train)} samples, batch {spec.train.batch_size}, "
            f"T {bundle.T}): BatchNorm cannot train on a single value per feature",
            where=suite.where(("train", "batch_size"), cell),
            hint="change train.batch_size or data.train_subset so the last batch has 2 samples or more",
        )


class PrecisionWarning(UserWarning):
    """A cell will run correctly but far slower than it could (the CLI prints it as one line)."""


BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of CPUs with native bfloat16 arithmetic


def check_precision(cells: Iterable[Cell], device: torch.device, cpu: tuple[str, set[str]] | None = None) -> None:
    """Warn once when a cell trains under ``model.precision: bf16`` on a CPU without AVX512-BF16 or AMX, where
    bfloat16 is emulated (measured about 3.5x slower than fp32); silent where the flags are unknown. ``cpu``:
    :func:`cpu_info` (read from this machine when None)."""
    if device.type != "cpu" or not any(c.spec.model.precision == "bf16" for c in cells):
        return
    cpu = cpu_info() if cpu is None else cpu
    if cpu is None or cpu[1] & set(BF16_CPU_FLAGS):
        return
    warnings.warn(
        f"model.precision is bf16, but this CPU ({cpu[0]}) has no AVX512-BF16 or AMX: bf16 is emulated and trains "
        "about 3.5x slower than fp32; use -o model.precision=fp32 here, or bf16 on a GPU",
        PrecisionWarning,
        stacklevel=2,
    )


def preflight(suite: Suite, cells: list[Cell], device: torch.device, data: DataCache) -> None:
    """Fail before any training on what would fail later: :func:`check_suite`, a backend the device lacks,
    datasets missing, a last batch BatchNorm cannot train on, GPU power required but unmeasurable."""
    check_suite(suite, cells)
    check_device(suite, cells, device)
    check_precision(cells, device)
    if any(c.spec.power.mode == "required" for c in cells):
        create_power_meter(device, required=True).close()
    for cell in cells:
        check_last_batch(suite, cell, data.get(cell))
