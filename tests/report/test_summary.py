"""The summary that leads the report: best variant, stl − sl with its CI, most robust, lowest energy, failures, and
the claims one line each; exact values on the synthetic store (``tests/stores.py``)."""

import io
import math

import pandas as pd
import pytest

from snnbench.report import ReportData, build_report, build_tables
from snnbench.report.summary import summary_tidy
from tests.stores import write_cell


@pytest.fixture(scope="module")
def tidy(store):
    return summary_tidy(ReportData.load([store])).set_index("dataset")


def test_best_variant_and_failures(tidy):
    mnist, fashion = tidy.loc["mnist_digits"], tidy.loc["fashion_mnist"]
    assert (mnist["cells"], mnist["failed"], mnist["unfinished"]) == (13, 1, 1)
    assert (mnist["best_variant"], mnist["best_depth"], mnist["best_n"]) == ("stl", 2, 1)
    assert mnist["best_test_acc_mean"] == pytest.approx(0.95) and math.isnan(mnist["best_test_acc_std"])
    assert (fashion["best_variant"], fashion["best_n"], fashion["failed"]) == ("stl", 3, 0)
    assert fashion["best_test_acc_mean"] == pytest.approx(0.82) and fashion["best_test_acc_std"] == pytest.approx(0.02)


def test_stl_minus_sl_at_the_depth_with_most_seeds(tidy):
    mnist = tidy.loc["mnist_digits"]  # depth 1: 3 shared seeds (paired) beats depth 2: one seed each
    assert (mnist["stl_sl_depth"], mnist["stl_sl_test"], mnist["stl_sl_n"]) == (1, "paired", 3)
    # d = [0.01, 0.02, 0.03]: mean 0.02, sd 0.01, half width t(0.975, 2) * 0.01 / sqrt(3) = 0.024841
    assert mnist["stl_sl_diff"] == pytest.approx(0.02)
    assert mnist["stl_sl_ci_low"] == pytest.approx(-0.004841, abs=1e-6)
    assert mnist["stl_sl_ci_high"] == pytest.approx(0.044841, abs=1e-6)
    fashion = tidy.loc["fashion_mnist"]  # no shared seeds: Welch, 3 vs 2
    assert (fashion["stl_sl_test"], fashion["stl_sl_n_a"], fashion["stl_sl_n_b"]) == ("welch", 3, 2)
    assert fashion["stl_sl_diff"] == pytest.approx(0.82 - 0.785)


def test_most_robust_and_lowest_energy_at_the_deepest_shared_depth(tidy):
    mnist = tidy.loc["mnist_digits"]
    # depth 2, three sweeps over [0, 0.2]: mean accuracy a − 0.025, a − 0.05, a − 0.15 -> nAUC = 1 − 0.075 / a
    assert (mnist["robust_variant"], mnist["robust_depth"]) == ("stl", 2)
    assert mnist["robust_nauc_mean"] == pytest.approx(1 - 0.075 / 0.95)
    assert mnist["robust_noise"] == 'bitflip {"per_step":false}, bitflip {"per_step":true}, gaussian'
    # depth 2: E = 1.8 (1 + rate) + 0.92 µJ, rate 0.10 (stl) < 0.20 (sl)
    assert (mnist["low_energy_variant"], mnist["low_energy_depth"]) == ("stl", 2)
    assert mnist["low_energy_uj_per_sample"] == pytest.approx(2.90)
    assert pd.isna(tidy.loc["fashion_mnist", "robust_variant"])  # no noise sweeps there


def test_summary_table_text(store):
    tables = build_tables(ReportData.load([store]), ["summary"])
    summary, claims = tables
    assert [t.name for t in tables] == ["summary", "summary/claims"] and summary.title == "Summary"
    row = summary.frame.loc[("mnist_digits", "mlp")]
    assert row["best variant"] == "stl (depth 2)" and row["test acc (0–1)"] == "0.9500 (n=1)"
    assert row["stl − sl test acc (0–1)"] == "+0.0200, 95% CI [−0.0048, +0.0448] (depth 1, paired, n=3)"
    assert row["most robust (nAUC 0–1)"] == "stl (depth 2): 0.9211"
    assert row["lowest energy (µJ/sample)"] == "stl (depth 2): 2.90"
    assert row["failures"] == "1 failed, 1 unfinished"
    fashion = summary.frame.loc[("fashion_mnist", "mlp")]
    assert fashion["test acc (0–1)"] == "0.8200 ± 0.0200 (n=3)" and fashion["failures"] == "none"
    assert fashion["stl − sl test acc (0–1)"].endswith("(depth 1, welch, n=3 vs 2)")
    assert fashion["most robust (nAUC 0–1)"] == "—"
    verdicts = claims.frame["verdicts"]
    assert verdicts["2. stl reaches a higher test accuracy than tl"] == "supported 1, no data 2 (of 3 comparisons)"
    assert verdicts["1. stl reaches a higher test accuracy than sl"] == "inconclusive 3 (of 3 comparisons)"


def test_summary_leads_markdown_and_is_tidy_csv(store):
    text = build_report([store], "markdown")
    assert text.index("## Summary") < text.index("## Accuracy")
    assert text.split("\n## ")[1].startswith("Summary\n\n| dataset       | model | best variant  |")
    assert "### The paper's claims at a glance" in text.split("\n## ")[1]
    frame = pd.read_csv(io.StringIO(build_report([store], "csv", tables=["summary"])))
    assert list(frame.columns[:5]) == ["dataset", "model", "cells", "failed", "unfinished"] and len(frame) == 2


def test_no_claims_lines_without_data(tmp_path):
    write_cell(tmp_path, "s", "d", "mlp", 1, "stl", 0, test_acc=0.9)
    tables = build_tables(ReportData.load([tmp_path]), ["summary"])
    assert [t.name for t in tables] == ["summary"]
    row = tables[0].frame.loc[("d", "mlp")]
    assert row["best variant"] == "stl (depth 1)" and row["stl − sl test acc (0–1)"] == "—"
