"""Report tables compiled from the results store (:class:`~snnbench.report.data.ReportData`). No training here.

Every section (``accuracy``, ``noise``, ``energy``, ``layers``, ``thresholds``, ``cost``, ``stats``, ``failures``)
gives display tables (string cells, row labels in the index, units in the column headers or, for pivots whose
columns are depths or noise levels, in the title) and a tidy numeric frame for ``csv``/``json``.
Means are over seeds (finished cells), stds are sample stds (ddof=1). The best value of a column (highest accuracy,
lowest energy/time, ...) among the variants of the same depth is marked in :attr:`Table.bold`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from snnbench.analysis.robustness import normalised_auc
from snnbench.analysis.stats import compare_variants
from snnbench.report import format as fmt
from snnbench.report.data import VARIANT_ORDER, ReportData, groupby, noise_name, order_variants, variant_key
from snnbench.report.format import mean_std


@dataclass
class Table:
    name: str  # unique, e.g. "accuracy/mnist_digits/mlp"
    title: str
    frame: pd.DataFrame  # display-ready: index = row labels, string cells
    note: str = ""
    bold: pd.DataFrame | None = None  # same shape as frame: True = best value of its column (per depth)
    section: str = ""


@dataclass(frozen=True)
class Col:
    """A metric column: ``metrics.json`` key, header with unit, formatter, which end is best, display scale."""

    key: str
    header: str
    fmt: Callable[[object], str] = fmt.sig
    best: str | None = None  # "max" | "min" | None
    scale: float = 1.0
    measured: bool = False  # GPU measurement: NaN shows as "unavailable"


ENERGY_COLUMNS = [
    Col("firing_rate", "firing rate (spikes/neuron/step)", lambda v: fmt.sig(v, 3)),
    Col("silent_fraction", "silent neurons (0–1)", fmt.acc),
    Col("sops_per_sample", "SOPs (per sample)", fmt.si, "min"),
    Col("macs_per_sample", "MACs (per sample)", fmt.si, "min"),
    Col("est_energy_uj_per_sample", "est. energy (µJ/sample)", fmt.sig, "min"),
    Col("ann_energy_uj_per_sample", "ANN energy (µJ/sample)", fmt.sig),
    Col("energy_ratio_to_ann", "SNN/ANN energy (×)", fmt.sig, "min"),
    Col("gpu_j_per_infer_sample", "GPU inference (mJ/sample)", fmt.sig, "min", 1e3, True),
]
COST_COLUMNS = [
    Col("epochs", "epochs", fmt.integer),
    Col("train_time_s", "train time (s)", fmt.sig, "min"),
    Col("train_samples_per_s", "throughput (samples/s)", fmt.sig, "max"),
    Col("gpu_energy_train_j", "GPU train energy (J)", fmt.sig, "min", measured=True),
    Col("gpu_j_per_train_sample", "GPU train (mJ/sample)", fmt.sig, "min", 1e3, True),
    Col("gpu_mean_power_w", "GPU mean power (W)", fmt.sig, measured=True),
    Col("gpu_peak_power_w", "GPU peak power (W)", fmt.sig, measured=True),
    Col("peak_memory_mib", "peak memory (MiB)", fmt.sig, "min"),
]
# Without one of these, a cell was not energy-profiled and the energy section stays empty.
ENERGY_KEYS = {"firing_rate", "sops_per_sample", "est_energy_uj_per_sample"}


# ---------------------------------------------------------------------------------------------------------- helpers


def best_mask(values: pd.DataFrame, best: dict[str, str | None], block: pd.Series | None = None) -> pd.DataFrame:
    """True where a value is the best of its column (within each ``block`` of rows, e.g. a depth); ties all win.

    A block with fewer than two values has no best.
    """
    mask = pd.DataFrame(False, index=values.index, columns=values.columns)
    blocks = pd.Series(0, index=values.index) if block is None else block
    for column, direction in best.items():
        if direction not in ("max", "min") or column not in values.columns:
            continue
        col = pd.to_numeric(values[column], errors="coerce")
        for b in pd.unique(blocks):
            rows = (blocks == b).to_numpy()
            sub = col[rows].dropna()
            if len(sub) < 2 or sub.nunique() < 2:
                continue
            target = sub.max() if direction == "max" else sub.min()
            hit = col[rows].to_numpy() == target
            mask.loc[mask.index[rows][hit], column] = True
    return mask


def _sorted_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of a (depth, variant) index in depth order, then stl, sl, tl, others."""
    order = sorted(frame.index, key=lambda ix: (_num_key(ix[0]), variant_key(ix[1])))
    return frame.reindex(order)


