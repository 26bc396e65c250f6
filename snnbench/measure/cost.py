"""Training cost of a cell before it runs, device-independent: ``3 × T × dense MACs per step × epochs`` per training
sample (forward + backward ≈ 3 × forward), in GMAC. The dense MACs are those of the same network as an ANN
(:func:`snnbench.measure.energy.ann_macs`)."""

from __future__ import annotations

import json

import torch

from snnbench.data import dataset_info
from snnbench.measure.energy import ann_macs
from snnbench.models import create_model
from snnbench.suite import CellSpec, spec_to_dict


def training_gmac_per_sample(spec: CellSpec, cache: dict | None = None) -> float:
    """Rough training cost of one cell per training sample over all epochs, GMAC; ``cache`` (model spec ->
    MACs per step) spares rebuilding the same network for every cell of a suite."""
    cache = {} if cache is None else cache
    info = dataset_info(spec.data.dataset)
    key = (json.dumps(spec_to_dict(spec.model), sort_keys=True), spec.data.dataset)
    if key not in cache:
        cache[key] = sum(ann_macs(create_model(spec.model, info), torch.zeros(info.shape)).values())
    T = spec.data.T or info.default_T
    return 3 * T * cache[key] * spec.train.epochs / 1e9
