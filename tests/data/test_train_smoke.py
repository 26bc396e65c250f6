"""A few training steps of a small conv cell on each dataset, from the tiny real-format fixtures."""

import math

import pytest
import torch

from snnbench.data import load_data
from snnbench.measure.accuracy import evaluate
from snnbench.models import create_model
from snnbench.suite.schema import DataSpec, ModelSpec, NeuronSpec, TrainSpec
from snnbench.train import fit

CASES = [
    ("mnist", "mnist_root", 20),
    ("fashion_mnist", "fashion_root", 20),
    ("cifar10", "cifar10_root", 20),
    ("nmnist", "nmnist_root", 20),
    ("dvs_gesture", "dvs_gesture_root", 6),
    ("cifar10_dvs", "cifar10_dvs_root", 40),
    ("dvs_digits", None, 8),
]


@pytest.mark.parametrize(("name", "fixture", "n_train"), CASES, ids=[c[0] for c in CASES])
def test_conv_cell_trains_a_few_steps(name, fixture, n_train, request, tmp_path):
    if name == "cifar10_dvs":
        pytest.importorskip("aedat")
    root = request.getfixturevalue(fixture)[0] if fixture else tmp_path
    spec = DataSpec(dataset=name, root=str(root), T=2, train_subset=8, test_subset=4)
    bundle = load_data(spec, seed=0)
    assert len(bundle.train) == min(8, n_train)
    neuron = NeuronSpec(backend="reference")  # no torch.compile warm-up in a unit test
    model = create_model(ModelSpec(name="conv", depth=2, width=4, fc_width=8, neuron=neuron), bundle.info)
    before = [p.detach().clone() for p in model.parameters()]
    cpu = torch.device("cpu")
    history = fit(
        model,
        bundle,
        TrainSpec(epochs=1, batch_size=4),
        cpu,
        seed=0,
        evaluate=lambda m: evaluate(m, bundle, cpu, seed=0),
    )
    assert len(history) == 1 and math.isfinite(history[0]["train_loss"])
    assert 0.0 <= history[0]["test_acc"] <= 1.0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
