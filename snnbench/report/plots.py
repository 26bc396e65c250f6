"""Figures from the results store (matplotlib, no display needed: figures are drawn with the Agg canvas).

One figure per dataset × model (× varying configuration) for each kind below; a kind without data is skipped.

===================  =====================================================================================
file stem            what
===================  =====================================================================================
accuracy_depth-*     test accuracy vs depth, one line per variant, error bars = sample std over seeds
noise-*-<kind>       test accuracy vs noise level, one panel per depth, a line per variant (± std)
firing_layers-*      firing rate per spiking layer, one panel per depth, bars per variant (± std)
energy_depth-*       estimated energy per test sample vs depth per variant (± std); dashed: the ANN
thresholds-*-d<k>    threshold mean per layer over epochs (0 = init), band = mean ± std over neurons
training-*           test accuracy per epoch, one panel per depth, a line per variant (band = ± std)
power-*              GPU power over time for one seed of each variant × depth (where timelines exist)
===================  =====================================================================================
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from snnbench.report import format as fmt
from snnbench.report.data import ReportData, groupby, noise_name, order_variants
from snnbench.report.render import write_file
from snnbench.report.tables import named_thresholds

COLORS = {"stl": "#1f77b4", "sl": "#ff7f0e", "tl": "#2ca02c"}
_FALLBACK = ["#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
PNG_DPI = 110


@dataclass
class Plot:
    name: str  # file stem
    title: str
    figure: Figure

    def png(self) -> bytes:
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=PNG_DPI, metadata={"Software": None})
        return buffer.getvalue()

    def svg(self) -> str:
        buffer = io.StringIO()
        self.figure.savefig(buffer, format="svg", metadata={"Date": None})
        return buffer.getvalue()


def color(variant: str) -> str:
    if variant in COLORS:
        return COLORS[variant]
    return _FALLBACK[sum(map(ord, str(variant))) % len(_FALLBACK)]


def _stem(*parts: object) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", "-".join(fmt.label(p) for p in parts)).strip("_")


def _figure(panels: int, title: str, width: float = 3.6, height: float = 3.0) -> tuple[Figure, list]:
    fig = Figure(figsize=(0.6 + width * panels, height + 0.5), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    fig.suptitle(title, fontsize=10)
    return fig, list(axes)


def _numeric(values) -> list[float]:
    return [float(v) for v in values]


def _mean_std(frame: pd.DataFrame, by: list[str], column: str) -> pd.DataFrame:
    values = pd.to_numeric(frame[column], errors="coerce")
    grouped = values.groupby([frame[b] for b in by], dropna=False)
    return pd.DataFrame({"mean": grouped.mean(), "std": grouped.std(ddof=1), "n": grouped.count()}).reset_index()


def _lines_by_variant(ax, stats: pd.DataFrame, x: str) -> None:
    """One line per variant (in report order): mean over seeds against column ``x``, error bars ± one std."""
    for variant in order_variants(stats["variant"]):
        s = stats[stats["variant"] == variant].sort_values(x)
        ax.errorbar(_numeric(s[x]), s["mean"], yerr=s["std"].fillna(0), marker="o", capsize=3,
                    color=color(variant), label=variant)  # fmt: skip


def accuracy_depth(data: ReportData) -> Iterator[Plot]:
    keys = data.group_columns
    for values, group in groupby(data.done, keys):
        stats = _mean_std(group, ["variant", "depth"], "test_acc")
        title = f"Test accuracy vs depth — {data.group_title(keys, values)}"
        fig, (ax,) = _figure(1, title, width=4.2)
        _lines_by_variant(ax, stats, "depth")
        ax.set_xticks(sorted(_numeric(stats["depth"].unique())))
        ax.set_xlabel("depth (spiking layers)")
        ax.set_ylabel("test accuracy (0–1)")
        ax.legend(title="variant", fontsize=8)
        ax.grid(alpha=0.3)
        yield Plot(_stem("accuracy_depth", *values), title, fig)


def noise_levels(data: ReportData) -> Iterator[Plot]:
    noise = data.noise
    noise = noise[noise["status"] == "done"]
    keys = data.group_columns
    for values, group in groupby(noise, [*keys, "noise_kind", "noise_params"]):
        kind = noise_name(values[-2], values[-1])
        values = (*values[:-2], kind)
        depths = sorted(group["depth"].unique(), key=float)
        title = f"Accuracy under {kind} noise — {data.group_title(keys, values[:-1])}"
        fig, axes = _figure(len(depths), title)
        for ax, depth in zip(axes, depths, strict=True):
            g = group[group["depth"] == depth]
            stats = _mean_std(g, ["variant", "noise_level"], "test_acc")
            _lines_by_variant(ax, stats, "noise_level")
            ax.set_title(f"depth {fmt.label(depth)}", fontsize=9)
            ax.set_xlabel(f"{fmt.label(values[-1]).split(' (')[0]} noise level")
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("test accuracy (0–1)")
        axes[0].legend(title="variant", fontsize=8)
        yield Plot(_stem("noise", *values), title, fig)


def firing_layers(data: ReportData) -> Iterator[Plot]:
    layers = data.layers
    layers = layers[(layers["status"] == "done") & pd.to_numeric(layers["firing_rate"], errors="coerce").notna()]
    keys = data.group_columns
    for values, group in groupby(layers, keys):
        depths = sorted(group["depth"].unique(), key=float)
        title = f"Firing rate per layer — {data.group_title(keys, values)}"
        fig, axes = _figure(len(depths), title)
        for ax, depth in zip(axes, depths, strict=True):
            g = group[group["depth"] == depth]
            order = list(pd.unique(g.sort_values("order")["layer"])) if "order" in g else list(pd.unique(g["layer"]))
            variants = order_variants(g["variant"])
            stats = _mean_std(g, ["variant", "layer"], "firing_rate").set_index(["variant", "layer"])
            width = 0.8 / max(len(variants), 1)
            x = np.arange(len(order))
            for i, variant in enumerate(variants):
                s = stats.reindex([(variant, layer) for layer in order])
                ax.bar(x + (i - (len(variants) - 1) / 2) * width, s["mean"], width, yerr=s["std"].fillna(0),
                       capsize=2, color=color(variant), label=variant)  # fmt: skip
            names = g.drop_duplicates("layer").set_index("layer")["layer_name"] if "layer_name" in g else {}
            ax.set_xticks(x, [str(names.get(layer, layer)) for layer in order], rotation=45, ha="right", fontsize=7)
            ax.set_title(f"depth {fmt.label(depth)}", fontsize=9)
            ax.grid(alpha=0.3, axis="y")
        axes[0].set_ylabel("firing rate (spikes/neuron/step)")
        axes[0].legend(title="variant", fontsize=8)
        yield Plot(_stem("firing_layers", *values), title, fig)


def _step_rates(group: pd.DataFrame) -> pd.DataFrame:
    """Rows (layer, order, step, rate): the ``firing_rate_per_step`` lists of the layer rows, one row per step."""
    rows = [
        {"layer": r.get("layer_name", r["layer"]), "order": r.get("order", 0), "step": t + 1, "firing_rate": rate}
        for _, r in group.iterrows()
        if isinstance(r.get("firing_rate_per_step"), list)
        for t, rate in enumerate(r["firing_rate_per_step"])
    ]
    return pd.DataFrame(rows, columns=["layer", "order", "step", "firing_rate"])


def firing_steps(data: ReportData) -> Iterator[Plot]:
    """Firing rate per time step of each spiking layer (the stability of signal transmission over time): one panel
    per variant, one line per layer (mean over seeds), per group and depth."""
    layers = data.layers
    if "firing_rate_per_step" not in layers.columns:
        return
    layers = layers[(layers["status"] == "done") & layers["firing_rate_per_step"].map(lambda v: isinstance(v, list))]
    keys = data.group_columns
    for values, group in groupby(layers, [*keys, "depth"]):
        variants = order_variants(group["variant"])
        title = f"Firing rate per time step — {data.group_title(keys, values[:-1])}, depth {fmt.label(values[-1])}"
        fig, axes = _figure(len(variants), title)
        for ax, variant in zip(axes, variants, strict=True):
            steps = _step_rates(group[group["variant"] == variant])
            stats = steps.groupby(["order", "layer", "step"])["firing_rate"].mean().reset_index()
            for i, ((_, layer), s) in enumerate(stats.groupby(["order", "layer"], sort=True)):
                ax.plot(_numeric(s["step"]), s["firing_rate"], marker="o", ms=3, label=str(layer),
                        color=matplotlib.colormaps["viridis"](i / max(1, stats["order"].nunique() - 1)))  # fmt: skip
            ax.set_title(variant, fontsize=9, color=color(variant))
            ax.set_xlabel("time step")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            if ax is not axes[0]:
                ax.sharey(axes[0])  # one scale: rates compare across variants
        axes[0].set_ylabel("firing rate (spikes/neuron)")
        axes[-1].legend(title="layer", fontsize=6, ncol=2)
        yield Plot(_stem("firing_steps", *values), title, fig)


def energy_depth(data: ReportData) -> Iterator[Plot]:
    done = data.done
    if "est_energy_uj_per_sample" not in done.columns:
        return
    done = done[pd.to_numeric(done["est_energy_uj_per_sample"], errors="coerce").notna()]
    keys = data.group_columns
    for values, group in groupby(done, keys):
        stats = _mean_std(group, ["variant", "depth"], "est_energy_uj_per_sample")
        title = f"Estimated energy vs depth — {data.group_title(keys, values)}"
        fig, (ax,) = _figure(1, title, width=4.2)
        _lines_by_variant(ax, stats, "depth")
        if "ann_energy_uj_per_sample" in group.columns:
            ann = _mean_std(group, ["depth"], "ann_energy_uj_per_sample").dropna(subset=["mean"]).sort_values("depth")
            if not ann.empty:
                ax.plot(_numeric(ann["depth"]), ann["mean"], "k--", marker="s", label="ANN (same net)")
        ax.set_xticks(sorted(_numeric(stats["depth"].unique())))
        ax.set_xlabel("depth (spiking layers)")
        ax.set_ylabel("energy per test sample (µJ)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        yield Plot(_stem("energy_depth", *values), title, fig)


def thresholds_epochs(data: ReportData) -> Iterator[Plot]:
    th = named_thresholds(data)
    th = th[th["status"] == "done"]
    keys = data.group_columns
    for values, group in groupby(th, [*keys, "depth"]):
        variants = order_variants(group["variant"])
        title = f"Thresholds over epochs — {data.group_title(keys, values[:-1])}, depth {fmt.label(values[-1])}"
        fig, axes = _figure(len(variants), title)
        layers = list(pd.unique(group["layer"]))
        for ax, variant in zip(axes, variants, strict=True):
            g = group[group["variant"] == variant]
            for j, layer in enumerate(layers):
                s = g[g["layer"] == layer].groupby("epoch")[["mean", "std"]].mean().sort_index()
                if s.empty:
                    continue
                x, m, sd = s.index.to_numpy(float), s["mean"].to_numpy(float), s["std"].fillna(0).to_numpy(float)
                c = f"C{j % 10}"
                name = g.loc[g["layer"] == layer, "layer_name"].iloc[0]
                ax.plot(x, m, color=c, marker=".", label=str(name))
                ax.fill_between(x, m - sd, m + sd, color=c, alpha=0.2, linewidth=0)
            ax.set_title(variant, fontsize=9)
            ax.set_xlabel("epoch (0 = init)")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("threshold (mean ± std over neurons)")
        axes[0].legend(title="layer", fontsize=7)
        yield Plot(_stem("thresholds", *values[:-1], f"d{fmt.label(values[-1])}"), title, fig)


def training_curves(data: ReportData) -> Iterator[Plot]:
    history = data.history
    history = history[(history["status"] == "done") & history["test_acc"].notna()]
    keys = data.group_columns
    for values, group in groupby(history, keys):
        depths = sorted(group["depth"].unique(), key=float)
        title = f"Test accuracy per epoch — {data.group_title(keys, values)}"
        fig, axes = _figure(len(depths), title)
        for ax, depth in zip(axes, depths, strict=True):
            g = group[group["depth"] == depth]
            stats = _mean_std(g, ["variant", "epoch"], "test_acc")
            for variant in order_variants(stats["variant"]):
                s = stats[stats["variant"] == variant].sort_values("epoch")
                x, m, sd = s["epoch"].to_numpy(float), s["mean"].to_numpy(float), s["std"].fillna(0).to_numpy(float)
                ax.plot(x, m, marker=".", color=color(variant), label=variant)
                ax.fill_between(x, m - sd, m + sd, color=color(variant), alpha=0.2, linewidth=0)
            ax.set_title(f"depth {fmt.label(depth)}", fontsize=9)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("test accuracy (0–1)")
        axes[0].legend(title="variant", fontsize=8)
        yield Plot(_stem("training", *values), title, fig)


def power_timelines(data: ReportData) -> Iterator[Plot]:
    power = data.power
    power = power[pd.to_numeric(power["power_w"], errors="coerce").notna()]
    keys = data.group_columns
    for values, group in groupby(power, keys):
        title = f"GPU power — {data.group_title(keys, values)}"
        fig, (ax,) = _figure(1, title, width=6.0)
        shown = group.sort_values("seed").drop_duplicates(["variant", "depth"])["path"]  # first seed of each
        for variant in order_variants(group["variant"]):
            cells = group[(group["variant"] == variant) & group["path"].isin(set(shown))]
            for k, (_, g) in enumerate(cells.groupby("path", sort=False)):
                first = g.iloc[0]
                linestyle = ["-", "--", ":", "-."][k % 4]
                name = f"{variant} d{fmt.label(first['depth'])} s{fmt.label(first['seed'])}"
                t, p = g["t_s"].to_numpy(float), g["power_w"].to_numpy(float)
                ax.plot(t, p, linestyle, color=color(variant), linewidth=1, label=name)
        ax.set_xlabel("time since meter start (s)")
        ax.set_ylabel("GPU power (W)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        yield Plot(_stem("power", *values), title, fig)


PLOT_KINDS = (accuracy_depth, noise_levels, firing_layers, firing_steps, energy_depth, thresholds_epochs,
              training_curves, power_timelines)  # fmt: skip


def release(plot: Plot) -> None:
    plot.figure.clear()


def write_plot(plot: Plot, directory: Path) -> tuple[Path, Path, bytes]:
    """Write ``<name>.png`` and ``<name>.svg`` into ``directory``; return both paths and the PNG bytes."""
    png = plot.png()
    png_path, svg_path = directory / f"{plot.name}.png", directory / f"{plot.name}.svg"
    write_file(png_path, png)
    write_file(svg_path, plot.svg().encode())
    return png_path, svg_path, png
