"""The paper and control suites: what they resolve to, and tiny smoke runs through ``python -m snnbench run``."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from snnbench.suite import load_suite

ROOT = Path(__file__).resolve().parent.parent
SUITES = ROOT / "suites"
TINY = [
    "epochs=1", "seed=0", "data.train_subset=100", "data.test_subset=50", "model.population=2",
    "energy.test_samples=20",
]  # fmt: skip
CONTROLS_WITHOUT_INIT_FROM = (
    "matrix.control=[{variant: stl}, {variant: sl}, {variant: tl}, {variant: sl, model.neuron.input_bias: true}, "
    "{variant: stl, model.neuron.threshold: channel}, {variant: stl, model.neuron.threshold: layer}, "
    "{variant: stl, train.bn_affine: frozen}, {variant: sl, train.bn_affine: frozen}, "
    "{variant: tl, train.threshold_lr_scale: 100.0}]"
)


@pytest.mark.parametrize("name", ["paper", "paper_mnist", "paper_mnist_offline", "controls", "depth"])
def test_paper_suites_validate(name):
    assert load_suite(SUITES / f"{name}.yaml").cells


def test_paper_mnist_is_the_authors_setup():
    cells = load_suite(SUITES / "paper_mnist.yaml").cells
    expected = [(v, s) for v in ("stl", "sl", "tl") for s in range(3)]
    assert [(c.spec.train.variant, c.spec.seed) for c in cells] == expected
    spec = cells[0].spec
    assert (spec.data.dataset, spec.data.T, spec.data.augment) == ("mnist", 4, "none")
    assert (spec.model.name, spec.model.channels, spec.model.kernel_size, spec.model.fc_width) == (
        "stl_mnist", (128, 128), 5, 2048,
    )  # fmt: skip
    assert (spec.model.dropout, spec.model.dropout_mask, spec.model.bn_mode) == (0.5, "per_step", "per_step")
    assert (spec.train.epochs, spec.train.batch_size, spec.model.neuron.theta_jitter) == (100, 50, 1e-4)
    offline = load_suite(SUITES / "paper_mnist_offline.yaml").cells
    assert {c.spec.data.dataset for c in offline} == {"mnist_digits"} and len(offline) == 9
    assert offline[0].spec.model == spec.model  # only the data and the epochs differ
    assert offline[0].spec.train.epochs == 20


def test_paper_setups_per_dataset():
    cells = load_suite(SUITES / "paper.yaml").cells
    assert len(cells) == 27
    by_dataset = {c.spec.data.dataset: c.spec for c in cells}
    cifar, dvs, gesture = by_dataset["cifar10"], by_dataset["cifar10_dvs"], by_dataset["dvs_gesture"]
    assert (cifar.data.T, cifar.data.augment, len(cifar.model.channels)) == (8, "crop_flip", 6)
    assert (dvs.data.T, dvs.data.augment, dvs.data.test_fraction, len(dvs.model.channels)) == (20, "none", 0.1, 5)
    assert (gesture.data.T, gesture.data.augment) == (20, "none")


def test_controls_are_the_asked_for_controls():
    cells = load_suite(SUITES / "controls.yaml").cells
    assert len(cells) == 30 and {c.spec.data.dataset for c in cells} == {"mnist_digits"}
    got = {
        (s.train.variant, s.model.neuron.input_bias, s.model.neuron.threshold, s.train.bn_affine, s.train.init_from,
         s.train.threshold_lr_scale)
        for s in (c.spec for c in cells)
    }  # fmt: skip
    assert got == {
        ("stl", False, "neuron", "with_weights", None, 1.0),
        ("sl", False, "neuron", "with_weights", None, 1.0),
        ("tl", False, "neuron", "with_weights", None, 1.0),
        ("sl", True, "neuron", "with_weights", None, 1.0),
        ("stl", False, "channel", "with_weights", None, 1.0),
        ("stl", False, "layer", "with_weights", None, 1.0),
        ("stl", False, "neuron", "frozen", None, 1.0),
        ("sl", False, "neuron", "frozen", None, 1.0),
        ("tl", False, "neuron", "with_weights", "sl", 1.0),
        ("tl", False, "neuron", "with_weights", None, 100.0),
    }


def run_cli(suite: str, results: Path, *overrides: str) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "snnbench", "run", str(SUITES / suite), "--results", str(results), "--device", "cpu"]
    for override in overrides:
        args += ["-o", override]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)


def finished_accuracies(results: Path, suite: str) -> dict[str, float]:
    out = {}
    for metrics in sorted((results / suite).glob("*/metrics.json")):
        out[metrics.parent.name] = json.loads(metrics.read_text())["test_acc"]
    return out


def check_run(proc, results, suite, n_cells):
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    accs = finished_accuracies(results, suite)
    assert len(accs) == n_cells, accs
    assert all(0.0 <= a <= 1.0 for a in accs.values()), accs


@pytest.mark.slow
def test_paper_mnist_offline_smoke(tmp_path):
    proc = run_cli("paper_mnist_offline.yaml", tmp_path, *TINY, "model.channels=[4, 4]", "model.fc_width=16")
    check_run(proc, tmp_path, "paper_mnist_offline", 3)


@pytest.mark.slow
def test_controls_smoke(tmp_path):
    proc = run_cli("controls.yaml", tmp_path, *TINY, "model.width=4", "model.fc_width=8", CONTROLS_WITHOUT_INIT_FROM)
    check_run(proc, tmp_path, "controls", 9)


@pytest.mark.slow
def test_controls_init_from_smoke(tmp_path):
    select = "matrix.control=[{variant: sl}, {variant: tl, train.init_from: sl}]"
    proc = run_cli("controls.yaml", tmp_path, *TINY, "model.width=4", "model.fc_width=8", select)
    check_run(proc, tmp_path, "controls", 2)
    # tl keeps its weights frozen, so after training they are still the ones sl learned
    (sl_dir,) = (tmp_path / "controls").glob("*-sl-*")
    (tl_dir,) = (tmp_path / "controls").glob("*-tl-*")
    sl_state, tl_state = (torch.load(d / "model.pt", weights_only=True) for d in (sl_dir, tl_dir))
    weights = [k for k in sl_state if k.endswith("weight") and sl_state[k].dim() > 1]
    assert weights and all(torch.equal(sl_state[k], tl_state[k]) for k in weights)


def test_input_bias_control_trains_as_many_parameters_as_stl():
    from snnbench.data import dataset_info
    from snnbench.models import create_model
    from snnbench.train.variants import apply_variant

    cells = load_suite(SUITES / "controls.yaml", ["seed=0"]).cells
    stl = next(c for c in cells if c.spec.train.variant == "stl" and c.spec.model.neuron.threshold == "neuron")
    sl_bias = next(c for c in cells if c.spec.model.neuron.input_bias)
    sl = next(c for c in cells if c.spec.train.variant == "sl" and not c.spec.model.neuron.input_bias)
    counts = {}
    for name, cell in (("stl", stl), ("sl_bias", sl_bias), ("sl", sl)):
        model = create_model(cell.spec.model, dataset_info("mnist_digits"))
        trainable = apply_variant(model, cell.spec.train.variant, cell.spec.train.bn_affine)
        counts[name] = sum(p.numel() for params in trainable.values() for p in params)
    thresholds = 32 * 28 * 28 + 32 * 14 * 14 + 128 + 100  # per-neuron thetas of the 4 LIF layers (pool after each conv)
    assert counts["stl"] == counts["sl_bias"] == counts["sl"] + thresholds
