"""Readable layer names (conv1, fc1, output) from the kinds of ``layers.json`` rows: tables, tidy data, figures."""

import pandas as pd

from snnbench.report import ReportData, build_report
from snnbench.report.layer_names import readable_names, with_layer_names
from tests.stores import write_cell

# The rows of the conv net at depth 2 as ``layers.json`` stores them (module paths, kinds), network order.
CONV_ROWS = [
    ("features.0", "conv"), ("features.2", "lif"), ("features.5", "conv"), ("features.7", "lif"),
    ("features.11", "linear"), ("features.12", "lif"), ("features.14", "linear"), ("features.15", "lif"),
]  # fmt: skip


def test_conv_net_names():
    assert readable_names([k for _, k in CONV_ROWS]) == [
        "conv1", "conv1", "conv2", "conv2", "fc1", "fc1", "output", "output"
    ]  # fmt: skip


def test_bn_pool_and_leading_lif():
    kinds = ["conv", "bn", "lif", "pool", "conv", "bn", "lif", "pool", "linear", "lif"]
    assert readable_names(kinds) == ["conv1", "bn1", "conv1", "pool1", "conv2", "bn2", "conv2", "pool2",
                                     "output", "output"]  # fmt: skip
    assert readable_names(["lif", "linear", "lif"]) == ["lif1", "output", "output"]
    assert readable_names(["linear", "lif"]) == ["output", "output"] and readable_names([]) == []


def test_names_per_cell_in_network_order():
    rows = [{"path": p, "layer": layer, "kind": kind, "order": i}
            for p in ("a", "b") for i, (layer, kind) in enumerate(CONV_ROWS)][::-1]  # fmt: skip
    named = with_layer_names(pd.DataFrame(rows))
    assert list(named.columns[:3]) == ["path", "layer", "layer_name"]
    by_module = named[named["path"] == "a"].set_index("layer")["layer_name"]
    assert by_module["features.7"] == "conv2" and by_module["features.15"] == "output"
    assert by_module["features.11"] == "fc1"


def test_report_uses_readable_names(tmp_path):
    layers = [
        {
            "layer": layer,
            "kind": kind,
            "neurons": 8 if kind == "lif" else None,
            "firing_rate": 0.1 * (i + 1) if kind == "lif" else None,
        }
        for i, (layer, kind) in enumerate(CONV_ROWS)
    ]
    for variant in ("stl", "sl"):
        write_cell(tmp_path, "s", "mnist_digits", "conv", 2, variant, 0, test_acc=0.9, layers=layers)
    data = ReportData.load([tmp_path])
    assert list(data.layers.drop_duplicates("layer")["layer_name"]) == [
        "conv1", "conv1", "conv2", "conv2", "fc1", "fc1", "output", "output"
    ]  # fmt: skip
    text = build_report([tmp_path], "markdown", tables=["layers"])
    assert "| conv2  | features.7  | lif  | 8       | 0.400" in text
    assert "| output | features.15 | lif  |" in text
    csv = build_report([tmp_path], "csv", tables=["layers"])
    assert "features.15,output,lif" in csv
