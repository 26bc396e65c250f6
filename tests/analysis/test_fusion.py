"""Decision fusion on hand-made outputs."""

import pytest
import torch

from snnbench.analysis.fusion import fuse, fusion_frame
from snnbench.results.store import CellStore, atomic_write_json


def test_mean_and_vote_rules_by_hand():
    a = torch.tensor([[0.9, 0.1], [0.4, 0.6], [0.6, 0.4]])
    b = torch.tensor([[0.2, 0.8], [0.3, 0.7], [0.55, 0.45]])
    c = torch.tensor([[0.3, 0.7], [0.75, 0.25], [0.1, 0.9]])
    # mean: [0.467, 0.533] -> 1 ; [0.483, 0.517] -> 1 ; [0.417, 0.583] -> 1
    assert fuse([a, b, c], "mean").tolist() == [1, 1, 1]
    # votes: sample 0: 0,1,1 -> 1 ; sample 1: 1,1,0 -> 1 ; sample 2: 0,0,1 -> 0
    assert fuse([a, b, c], "vote").tolist() == [1, 1, 0]
    # a 1-1 tie in votes is broken by the mean rate
    assert fuse([a[:1], b[:1]], "vote").tolist() == [0]  # votes 0 and 1; mean rates [0.55, 0.45]


def write_cell(root, variant, seed, rates, labels):
    cell = CellStore(root / "s" / f"{variant}-{seed}")
    spec = {"suite": "s", "cell_id": f"{variant}{seed}", "seed": seed, "data": {"dataset": "d"},
            "model": {"name": "mlp", "depth": 1}, "train": {"variant": variant}}  # fmt: skip
    cell.write_json("spec.json", spec)
    acc = float((rates.argmax(1) == labels).float().mean())
    cell.write_json("metrics.json", {"status": "done", "test_acc": acc})
    cell.save_outputs(rates, labels)
    cell.mark_done("done")


def test_fusion_frame_groups_seeds_and_variants(tmp_path):
    labels = torch.tensor([0, 1, 1])
    a = torch.tensor([[0.9, 0.1], [0.4, 0.6], [0.6, 0.4]])  # 2/3 right
    b = torch.tensor([[0.2, 0.8], [0.3, 0.7], [0.55, 0.45]])  # 1/3
    c = torch.tensor([[0.3, 0.7], [0.75, 0.25], [0.1, 0.9]])  # 1/3
    write_cell(tmp_path, "stl", 0, a, labels)
    write_cell(tmp_path, "stl", 1, b, labels)
    write_cell(tmp_path, "stl", 2, c, labels)
    write_cell(tmp_path, "sl", 0, b, labels)
    atomic_write_json(tmp_path / "s" / "suite.json", {"suite": "s", "schema_version": 1})
    frame = fusion_frame(tmp_path)
    seeds = frame[(frame.fusion == "seeds") & (frame.variant == "stl")].set_index("rule")
    assert seeds.loc["mean", "seed"] == "0+1+2" and seeds.loc["mean", "members"] == 3
    assert seeds.loc["mean", "test_acc"] == pytest.approx(2 / 3)  # predictions [1, 1, 1] vs labels [0, 1, 1]
    assert seeds.loc["vote", "test_acc"] == pytest.approx(1 / 3)  # predictions [1, 1, 0]
    assert seeds.loc["mean", "mean_member_acc"] == pytest.approx(4 / 9) and seeds.loc[
        "mean", "best_member_acc"
    ] == pytest.approx(2 / 3)
    variants = frame[(frame.fusion == "variants") & (frame.seed == 0)]
    assert set(variants["variant"]) == {"stl+sl"} or set(variants["variant"]) == {"sl+stl"}
    assert len(frame[frame.fusion == "variants"]) == 2  # only seed 0 has two variants; one row per rule


def test_report_shows_fusion_rows(tmp_path):
    from snnbench.report import build_report

    labels = torch.tensor([0, 1, 1])
    write_cell(tmp_path, "stl", 0, torch.tensor([[0.9, 0.1], [0.4, 0.6], [0.6, 0.4]]), labels)
    write_cell(tmp_path, "stl", 1, torch.tensor([[0.2, 0.8], [0.3, 0.7], [0.55, 0.45]]), labels)
    text = build_report([tmp_path], "markdown", tables=["fusion"])
    assert "## Decision fusion — d, mlp" in text
    # mean rule: [1.1, 0.9] / 2 -> 0 ; [0.7, 1.3] -> 1 ; [1.15, 0.85] -> 0 : 2/3 ; members 2/3 and 1/3
    assert "| seeds  | 1     | stl: seeds 0+1 | mean | 0.6667" in text
