r"""Noise robustness: sweep noise levels on a trained cell's test split, summarise, add sweeps to finished results.

* :func:`evaluate_noise` runs every level of ``cell_spec.noise.sweeps`` whose kind fits the cell's dataset (static
  kinds on image datasets, event kinds on event datasets; the others are skipped) and returns one row per
  (kind, level). Static noise goes through ``evaluate(..., input_transform=)`` with the batch size of the clean
  evaluation, so level 0 reproduces the clean accuracy exactly; event noise rebuilds the test split with
  ``load_data(..., event_transform=)`` (the frame cache is bypassed for noisy data).
* :func:`eval_results` adds missing sweep levels to finished cells of a results directory without retraining and
  merges them into each cell's ``noise.json``.

``noise.json`` rows and their identity: :mod:`snnbench.results.noise`; summaries (nAUC):
:mod:`snnbench.analysis.robustness`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from snnbench.data import dataset_info, load_data
from snnbench.data.noise import (
    applies_to,
    make_event_transform,
    make_image_transform,
    params_key,
    sensor_size_of,
    validate_noise,
)
from snnbench.errors import SuiteError
from snnbench.measure.accuracy import evaluate, test_batch_size
from snnbench.results.noise import NOISE_FILE, NoiseKey, merge_rows, read_noise_rows, row_key
from snnbench.results.store import CellStore, ResultsStore, atomic_write_json


def eval_batch_size(cell_spec) -> int:
    """The batch size of the clean test evaluation in training (``fit``): noise rows use it too."""
    return test_batch_size(cell_spec.train)


def _sweeps_of(noise) -> tuple:
    """Sweeps from a NoiseSpec, a sequence of NoiseSweep, or None (no sweeps)."""
    if noise is None:
        return ()
    if hasattr(noise, "sweeps"):
        return tuple(noise.sweeps)
    return tuple(noise)


def applicable_sweeps(noise, data_kind: str) -> list:
    """The sweeps whose kind applies to ``data_kind`` (``'static'`` or ``'event'``)."""
    return [s for s in _sweeps_of(noise) if applies_to(s.kind) == data_kind]


def _done_keys(done: Iterable[tuple]) -> tuple[set[tuple[str, float]], set[NoiseKey]]:
    pairs, keys = set(), set()
    for item in done:
        if len(item) == 2:
            pairs.add((item[0], float(item[1])))
        else:
            keys.add((item[0], float(item[1]), item[2]))
    return pairs, keys


def evaluate_noise(
    model: torch.nn.Module,
    cell_spec,
    device: torch.device | str,
    *,
    data_root=None,
    done: Iterable[tuple] = (),
    bundle=None,
    clean: dict[str, Any] | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Rows for every (kind, level) of ``cell_spec.noise.sweeps`` that fits the dataset and is not in ``done``.

    ``done`` holds ``(kind, level)`` pairs (skipped whatever their params) or ``(kind, level, params_key)`` triples
    (see :func:`row_key`). ``bundle`` is the cell's clean data (loaded if None). Level 0 reuses the clean evaluation,
    which is exactly ``evaluate(model, bundle, device, seed=cell_spec.seed, batch_size=eval_batch_size(cell_spec),
    loss=...)``; pass its result as ``clean`` when the caller already has it. ``on_row`` sees each new row.
    """
    device = torch.device(device)
    spec = cell_spec
    info = dataset_info(spec.data.dataset)
    skip_pairs, skip_keys = _done_keys(done)
    eval_kw = {"seed": spec.seed, "batch_size": eval_batch_size(spec), "loss": spec.train.loss}
    clean = dict(clean or {})

    def clean_bundle():
        nonlocal bundle
        if bundle is None:
            bundle = load_data(spec.data, spec.seed, root=data_root)
        return bundle

    rows: list[dict[str, Any]] = []
    for kind, level, params, key in sweep_points(spec):
        if (kind, level) in skip_pairs or key in skip_keys:
            continue
        skip_keys.add(key)
        if level == 0:
            if not clean:
                clean.update(evaluate(model, clean_bundle(), device, **eval_kw))
            result = clean
        elif info.kind == "static":
            transform = make_image_transform(kind, level, params, spec.seed)
            result = evaluate(model, clean_bundle(), device, input_transform=transform, **eval_kw)
        else:
            transform = make_event_transform(kind, level, params, spec.seed, sensor_size=sensor_size_of(info))
            noisy = load_data(spec.data, spec.seed, root=data_root, event_transform=transform)
            result = evaluate(model, noisy, device, **eval_kw)
        row = {
            "noise_kind": kind,
            "noise_level": level,
            "noise_params": params,
            "test_acc": result["test_acc"],
            "test_loss": result["test_loss"],
            "test_samples": result["test_samples"],
        }
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows


