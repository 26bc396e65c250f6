"""The report's sections, in the order a report shows them: each gives display tables and a tidy frame."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from snnbench.report.claims import claims_tables, claims_tidy
from snnbench.report.comparisons import (
    failures_tables,
    failures_tidy,
    fusion_tables,
    fusion_tidy,
    stats_tables,
    stats_tidy,
)
from snnbench.report.data import ReportData
from snnbench.report.summary import summary_tables, summary_tidy
from snnbench.report.table import Table
from snnbench.report.tables import (
    accuracy_tables,
    accuracy_tidy,
    cost_tables,
    cost_tidy,
    energy_tables,
    energy_tidy,
    layers_tables,
    layers_tidy,
    noise_tables,
    noise_tidy,
    thresholds_tables,
    thresholds_tidy,
)


@dataclass(frozen=True)
class Section:
    name: str
    tables: Callable[[ReportData], list[Table]]
    tidy: Callable[[ReportData], pd.DataFrame]
    doc: str = field(default="")
    title: str = field(default="")  # the heading of the section in markdown and HTML


SECTIONS: dict[str, Section] = {
    s.name: s
    for s in (
        Section(
            "summary",
            summary_tables,
            summary_tidy,
            "per dataset: best variant, stl − sl, robustness, energy",
            "Summary",
        ),
        Section("accuracy", accuracy_tables, accuracy_tidy, "test accuracy, variant × depth", "Accuracy"),
        Section(
            "noise", noise_tables, noise_tidy, "test accuracy under input noise per level", "Robustness to input noise"
        ),
        Section("energy", energy_tables, energy_tidy, "firing rate, SOPs, MACs, estimated and GPU energy", "Energy"),
        Section("layers", layers_tables, layers_tidy, "firing rate per layer", "Firing rate per layer"),
        Section("thresholds", thresholds_tables, thresholds_tidy, "threshold statistics, init vs final", "Thresholds"),
        Section("cost", cost_tables, cost_tidy, "training time, throughput, GPU energy, memory", "Training cost"),
        Section(
            "stats",
            stats_tables,
            stats_tidy,
            "stl vs sl / tl: paired or Welch t-tests across seeds",
            "stl vs sl / tl across seeds",
        ),
        Section(
            "claims",
            claims_tables,
            claims_tidy,
            "each claim of the paper: effect, 95% CI, test, verdict",
            "The paper's claims",
        ),
        Section(
            "fusion",
            fusion_tables,
            fusion_tidy,
            "decision fusion across seeds or variants (joint decisions)",
            "Decision fusion",
        ),
        Section("failures", failures_tables, failures_tidy, "failed or unfinished cells with their error", "Failures"),
    )
}
TABLE_NAMES = tuple(SECTIONS)


def summary_line(cells: pd.DataFrame) -> str:
    counts = cells["status"].value_counts().to_dict()
    parts = [f"{counts.get(s, 0)} {s}" for s in ("done", "failed", "damaged", "unfinished") if counts.get(s)]
    best = cells.loc[cells["status"] == "done", "test_acc"]
    best_text = "" if best.empty or math.isnan(best.max()) else f"; best test_acc {best.max():.4f}"
    return f"{len(cells)} cells: " + ", ".join(parts or ["none"]) + best_text


def build_tables(data: ReportData | pd.DataFrame, sections: list[str] | None = None) -> list[Table]:
    """The display tables of ``sections`` (default: all), in section order."""
    if isinstance(data, pd.DataFrame):  # a bare cells frame: only what it holds
        data = ReportData(roots=[], cells=data)
    return [t for name in (sections or TABLE_NAMES) for t in SECTIONS[name].tables(data)]
