"""End to end through the CLI on tiny real data: run, rerun (nothing retrains), report, reload, errors."""

import io
import json

import pandas as pd
import pytest
import torch

import snnbench
from snnbench.data import load_data
from snnbench.measure.accuracy import evaluate
from snnbench.suite import DataSpec

TINY = """
name: tiny
data:
  dataset: mnist_digits
  T: 2
  train_subset: 300
  test_subset: 100
model:
  name: mlp
  width: 32
  population: 2
train:
  epochs: 1
  batch_size: 50
matrix:
  variant: [stl, sl, tl]
  depth: [1, 2]
"""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from tests.conftest import run_cli

    root = tmp_path_factory.mktemp("e2e")
    (root / "tiny.yaml").write_text(TINY)
    first = run_cli("run", "tiny.yaml", "--results", "res", "--device", "cpu", cwd=root)
    second = run_cli("run", "tiny.yaml", "--results", "res", "--device", "cpu", cwd=root)
    return root, first, second


@pytest.mark.slow
def test_run_trains_every_cell_once_and_rerun_retrains_nothing(tiny_run):
    root, first, second = tiny_run
    assert first.returncode == 0, first.stderr
    assert "6 trained, 0 already finished, 0 failed" in first.stderr
    assert second.returncode == 0 and "0 trained, 6 already finished, 0 failed" in second.stderr
    cells = sorted((root / "res" / "tiny").glob("*/done.json"))
    assert len(cells) == 6
    for done in cells:
        d = done.parent
        assert {"spec.json", "provenance.json", "history.json", "metrics.json", "model.pt"} <= {
            p.name for p in d.iterdir()
        }
        prov = json.loads((d / "provenance.json").read_text())
        assert prov["torch_version"] == torch.__version__ and prov["seed"] == 0 and prov["device"] == "cpu"
        assert prov["snnbench_version"] == snnbench.__version__
        # how it trained: the CPU heap the run kept, the LIF path policy and the path of every LIF signature
        assert prov["cpu_heap"].startswith("kept: no mmap") and prov["cpu"] == prov["device_name"]
        assert prov["lif_compile_policy"] == "auto"
        paths = prov["lif_paths"]
        assert paths and set(paths.values()) == {"eager"}  # tiny layers: a compile could not pay for itself
        assert any(sig.startswith("lif cpu [") and sig.endswith(" train") for sig in paths)


@pytest.mark.slow
def test_report_markdown_csv_json(tiny_run, cli):
    root, _, _ = tiny_run
    md = cli("report", "res", "--format", "markdown", cwd=root)
    assert md.returncode == 0, md.stderr
    assert "## Test accuracy (0–1) — mnist_digits, mlp" in md.stdout
    assert "| variant | depth 1" in md.stdout and "depth 2" in md.stdout
    for variant in ("stl", "sl", "tl"):
        assert f"| {variant} " in md.stdout
    csv = cli("report", "res", "--format", "csv", cwd=root)
    frame = pd.read_csv(io.StringIO(csv.stdout))
    for column in ("suite", "cell_id", "dataset", "model", "depth", "variant", "seed", "status", "test_acc",
                   "train_time_s", "train_samples_per_s"):  # fmt: skip
        assert column in frame.columns
    assert len(frame) == 6 and set(frame["status"]) == {"done"} and frame["test_acc"].between(0, 1).all()
    records = json.loads(cli("report", "res", "--format", "json", cwd=root).stdout)
    assert sorted(r["cell_id"] for r in records) == sorted(frame["cell_id"])
    # the markdown table's stl/depth-1 entry is that cell's accuracy (n=1)
    acc = frame[(frame.variant == "stl") & (frame.depth == 1)]["test_acc"].item()
    assert f"{acc:.4f} (n=1)" in md.stdout


@pytest.mark.slow
def test_reloaded_model_reproduces_stored_accuracy(tiny_run):
    root, _, _ = tiny_run
    cell = next((root / "res" / "tiny").glob("*-stl-*"))
    model = snnbench.load_model(cell)
    spec = model.cell_spec
    bundle = load_data(DataSpec(**{**spec.data.__dict__}), spec.seed)
    stored = json.loads((cell / "metrics.json").read_text())["test_acc"]
    assert evaluate(model, bundle, torch.device("cpu"), seed=spec.seed, batch_size=100)["test_acc"] == stored


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "missing.yaml"], "suite file not found"),
        (["run", "bad.yaml"], "bad.yaml:3: unknown key 'train.epoch'"),
        (["validate", "bad.yaml"], "did you mean 'epochs'"),
        (["run", "good.yaml", "-o", "train.epochs=0"], "'train.epochs' is 0, must be >= 1"),
        (["run", "good.yaml", "--device", "cuda:7"], "device 'cuda:7' requested but"),
        (
            ["run", "good.yaml", "--devic", "cpu"],
            "No such option '--devic'. (Did you mean one of: '--device', '--devices'?)",
        ),
        (["report", "nowhere"], "results directory 'nowhere' does not exist"),
        (["list", "animals"], "'animals' is not one of"),
    ],
)
def test_bad_input_is_one_line_exit_2_no_traceback(tmp_path, cli, args, message):
    import re

    (tmp_path / "bad.yaml").write_text("name: b\ntrain:\n  epoch: 1\n")
    (tmp_path / "good.yaml").write_text("name: g\n")
    proc = cli(*args, cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert re.search(message, lines[0]) or message in lines[0], lines[0]
    assert "Traceback" not in proc.stderr


def test_validate_and_dry_run(tmp_path, cli):
    (tmp_path / "s.yaml").write_text(TINY)
    assert "ok, suite 'tiny' with 6 cells" in cli("validate", "s.yaml", cwd=tmp_path).stdout
    dry = cli("run", "s.yaml", "--dry-run", "--results", "r", cwd=tmp_path)
    assert dry.returncode == 0 and dry.stdout.count("pending") == 6
    assert not (tmp_path / "r" / "tiny").exists() or not list((tmp_path / "r" / "tiny").glob("*/spec.json"))


def test_list_datasets_says_which_files_are_present(tmp_path, capsys):
    from snnbench.cli import main
    from tests.data.conftest import make_mnist_like

    make_mnist_like(tmp_path, "MNIST")
    main(["list", "datasets", "--data-root", str(tmp_path)])
    rows = {
        line.split("│")[1].strip(): line.split("│")[-2].strip()
        for line in capsys.readouterr().out.splitlines()
        if line.count("│") > 5
    }
    assert rows["mnist"] == "present" and rows["fashion_mnist"] == "missing" and rows["cifar10"] == "missing"
    assert rows["mnist_digits"] == "built-in" and rows["dvs_digits"] == "built-in"


@pytest.mark.slow
def test_status_lists_every_cell(tiny_run, cli):
    root, _, _ = tiny_run
    (root / "tiny.yaml").write_text(TINY + "\n")
    proc = cli("status", "res", "--suite", "tiny.yaml", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert "6 cells: 6 done, 0 failed, 0 running, 0 unfinished, 0 pending" in proc.stdout
    records = json.loads(cli("status", "res", "--format", "json", cwd=root).stdout)
    assert len(records) == 6 and {r["status"] for r in records} == {"done"} and {r["epochs"] for r in records} == {1}
