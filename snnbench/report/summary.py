r"""The ``summary`` section: what the results say, in one row per dataset and model (and varying configuration),
ahead of every other table; then the paper's claims, one line each.

Per group (the groups of every table: ``dataset``, ``model`` and the varying configuration columns):

* **best**: the variant and depth with the highest mean test accuracy over seeds, with its sample std and ``n``;
* **stl − sl**: the difference of test accuracy (:func:`snnbench.analysis.stats.compare_variants`: paired over
  shared seeds, else Welch) with its 95 % CI, at the depth with the most seeds in the comparison (``n`` pairs, or
  the smaller group under Welch), the deepest on a tie;
* **most robust**: the variant with the highest mean normalised AUC (nAUC, :mod:`snnbench.analysis.robustness`:
  ``nAUC = AUC / ((L_n − L_0) · clean acc)``, 1 = no loss), averaged over seeds and noise kinds (``robust_noise``
  lists them), at the deepest depth where at least two variants have noise sweeps;
* **lowest energy**: the variant with the lowest mean ``est_energy_uj_per_sample`` (µJ per test sample, SOPs × E_AC
  + MACs × E_MAC), at the deepest depth where at least two variants have it;
* **failures**: the group's failed and unfinished cells.

Comparisons across variants are made at one depth because accuracy, robustness and energy all change with depth.
The claims lines count the verdicts of :mod:`snnbench.analysis.claims` over the groups, depths and noise kinds.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from snnbench.analysis.claims import VERDICTS, nauc_frame
from snnbench.analysis.stats import compare_variants
from snnbench.report import format as fmt
from snnbench.report.claims import claims_tidy
from snnbench.report.data import ReportData, groupby, variant_key
from snnbench.report.table import Table, make_table, num_key

SUMMARY_COLUMNS = [
    "cells", "failed", "unfinished",
    "best_variant", "best_depth", "best_test_acc_mean", "best_test_acc_std", "best_n",
    "stl_sl_depth", "stl_sl_test", "stl_sl_n", "stl_sl_n_a", "stl_sl_n_b", "stl_sl_diff", "stl_sl_ci_low",
    "stl_sl_ci_high", "stl_sl_p",
    "robust_variant", "robust_depth", "robust_nauc_mean", "robust_noise",
    "low_energy_variant", "low_energy_depth", "low_energy_uj_per_sample",
]  # fmt: skip


def _best(done: pd.DataFrame) -> dict[str, Any]:
    acc = pd.to_numeric(done["test_acc"], errors="coerce")
    stats = acc.groupby([done["variant"], done["depth"]]).agg(["mean", "std", "count"]).dropna(subset=["mean"])
    if stats.empty:
        return {}
    # highest mean; on a tie the shallower net, then the report's variant order
    order = sorted(stats.index, key=lambda ix: (-stats.loc[ix, "mean"], num_key(ix[1]), variant_key(ix[0])))
    variant, depth = order[0]
    row = stats.loc[(variant, depth)]
    return {"best_variant": variant, "best_depth": depth, "best_test_acc_mean": row["mean"],
            "best_test_acc_std": row["std"], "best_n": int(row["count"])}  # fmt: skip


def _stl_sl(done: pd.DataFrame) -> dict[str, Any]:
    rows = compare_variants(done, [], "test_acc", comparisons=(("stl", "sl"),))
    if rows.empty:
        return {}
    seeds = [int(r["n"]) if r["test"] == "paired" else min(int(r["n_a"]), int(r["n_b"])) for _, r in rows.iterrows()]
    rows = rows.assign(_seeds=seeds, _depth=[num_key(d) for d in rows["depth"]])
    r = rows.sort_values(["_seeds", "_depth"], ascending=False, kind="stable").iloc[0]
    return {"stl_sl_depth": r["depth"], "stl_sl_test": r["test"], "stl_sl_n": int(r["_seeds"]),
            "stl_sl_n_a": int(r["n_a"]), "stl_sl_n_b": int(r["n_b"]),
            "stl_sl_diff": r["mean_diff"], "stl_sl_ci_low": r["ci_low"], "stl_sl_ci_high": r["ci_high"],
            "stl_sl_p": r["p"]}  # fmt: skip


def _lowest_or_highest(values: pd.DataFrame, column: str, highest: bool) -> tuple[Any, Any, float] | None:
    """(variant, depth, mean) of the best variant at the deepest depth where >= 2 variants have ``column``."""
    values = values.assign(**{column: pd.to_numeric(values[column], errors="coerce")}).dropna(subset=[column])
    if values.empty:
        return None
    means = values.groupby(["depth", "variant"])[column].mean()
    depths = [d for d in means.index.get_level_values(0).unique() if len(means.loc[d]) >= 2]
    if not depths:
        return None
    depth = max(depths, key=num_key)
    at = means.loc[depth]
    order = sorted(at.index, key=lambda v: ((-at[v] if highest else at[v]), variant_key(v)))
    return order[0], depth, float(at[order[0]])


def _robust(done: pd.DataFrame, noise: pd.DataFrame) -> dict[str, Any]:
    nauc = nauc_frame(done, noise)
    found = _lowest_or_highest(nauc, "nauc", highest=True) if not nauc.empty else None
    if found is None:
        return {}
    variant, depth, value = found
    kinds = sorted({str(n) for n in nauc.loc[nauc["depth"] == depth, "noise"]})
    return {
        "robust_variant": variant,
        "robust_depth": depth,
        "robust_nauc_mean": value,
        "robust_noise": ", ".join(kinds),
    }


def _low_energy(done: pd.DataFrame) -> dict[str, Any]:
    if "est_energy_uj_per_sample" not in done.columns:
        return {}
    found = _lowest_or_highest(done, "est_energy_uj_per_sample", highest=False)
    if found is None:
        return {}
    variant, depth, value = found
    return {"low_energy_variant": variant, "low_energy_depth": depth, "low_energy_uj_per_sample": value}


def summary_tidy(data: ReportData) -> pd.DataFrame:
    """One row per group: :data:`SUMMARY_COLUMNS` after the group columns (module docstring); NaN where absent."""
    keys = data.group_columns
    noise = data.noise
    rows = []
    for values, cells in groupby(data.cells, keys):
        values = values if isinstance(values, tuple) else (values,)
        done = cells[cells["status"] == "done"]
        status = cells["status"].value_counts()
        row: dict[str, Any] = dict(zip(keys, values, strict=True))
        row.update(cells=len(cells), failed=int(status.get("failed", 0)), unfinished=int(status.get("unfinished", 0)))
        if not done.empty:
            row.update(_best(done))
            row.update(_stl_sl(done))
            row.update(_robust(done, noise[noise["path"].isin(set(done["path"]))]))
            row.update(_low_energy(done))
        rows.append(row)
    return pd.DataFrame(rows, columns=[*keys, *SUMMARY_COLUMNS])


def _at(variant: Any, depth: Any) -> str:
    return f"{fmt.label(variant)} (depth {fmt.label(depth)})"


def _texts(r: pd.Series) -> dict[str, str]:
    m = fmt.MISSING
    best = m if fmt.is_missing(r["best_test_acc_mean"]) else _at(r["best_variant"], r["best_depth"])
    acc = m
    if not fmt.is_missing(r["best_test_acc_mean"]):
        std = "" if fmt.is_missing(r["best_test_acc_std"]) else f" ± {fmt.acc(r['best_test_acc_std'])}"
        acc = f"{fmt.acc(r['best_test_acc_mean'])}{std} (n={int(r['best_n'])})"
    diff = m
    if not fmt.is_missing(r["stl_sl_diff"]):
        ci = "" if fmt.is_missing(r["stl_sl_ci_low"]) else (
            f", 95% CI [{fmt.signed(r['stl_sl_ci_low'])}, {fmt.signed(r['stl_sl_ci_high'])}]")  # fmt: skip
        diff = f"{fmt.signed(r['stl_sl_diff'])}{ci} (depth {fmt.label(r['stl_sl_depth'])}, {r['stl_sl_test']}, "
        paired = r["stl_sl_test"] == "paired"
        diff += f"n={int(r['stl_sl_n'])})" if paired else f"n={int(r['stl_sl_n_a'])} vs {int(r['stl_sl_n_b'])})"
    robust = m if pd.isna(r["robust_variant"]) else (
        f"{_at(r['robust_variant'], r['robust_depth'])}: {fmt.acc(r['robust_nauc_mean'])}")  # fmt: skip
    energy = m if pd.isna(r["low_energy_variant"]) else (
        f"{_at(r['low_energy_variant'], r['low_energy_depth'])}: {fmt.sig(r['low_energy_uj_per_sample'])}")  # fmt: skip
    parts = [f"{int(r[k])} {k}" for k in ("failed", "unfinished") if r[k]]
    return {
        "best variant": best, "test acc (0–1)": acc, "stl − sl test acc (0–1)": diff, "most robust (nAUC 0–1)": robust,
        "lowest energy (µJ/sample)": energy, "failures": ", ".join(parts) or "none",
    }  # fmt: skip


def _claims_lines(data: ReportData) -> Table | None:
    """One row per claim: how many comparisons gave each verdict; None when no claim has data."""
    frame = claims_tidy(data)
    if frame.empty or (frame["verdict"] == "no data").all():
        return None
    rows = {}
    for (number, statement), group in frame.groupby(["claim", "statement"], sort=True):
        counts = group["verdict"].value_counts()
        parts = [f"{v} {int(counts[v])}" for v in VERDICTS if counts.get(v)]
        rows[f"{number}. {statement}"] = {"verdicts": ", ".join(parts) + f" (of {len(group)} comparisons)"}
    text = pd.DataFrame.from_dict(rows, orient="index")
    text.index.name = "claim"
    note = "verdict counts over datasets, models, depths and noise kinds; each comparison: the claims table below"
    return make_table("summary", "summary/claims", "The paper's claims at a glance", text, None, note)


def summary_tables(data: ReportData) -> list[Table]:
    """The summary table (a row per group) and, when the claims have data, the claims at a glance."""
    tidy = summary_tidy(data)
    if tidy.empty:
        return []
    keys = data.group_columns
    text = pd.DataFrame([_texts(r) for _, r in tidy.iterrows()])
    text.index = pd.MultiIndex.from_frame(tidy[keys].map(fmt.label)) if len(keys) > 1 else pd.Index(tidy[keys[0]])
    note = (
        "best: highest mean test accuracy over seeds (± sample std); stl − sl: paired (or Welch) difference at the "
        "depth with the most seeds; most robust: highest mean nAUC (1 = no loss under noise) and lowest energy: "
        "estimated µJ per test sample, both at the deepest depth two or more variants share"
    )
    tables = [make_table("summary", "summary", "Summary", text, None, note)]
    claims = _claims_lines(data)
    return tables + ([claims] if claims is not None else [])
