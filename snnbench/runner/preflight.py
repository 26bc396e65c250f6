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
from snnbench.data.noise import check_noise_spec
from snnbench.errors import ResultsError, SnnbenchError, SuiteError
from snnbench.measure.power import create_power_meter
from snnbench.models import create_model
from snnbench.runner.cell import DataCache, init_source, init_source_id
from snnbench.suite import Cell, Suite, spec_to_dict


def check_suite(suite: Suite, cells: Iterable[Cell] | None = None) -> None:
    """Raise the first problem of ``cells`` (default: all of the suite's) that needs no data and no device."""
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


def preflight(suite: Suite, cells: list[Cell], device: torch.device, data: DataCache) -> None:
    """Fail before any training on what would fail later: :func:`check_suite`, datasets missing, GPU power
    required but unmeasurable."""
    check_suite(suite, cells)
    if any(c.spec.power.mode == "required" for c in cells):
        create_power_meter(device, required=True).close()
    for cell in cells:
        data.get(cell)
