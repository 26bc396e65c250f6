"""Learning variants: which parameters train.

========  =================  ==================
variant   synaptic weights   spike thresholds
========  =================  ==================
``stl``   trained            trained
``sl``    trained            frozen at init
``tl``    frozen at init     trained
========  =================  ==================

Parameters fall in three groups: thresholds (every LIF ``theta``), BatchNorm affine (gamma/beta) and synaptic
(every other weight and bias, the LIF ``input_bias`` b of ``model.neuron.input_bias`` included: a per-neuron bias
is a synaptic quantity, the control that separates "per-neuron offsets" from "learned thresholds").
``train.bn_affine`` decides the BatchNorm group: ``with_weights`` (trains exactly when the synaptic weights do — the
default), ``always`` or ``frozen``. A frozen parameter gets
``requires_grad=False`` and is left out of the optimiser, so training leaves it bit-for-bit unchanged (no weight
decay, no momentum). BatchNorm running statistics are buffers, not parameters: they track the data in every variant.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from snnbench.neurons import LIF

TRAINS = {"stl": (True, True), "sl": (True, False), "tl": (False, True)}  # (synaptic, thresholds)


@dataclass
class ParameterGroups:
    synaptic: list[nn.Parameter]
    thresholds: list[nn.Parameter]
    bn_affine: list[nn.Parameter]

    @property
    def count(self) -> dict[str, int]:
        return {k: sum(p.numel() for p in getattr(self, k)) for k in ("synaptic", "thresholds", "bn_affine")}


def split_parameters(model: nn.Module) -> ParameterGroups:
    thresholds = {id(m.theta) for m in model.modules() if isinstance(m, LIF)}  # a LIF's input_bias is synaptic
    bn = {id(p) for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) for p in m.parameters()}
    groups = ParameterGroups([], [], [])
    for p in model.parameters():
        key = "thresholds" if id(p) in thresholds else "bn_affine" if id(p) in bn else "synaptic"
        getattr(groups, key).append(p)
    return groups


def apply_variant(model: nn.Module, variant: str, bn_affine: str = "with_weights") -> dict[str, list[nn.Parameter]]:
    """Freeze what ``variant`` does not train; return the trainable groups by name."""
    train_synaptic, train_thresholds = TRAINS[variant]
    train_bn = {"with_weights": train_synaptic, "always": True, "frozen": False}[bn_affine]
    groups = split_parameters(model)
    trainable: dict[str, list[nn.Parameter]] = {}
    for name, params, trains in (
        ("synaptic", groups.synaptic, train_synaptic),
        ("bn_affine", groups.bn_affine, train_bn),
        ("thresholds", groups.thresholds, train_thresholds),
    ):
        for p in params:
            p.requires_grad_(trains)
        if trains and params:
            trainable[name] = params
    return trainable