def _num_key(v: object) -> tuple[int, float, str]:
    try:
        return (0, float(v), "")
    except (TypeError, ValueError):
        return (1, math.inf, str(v))


def _label_index(frame: pd.DataFrame) -> pd.DataFrame:
    """Index values as readable text (depth 2.0 -> 2)."""
    frame = frame.copy()
    if isinstance(frame.index, pd.MultiIndex):
        frame.index = pd.MultiIndex.from_tuples(
            [tuple(fmt.label(v) for v in ix) for ix in frame.index], names=frame.index.names
        )
    else:
        frame.index = pd.Index([fmt.label(v) for v in frame.index], name=frame.index.name)
    return frame


def _table(section: str, name: str, title: str, text: pd.DataFrame, bold: pd.DataFrame | None, note: str) -> Table:
    if bold is not None:
        bold = _label_index(bold.reindex(index=text.index, columns=text.columns, fill_value=False).astype(bool))
    return Table(name=name, title=title, frame=_label_index(text), note=note, bold=bold, section=section)


def _slug(*parts: object) -> str:
    return "/".join(fmt.label(p) for p in parts)


def summary_frame(done: pd.DataFrame, keys: list[str], columns: list[str]) -> pd.DataFrame:
    """Numeric summary per ``keys``: ``n`` (cells) and ``<metric>_mean``, ``<metric>_std`` of every metric present."""
    present = [c for c in columns if c in done.columns]
    if done.empty:
        return pd.DataFrame(columns=[*keys, "n", *(f"{c}_{s}" for c in present for s in ("mean", "std"))])
    grouped = done.groupby(keys, dropna=False, sort=True)
    out = grouped.size().rename("n").to_frame()
    for c in present:
        values = pd.to_numeric(done[c], errors="coerce").groupby([done[k] for k in keys], dropna=False)
        out[f"{c}_mean"] = values.mean()
        out[f"{c}_std"] = values.std(ddof=1)
    out = out.reset_index()
    out["_v"] = out["variant"].map(variant_key) if "variant" in out else 0
    out = out.sort_values([*[k for k in keys if k != "variant"], "_v"], kind="stable").drop(columns="_v")
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------------------------------------- sections


def accuracy_tables(data: ReportData) -> list[Table]:
    """Per dataset (model, configuration): variants × depths, test accuracy mean ± std over seeds."""
    tables = []
    keys = data.group_columns
    for values, group in groupby(data.done, keys):
        by = group.groupby(["variant", "depth"])["test_acc"]
        text = by.apply(fmt.mean_std).unstack("depth")
        means = by.mean().unstack("depth")
        variants = sorted(text.index, key=variant_key)
        depths = sorted(text.columns, key=_num_key)
        text, means = text.reindex(index=variants, columns=depths), means.reindex(index=variants, columns=depths)
        columns = [f"depth {fmt.label(d)}" for d in depths]
        text.columns = means.columns = columns
        text.index.name = means.index.name = "variant"
        bold = best_mask(means, dict.fromkeys(columns, "max"))
        tables.append(
            _table(
                "accuracy",
                _slug("accuracy", *values),
                f"Test accuracy (0–1) — {data.group_title(keys, values)}",
                text.fillna(fmt.MISSING),
                bold,
                "mean ± sample std over seeds (n = finished seeds); bold: best variant at each depth",
            )
        )
    return tables


def accuracy_tidy(data: ReportData) -> pd.DataFrame:
    return summary_frame(data.done, [*data.group_columns, "depth", "variant"], ["test_acc", "best_test_acc"])


