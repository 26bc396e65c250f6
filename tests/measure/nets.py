"""Hand-traceable networks shared by the measurement tests (fixed weights, reference LIF, tau 0.5)."""

from __future__ import annotations

import torch
from torch import nn

from snnbench.models.layers import PopulationReadout, SpikingNet, TimeFold
from snnbench.neurons import LIF


def lif(shape, theta: float = 1.0, granularity: str = "neuron") -> LIF:
    return LIF(shape, tau=0.5, theta_init=theta, granularity=granularity, backend="reference")


def two_layer_net(granularity: str = "neuron") -> SpikingNet:
    """2 inputs -> fc [[1, 0], [0, 0.6]] -> LIF(2) -> fc [[0.6, 0.6]] -> LIF(1); no biases, theta 1, tau 0.5."""
    fc1, fc2 = nn.Linear(2, 2, bias=False), nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        fc1.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.6]]))
        fc2.weight.copy_(torch.tensor([[0.6, 0.6]]))
    features = nn.Sequential(TimeFold(fc1), lif((2,), granularity=granularity), TimeFold(fc2), lif((1,)))
    return SpikingNet(features, PopulationReadout(1, 1), depth=1).eval()


# T = 4, two samples: sample 0 drives both inputs at every step, sample 1 only input 1.
# hidden h0 (I = 1 per step for sample 0): u = 1 at every step -> spikes 1 1 1 1; silent for sample 1.
# hidden h1 (I = 0.6 per step, both samples): u 0.6, 0.9, 1.05 -> spike, 0.6 -> spikes 0 0 1 0.
# output, sample 0 (I = 0.6 h0 + 0.6 h1): I 0.6, 0.6, 1.2, 0.6 -> u 0.6, 0.9, 1.65 -> spike, 0.6 -> 0 0 1 0;
# output, sample 1 (I = 0.6 h1): u 0, 0, 0.6, 0.3 -> silent.
TWO_LAYER_INPUT = torch.tensor([[[1.0, 1.0], [0.0, 1.0]]] * 4)  # [T=4, B=2, 2]
HIDDEN_SPIKES_PER_STEP = [1, 1, 3, 1]  # over both samples and both neurons
OUTPUT_SPIKES_PER_STEP = [0, 0, 1, 0]
