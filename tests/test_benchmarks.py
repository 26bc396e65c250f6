"""The reference-network benchmark measures what ``snnbench run`` trains: the suite's network, thresholds,
optimiser and step, and no process setting the run does not apply."""

from __future__ import annotations

import sys

import pytest
import torch

from snnbench.models.layers import SeqDropout, SpikingNet
from snnbench.neurons import LIF
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
bench = pytest.importorskip("train_reference_net")


def test_snnbench_entry_is_the_suite_cell_built_by_the_run_path():
    lib = bench.build("snnbench", T=2, device="cpu")
    assert isinstance(lib.model, SpikingNet)
    lifs = [m for m in lib.model.modules() if isinstance(m, LIF)]
    assert [m.feature_shape for m in lifs] == [(32, 28, 28), (32, 14, 14), (256,), (100,)]
    assert all(torch.equal(m.theta, torch.full_like(m.theta, 2.0)) for m in lifs)  # the suites' theta init
    drops = [m for m in lib.model.modules() if isinstance(m, SeqDropout)]
    assert [(d.p, d.mask) for d in drops] == [(0.5, "per_step")] * 2  # before fc1 and fc2, as snnTorch's
    groups = {g["name"]: g for g in lib.optimizer.param_groups}
    assert set(groups) == {"synaptic", "bn_affine", "thresholds"}  # stl: weights, BatchNorm and thresholds train
    assert groups["synaptic"]["lr"] == groups["thresholds"]["lr"] == 1e-3  # build_optimizer, threshold_lr_scale 1
    assert lib.optimizer.defaults["fused"] is True
    per_sample = bench.build("snnbench-per-sample", T=2, device="cpu")
    assert {d.mask for d in per_sample.model.modules() if isinstance(d, SeqDropout)} == {"per_sample"}


def test_every_library_trains_on_the_same_rate_coded_batches():
    x, y = next(bench.Batches(T=2, device="cpu").forever())
    x2, y2 = next(bench.Batches(T=2, device="cpu").forever())
    assert x.shape == (2, 50, 1, 28, 28) and set(x.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(x, x2) and torch.equal(y, y2)
    before = [p.detach().clone() for p in bench.build("snnbench", T=2, device="cpu").model.parameters()]
    lib = bench.build("snnbench", T=2, device="cpu")
    loss = lib.step(x, y)
    assert 0 < loss < 1
    after = list(lib.model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