def _metric_tables(data: ReportData, section: str, title: str, columns: list[Col], note: str) -> list[Table]:
    """Rows depth × variant, one column per metric present (mean over seeds), n = seeds."""
    done = data.done
    present = [c for c in columns if c.key in done.columns]
    tables = []
    keys = data.group_columns
    for values, group in groupby(done, keys):
        means = pd.DataFrame(
            {c.header: pd.to_numeric(group[c.key], errors="coerce") * c.scale for c in present}, index=group.index
        )
        means[["depth", "variant"]] = group[["depth", "variant"]]
        agg = means.groupby(["depth", "variant"], dropna=False)
        n = agg.size()
        means = _sorted_rows(agg.mean())
        text = pd.DataFrame(index=means.index)
        text["n"] = n.reindex(means.index).astype(int).astype(str)
        for c in present:
            column = means[c.header]
            missing = fmt.UNAVAILABLE if c.measured else fmt.MISSING
            text[c.header] = [missing if fmt.is_missing(v) else c.fmt(v) for v in column]
        block = pd.Series([ix[0] for ix in means.index], index=means.index)
        bold = best_mask(means, {c.header: c.best for c in present}, block)
        extra = note
        if any(c.measured for c in present) and "power_reason" in group.columns:
            reasons = sorted({str(r) for r in group["power_reason"].dropna() if str(r)})
            if reasons and means[[c.header for c in present if c.measured]].isna().any().any():
                extra += "; GPU power: " + "; ".join(reasons[:3])
        tables.append(
            _table(section, _slug(section, *values), f"{title} — {data.group_title(keys, values)}", text, bold, extra)
        )
    return tables


def energy_tables(data: ReportData) -> list[Table]:
    if not ENERGY_KEYS & set(data.done.columns):
        return []
    note = (
        "mean over seeds; SOPs = synaptic accumulate operations, MACs = multiply-accumulates (analog inputs); "
        "est. energy = SOPs × E_AC + MACs × E_MAC; bold: lowest at each depth"
    )
    return _metric_tables(data, "energy", "Energy per test sample", ENERGY_COLUMNS, note)


def energy_tidy(data: ReportData) -> pd.DataFrame:
    keys = [*data.group_columns, "depth", "variant"]
    return summary_frame(data.done, keys, [c.key for c in ENERGY_COLUMNS] + ["ann_macs_per_sample"])


def cost_tables(data: ReportData) -> list[Table]:
    note = "mean over seeds; wall time of all training epochs; GPU energy measured over NVML when available"
    return _metric_tables(data, "cost", "Training cost", COST_COLUMNS, note)


def cost_tidy(data: ReportData) -> pd.DataFrame:
    keys = [*data.group_columns, "depth", "variant"]
    return summary_frame(data.done, keys, [c.key for c in COST_COLUMNS] + ["gpu_energy_infer_j"])


def noise_tables(data: ReportData) -> list[Table]:
    """Per group and noise kind: rows depth × variant, columns noise levels, test accuracy mean ± std."""
    noise = data.noise
    noise = noise[noise["status"] == "done"]
    tables = []
    keys = data.group_columns
    for values, group in groupby(noise, [*keys, "noise_kind", "noise_params"]):
        values, kind = values[:-1], noise_name(values[-2], values[-1])
        by = group.groupby(["depth", "variant", "noise_level"], dropna=False)["test_acc"]
        text = by.apply(lambda s: fmt.mean_std(s, with_n=False)).unstack("noise_level")
        means = by.mean().unstack("noise_level")
        levels = sorted(text.columns, key=_num_key)
        columns = [f"level {fmt.label(lv)}" for lv in levels]
        text, means = _sorted_rows(text[levels]), _sorted_rows(means[levels])
        text.columns = means.columns = columns
        seeds = group.groupby(["depth", "variant"], dropna=False)["cell_id"].nunique()
        text.insert(0, "n", seeds.reindex(text.index).astype(int).astype(str))
        text["nAUC (0–1)"] = _nauc_by_row(group, data.done).reindex(text.index).fillna(fmt.MISSING)
        block = pd.Series([ix[0] for ix in means.index], index=means.index)
        bold = best_mask(means, dict.fromkeys(columns, "max"), block)
        title = f"Test accuracy (0–1) under {kind} noise — {data.group_title(keys, values[:-1])}"
        note = (
            "columns: noise level; mean ± sample std over seeds (n); bold: best variant at each depth and level; "
            "nAUC: area under accuracy vs level / (level span × clean accuracy), 1 = no loss"
        )
        name = _slug("noise", *values[:-1], kind)
        tables.append(_table("noise", name, title, text.fillna(fmt.MISSING), bold, note))
    return tables


def _nauc_by_row(noise: pd.DataFrame, done: pd.DataFrame) -> pd.Series:
    """Normalised AUC per cell (clean accuracy from the cell's ``test_acc``), mean ± std per (depth, variant)."""

    clean = done.set_index("cell_id")["test_acc"]
    per_cell = []
    for (depth, variant, cell_id), rows in noise.groupby(["depth", "variant", "cell_id"], dropna=False):
        rows = rows.sort_values("noise_level").drop_duplicates("noise_level")
        value = normalised_auc(list(rows["noise_level"]), list(rows["test_acc"]), clean.get(cell_id))
        per_cell.append({"depth": depth, "variant": variant, "nauc": value})
    frame = pd.DataFrame(per_cell, columns=["depth", "variant", "nauc"]).astype({"nauc": float})
    return frame.groupby(["depth", "variant"], dropna=False)["nauc"].apply(lambda s: fmt.mean_std(s, with_n=False))


