"""Report sections that compare cells: ``stats`` (stl vs sl / tl across seeds), ``fusion`` (decision fusion) and
``failures`` (cells that did not finish)."""

from __future__ import annotations

import pandas as pd

from snnbench.analysis.fusion import fusion_rows
from snnbench.analysis.stats import compare_variants
from snnbench.report import format as fmt
from snnbench.report.data import ReportData, groupby, per_cell
from snnbench.report.table import Table, make_table, slug


def stats_tidy(data: ReportData) -> pd.DataFrame:
    return compare_variants(data.done, data.group_columns, "test_acc")


def stats_tables(data: ReportData) -> list[Table]:
    frame = stats_tidy(data)
    tables = []
    keys = data.group_columns
    for values, group in groupby(frame, keys):
        rows = []
        for _, r in group.iterrows():
            n = fmt.integer(r["n"]) if r["test"] == "paired" else f"{int(r['n_a'])} vs {int(r['n_b'])}"
            low, high = fmt.signed(r["ci_low"]), fmt.signed(r["ci_high"])
            ci = fmt.MISSING if fmt.is_missing(r["ci_low"]) else f"[{low}, {high}]"
            rows.append({
                "depth": r["depth"], "comparison": f"{r['a']} − {r['b']}", "test": r["test"], "n": n,
                "mean a (0–1)": fmt.acc(r["mean_a"]), "mean b (0–1)": fmt.acc(r["mean_b"]),
                "Δ a − b (0–1)": fmt.signed(r["mean_diff"]), "95% CI of Δ (0–1)": ci,
                "t": fmt.MISSING if fmt.is_missing(r["t"]) else f"{r['t']:.3f}",
                "df": fmt.dof(r["df"]), "p": fmt.pvalue(r["p"]), "flag": r["flag"] or "",
                "_p": r["p"],
            })  # fmt: skip
        text = pd.DataFrame(rows).set_index(["depth", "comparison"])
        significant = pd.to_numeric(text.pop("_p"), errors="coerce") < 0.05
        bold = pd.DataFrame(False, index=text.index, columns=text.columns)
        bold["p"] = significant.to_numpy()
        note = (
            "test accuracy, stl against sl and tl per depth; paired t-test on shared seeds (≥ 2), else Welch's t-test; "
            "n<3: too few seeds to rely on; bold: p < 0.05"
        )
        title = f"stl vs sl / tl across seeds — {data.group_title(keys, values)}"
        tables.append(make_table("stats", slug("stats", *values), title, text, bold, note))
    return tables


def failures_frame(data: ReportData) -> pd.DataFrame:
    bad = data.cells[data.cells["status"] != "done"].copy()
    if bad.empty:
        return bad
    history = data.history
    epochs = history.groupby("path")["epoch"].count() if not history.empty else pd.Series(dtype=int)
    bad["epochs_recorded"] = bad["path"].map(epochs).fillna(0).astype(int)
    return bad


def failures_tables(data: ReportData) -> list[Table]:
    bad = failures_frame(data)
    if bad.empty:
        return []
    frame = pd.DataFrame(
        {
            "suite": bad["suite"].map(fmt.label),
            "dataset": bad["dataset"].map(fmt.label),
            "model": bad["model"].map(fmt.label),
            "depth": bad["depth"].map(fmt.label),
            "variant": bad["variant"].map(fmt.label),
            "seed": bad["seed"].map(fmt.label),
            "status": bad["status"],
            "epochs recorded": bad["epochs_recorded"].astype(str),
            "error": [_first_line(e) for e in bad["error"]],
        }
    )
    frame.index = pd.Index(bad["cell_id"].map(fmt.label), name="cell_id")
    note = "unfinished = no done.json (interrupted or running); rerun the suite to resume, --retry-failed for failed"
    return [Table(name="failures", title="Failed or unfinished cells", frame=frame, note=note, section="failures")]


def _first_line(error: object, limit: int = 160) -> str:
    if fmt.is_missing(error) or error is None:
        return ""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def failures_tidy(data: ReportData) -> pd.DataFrame:
    return per_cell(failures_frame(data))


def fusion_tidy(data: ReportData) -> pd.DataFrame:
    return fusion_rows(data.cells)


def fusion_tables(data: ReportData) -> list[Table]:
    """Decision fusion (our generalisation of the paper's joint decision): extra rows per dataset and model."""
    rows = fusion_tidy(data)
    if rows.empty:
        return []
    tables = []
    for (dataset, model), group in rows.groupby(["dataset", "model"], sort=True):
        group = group.sort_values(["fusion", "depth", "rule"], kind="stable")
        members = group["variant"].where(group["fusion"] == "seeds", group["seed"].map(lambda s: f"seed {s}"))
        label = group["variant"].where(group["fusion"] == "variants", "seeds " + group["seed"].astype(str))
        frame = pd.DataFrame(
            {
                "fusion": group["fusion"],
                "depth": group["depth"].map(fmt.label),
                "members": [f"{m}: {lab}" for m, lab in zip(members, label, strict=True)],
                "rule": group["rule"],
                "fused test acc (0–1)": group["test_acc"].map(lambda v: f"{v:.4f}"),
                "mean member (0–1)": group["mean_member_acc"].map(lambda v: f"{v:.4f}"),
                "best member (0–1)": group["best_member_acc"].map(lambda v: f"{v:.4f}"),
                "gain vs mean (points)": (100 * group["fusion_gain"]).map(lambda v: f"{v:+.2f}"),
            }
        ).set_index("fusion")
        note = (
            "decision fusion of stored test-set rates: mean = average class rates, vote = majority of argmax "
            "(ties by mean rate); seeds = the seeds of one variant, variants = stl/sl/tl of one seed"
        )
        tables.append(
            make_table(
                "fusion", slug("fusion", dataset, model), f"Decision fusion — {dataset}, {model}", frame, None, note
            )
        )
    return tables
