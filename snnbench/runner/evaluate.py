"""``snnbench eval``: add noise measurements to finished cells of a results directory without retraining.

For each finished cell the levels not yet in ``noise.json`` (same kind, level and params) are evaluated on the
reloaded model (:func:`snnbench.results.load_model`) and merged into ``noise.json``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from snnbench.data import dataset_info, load_data
from snnbench.errors import ResultsError
from snnbench.measure.robustness import applicable_sweeps, evaluate_noise, sweep_points, sweeps_of
from snnbench.results import load_model
from snnbench.results.noise import NOISE_FILE, NoiseKey, merge_rows, read_noise_rows, row_key
from snnbench.results.store import CellStore, ResultsStore, atomic_write_json
from snnbench.runner.device import resolve_device
from snnbench.suite import CellSpec, build_spec, spec_to_dict
from snnbench.suite.schema import TRAINING_SECTIONS, NoiseSpec


@dataclass
class EvalSummary:
    """What :func:`eval_results` did, by cell directory."""

    evaluated: dict[str, int] = field(default_factory=dict)  # cell dir -> rows added
    up_to_date: list[str] = field(default_factory=list)  # finished cells with every requested level measured
    not_done: list[str] = field(default_factory=list)  # unfinished or failed cells (nothing to evaluate)
    no_sweeps: list[str] = field(default_factory=list)  # finished cells no requested sweep applies to

    @property
    def rows_added(self) -> int:
        return sum(self.evaluated.values())


def _cell_spec(cell: CellStore, raw: dict[str, Any], noise) -> Any:
    where = lambda path: f"{cell.path / 'spec.json'}"  # noqa: E731
    data = {k: raw[k] for k in TRAINING_SECTIONS if k in raw}
    if noise is None:
        data["noise"] = raw.get("noise") or {}
        return build_spec(CellSpec, data, (), where)
    spec = build_spec(CellSpec, data, (), where)
    return dataclasses.replace(spec, noise=NoiseSpec(sweeps=sweeps_of(noise)))


def _missing(spec, existing: set[NoiseKey]) -> list[NoiseKey]:
    missing: list[NoiseKey] = []
    for _, _, _, key in sweep_points(spec):
        if key not in existing and key not in missing:
            missing.append(key)
    return missing


def eval_results(
    results_dir: str | Path,
    noise=None,
    device: str | torch.device = "auto",
    *,
    data_root=None,
    suite_name: str | None = None,
    on_cell: Callable[[Path, str, int], None] | None = None,
) -> EvalSummary:
    """Add noise measurements to the finished cells under ``results_dir`` (any depth) without retraining.

    ``noise``: a :class:`~snnbench.suite.schema.NoiseSpec`, a sequence of ``NoiseSweep``, or None to use each cell's
    own ``noise`` section from its ``spec.json``. ``suite_name`` keeps only cells of that suite. Cells whose
    ``done.json`` status is not ``done`` are skipped. For each finished cell the levels not yet in ``noise.json``
    (same kind, level and params) are evaluated on the reloaded model and merged into ``noise.json`` atomically.
    ``on_cell(cell_dir, status, rows_added)`` reports each cell (status: evaluated, up_to_date, not_done,
    no_sweeps).
    """
    root = Path(results_dir)
    if not root.is_dir():
        raise ResultsError(f"results directory {root} does not exist", hint="pass the --results directory of a run")
    torch_device = device if isinstance(device, torch.device) else resolve_device(device)
    summary = EvalSummary()
    bundles: dict[tuple[str, int], Any] = {}

    def report(cell: CellStore, status: str, added: int = 0) -> None:
        if status != "evaluated":
            getattr(summary, status).append(str(cell.path))
        if on_cell is not None:
            on_cell(cell.path, status, added)

    for cell in ResultsStore(root).iter_cells():
        raw = cell.read_spec() or {}
        if suite_name is not None and raw.get("suite") != suite_name:
            continue
        if cell.status() != "done":
            report(cell, "not_done")
            continue
        spec = _cell_spec(cell, raw, noise)
        existing = read_noise_rows(cell.path)
        missing = _missing(spec, {row_key(r) for r in existing})
        if not missing:
            info = dataset_info(spec.data.dataset)
            report(cell, "up_to_date" if applicable_sweeps(spec.noise, info.kind) else "no_sweeps")
            continue
        model = load_model(cell.path, torch_device)
        data_key = (json.dumps(spec_to_dict(spec.data), sort_keys=True), spec.seed)
        if data_key not in bundles:  # cells of one suite share their clean data
            bundles[data_key] = load_data(spec.data, spec.seed, root=data_root)
        done = {row_key(r) for r in existing}
        rows = evaluate_noise(model, spec, torch_device, data_root=data_root, done=done, bundle=bundles[data_key])
        atomic_write_json(cell.path / NOISE_FILE, merge_rows(existing, rows))
        summary.evaluated[str(cell.path)] = len(rows)
        report(cell, "evaluated", len(rows))
    return summary
