"""Checks made before any training, so a run fails in seconds with one line instead of deep inside a cell.

* :func:`check_suite` — everything that needs no data files and no device: each cell's noise sweeps and training
  noise (known params, level limits, a kind that fits the dataset) and that its network can be built for its
  dataset (on the ``meta`` device: no memory, no compute). ``snnbench validate`` runs exactly this, so a suite that
  validates passes ``run``'s preflight up to the data and the device. Errors name the suite file and line, or the
  ``-o`` that set the key.
* :func:`preflight` — :func:`check_suite`, then what ``run`` adds: the datasets' files are present and GPU power
  is measurable where a cell requires it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import torch

from snnbench.data import dataset_info
from snnbench.data.noise import applies_to, check_noise_spec
from snnbench.errors import DeviceError, ResultsError, SnnbenchError, SuiteError
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


def preflight(suite: Suite, cells: list[Cell], device: torch.device, data: DataCache) -> None:
    """Fail before any training on what would fail later: :func:`check_suite`, a backend the device lacks,
    datasets missing, a last batch BatchNorm cannot train on, GPU power required but unmeasurable."""
    check_suite(suite, cells)
    check_device(suite, cells, device)
    if any(c.spec.power.mode == "required" for c in cells):
        create_power_meter(device, required=True).close()
    for cell in cells:
        check_last_batch(suite, cell, data.get(cell))
