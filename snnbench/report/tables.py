"""Report tables of the measurement sections, compiled from the results store (:class:`ReportData`). No training.

The sections ``accuracy``, ``noise``, ``energy``, ``layers``, ``thresholds`` and ``cost`` (the comparisons across
cells are in :mod:`snnbench.report.comparisons`) each give display tables (string cells, row labels in the index,
units in the column headers or, for pivots whose columns are depths or noise levels, in the title) and a tidy
numeric frame for ``csv``/``json``. Means are over seeds (finished cells), stds are sample stds (ddof=1). The best
value of a column (highest accuracy, lowest energy/time, ...) among the variants of the same depth is marked in
:attr:`Table.bold`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from snnbench.analysis.robustness import normalised_auc
from snnbench.report import format as fmt
from snnbench.report.data import (
    ReportData,
    groupby,
    noise_name,
    order_variants,
    variant_key,
)
from snnbench.report.layer_names import name_map
from snnbench.report.table import Table, best_mask, make_table, num_key, slug, sorted_rows, summary_frame
from snnbench.results.metrics import METRICS, Metric


@dataclass(frozen=True)
class Col:
    """A metric column of a report table: the catalogue entry (:data:`snnbench.results.metrics.METRICS`) gives its
    header (label and unit) and which end is best; the table adds a formatter and, where it shows another unit than
    the stored one, a display ``scale`` and ``unit``."""

    key: str
    fmt: Callable[[object], str] = fmt.sig
    scale: float = 1.0
    unit: str | None = None

    @property
    def metric(self) -> Metric:
        return METRICS[self.key]

    @property
    def header(self) -> str:
        unit = self.unit or self.metric.unit
        return self.metric.label if unit == self.metric.label else f"{self.metric.label} ({unit})"

    @property
    def best(self) -> str | None:
        return self.metric.best

    @property
    def measured(self) -> bool:
        return self.metric.measured


ENERGY_COLUMNS = [
    Col("firing_rate", lambda v: fmt.sig(v, 3)),
    Col("silent_fraction", fmt.acc),
    Col("sops_per_sample", fmt.si),
    Col("macs_per_sample", fmt.si),
    Col("est_energy_uj_per_sample"),
    Col("ann_energy_uj_per_sample"),
    Col("energy_ratio_to_ann"),
    Col("est_memory_energy_uj_per_sample"),
    Col("est_total_energy_uj_per_sample"),
    Col("gpu_j_per_infer_sample", scale=1e3, unit="mJ/sample"),
]
COST_COLUMNS = [
    Col("epochs", fmt.integer),
    Col("trainable_params", fmt.si),
    Col("threshold_params", fmt.si),
    Col("train_time_s"),
    Col("train_samples_per_s"),
    Col("gpu_energy_train_j"),
    Col("gpu_j_per_train_sample", scale=1e3, unit="mJ/sample"),
    Col("gpu_mean_power_w"),
    Col("gpu_peak_power_w"),
    Col("peak_memory_mib"),
]
# Without one of these, a cell was not energy-profiled and the energy section stays empty.
ENERGY_KEYS = {"firing_rate", "sops_per_sample", "est_energy_uj_per_sample"}


def accuracy_tables(data: ReportData) -> list[Table]:
    """Per dataset (model, configuration): variants × depths, test accuracy mean ± std over seeds."""
    tables = []
    keys = data.group_columns
    for values, group in groupby(data.done, keys):
        by = group.groupby(["variant", "depth"])["test_acc"]
        text = by.apply(fmt.mean_std).unstack("depth")
        means = by.mean().unstack("depth")
        variants = sorted(text.index, key=variant_key)
        depths = sorted(text.columns, key=num_key)
        text, means = text.reindex(index=variants, columns=depths), means.reindex(index=variants, columns=depths)
        columns = [f"depth {fmt.label(d)}" for d in depths]
        text.columns = means.columns = columns
        text.index.name = means.index.name = "variant"
        bold = best_mask(means, dict.fromkeys(columns, "max"))
        tables.append(
            make_table(
                "accuracy",
                slug("accuracy", *values),
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
    # a column whose metric no cell has (e.g. the memory model when off) is left out; GPU columns stay, as
    # "unavailable"
    present = [c for c in columns if c.key in done.columns and (c.measured or done[c.key].notna().any())]
    tables = []
    keys = data.group_columns
    for values, group in groupby(done, keys):
        means = pd.DataFrame(
            {c.header: pd.to_numeric(group[c.key], errors="coerce") * c.scale for c in present}, index=group.index
        )
        means[["depth", "variant"]] = group[["depth", "variant"]]
        agg = means.groupby(["depth", "variant"], dropna=False)
        n = agg.size()
        means = sorted_rows(agg.mean())
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
            make_table(
                section, slug(section, *values), f"{title} — {data.group_title(keys, values)}", text, bold, extra
            )
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
        levels = sorted(text.columns, key=num_key)
        columns = [f"level {fmt.label(lv)}" for lv in levels]
        text, means = sorted_rows(text[levels]), sorted_rows(means[levels])
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
        name = slug("noise", *values[:-1], kind)
        tables.append(make_table("noise", name, title, text.fillna(fmt.MISSING), bold, note))
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
        return sorted(firsts.index, key=lambda layer: (num_key(firsts[layer]), str(layer)))
    return list(pd.unique(frame["layer"]))


def layers_tables(data: ReportData) -> list[Table]:
    """Per group and depth: firing rate and silent share of each spiking layer, one column pair per variant."""
    layers = data.layers
    layers = layers[(layers["status"] == "done") & pd.to_numeric(layers["firing_rate"], errors="coerce").notna()]
    tables = []
    keys = data.group_columns
    for values, group in groupby(layers, [*keys, "depth"]):
        order = _layer_order(group)
        first = group.groupby("layer", sort=False).first()
        text = pd.DataFrame(index=pd.Index(order, name="layer"))
        text["module"] = [str(layer) for layer in order]
        text["kind"] = [str(first.loc[layer, "kind"]) if "kind" in first else "" for layer in order]
        text["neurons"] = [fmt.integer(first.loc[layer, "neurons"]) if "neurons" in first else "" for layer in order]
        for variant in order_variants(group["variant"]):
            g = group[group["variant"] == variant].groupby("layer")
            for column, header, f in (
                ("firing_rate", f"{variant} rate (spikes/neuron/step)", fmt.sig),
                ("silent_fraction", f"{variant} silent (0–1)", fmt.acc),
                ("firing_rate_step_cv", f"{variant} step CV", fmt.sig),
            ):
                if column not in group or pd.to_numeric(group[column], errors="coerce").isna().all():
                    continue
                means = pd.to_numeric(g[column].mean(), errors="coerce")
                text[header] = [f(means.get(layer)) for layer in order]
        text.index = pd.Index([_readable(first, layer) for layer in order], name="layer")
        title = f"Firing rate per layer — {data.group_title(keys, values[:-1])}, depth {fmt.label(values[-1])}"
        note = (
            "mean over seeds, measured on the test split; layer: named by what feeds it (conv<k>, fc<k>; output = "
            "the last spiking layer), module: its path in the network; silent = share of neurons that never spiked; "
            "step CV = coefficient of variation of the layer's firing rate across time steps (0 = the same rate "
            "every step)"
        )
        tables.append(make_table("layers", slug("layers", *values), title, text.fillna(fmt.MISSING), None, note))
    return tables


def _readable(first: pd.DataFrame, layer: object) -> str:
    if "layer_name" not in first.columns or fmt.is_missing(first.loc[layer, "layer_name"]):
        return str(layer)
    return str(first.loc[layer, "layer_name"])


def layers_tidy(data: ReportData) -> pd.DataFrame:
    return data.layers


def thresholds_summary(data: ReportData) -> pd.DataFrame:
    """Per group × depth × variant × layer: threshold statistics before training (epoch 0) and after the last
    epoch, averaged over seeds (min/max: over all seeds); ``delta_mean`` = final − init mean, per seed, averaged."""
    th = named_thresholds(data)
    th = th[th["status"] == "done"]
    keys = [*data.group_columns, "depth", "variant", "layer"]
    if th.empty:
        return pd.DataFrame(columns=[*keys, "layer_name", "n"])
    init = th[th["epoch"] == 0].set_index(["path", "layer"])
    last_epoch = th[th["epoch"] > 0].groupby("path")["epoch"].max().rename("last")
    final = th.merge(last_epoch, left_on="path", right_index=True)
    final = final[final["epoch"] == final["last"]].set_index(["path", "layer"])
    base_columns = [*data.group_columns, "depth", "variant", "layer_name"]
    base = th.drop_duplicates(["path", "layer"]).set_index(["path", "layer"])[base_columns]
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
    agg["layer_name"] = "first"
    if "final_drift" in per_cell.columns:
        agg["final_drift"] = "mean"
    grouped = per_cell.groupby(keys, dropna=False, sort=False)
    out = grouped.agg(agg)
    out.insert(0, "n", grouped["path"].nunique())
    out = out.reset_index()
    return out[[*keys, "layer_name", *[c for c in out.columns if c not in (*keys, "layer_name")]]]


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
                row = {"variant": variant, "layer": r["layer_name"], "n": fmt.integer(r["n"])}
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
        tables.append(make_table("thresholds", slug("thresholds", *values), title, text, None, note))
    return tables


def named_thresholds(data: ReportData) -> pd.DataFrame:
    """The threshold rows with ``layer_name`` after ``layer``: the readable name of the LIF layer whose module path
    is ``layer`` in the same cell (``layers.json``), else the path itself."""
    th = data.thresholds.copy()
    names = name_map(data.layers)
    readable = [names.get((p, str(layer)), str(layer)) for p, layer in zip(th["path"], th["layer"], strict=True)]
    th.insert(th.columns.get_loc("layer") + 1, "layer_name", readable)
    return th


def thresholds_tidy(data: ReportData) -> pd.DataFrame:
    return named_thresholds(data)
