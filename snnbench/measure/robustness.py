r"""Noise robustness: sweep noise levels over a trained model's test split.

* :func:`evaluate_noise` runs every level of ``cell_spec.noise.sweeps`` whose kind fits the cell's dataset (static
  kinds on image datasets, event kinds on event datasets; the others are skipped) and returns one row per
  (kind, level). Static noise goes through ``evaluate(..., input_transform=)`` with the batch size of the clean
  evaluation, so level 0 reproduces the clean accuracy exactly; event noise rebuilds the test split with
  ``load_data(..., event_transform=)`` (the frame cache is bypassed for noisy data).
* :func:`sweep_points` lists the ``(kind, level, params, key)`` of a spec's sweeps that fit its dataset;
  ``snnbench eval`` (:mod:`snnbench.runner.evaluate`) uses it to find what a finished cell still lacks.

``noise.json`` rows and their identity: :mod:`snnbench.results.noise`; summaries (nAUC):
:mod:`snnbench.analysis.robustness`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from snnbench.data import dataset_info, load_data
from snnbench.data.noise import (
    NoiseKey,
    applies_to,
    make_event_transform,
    make_image_transform,
    params_key,
    sensor_size_of,
    validate_noise,
)
from snnbench.measure.accuracy import evaluate, test_batch_size


def eval_batch_size(cell_spec) -> int:
    """The batch size of the clean test evaluation in training (``fit``): noise rows use it too."""
    return test_batch_size(cell_spec.train)


def sweeps_of(noise) -> tuple:
    """Sweeps from a NoiseSpec, a sequence of NoiseSweep, or None (no sweeps)."""
    if noise is None:
        return ()
    if hasattr(noise, "sweeps"):
        return tuple(noise.sweeps)
    return tuple(noise)


def applicable_sweeps(noise, data_kind: str) -> list:
    """The sweeps whose kind applies to ``data_kind`` (``'static'`` or ``'event'``)."""
    return [s for s in sweeps_of(noise) if applies_to(s.kind) == data_kind]


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
    for i, sweep in enumerate(sweeps_of(spec.noise)):
        if applies_to(sweep.kind) != data_kind:
            continue
        for level in sweep.levels:
            params = validate_noise(sweep.kind, level, sweep.params, where=f"noise.sweeps.{i}")
            yield sweep.kind, float(level), params, (sweep.kind, float(level), params_key(params))
