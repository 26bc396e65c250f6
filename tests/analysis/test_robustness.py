"""Robustness summaries from noise rows: accuracy drops and the normalised AUC, by hand."""

from __future__ import annotations

import pytest
import torch

from snnbench.analysis.robustness import robustness_summary
from tests.stores import noise_row

CPU = torch.device("cpu")


def test_robustness_summary_hand_made():
    rows = [
        noise_row("gaussian", 0.2, 0.6),
        noise_row("gaussian", 0.0, 0.9),
        noise_row("gaussian", 0.4, 0.3),
        noise_row("gaussian", 0.1, 0.8),
    ]
    rows.append(noise_row("gaussian", 0.1, 0.1))  # a repeated level: the first row counts
    rows += [noise_row("event_drop", 0.5, 0.45), noise_row("gaussian", 0.3, 0.5, {"clip": False})]
    out = robustness_summary(rows, clean_acc=0.9)
    assert [(s["noise_kind"], s["noise_params"]) for s in out] == [
        ("gaussian", {}),
        ("event_drop", {}),
        ("gaussian", {"clip": False}),
    ]
    g = out[0]
    assert g["levels"] == [0.0, 0.1, 0.2, 0.4] and g["test_acc"] == [0.9, 0.8, 0.6, 0.3]
    assert g["acc_drop"] == pytest.approx([0.0, 0.1, 0.3, 0.6])
    assert g["relative_drop"] == pytest.approx([0.0, 1 / 9, 1 / 3, 2 / 3])
    # trapezoid: 0.1 * 1.7 / 2 + 0.1 * 1.4 / 2 + 0.2 * 0.9 / 2 = 0.245; / (0.4 * 0.9)
    assert g["auc"] == pytest.approx(0.245)
    assert g["nauc"] == pytest.approx(0.245 / 0.36)
    assert (g["level_min"], g["level_max"], g["clean_acc"]) == (0.0, 0.4, 0.9)
    single = out[1]
    assert single["auc"] == 0.0 and single["nauc"] == pytest.approx(0.5)  # one level: acc / clean
    assert robustness_summary(rows, clean_acc=0.0)[0]["nauc"] is None
    assert robustness_summary(rows, clean_acc=None)[0]["acc_drop"] == [None] * 4
    flat = robustness_summary([noise_row("event_drop", 0, 0.5), noise_row("event_drop", 1, 0.5)], clean_acc=0.5)
    assert flat[0]["nauc"] == pytest.approx(1.0)
