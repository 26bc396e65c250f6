"""The ``claims`` section: each claim of the paper and what the results directory shows
(:mod:`snnbench.analysis.claims`: effect, 95 % CI, paired or Welch test over seeds, n, verdict)."""

from __future__ import annotations

import pandas as pd

from snnbench.analysis.claims import claims, claims_frame
from snnbench.report import format as fmt
from snnbench.report.data import ReportData
from snnbench.report.table import Table, make_table, slug

NOTE = (
    "effect = mean stl − mean other (paired: the mean per-seed difference), in the claim's unit; 95% CI of the "
    "effect; supported / contradicted: the CI excludes 0 in / against the claimed direction with n ≥ 3 seeds; "
    "otherwise inconclusive. Definitions: docs/claims.md"
)


def claims_tidy(data: ReportData) -> pd.DataFrame:
    return data.memo("claims", lambda: claims_frame(claims(data.cells, data.layers, data.noise)))


def _ci(row: pd.Series) -> str:
    if fmt.is_missing(row["ci_low"]):
        return fmt.MISSING
    return f"[{fmt.sig(row['ci_low'])}, {fmt.sig(row['ci_high'])}]"


def claims_tables(data: ReportData) -> list[Table]:
    """One table per dataset and model (and varying configuration): a row per claim, depth and noise kind."""
    frame = claims_tidy(data)
    if frame.empty or (frame["verdict"] == "no data").all() and data.done.empty:
        return []
    tables = []
    keys = [c for c in frame.columns if c in ("dataset", "model", *data.config_columns)]
    for values, group in frame.groupby(keys, sort=True, dropna=False) if keys else [((), frame)]:
        values = values if isinstance(values, tuple) else (values,)
        rows = pd.DataFrame(
            {
                "claim": [f"{c}. {s}" for c, s in zip(group["claim"], group["statement"], strict=True)],
                "depth": group["depth"].map(fmt.label),
                "noise": group["noise"].fillna("").astype(str),
                "n": group["n"].map(fmt.integer),
                "test": group["test"],
                "mean stl": group["mean_a"].map(fmt.sig),
                "mean other": group["mean_b"].map(fmt.sig),
                "effect": group["effect"].map(lambda v: fmt.MISSING if fmt.is_missing(v) else fmt.sig(v)),
                "95% CI": group.apply(_ci, axis=1),
                "p": group["p"].map(fmt.pvalue),
                "verdict": [
                    v if not r else f"{v} ({r})" for v, r in zip(group["verdict"], group["reason"], strict=True)
                ],
                "unit": group["unit"],
            }
        ).set_index("claim")
        if (rows["noise"] == "").all():
            rows = rows.drop(columns="noise")
        title = "The paper's claims against these results — " + (data.group_title(keys, values) or "all cells")
        tables.append(make_table("claims", f"claims/{slug(*values)}", title, rows, None, NOTE))
    return tables
