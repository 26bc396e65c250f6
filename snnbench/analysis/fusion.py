r"""Decision fusion across trained cells — our generalisation of the paper's "joint decision" idea.

The paper reports a further gain from a generalized joint decision framework whose exact definition is not
available to us. snnbench fuses the *test-set outputs* that every finished cell stores (``test_outputs.pt``:
class rates :math:`r^{(m)} \in [0, 1]^{N \times C}` of member :math:`m` and the labels):

* ``mean``: :math:`\hat y = \arg\max_c \frac{1}{M} \sum_m r^{(m)}_c` (average the output rates);
* ``vote``: majority of the members' :math:`\arg\max`, ties broken by the mean rate.

Members are grouped two ways: ``seeds`` — the seeds of one variant at one depth (an ensemble of identically
configured networks), and ``variants`` — ``stl``, ``sl`` and ``tl`` of one seed at one depth. A group needs at
least two members with identical test labels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import torch

from snnbench.results import cells_frame
from snnbench.results.store import CellStore

RULES = ("mean", "vote")
GROUPINGS = {
    "seeds": (["suite", "dataset", "model", "depth", "variant"], "seed"),
    "variants": (["suite", "dataset", "model", "depth", "seed"], "variant"),
}


def fuse(rates: list[torch.Tensor], rule: str) -> torch.Tensor:
    """Fused class predictions ``[N]`` from members' rates ``[N, C]`` each."""
    stacked = torch.stack(rates)  # [M, N, C]
    mean = stacked.mean(0)
    if rule == "mean":
        return mean.argmax(1)
    votes = torch.nn.functional.one_hot(stacked.argmax(2), stacked.shape[2]).sum(0).float()  # [N, C]
    return (votes + mean / (mean.max() + 1)).argmax(1)  # the mean rate (< 1 after scaling) only breaks ties


def fusion_frame(*roots: str | Path) -> pd.DataFrame:
    """One row per (grouping, group, rule): fused test accuracy beside the members' mean and best."""
    return fusion_rows(cells_frame(*roots))


def fusion_rows(cells: pd.DataFrame) -> pd.DataFrame:
    """:func:`fusion_frame` over the finished cells of a per-cell frame (``snnbench.results.cells_frame``)."""
    done = cells[cells["status"] == "done"]
    outputs: dict[str, dict[str, torch.Tensor] | None] = {p: CellStore(Path(p)).load_outputs() for p in done["path"]}
    rows: list[dict[str, Any]] = []
    for grouping, (keys, member_key) in GROUPINGS.items():
        for group_values, group in done.groupby(keys, sort=True):
            members = [
                (str(m), outputs[p])
                for m, p in zip(group[member_key], group["path"], strict=True)
                if outputs[p] is not None
            ]
            if len(members) < 2 or any(not torch.equal(o["labels"], members[0][1]["labels"]) for _, o in members):
                continue
            labels = members[0][1]["labels"]
            accs = [float((o["rates"].argmax(1) == labels).float().mean()) for _, o in members]
            for rule in RULES:
                predicted = fuse([o["rates"] for _, o in members], rule)
                rows.append(
                    {
                        "fusion": grouping,
                        "rule": rule,
                        **dict(zip(keys, group_values, strict=True)),
                        member_key: "+".join(m for m, _ in members),
                        "members": len(members),
                        "test_acc": float((predicted == labels).float().mean()),
                        "mean_member_acc": sum(accs) / len(accs),
                        "best_member_acc": max(accs),
                        "fusion_gain": float((predicted == labels).float().mean()) - sum(accs) / len(accs),
                    }
                )
    return pd.DataFrame(rows)
