"""noise.json rows: identity and merging."""

from __future__ import annotations

import torch

from snnbench.results.noise import merge_rows, row_key
from tests.stores import noise_row

CPU = torch.device("cpu")


def test_merge_rows_replaces_same_measurement():
    old = [noise_row("gaussian", 0.1, 0.5, {"clip": True}), noise_row("gaussian", 0.2, 0.4, {"clip": True})]
    new = [noise_row("gaussian", 0.2, 0.3, {"clip": True}), noise_row("gaussian", 0.2, 0.1, {"clip": False})]
    merged = merge_rows(old, new)
    assert [r["test_acc"] for r in merged] == [0.5, 0.3, 0.1]
    assert row_key(merged[0]) == ("gaussian", 0.1, '{"clip":true}')
