"""Report tables on the synthetic store: exact numbers, formatting, highlighting."""

import math

import numpy as np
import pytest

from snnbench.report import ReportData, build_tables
from snnbench.report import format as fmt
from snnbench.report.tables import accuracy_tidy, energy_tidy, thresholds_summary
from tests.stores import write_cell


@pytest.fixture(scope="module")
def tables(store):
    return {t.name: t for t in build_tables(ReportData.load([store]))}


def test_formatters():
    assert fmt.si(1_234_567) == "1.23 M" and fmt.si(999.6) == "1.00 k" and fmt.si(12.0) == "12.0"
    assert fmt.si(2.5e9) == "2.50 G" and fmt.si(float("nan")) == "—"
    assert fmt.sig(0.0123456) == "0.0123" and fmt.sig(1234.6) == "1235" and fmt.sig(9.996) == "10.0"
    assert fmt.sig(1.5e-6) == "1.50e-06" and fmt.sig(0) == "0"
    assert fmt.acc(0.92344) == "0.9234" and fmt.signed(-0.01) == "−0.0100" and fmt.signed(0.02) == "+0.0200"
    assert fmt.pvalue(3e-6) == "<0.0001" and fmt.pvalue(0.07418) == "0.0742"
    assert fmt.mean_std([0.91, 0.92, 0.93]) == "0.9200 ± 0.0100 (n=3)"
    assert fmt.mean_std([0.5, None]) == "0.5000 (n=1)" and fmt.mean_std([]) == "—"


def test_accuracy_table_exact(tables):
    t = tables["accuracy/mnist_digits/mlp"]
    assert t.title == "Test accuracy (0–1) — mnist_digits, mlp"
    assert list(t.frame.columns) == ["depth 1", "depth 2"] and list(t.frame.index) == ["stl", "sl", "tl"]
    assert t.frame.loc["stl", "depth 1"] == "0.9200 ± 0.0100 (n=3)"
    assert t.frame.loc["sl", "depth 1"] == "0.9000 ± 0.0000 (n=3)"
    assert t.frame.loc["tl", "depth 1"] == "0.8600 ± 0.0100 (n=3)"
    assert t.frame.loc["stl", "depth 2"] == "0.9500 (n=1)" and t.frame.loc["tl", "depth 2"] == "—"
    assert t.bold.loc["stl", "depth 1"] and not t.bold.loc["sl", "depth 1"] and not t.bold.loc["tl", "depth 2"]


def test_accuracy_tidy_numbers(store):
    tidy = accuracy_tidy(ReportData.load([store])).set_index(["dataset", "depth", "variant"])
    row = tidy.loc[("mnist_digits", 1, "tl")]
    assert row["n"] == 3 and row["test_acc_mean"] == pytest.approx(0.86)
    assert row["test_acc_std"] == pytest.approx(np.std([0.85, 0.87, 0.86], ddof=1))
    assert math.isnan(tidy.loc[("mnist_digits", 2, "stl"), "test_acc_std"])  # one seed: no std
    assert tidy.loc[("fashion_mnist", 1, "sl"), "n"] == 2


def test_noise_table(tables):
    t = tables["noise/mnist_digits/mlp/gaussian"]
    assert "gaussian noise" in t.title
    assert list(t.frame.columns) == ["n", "level 0", "level 0.1", "level 0.2", "nAUC (0–1)"]
    # acc(level) = a - 0.25 level at depth 2 with a = 0.94: area over [0, 0.2] = 0.2 (a - 0.025), / (0.2 a) = 0.9734
    assert t.frame.loc[("2", "sl"), "nAUC (0–1)"] == "0.9734"
    assert t.frame.loc[("1", "stl"), "level 0.2"] == "0.8200 ± 0.0100"  # acc - 0.5 * level
    assert t.frame.loc[("2", "sl"), "level 0.1"] == "0.9150" and t.frame.loc[("1", "tl"), "n"] == "3"
    assert t.bold.loc[("2", "stl"), "level 0.2"] and not t.bold.loc[("2", "sl"), "level 0.2"]
    assert "noise/fashion_mnist/mlp/gaussian" not in tables
    off = tables["noise/mnist_digits/mlp/bitflip (per_step=false)"]  # options keep sweeps apart
    assert off.title.startswith("Test accuracy (0–1) under bitflip (per_step=false) noise — mnist_digits, mlp")
    assert off.frame.loc[("1", "stl"), "level 0.1"] == "0.7200 ± 0.0100"  # 0.92 - 0.1 - 0.1
    assert tables["noise/mnist_digits/mlp/bitflip (per_step=true)"].frame.loc[("1", "stl"), "level 0.1"] == (
        "0.8200 ± 0.0100"
    )


