"""Paired and Welch t-tests across seeds against scipy and hand-computed values."""

import math

import numpy as np
import pytest
from scipy import stats as st

from snnbench.analysis.stats import compare, compare_variants
from snnbench.report import ReportData


def test_paired_known_case():
    a = {0: 0.91, 1: 0.92, 2: 0.93}
    b = {0: 0.90, 1: 0.90, 2: 0.90}  # differences 0.01, 0.02, 0.03
    r = compare(a, b)
    assert r["test"] == "paired" and r["n"] == 3 and r["flag"] == ""
    assert r["mean_diff"] == pytest.approx(0.02)
    # t = mean / (sd / sqrt(n)) = 0.02 / (0.01 / sqrt(3)) = 2 sqrt(3)
    assert r["t"] == pytest.approx(2 * math.sqrt(3))
    ref = st.ttest_rel([0.91, 0.92, 0.93], [0.90, 0.90, 0.90])
    assert r["t"] == pytest.approx(ref.statistic) and r["p"] == pytest.approx(ref.pvalue)
    assert r["p"] == pytest.approx(0.07417990022744858)
    half = st.t.ppf(0.975, 2) * 0.01 / math.sqrt(3)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((0.02 - half, 0.02 + half))
    assert r["df"] == 2


def test_paired_uses_shared_seeds_only():
    r = compare({0: 0.9, 1: 0.8, 2: 0.7, 9: 0.1}, {0: 0.85, 1: 0.75, 2: 0.60, 5: 0.99})
    assert r["test"] == "paired" and r["n"] == 3 and r["n_a"] == 4 and r["n_b"] == 4
    ref = st.ttest_rel([0.9, 0.8, 0.7], [0.85, 0.75, 0.60])
    assert r["p"] == pytest.approx(ref.pvalue)


def test_welch_when_seeds_differ():
    a, b = [0.80, 0.82, 0.84], [0.78, 0.79, 0.75]
    r = compare(dict(enumerate(a)), {s + 10: v for s, v in enumerate(b)})
    ref = st.ttest_ind(a, b, equal_var=False)
    assert r["test"] == "welch" and math.isnan(r["n"]) and (r["n_a"], r["n_b"]) == (3, 3) and r["flag"] == ""
    assert r["t"] == pytest.approx(ref.statistic) and r["p"] == pytest.approx(ref.pvalue)
    assert r["mean_diff"] == pytest.approx(np.mean(a) - np.mean(b))
    va, vb = np.var(a, ddof=1) / 3, np.var(b, ddof=1) / 3
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)
    half = st.t.ppf(0.975, df) * math.sqrt(va + vb)
    assert r["df"] == pytest.approx(df)
    assert r["ci_high"] - r["ci_low"] == pytest.approx(2 * half)


@pytest.mark.parametrize(
    "a, b, test",
    [
        ({0: 0.9, 1: 0.8}, {0: 0.85, 1: 0.7}, "paired"),  # 2 pairs: tested, flagged
        ({0: 0.9, 1: 0.8, 2: 0.7}, {5: 0.85, 6: 0.7}, "welch"),  # smaller group has 2
    ],
)
def test_small_samples_are_flagged(a, b, test):
    r = compare(a, b)
    assert r["test"] == test and r["flag"] == "n<3" and not math.isnan(r["p"])


def test_single_seed_each_gives_no_test_but_a_difference():
    r = compare({0: 0.95}, {0: 0.94})
    assert r["test"] == "welch" and r["flag"] == "n<3"
    assert r["mean_diff"] == pytest.approx(0.01) and math.isnan(r["p"]) and math.isnan(r["t"])


def test_compare_variants_on_the_store(store):
    data = ReportData.load([store])
    frame = compare_variants(data.done, data.group_columns)
    key = frame.set_index(["dataset", "depth", "a", "b"])
    assert key.loc[("mnist_digits", 1, "stl", "sl"), "test"] == "paired"
    assert key.loc[("mnist_digits", 1, "stl", "sl"), "mean_diff"] == pytest.approx(0.02)
    tl = key.loc[("mnist_digits", 1, "stl", "tl")]
    ref = st.ttest_rel([0.91, 0.92, 0.93], [0.85, 0.87, 0.86])
    assert tl["p"] == pytest.approx(ref.pvalue) and tl["n"] == 3
    assert key.loc[("mnist_digits", 2, "stl", "sl"), "flag"] == "n<3"
    assert ("mnist_digits", 2, "stl", "tl") not in key.index  # tl at depth 2 failed: nothing to compare
    fashion = key.loc[("fashion_mnist", 1, "stl", "sl")]
    ref = st.ttest_ind([0.80, 0.82, 0.84], [0.78, 0.79], equal_var=False)
    assert fashion["test"] == "welch" and fashion["p"] == pytest.approx(ref.pvalue) and fashion["flag"] == "n<3"
