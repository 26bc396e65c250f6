"""Time-first layers."""

from __future__ import annotations

import torch

from snnbench.models.layers import SeqDropout


def test_seq_dropout_keeps_one_mask_for_all_steps():
    """Every time step of a sample sees the same dropped units; kept units are scaled by 1 / (1 - p)."""
    torch.manual_seed(0)
    drop = SeqDropout(0.5).train()
    y = drop(torch.ones(4, 64, 100))
    assert torch.equal(y, y[:1].expand_as(y))
    assert set(y.unique().tolist()) == {0.0, 2.0}
    assert 0.4 < (y[0] == 0).float().mean().item() < 0.6
    assert torch.equal(drop.eval()(y), y)
