"""ThresholdMonitor: init statistics, per-epoch threshold statistics and train-mode firing rates."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from snnbench.data import DataBundle, DatasetInfo
from snnbench.measure.thresholds import ThresholdMonitor, theta_stats
from snnbench.models.layers import PopulationReadout, SpikingNet, TimeFold
from snnbench.neurons import LIF
from snnbench.suite.schema import TrainSpec
from snnbench.train import fit


def net(theta_init=1.0, jitter=0.0, granularity="neuron") -> SpikingNet:
    torch.manual_seed(0)
    fc1, fc2 = nn.Linear(4, 3, bias=False), nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        fc1.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 0.5, 0, 0], [0, 0, 0.7, 0]]))
        fc2.weight.copy_(torch.tensor([[1.0, 0, 0], [0, 0, 1.0]]))
    kw = dict(tau=0.5, theta_init=theta_init, theta_jitter=jitter, granularity=granularity, backend="reference")
    features = nn.Sequential(TimeFold(fc1), LIF((3,), **kw), TimeFold(fc2), LIF((2,), **kw))
    return SpikingNet(features, PopulationReadout(2, 1), depth=1)


def no_hooks(model) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_initial_stats_equal_theta_init():
    monitor = ThresholdMonitor(net(theta_init=1.5))
    assert list(monitor.initial) == ["features.1", "features.3"]
    for stats in monitor.initial.values():
        assert stats == {"mean": 1.5, "std": 0.0, "min": 1.5, "max": 1.5}
    jittered = net(theta_init=2.0, jitter=0.3)
    monitor = ThresholdMonitor(jittered)
    theta = jittered.features[1].theta.detach().double()
    assert monitor.initial["features.1"]["mean"] == pytest.approx(float(theta.mean()))
    assert monitor.initial["features.1"]["std"] == pytest.approx(float(theta.std(unbiased=False)))
    assert monitor.initial["features.1"]["min"] < 2.0 < monitor.initial["features.1"]["max"]
    single = theta_stats(torch.tensor(0.7))  # layer granularity: one value
    assert single == pytest.approx({"mean": 0.7, "std": 0.0, "min": 0.7, "max": 0.7})


def test_epoch_record_has_thresholds_and_train_mode_firing_rates():
    model = net()
    monitor = ThresholdMonitor(model)
    x = torch.tensor([[[1.0, 0, 1, 0]], [[1.0, 1, 1, 0]]])  # T = 2, one sample: hidden spikes 3 of 6, output 3 of 4
    monitor.on_epoch_begin(1)
    model.train()
    model(x)
    model.eval()
    with torch.no_grad():
        model(x)  # an evaluation pass (same spikes again): not counted
        model.features[1].theta.add_(0.5)  # thresholds moved by training
    record: dict = {}
    monitor.on_epoch_end(1, record)
    assert record["firing_rates"] == {"features.1": 0.5, "features.3": 0.75}
    assert record["thresholds"]["features.1"] == {"mean": 1.5, "std": 0.0, "min": 1.5, "max": 1.5, "drift": 0.5}
    assert record["thresholds"]["features.3"]["drift"] == 0.0
    assert no_hooks(model)
    model.train()
    model(x)  # after the epoch nothing counts any more
    assert no_hooks(model)


def test_fit_with_monitor_stores_stats_per_epoch():
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(12, 1, 2, 2, generator=g), torch.randint(0, 2, (12,), generator=g)
    info = DatasetInfo(name="tiny", kind="static", shape=(1, 2, 2), num_classes=2)
    bundle = DataBundle(info=info, train=TensorDataset(x, y), test=TensorDataset(x, y), T=2, encoding="rate")
    model = net(theta_init=0.5)
    model.features[0] = TimeFold(nn.Sequential(nn.Flatten(), model.features[0].module))
    monitor = ThresholdMonitor(model)
    history = fit(
        model, bundle, TrainSpec(epochs=2, batch_size=4, lr=0.05), torch.device("cpu"), seed=0, hooks=[monitor]
    )
    assert len(history) == 2
    for record in history:
        assert set(record["thresholds"]) == set(record["firing_rates"]) == {"features.1", "features.3"}
        assert all(0.0 <= r <= 1.0 for r in record["firing_rates"].values())
        assert set(record["thresholds"]["features.1"]) == {"mean", "std", "min", "max", "drift"}
    assert history[-1]["thresholds"]["features.1"]["drift"] > 0  # stl: thresholds train
    assert monitor.initial["features.1"]["mean"] == 0.5
    assert no_hooks(model)
