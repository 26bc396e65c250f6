"""Noise sweeps on a trained model: level 0 = clean accuracy exactly, skipping measured levels."""

from __future__ import annotations

import torch

from snnbench.data import load_data
from snnbench.measure.accuracy import evaluate
from snnbench.measure.robustness import evaluate_noise
from snnbench.models import create_model
from snnbench.results.noise import row_key
from snnbench.suite.schema import CellSpec, DataSpec, ModelSpec, NeuronSpec, NoiseSpec, TrainSpec
from tests.stores import noise_sweep

CPU = torch.device("cpu")


def _model(info, width=16):
    torch.manual_seed(0)
    return create_model(ModelSpec(width=width, depth=1, neuron=NeuronSpec(backend="reference", theta_init=0.2)), info)


def test_evaluate_noise_static_matches_clean_at_level_zero():
    data = DataSpec(dataset="mnist_digits", T=2, test_subset=100)
    spec = CellSpec(
        seed=3,
        data=data,
        train=TrainSpec(batch_size=20),
        noise=NoiseSpec(
            sweeps=(
                noise_sweep("gaussian", [0, 0.3]),
                noise_sweep("event_drop", [0.5]),
                noise_sweep("salt_pepper", [0.2]),
            )
        ),
    )
    bundle = load_data(data, 3)
    model = _model(bundle.info)
    clean = evaluate(model, bundle, CPU, seed=3, batch_size=100)  # fit's evaluation: batch max(batch_size, 100)
    seen = []
    rows = evaluate_noise(model, spec, CPU, bundle=bundle, on_row=seen.append)
    assert seen == rows
    assert [(r["noise_kind"], r["noise_level"]) for r in rows] == [
        ("gaussian", 0.0),
        ("gaussian", 0.3),
        ("salt_pepper", 0.2),
    ]  # event_drop does not apply to images: skipped
    zero = rows[0]
    assert (zero["test_acc"], zero["test_loss"], zero["test_samples"]) == (
        clean["test_acc"],
        clean["test_loss"],
        clean["test_samples"],
    )
    assert zero["noise_params"] == {"clip": True}
    assert rows[1]["test_loss"] != clean["test_loss"] and rows[2]["test_loss"] != clean["test_loss"]
    assert evaluate_noise(model, spec, CPU, bundle=bundle) == rows  # reproducible
    assert evaluate_noise(model, spec, CPU, bundle=bundle, done={("gaussian", 0), ("gaussian", 0.3)}) == rows[2:]
    skip = {row_key(rows[0])}
    assert evaluate_noise(model, spec, CPU, bundle=bundle, done=skip) == rows[1:]


def test_evaluate_noise_event(tmp_path):
    data = DataSpec(dataset="dvs_digits", root=str(tmp_path), T=2, train_subset=1, test_subset=10)
    sweeps = (
        noise_sweep("event_drop", [0, 0.7]),
        noise_sweep("gaussian", [0.1]),
        noise_sweep("event_background", [0, 500]),
    )
    spec = CellSpec(seed=1, data=data, noise=NoiseSpec(sweeps=sweeps))
    bundle = load_data(data, 1)
    model = _model(bundle.info)
    clean = evaluate(model, bundle, CPU, seed=1, batch_size=100)
    rows = evaluate_noise(model, spec, CPU)
    assert [(r["noise_kind"], r["noise_level"]) for r in rows] == [
        ("event_drop", 0.0),
        ("event_drop", 0.7),
        ("event_background", 0.0),
        ("event_background", 500.0),
    ]
    for r in (rows[0], rows[2]):
        assert (r["test_acc"], r["test_loss"]) == (clean["test_acc"], clean["test_loss"])
    assert rows[1]["test_loss"] != clean["test_loss"] and rows[3]["test_loss"] != clean["test_loss"]
    assert evaluate_noise(model, spec, CPU, done={("event_drop", 0.0), ("event_background", 0.0)}) == [
        rows[1],
        rows[3],
    ]
