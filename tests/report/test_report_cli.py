"""``snnbench report``: every format, --table, --where, --plots, and one-line errors."""

import io
import json
import re

import pandas as pd
import pytest

from snnbench.report import build_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LEAD = ["suite", "cell_id", "dataset", "model", "depth", "variant", "seed", "status", "test_acc", "train_time_s",
        "train_samples_per_s"]  # fmt: skip


def test_markdown_has_every_section(store, run_report):
    code, out, _ = run_report(store)
    assert code == 0
    assert out.startswith("# snnbench report\n\n18 cells: 16 done, 1 failed, 1 unfinished; best test_acc 0.9500")
    assert "## Test accuracy (0–1) — mnist_digits, mlp" in out and "| variant | depth 1" in out
    assert "| stl     | **0.9200 ± 0.0100 (n=3)** | **0.9500 (n=1)** |" in out
    assert "| tl      | 0.8600 ± 0.0100 (n=3)     | —                |" in out
    for title in ("under gaussian noise", "Energy per test sample", "Firing rate per layer", "Thresholds per layer",
                  "Training cost", "stl vs sl / tl across seeds", "Failed or unfinished cells"):  # fmt: skip
        assert f"## {title}" in out or title in out, title
    assert "CUDA out of memory \\| tried" in out  # a | in a cell is escaped


def test_csv_default_is_the_per_cell_table(store, run_report):
    code, out, _ = run_report(store, "--format", "csv")
    frame = pd.read_csv(io.StringIO(out))
    assert code == 0 and list(frame.columns[: len(LEAD)]) == LEAD and len(frame) == 18
    assert frame["test_acc"].dropna().between(0, 1).all()
    assert "est_energy_uj_per_sample" in frame.columns and "path" in frame.columns


@pytest.mark.parametrize(
    "table, columns, rows",
    [
        ("noise", ["noise_kind", "noise_level", "noise_params", "test_acc", "test_loss"], 99),
        ("layers", ["layer", "kind", "neurons", "firing_rate", "sops_per_sample"], 26),
        ("stats", ["dataset", "depth", "a", "b", "test", "n", "mean_diff", "ci_low", "ci_high", "t", "p", "flag"], 4),
        ("accuracy", ["dataset", "model", "depth", "variant", "n", "test_acc_mean", "test_acc_std"], 7),
        ("failures", LEAD, 2),
    ],
)
def test_csv_long_tables(store, run_report, table, columns, rows):
    code, out, _ = run_report(store, "--format", "csv", "--table", table)
    frame = pd.read_csv(io.StringIO(out))
    assert code == 0 and len(frame) == rows
    assert all(c in frame.columns for c in columns), frame.columns


def test_json_formats(store, run_report):
    code, out, _ = run_report(store, "--format", "json")
    records = json.loads(out)
    assert code == 0 and len(records) == 18 and all(r["status"] in ("done", "failed", "unfinished") for r in records)
    failed = next(r for r in records if r["status"] == "failed")
    assert failed["test_acc"] is None  # NaN -> null
    code, out, _ = run_report(store, "--format", "json", "--table", "noise", "--table", "stats")
    both = json.loads(out)
    assert set(both) == {"noise", "stats"} and len(both["noise"]) == 99
    paired = [r for r in both["stats"] if r["dataset"] == "mnist_digits" and r["depth"] == 1 and r["b"] == "sl"]
    assert paired[0]["mean_diff"] == pytest.approx(0.02) and paired[0]["n"] == 3


def test_latex(store, run_report):
    code, out, _ = run_report(store, "--format", "latex", "--table", "accuracy,stats")
    assert code == 0 and out.count(r"\begin{tabular}") == 4 and r"\toprule" in out and r"\bottomrule" in out
    assert r"\textbf{0.9200 $\pm$ 0.0100 (n=3)}" in out
    assert r"\caption{Test accuracy (0--1) --- mnist\_digits, mlp}" in out
    assert r"stl $-$ tl & paired & 3" in out and r"\textbf{0.00913}" in out
    assert "Energy" not in out


