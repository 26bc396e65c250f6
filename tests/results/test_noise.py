"""noise.json rows: identity and merging."""

from __future__ import annotations

import torch

from snnbench.results.noise import merge_rows, row_key
from snnbench.suite.schema import NoiseSweep

CPU = torch.device("cpu")


def row(kind, level, acc, params=None):
    return {"noise_kind": kind, "noise_level": level, "noise_params": params or {}, "test_acc": acc}


def sweep(kind, levels, **params):
    return NoiseSweep(kind=kind, levels=tuple(float(v) for v in levels), params=params)


def test_merge_rows_replaces_same_measurement():
    old = [row("gaussian", 0.1, 0.5, {"clip": True}), row("gaussian", 0.2, 0.4, {"clip": True})]
    new = [row("gaussian", 0.2, 0.3, {"clip": True}), row("gaussian", 0.2, 0.1, {"clip": False})]
    merged = merge_rows(old, new)
    assert [r["test_acc"] for r in merged] == [0.5, 0.3, 0.1]
    assert row_key(merged[0]) == ("gaussian", 0.1, '{"clip":true}')