def noise_tidy(data: ReportData) -> pd.DataFrame:
    return data.noise


def _layer_order(frame: pd.DataFrame) -> list[str]:
    if "order" in frame.columns:
        firsts = frame.groupby("layer", sort=False)["order"].min()
        return sorted(firsts.index, key=lambda layer: (_num_key(firsts[layer]), str(layer)))
    return list(pd.unique(frame["layer"]))


def layers_tables(data: ReportData) -> list[Table]:
    """Per group and depth: firing rate and silent share of each spiking layer, one column pair per variant."""
    layers = data.layers
    layers = layers[(layers["status"] == "done") & pd.to_numeric(layers["firing_rate"], errors="coerce").notna()]
    tables = []
    keys = data.group_columns
    for values, group in groupby(layers, [*keys, "depth"]):
        order = _layer_order(group)
        text = pd.DataFrame(index=pd.Index(order, name="layer"))
        first = group.groupby("layer", sort=False).first()
        text["kind"] = [str(first.loc[layer, "kind"]) if "kind" in first else "" for layer in order]
        text["neurons"] = [fmt.integer(first.loc[layer, "neurons"]) if "neurons" in first else "" for layer in order]
        for variant in order_variants(group["variant"]):
            g = group[group["variant"] == variant].groupby("layer")
            for column, header, f in (
                ("firing_rate", f"{variant} rate (spikes/neuron/step)", fmt.sig),
                ("silent_fraction", f"{variant} silent (0–1)", fmt.acc),
            ):
                means = pd.to_numeric(g[column].mean(), errors="coerce") if column in group else pd.Series(dtype=float)
                text[header] = [f(means.get(layer)) for layer in order]
        title = f"Firing rate per layer — {data.group_title(keys, values[:-1])}, depth {fmt.label(values[-1])}"
        note = "mean over seeds, measured on the test split; silent = share of neurons that never spiked"
        tables.append(_table("layers", _slug("layers", *values), title, text.fillna(fmt.MISSING), None, note))
    return tables


def layers_tidy(data: ReportData) -> pd.DataFrame:
    return data.layers


def thresholds_summary(data: ReportData) -> pd.DataFrame:
    """Per group × depth × variant × layer: threshold statistics before training (epoch 0) and after the last
    epoch, averaged over seeds (min/max: over all seeds); ``delta_mean`` = final − init mean, per seed, averaged."""
    th = data.thresholds
    th = th[th["status"] == "done"]
    keys = [*data.group_columns, "depth", "variant", "layer"]
    if th.empty:
        return pd.DataFrame(columns=[*keys, "n"])
    init = th[th["epoch"] == 0].set_index(["path", "layer"])
    last_epoch = th[th["epoch"] > 0].groupby("path")["epoch"].max().rename("last")
    final = th.merge(last_epoch, left_on="path", right_index=True)
    final = final[final["epoch"] == final["last"]].set_index(["path", "layer"])
    base = th.drop_duplicates(["path", "layer"]).set_index(["path", "layer"])[[*data.group_columns, "depth", "variant"]]
    per_cell = base.copy()
    for stat in ("mean", "std", "min", "max"):
        per_cell[f"init_{stat}"] = init[stat].reindex(per_cell.index)
        per_cell[f"final_{stat}"] = final[stat].reindex(per_cell.index)
    per_cell["delta_mean"] = per_cell["final_mean"] - per_cell["init_mean"]
    if "drift" in final.columns:  # mean |theta - theta_init| over the layer's neurons, where recorded
        per_cell["final_drift"] = final["drift"].reindex(per_cell.index)
    per_cell = per_cell.reset_index()
    agg = {f"{w}_{s}": ("min" if s == "min" else "max" if s == "max" else "mean") for w in ("init", "final")
           for s in ("mean", "std", "min", "max")}  # fmt: skip
    agg["delta_mean"] = "mean"
    if "final_drift" in per_cell.columns:
        agg["final_drift"] = "mean"
    grouped = per_cell.groupby(keys, dropna=False, sort=False)
    out = grouped.agg(agg)
    out.insert(0, "n", grouped["path"].nunique())
    return out.reset_index()


