"""The metric catalogue is the one source of names, units and directions: the doc and the report follow it."""

from __future__ import annotations

from pathlib import Path

from snnbench.report.tables import COST_COLUMNS, ENERGY_COLUMNS
from snnbench.results.metrics import METRICS, markdown_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def test_docs_metrics_md_is_the_catalogue():
    text = DOC.read_text(encoding="utf-8")
    assert markdown_table() in text, "docs/metrics.md is stale: paste snnbench.results.metrics.markdown_table()"


def test_report_headers_and_best_marks_come_from_the_catalogue():
    headers = {c.key: (c.header, c.best) for c in ENERGY_COLUMNS + COST_COLUMNS}
    assert headers["sops_per_sample"] == ("SOPs (per sample)", "min")
    assert headers["train_samples_per_s"] == ("throughput (samples/s)", "max")
    assert headers["epochs"] == ("epochs", None)
    assert headers["gpu_j_per_train_sample"] == ("GPU train (mJ/sample)", "min")  # displayed in mJ, stored in J
    for column in ENERGY_COLUMNS + COST_COLUMNS:
        assert column.key in METRICS


def test_metric_names_carry_their_units():
    suffix_units = {"_s": "s", "_j": "J", "_w": "W", "_mib": "MiB", "_uj_per_sample": "µJ/sample"}
    for name, metric in METRICS.items():
        for suffix, unit in suffix_units.items():
            if name.endswith(suffix) and not name.endswith("_per_s"):
                assert metric.unit == unit, name
        assert metric.better in ("higher", "lower", None)