def test_where_filters_cells(store, run_report):
    code, out, _ = run_report(store, "--format", "csv", "--where", "dataset=mnist_digits", "--where", "depth=2")
    frame = pd.read_csv(io.StringIO(out))
    assert code == 0 and set(frame["dataset"]) == {"mnist_digits"} and set(frame["depth"]) == {2} and len(frame) == 4
    code, out, _ = run_report(store, "--format", "csv", "--where", "variant=stl,sl", "--where", "depth=1")
    assert set(pd.read_csv(io.StringIO(out))["variant"]) == {"stl", "sl"}
    code, out, _ = run_report(store, "--table", "accuracy", "--where", "dataset=fashion_mnist")
    assert "fashion_mnist" in out and "mnist_digits" not in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--table", "acuracy"], "error: unknown table 'acuracy' (hint: did you mean 'accuracy'? valid: accuracy,"),
        (["--where", "datset=mnist"], "error: --where: unknown column 'datset' (hint: did you mean 'dataset'?"),
        (["--where", "depth"], "error: --where 'depth' is not KEY=VALUE"),
        (["--where", "dataset=cifar"], "error: no cells match --where dataset=cifar (hint: values of dataset:"),
        (["--format", "csv", "--table", "noise", "--table", "layers"], "error: csv holds one table"),
        (["--format", "pdf"], "error: Invalid value for '--format'"),
    ],
)
def test_bad_values_are_one_line_errors(store, run_report, args, message):
    code, out, err = run_report(store, *args)
    lines = err.strip().splitlines()
    assert code == 2 and out == ""
    assert len(lines) == 1 and lines[0].startswith(message), err
    assert "Traceback" not in err


def test_missing_results_dir_is_an_error(tmp_path, run_report):
    code, _, err = run_report(tmp_path / "nowhere")
    assert code == 2 and "results directory" in err and "does not exist" in err


def test_empty_results_dir_says_why(tmp_path, run_report):
    code, out, err = run_report(tmp_path)
    assert code == 2 and out == ""
    assert err.strip() == (
        f"error: no cells under {tmp_path}: no folder there holds a spec.json or done.json (hint: pass the --results "
        "directory of a run (snnbench run SUITE --results DIR))"
    )


def test_html_is_self_contained_and_plots_are_written(store, tmp_path, run_report):
    html_path, plots = tmp_path / "out" / "report.html", tmp_path / "out" / "figures"
    code, out, err = run_report(store, "--format", "html", "--output", html_path, "--plots", plots)
    assert code == 0 and out == "" and f"wrote {html_path}" in err
    text = html_path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "<table>" in text and "0.9200 ± 0.0100 (n=3)" in text
    markup = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:", text)  # base64 may spell anything
    assert "http" not in markup.lower() and "<script" not in markup and "<link" not in markup
    links = re.findall(r'href="([^"]*)"', markup)
    assert links and all(h.startswith("#") for h in links)  # only in-page anchors
    assert 'src="data:image/png;base64,' in text
    assert all(src.startswith("data:") for src in text.split('src="')[1:])
    stems = {p.stem for p in plots.glob("*.png")}
    assert stems == {p.stem for p in plots.glob("*.svg")}
    expected = {
        "accuracy_depth-mnist_digits-mlp", "noise-mnist_digits-mlp-gaussian", "firing_layers-mnist_digits-mlp",
        "noise-mnist_digits-mlp-bitflip_per_step=true", "noise-mnist_digits-mlp-bitflip_per_step=false",
        "energy_depth-mnist_digits-mlp", "thresholds-mnist_digits-mlp-d1", "training-mnist_digits-mlp",
        "power-fashion_mnist-mlp",
    }  # fmt: skip
    assert expected <= stems
    assert "power-mnist_digits-mlp" not in stems  # no timeline there
    assert text.count("data:image/png;base64,") == len(stems)
    for png in plots.glob("*.png"):
        assert png.read_bytes()[:8] == PNG_MAGIC
    for svg in plots.glob("*.svg"):
        content = svg.read_text()
        assert "<svg" in content and content.rstrip().endswith("</svg>")


def test_markdown_links_the_figures_of_the_chosen_tables(store, tmp_path):
    out = tmp_path / "r" / "report.md"
    text = build_report([store], "markdown", tables=["accuracy"], plots_dir=tmp_path / "r" / "fig", output=out)
    assert "## Figures" not in text and "](fig/accuracy_depth-mnist_digits-mlp.png)" in text
    assert {p.name.split("-")[0] for p in (tmp_path / "r" / "fig").glob("*.png")} == {"accuracy_depth", "training"}