def thresholds_tables(data: ReportData) -> list[Table]:
    summary = thresholds_summary(data)
    tables = []
    keys = data.group_columns
    headers = {
        "init_mean": "init mean (a.u.)", "init_std": "init std (a.u.)", "final_mean": "final mean (a.u.)",
        "final_std": "final std (a.u.)", "final_min": "final min (a.u.)", "final_max": "final max (a.u.)",
        "delta_mean": "Δ mean (a.u.)", "final_drift": "drift (a.u.)",
    }  # fmt: skip
    for values, group in groupby(summary, [*keys, "depth"]):
        rows = []
        for variant in order_variants(group["variant"]):
            g = group[group["variant"] == variant].set_index("layer")
            for layer in g.index:
                r = g.loc[layer]
                row = {"variant": variant, "layer": layer, "n": fmt.integer(r["n"])}
                for key, header in headers.items():
                    if key not in r.index or (key == "final_drift" and group[key].isna().all()):
                        continue
                    row[header] = fmt.signed(r[key]) if key == "delta_mean" else fmt.fixed(r[key])
                rows.append(row)
        text = pd.DataFrame(rows).set_index(["variant", "layer"])
        title = f"Thresholds per layer, before and after training — {data.group_title(keys, values[:-1])}, "
        title += f"depth {fmt.label(values[-1])}"
        note = "statistics over each layer's neurons (membrane-potential units), averaged over seeds; init = before"
        note += " the first epoch, final = after the last; drift = mean |θ − θ_init| over neurons"
        tables.append(_table("thresholds", _slug("thresholds", *values), title, text, None, note))
    return tables


def thresholds_tidy(data: ReportData) -> pd.DataFrame:
    return data.thresholds


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
        tables.append(_table("stats", _slug("stats", *values), title, text, bold, note))
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
    from snnbench.report.render import per_cell

    return per_cell(failures_frame(data))


def fusion_tidy(data: ReportData) -> pd.DataFrame:
    from snnbench.measure.fusion import fusion_rows

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
            _table(
                "fusion", _slug("fusion", dataset, model), f"Decision fusion — {dataset}, {model}", frame, None, note
            )
        )
    return tables


# --------------------------------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Section:
    name: str
    tables: Callable[[ReportData], list[Table]]
    tidy: Callable[[ReportData], pd.DataFrame]
    doc: str = field(default="")


SECTIONS: dict[str, Section] = {
    s.name: s
    for s in (
        Section("accuracy", accuracy_tables, accuracy_tidy, "test accuracy, variant × depth"),
        Section("noise", noise_tables, noise_tidy, "test accuracy under input noise per level"),
        Section("energy", energy_tables, energy_tidy, "firing rate, SOPs, MACs, estimated and GPU energy"),
        Section("layers", layers_tables, layers_tidy, "firing rate per layer"),
        Section("thresholds", thresholds_tables, thresholds_tidy, "threshold statistics, init vs final"),
        Section("cost", cost_tables, cost_tidy, "training time, throughput, GPU energy, memory"),
        Section("stats", stats_tables, stats_tidy, "stl vs sl / tl: paired or Welch t-tests across seeds"),
        Section("fusion", fusion_tables, fusion_tidy, "decision fusion across seeds or variants (joint decisions)"),
        Section("failures", failures_tables, failures_tidy, "failed or unfinished cells with their error"),
    )
}
TABLE_NAMES = tuple(SECTIONS)
__all__ = ["SECTIONS", "TABLE_NAMES", "VARIANT_ORDER", "Col", "Section", "Table", "build_tables", "mean_std"]


def summary_line(cells: pd.DataFrame) -> str:
    counts = cells["status"].value_counts().to_dict()
    parts = [f"{counts.get(s, 0)} {s}" for s in ("done", "failed", "unfinished") if counts.get(s)]
    best = cells.loc[cells["status"] == "done", "test_acc"]
    best_text = "" if best.empty or math.isnan(best.max()) else f"; best test_acc {best.max():.4f}"
    return f"{len(cells)} cells: " + ", ".join(parts or ["none"]) + best_text


def build_tables(data: ReportData | pd.DataFrame, sections: list[str] | None = None) -> list[Table]:
    """The display tables of ``sections`` (default: all), in section order."""
    if isinstance(data, pd.DataFrame):  # a bare cells frame: only what it holds
        data = ReportData(roots=[], cells=data)
    return [t for name in (sections or TABLE_NAMES) for t in SECTIONS[name].tables(data)]
