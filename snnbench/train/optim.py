"""Optimiser and learning-rate schedule from a :class:`~snnbench.suite.TrainSpec`.

Defaults follow the reference model: Adam, lr 1e-3, weight decay 1e-6, ExponentialLR with gamma 0.93 per epoch.
Thresholds form their own parameter group with ``lr × threshold_lr_scale`` and ``threshold_weight_decay``
(null: the same as ``weight_decay``). Adam and AdamW use PyTorch's fused kernels (one pass over all parameters
instead of a dozen elementwise ops per tensor; ~1 ms of a ~37 ms training step of the reference network on 2 CPU
cores) when every parameter lives on a device that has them.
"""

from __future__ import annotations

import torch
from torch import nn

from snnbench.errors import SnnbenchError

FUSED_ADAM_DEVICES = ("cpu", "cuda")


def fused_adam_available(params: list[torch.Tensor]) -> bool:
    """True when ``torch.optim.Adam(..., fused=True)`` can take these parameters (floating point, CPU or CUDA)."""
    return bool(params) and all(p.device.type in FUSED_ADAM_DEVICES and p.is_floating_point() for p in params)


def build_optimizer(trainable: dict[str, list[nn.Parameter]], spec) -> torch.optim.Optimizer:
    if not trainable:
        raise SnnbenchError(f"variant '{spec.variant}' leaves no parameter to train", hint="check train.bn_affine")
    threshold_wd = spec.weight_decay if spec.threshold_weight_decay is None else spec.threshold_weight_decay
    groups = []
    for name, params in trainable.items():
        if name == "thresholds":
            groups.append(
                {"params": params, "lr": spec.lr * spec.threshold_lr_scale, "weight_decay": threshold_wd, "name": name}
            )
        else:
            groups.append({"params": params, "lr": spec.lr, "weight_decay": spec.weight_decay, "name": name})
    fused = {"fused": True} if fused_adam_available([p for ps in trainable.values() for p in ps]) else {}
    if spec.optimizer == "adam":
        return torch.optim.Adam(groups, **fused)
    if spec.optimizer == "adamw":
        return torch.optim.AdamW(groups, **fused)
    return torch.optim.SGD(groups, momentum=spec.momentum)


def build_scheduler(optimizer: torch.optim.Optimizer, spec) -> torch.optim.lr_scheduler.LRScheduler:
    return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=spec.lr_gamma)