def test_energy_table_units_values_and_unavailable(tables, store):
    t = tables["energy/mnist_digits/mlp"]
    for header in ("firing rate (spikes/neuron/step)", "SOPs (per sample)", "MACs (per sample)",
                   "est. energy (µJ/sample)", "SNN/ANN energy (×)", "GPU inference (mJ/sample)"):  # fmt: skip
        assert header in t.frame.columns
    # stl depth 1: rates 0.10, 0.11, 0.12 -> SOPs 1e6 * (1 + rate), mean 1.11e6
    assert t.frame.loc[("1", "stl"), "SOPs (per sample)"] == "1.11 M"
    assert t.frame.loc[("1", "stl"), "firing rate (spikes/neuron/step)"] == "0.110"
    energy = np.mean([(1e6 * (1 + r) * 0.9 + 1e5 * 4.6) * 1e-6 for r in (0.10, 0.11, 0.12)])
    assert t.frame.loc[("1", "stl"), "est. energy (µJ/sample)"] == fmt.sig(energy) == "1.46"
    assert t.frame.loc[("2", "sl"), "MACs (per sample)"] == "200 k"
    assert set(t.frame["GPU inference (mJ/sample)"]) == {"unavailable"} and "device is cpu" in t.note
    energy_bold = t.bold["est. energy (µJ/sample)"]
    assert energy_bold[("1", "stl")] and not energy_bold[("1", "sl")] and energy_bold[("2", "stl")]
    gpu = tables["energy/fashion_mnist/mlp"]
    assert gpu.frame.loc[("1", "stl"), "GPU inference (mJ/sample)"] == "0.500"
    tidy = energy_tidy(ReportData.load([store])).set_index(["dataset", "depth", "variant"])
    assert tidy.loc[("mnist_digits", 1, "stl"), "sops_per_sample_mean"] == pytest.approx(1.11e6)


def test_cost_table(tables):
    t = tables["cost/fashion_mnist/mlp"]
    assert t.frame.loc[("1", "stl"), "GPU train energy (J)"] == "101"  # 100 + seed, seeds 0..2
    assert t.frame.loc[("1", "sl"), "GPU train energy (J)"] == "104"  # seeds 3, 4
    assert t.frame.loc[("1", "stl"), "train time (s)"] == "4.00"
    assert t.frame.loc[("1", "stl"), "throughput (samples/s)"] == "50.0"
    assert set(tables["cost/mnist_digits/mlp"].frame["GPU mean power (W)"]) == {"unavailable"}


def test_layers_table(tables):
    t = tables["layers/mnist_digits/mlp/2"]
    # spiking layers only, in network order, named by the layer feeding them; the last one is the output
    assert list(t.frame.index) == ["fc1", "output"]
    assert list(t.frame["module"]) == ["lif1", "lif2"]  # the path in the network stays visible
    assert t.frame.loc["output", "sl rate (spikes/neuron/step)"] == "0.400"
    assert t.frame.loc["fc1", "stl silent (0–1)"] == "0.1000" and t.frame.loc["fc1", "neurons"] == "128"
    assert "tl rate (spikes/neuron/step)" not in t.frame.columns  # tl at depth 2 never finished


def test_thresholds_init_vs_final(tables, store):
    t = tables["thresholds/mnist_digits/mlp/1"]
    assert t.frame.loc[("stl", "output"), "init mean (a.u.)"] == "2.0000"
    assert t.frame.loc[("stl", "output"), "final mean (a.u.)"] == "2.2000"
    assert t.frame.loc[("stl", "output"), "Δ mean (a.u.)"] == "+0.2000"
    assert t.frame.loc[("sl", "output"), "Δ mean (a.u.)"] == "+0.0000"  # frozen thresholds
    assert t.frame.loc[("stl", "output"), "drift (a.u.)"] == "0.2000"
    summary = thresholds_summary(ReportData.load([store]))
    row = summary[(summary.dataset == "mnist_digits") & (summary.depth == 2) & (summary.layer == "lif2")]
    assert set(row["variant"]) == {"stl", "sl"} and (row["n"] == 1).all() and set(row["layer_name"]) == {"output"}
    assert row.set_index("variant").loc["stl", "final_max"] == pytest.approx(2.7)


def test_stats_table_flags_and_bold(tables):
    t = tables["stats/mnist_digits/mlp"]
    assert t.frame.loc[("1", "stl − sl"), "p"] == "0.0742" and t.frame.loc[("1", "stl − sl"), "flag"] == ""
    assert t.frame.loc[("1", "stl − sl"), "Δ a − b (0–1)"] == "+0.0200"
    assert t.frame.loc[("1", "stl − tl"), "n"] == "3" and t.bold.loc[("1", "stl − tl"), "p"]
    assert t.frame.loc[("2", "stl − sl"), "flag"] == "n<3" and t.frame.loc[("2", "stl − sl"), "n"] == "1 vs 1"
    assert t.frame.loc[("2", "stl − sl"), "p"] == "—"
    assert tables["stats/fashion_mnist/mlp"].frame.loc[("1", "stl − sl"), "test"] == "welch"


def test_failures_table(tables):
    t = tables["failures"]
    assert set(t.frame["status"]) == {"failed", "unfinished"}
    failed = t.frame[t.frame["status"] == "failed"].iloc[0]
    assert failed["error"] == "RuntimeError: CUDA out of memory | tried to allocate 2 GiB"  # first line only
    assert failed["epochs recorded"] == "1"


def test_varying_axis_splits_groups(tmp_path):
    for tau in (0.25, 0.5):
        for variant in ("stl", "sl"):
            acc = 0.9 if tau == 0.25 else 0.8
            write_cell(tmp_path, "s", "d", "mlp", 1, variant, 0, test_acc=acc, axes={"model.neuron.tau": tau})
    names = {t.name: t for t in build_tables(ReportData.load([tmp_path]), ["accuracy"])}
    assert set(names) == {"accuracy/d/mlp/0.25", "accuracy/d/mlp/0.5"}
    assert names["accuracy/d/mlp/0.5"].title == "Test accuracy (0–1) — d, mlp, model.neuron.tau=0.5"
    assert names["accuracy/d/mlp/0.5"].frame.loc["stl", "depth 1"] == "0.8000 (n=1)"
