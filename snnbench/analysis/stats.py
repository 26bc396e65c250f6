"""Statistics across seeds: does ``stl`` differ from ``sl`` / ``tl``?

For each group (dataset × model × configuration) and depth, the finished cells of two variants are compared on a
metric (test accuracy by default):

* **paired** t-test (``scipy.stats.ttest_rel``) on the seeds both variants have, when they share at least 2;
  ``n`` = shared seeds; the difference is ``a − b`` per seed, its 95% CI ``mean ± t(0.975, n−1) · sd/√n``;
* otherwise **Welch**'s t-test (``scipy.stats.ttest_ind(equal_var=False)``) over all seeds of each;
  95% CI with the Welch–Satterthwaite degrees of freedom; ``n`` = ``n_a vs n_b``.

A comparison with fewer than 3 (pairs, or seeds in the smaller group) is flagged ``n<3``: its p-value is shown but
carries little weight. With fewer than 2 values per side no test is possible: t, p and the CI are NaN.
Two cells of the same variant and seed (e.g. the same cell in two results directories) count once, by their mean.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as st

COMPARISONS = (("stl", "sl"), ("stl", "tl"))
STATS_COLUMNS = [
    "metric", "a", "b", "test", "n", "n_a", "n_b", "mean_a", "mean_b", "mean_diff", "ci_low", "ci_high", "t", "df",
    "p", "flag",
]  # fmt: skip
NAN = math.nan


def compare(a: Mapping[Any, float], b: Mapping[Any, float], confidence: float = 0.95) -> dict[str, Any]:
    """Compare two ``{seed: value}`` samples; see the module doc for the choice of test."""
    a = {k: float(v) for k, v in a.items() if not _nan(v)}
    b = {k: float(v) for k, v in b.items() if not _nan(v)}
    xa, xb = np.array(list(a.values())), np.array(list(b.values()))
    shared = sorted(set(a) & set(b), key=str)
    out: dict[str, Any] = {
        "n_a": len(xa), "n_b": len(xb), "mean_a": _mean(xa), "mean_b": _mean(xb),
        "mean_diff": NAN, "ci_low": NAN, "ci_high": NAN, "t": NAN, "df": NAN, "p": NAN,
    }  # fmt: skip
    q = 0.5 + confidence / 2
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        if len(shared) >= 2:
            pa, pb = np.array([a[s] for s in shared]), np.array([b[s] for s in shared])
            d = pa - pb
            n = len(d)
            result = st.ttest_rel(pa, pb)
            half = st.t.ppf(q, n - 1) * d.std(ddof=1) / math.sqrt(n)
            mean = float(d.mean())
            out.update(test="paired", n=n, mean_diff=mean, t=float(result.statistic), df=n - 1)
            out.update(p=float(result.pvalue), ci_low=mean - float(half), ci_high=mean + float(half))
            out["flag"] = "n<3" if n < 3 else ""
            return out
        out.update(test="welch", n=NAN)
        if len(xa) and len(xb):
            out["mean_diff"] = float(xa.mean() - xb.mean())
        if len(xa) >= 2 and len(xb) >= 2:
            va, vb = xa.var(ddof=1) / len(xa), xb.var(ddof=1) / len(xb)
            se = math.sqrt(va + vb)
            df = (va + vb) ** 2 / (va**2 / (len(xa) - 1) + vb**2 / (len(xb) - 1)) if se > 0 else NAN
            result = st.ttest_ind(xa, xb, equal_var=False)
            half = float(st.t.ppf(q, df)) * se if se > 0 else NAN
            out.update(t=float(result.statistic), p=float(result.pvalue), df=df)
            out.update(ci_low=out["mean_diff"] - half, ci_high=out["mean_diff"] + half)
    out["flag"] = "n<3" if min(len(xa), len(xb)) < 3 else ""
    return out


def _nan(v: Any) -> bool:
    try:
        return v is None or math.isnan(float(v))
    except (TypeError, ValueError):
        return True


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if len(x) else NAN


def compare_variants(
    done: pd.DataFrame,
    group_columns: Sequence[str],
    metric: str = "test_acc",
    comparisons: Sequence[tuple[str, str]] = COMPARISONS,
) -> pd.DataFrame:
    """One row per group × depth × comparison whose two variants both have finished cells."""
    columns = [*group_columns, "depth", *STATS_COLUMNS]
    if done.empty or metric not in done.columns:
        return pd.DataFrame(columns=columns)
    per_seed = done.groupby([*group_columns, "depth", "variant", "seed"], dropna=False)[metric].mean().reset_index()
    rows = []
    for keys, group in per_seed.groupby([*group_columns, "depth"], sort=True, dropna=False):
        by_variant = {v: dict(zip(g["seed"], g[metric], strict=True)) for v, g in group.groupby("variant")}
        for a, b in comparisons:
            if a in by_variant and b in by_variant:
                result = compare(by_variant[a], by_variant[b])
                where = dict(zip([*group_columns, "depth"], keys, strict=True))
                rows.append({**where, "metric": metric, "a": a, "b": b, **result})
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("n", "n_a", "n_b"):
        frame[column] = frame[column].astype("Int64")
    return frame