def sweep_points(spec) -> Iterator[tuple[str, float, dict[str, Any], NoiseKey]]:
    """``(kind, level, params, key)`` for every level of ``spec.noise.sweeps`` that fits the cell's dataset."""
    data_kind = dataset_info(spec.data.dataset).kind
    for i, sweep in enumerate(_sweeps_of(spec.noise)):
        if applies_to(sweep.kind) != data_kind:
            continue
        for level in sweep.levels:
            params = validate_noise(sweep.kind, level, sweep.params, where=f"noise.sweeps.{i}")
            yield sweep.kind, float(level), params, (sweep.kind, float(level), params_key(params))


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
    from snnbench.suite.fields import build_spec
    from snnbench.suite.schema import TRAINING_SECTIONS, CellSpec, NoiseSpec

    where = lambda path: f"{cell.path / 'spec.json'}"  # noqa: E731
    data = {k: raw[k] for k in TRAINING_SECTIONS if k in raw}
    if noise is None:
        data["noise"] = raw.get("noise") or {}
        return build_spec(CellSpec, data, (), where)
    spec = build_spec(CellSpec, data, (), where)
    return dataclasses.replace(spec, noise=NoiseSpec(sweeps=_sweeps_of(noise)))


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
    from snnbench.errors import ResultsError
    from snnbench.results import load_model
    from snnbench.runner import resolve_device
    from snnbench.suite.fields import spec_to_dict

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
        raw = cell.read_json("spec.json") or {}
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


def parse_noise_option(text: str):
    """A ``NoiseSweep`` from the CLI form ``KIND=L1,L2,...[:key=value[:key=value]]``, e.g. ``gaussian=0,0.1,0.2``
    or ``event_background=0,0.5:mode=ratio``. Values are read as YAML (``false``, ``3``, ``count``)."""
    import yaml

    from snnbench.suite.fields import build_spec
    from snnbench.suite.schema import NoiseSweep

    where = f"--noise {text}"
    kind, sep, rest = text.partition("=")
    if not sep or not kind.strip() or not rest.strip():
        raise SuiteError(f"'{text}' is not KIND=L1,L2,...", where="--noise", hint="e.g. --noise gaussian=0,0.1,0.2")
    levels_text, *options = rest.split(":")
    try:
        levels = [yaml.safe_load(v) for v in levels_text.split(",") if v.strip()]
    except yaml.YAMLError:
        raise SuiteError(f"cannot read the levels '{levels_text}'", where=where) from None
    params: dict[str, Any] = {}
    for option in options:
        key, eq, value = option.partition("=")
        if not eq or not key.strip():
            raise SuiteError(f"parameter '{option}' is not key=value", where=where, hint="e.g. gaussian=0.1:clip=false")
        params[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    sweep = build_spec(
        NoiseSweep, {"kind": kind.strip(), "levels": levels, "params": params}, ("noise",), lambda p: where
    )
    for level in sweep.levels:
        validate_noise(sweep.kind, level, sweep.params, where=where)
    return sweep


def parse_noise_options(texts: Sequence[str]):
    """A ``NoiseSpec`` from repeated ``--noise`` options."""
    from snnbench.suite.schema import NoiseSpec

    return NoiseSpec(sweeps=tuple(parse_noise_option(t) for t in texts))
