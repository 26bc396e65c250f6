"""``snnbench eval``: add noise measurements to finished cells of a results directory without retraining.

For each finished cell the levels not yet in ``noise.json`` (same kind, level and params) are evaluated on the
reloaded model (:func:`snnbench.results.load_model`) and merged into ``noise.json`` under the cell lock. Damaged
cells are reported and left alone (the damage policy of :mod:`snnbench.results.store`).
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
from snnbench.errors import DataError, ResultsError, SuiteError
from snnbench.measure.robustness import applicable_sweeps, evaluate_noise, sweep_points, sweeps_of
from snnbench.results import load_model
from snnbench.results.noise import CellBusy, NoiseKey, read_noise_rows, row_key, write_noise_rows
from snnbench.results.store import SPEC, CellStore, DamagedFile, ResultsStore, damaged
from snnbench.runner.device import resolve_device
from snnbench.runner.threads import launch_threads, recorded_threads, restores_threads, use_cell_settings
from snnbench.seeds import deterministic_cublas
from snnbench.suite import CellSpec, build_spec, spec_to_dict
from snnbench.suite.schema import TRAINING_SECTIONS, NoiseSpec


@dataclass
class EvalSummary:
    """What :func:`eval_results` did, by cell directory."""

    evaluated: dict[str, int] = field(default_factory=dict)  # cell dir -> rows added
    up_to_date: list[str] = field(default_factory=list)  # finished cells with every requested level measured
    not_done: list[str] = field(default_factory=list)  # unfinished or failed cells (nothing to evaluate)
    no_sweeps: dict[str, str] = field(default_factory=dict)  # finished cells no requested sweep applies to -> why
    damaged: dict[str, str] = field(default_factory=dict)  # cell dir -> the damaged file and what to do
    busy: list[str] = field(default_factory=list)  # locked by another process past the wait; rows not stored
    suites: set[str] = field(default_factory=set)  # suite names of the cells seen (before the suite filter)

    @property
    def rows_added(self) -> int:
        return sum(self.evaluated.values())

    @property
    def cells(self) -> int:
        """Cells considered (after the suite filter)."""
        lists = (self.evaluated, self.up_to_date, self.not_done, self.no_sweeps, self.damaged, self.busy)
        return sum(len(x) for x in lists)


def _cell_spec(cell: CellStore, raw: dict[str, Any], noise) -> Any:
    where = lambda path: f"{cell.path / SPEC}"  # noqa: E731
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


def _suite_of(cell: CellStore) -> str:
    """The suite a cell belongs to: its spec's ``suite``, else its suite folder's name (a damaged spec)."""
    try:
        return (cell.read_spec() or {}).get("suite") or cell.path.parent.name
    except DamagedFile:
        return cell.path.parent.name


def _no_sweeps_reason(spec, kind: str) -> str:
    asked = sorted({s.kind for s in spec.noise.sweeps})
    if not asked:
        return "its suite measures no noise (pass --noise or --suite)"
    return f"{', '.join(asked)} apply to {'static' if kind == 'event' else 'event'} data; {spec.data.dataset} is {kind}"


def _load_data(spec, data_root):
    try:
        return load_data(spec.data, spec.seed, root=data_root)
    except PermissionError as exc:
        raise DataError(
            f"cannot read {exc.filename or data_root} (permission denied)", hint="pass a readable --data-root"
        ) from None


@restores_threads
def eval_results(
    results_dir: str | Path,
    noise=None,
    device: str | torch.device = "auto",
    *,
    data_root=None,
    suite_name: str | None = None,
    on_cell: Callable[[Path, str, int], None] | None = None,
    threads: int | None = None,
) -> EvalSummary:
    """Add noise measurements to the finished cells under ``results_dir`` (any depth) without retraining.

    ``noise``: a :class:`~snnbench.suite.schema.NoiseSpec`, a sequence of ``NoiseSweep``, or None to use each cell's
    own ``noise`` section from its ``spec.json``. ``suite_name`` keeps only cells of that suite. Cells whose
    status is not ``done`` are skipped (a ``damaged`` cell too: :mod:`snnbench.results.store`). For each finished
    cell the levels not yet in ``noise.json`` (same kind, level and params) are evaluated on the reloaded model and
    merged into ``noise.json`` under the cell lock (:func:`~snnbench.results.noise.write_noise_rows`), so concurrent
    evals of one cell keep every row. ``on_cell(cell_dir, status, rows_added)`` reports each cell (status:
    evaluated, up_to_date, not_done, no_sweeps, damaged, busy). Each cell is measured with the thread count it
    trained with (``provenance.json``), else by the rule of :mod:`snnbench.runner.threads` (``threads``: the launch
    count, default the CPUs of this process), and with its ``train.deterministic`` settings on CUDA.
    """
    root = Path(results_dir)
    if not root.is_dir():
        raise ResultsError(f"results directory {root} does not exist", hint="pass the --results directory of a run")
    torch_device = device if isinstance(device, torch.device) else resolve_device(device)
    threads = threads or launch_threads()
    if torch_device.type == "cuda":
        deterministic_cublas()  # before this process's first cuBLAS call (cells are deterministic by default)
    summary = EvalSummary()
    bundles: dict[tuple[str, int], Any] = {}

    def report(cell: CellStore, status: str, added: int = 0, why: str = "") -> None:
        if status in ("no_sweeps", "damaged"):
            getattr(summary, status)[str(cell.path)] = why
        elif status != "evaluated":
            getattr(summary, status).append(str(cell.path))
        if on_cell is not None:
            on_cell(cell.path, status, added)

    for cell in ResultsStore(root).iter_cells():
        suite = _suite_of(cell)
        summary.suites.add(suite)
        if suite_name is not None and suite != suite_name:
            continue
        damage = cell.damage()
        if damage is not None:
            report(cell, "damaged", why=str(damage))
            continue
        if cell.status() != "done":
            report(cell, "not_done")
            continue
        try:
            spec = _cell_spec(cell, cell.read_spec() or {}, noise)
        except SuiteError as exc:  # a spec.json that is JSON but not a cell spec (foreign or edited)
            report(cell, "damaged", why=str(damaged(cell.path / SPEC, f"not a cell spec ({exc.message})")))
            continue
        existing = read_noise_rows(cell.path)
        missing = _missing(spec, {row_key(r) for r in existing})
        if not missing:
            kind = dataset_info(spec.data.dataset).kind
            if applicable_sweeps(spec.noise, kind):
                report(cell, "up_to_date")
            else:
                report(cell, "no_sweeps", why=_no_sweeps_reason(spec, kind))
            continue
        use_cell_settings(spec, torch_device, threads, recorded_threads(cell))
        try:
            model = load_model(cell.path, torch_device)
        except DamagedFile as exc:
            report(cell, "damaged", why=str(exc))
            continue
        data_key = (json.dumps(spec_to_dict(spec.data), sort_keys=True), spec.seed)
        if data_key not in bundles:  # cells of one suite share their clean data
            bundles[data_key] = _load_data(spec, data_root)
        done = {row_key(r) for r in existing}
        rows = evaluate_noise(model, spec, torch_device, data_root=data_root, done=done, bundle=bundles[data_key])
        try:
            write_noise_rows(cell.path, rows)
        except CellBusy:
            report(cell, "busy")
            continue
        summary.evaluated[str(cell.path)] = len(rows)
        report(cell, "evaluated", len(rows))
    return summary
