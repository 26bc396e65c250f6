"""Scale-out: parallel workers on one results directory, submitit jobs (local executor, and a fake SLURM), status."""

import json
import multiprocessing
import os
import pickle
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from snnbench.cli.display import status_table
from snnbench.errors import DataError, DeviceError, LaunchError
from snnbench.results.store import CellStore
from snnbench.runner import run_suite
from snnbench.runner.device import worker_devices
from snnbench.runner.pool import run_parallel
from snnbench.runner.slurm import parse_sbatch, read_jobs, submit_slurm
from snnbench.runner.status import cell_status, format_status, status_counts
from snnbench.suite import load_suite

SUITE = """
name: par
data:
  dataset: mnist_digits
  T: 2
  train_subset: 200
  test_subset: 50
model:
  name: mlp
  width: 16
  population: 2
  neuron:
    backend: reference
train:
  epochs: 3
  batch_size: 25
matrix:
  variant: [stl, sl]
  seed: [0, 1]
"""
N_CELLS = 4


@pytest.fixture(scope="module")
def suite_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("suite") / "par.yaml"
    path.write_text(SUITE)
    return path


@pytest.fixture(scope="module")
def reference(suite_file, tmp_path_factory):
    """A sequential run launched with one CPU thread, as the parallel runs below are (threads=1, cpus_per_task=1)."""
    results = tmp_path_factory.mktemp("ref") / "res"
    summary = run_suite(load_suite(suite_file), results, device="cpu", threads=1)
    assert len(summary.done) == N_CELLS
    return results


def cell_dirs(results):
    return sorted(p for p in (results / "par").iterdir() if p.is_dir() and not p.name.startswith("."))


def assert_same_results(a, b, subset=False):
    """Cells of results ``a`` equal those of ``b`` (all of them, or the ones in ``a`` with ``subset``)."""
    dirs_a, dirs_b = cell_dirs(a), cell_dirs(b)
    if subset:
        dirs_b = [d for d in dirs_b if d.name in {x.name for x in dirs_a}]
    assert [d.name for d in dirs_a] == [d.name for d in dirs_b]
    for da, db in zip(dirs_a, dirs_b, strict=True):
        ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (da, db))
        assert ma["status"] == mb["status"] == "done"
        assert ma["test_acc"] == mb["test_acc"] and ma["train_acc"] == mb["train_acc"], da.name
        sa, sb = (torch.load(d / "model.pt", weights_only=True) for d in (da, db))
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa), da.name
        ha, hb = (json.loads((d / "history.json").read_text()) for d in (da, db))
        assert [r["train_loss"] for r in ha] == [r["train_loss"] for r in hb], da.name


@pytest.mark.slow
def test_two_workers_equal_a_sequential_run_and_train_each_cell_once(suite_file, reference, tmp_path):
    results = tmp_path / "res"
    progress, finished, starts = [], [], []
    summary = run_parallel(
        suite_file, [], results, devices=["cpu", "cpu"], threads=1, poll_s=0.1,
        on_progress=lambda *a: progress.append(a), on_cell=lambda cell, status, info, w: finished.append(cell.cell_id),
        on_start=starts.append,
    )  # fmt: skip
    ids = sorted(c.cell_id for c in load_suite(suite_file).cells)
    assert summary.ok, (summary.crashed, summary.failed)
    assert summary.workers == ["worker 0 (cpu)", "worker 1 (cpu)"]
    assert sorted(summary.done) == ids and sorted(finished) == ids  # every cell trained exactly once
    assert set(summary.trained_by.values()) <= set(summary.workers)
    assert not summary.skipped and not summary.remaining and not summary.busy
    assert progress[-1] == (N_CELLS, 0, N_CELLS) and starts == [["cpu", "cpu"]]
    assert all(json.loads((d / "provenance.json").read_text())["num_threads"] == 1 for d in cell_dirs(results))
    assert_same_results(results, reference)
    # a rerun finds everything finished and starts no worker
    again = run_parallel(suite_file, [], results, devices=["cpu", "cpu"], threads=1, on_start=starts.append)
    assert again.ok and again.workers == [] and not again.done and sorted(again.skipped) == ids
    assert starts[-1] == []


def test_worker_devices_and_sbatch_options(monkeypatch):
    assert worker_devices(2, "cpu") == ["cpu", "cpu"]
    assert worker_devices(None, "cpu", "cuda:0,cuda:1") == ["cuda:0", "cuda:1"]
    assert worker_devices(3, "auto", ["cuda:0", "cuda:1"]) == ["cuda:0", "cuda:1", "cuda:0"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert worker_devices(3, "auto") == ["cuda:0", "cuda:1", "cuda:0"]
    with pytest.raises(LaunchError, match=r"--devices ', ' names no device"):
        worker_devices(None, "auto", ", ")
    assert parse_sbatch(["account=myproj", "--qos=high", "exclusive"]) == {
        "account": "myproj", "qos": "high", "exclusive": True
    }  # fmt: skip


def _lock_holder(cell_dir):
    """pid holding the flock on the cell's .lock, from /proc/locks (Linux)."""
    inode = os.stat(cell_dir / ".lock").st_ino
    for line in Path("/proc/locks").read_text().splitlines():
        parts = line.split()
        if "FLOCK" in parts and parts[-3].split(":")[-1] == str(inode):
            return int(parts[-4])
    return None


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/locks")
def test_killed_worker_is_reported_and_its_cell_resumes(suite_file, reference, tmp_path):
    results = tmp_path / "res"
    killed = {}

    def kill_a_worker_mid_cell(done, failed, total):
        if killed:
            return
        workers = {p.pid for p in multiprocessing.active_children() if p.name.startswith("snnbench-worker")}
        for cell in cell_dirs(results) if (results / "par").exists() else []:
            if (cell / "checkpoint.pt").exists() and not (cell / "done.json").exists():
                pid = _lock_holder(cell)
                if pid in workers:  # only ever our own worker
                    os.kill(pid, signal.SIGKILL)
                    killed.update(pid=pid, cell=cell.name)
                    return

    summary = run_parallel(
        suite_file, [], results, devices=["cpu", "cpu"], threads=1, poll_s=0.02, on_progress=kill_a_worker_mid_cell
    )
    assert killed, "no worker was caught mid-cell"
    assert not summary.ok and len(summary.crashed) == 1
    assert "killed by SIGKILL" in next(iter(summary.crashed.values()))
    unfinished = sorted(d.name.rsplit("-", 1)[-1] for d in cell_dirs(results) if not (d / "done.json").exists())
    unfinished += [c.cell_id for c in load_suite(suite_file).cells if not (results / "par" / c.slug).exists()]
    assert sorted(unfinished) == sorted(summary.remaining)
    assert len(summary.done) + len(summary.remaining) == N_CELLS and len(set(summary.done)) == len(summary.done)
    rerun = run_parallel(suite_file, [], results, devices=["cpu", "cpu"], threads=1)
    assert rerun.ok and sorted(rerun.done) == sorted(unfinished)  # only the missing cells
    assert not list(results.glob("par/*/checkpoint.pt"))
    assert_same_results(results, reference)  # the killed cell resumed from its checkpoint (here or in the rerun)


RUN_SCRIPT = """
import sys
from snnbench.runner.pool import run_parallel
run_parallel(sys.argv[1], [], sys.argv[2], devices=["cpu", "cpu"], threads=1)
"""


def _processes():
    """pid -> (parent pid, state, cmdline) of every process (Linux /proc)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                out[int(entry.name)] = (int(fields[1]), fields[0], (entry / "cmdline").read_bytes())
            except (OSError, IndexError, ValueError):
                pass
    return out


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killed_run_leaves_no_worker_behind_and_a_rerun_trains_only_the_missing_cells(suite_file, reference, tmp_path):
    results = tmp_path / "res"
    proc = subprocess.Popen([sys.executable, "-c", RUN_SCRIPT, str(suite_file), str(results)], cwd=tmp_path)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        dirs = cell_dirs(results) if (results / "par").exists() else []
        done = [d for d in dirs if (d / "done.json").exists()]
        if done and any((d / "checkpoint.pt").exists() and d not in done for d in dirs):
            break
        time.sleep(0.02)
    workers = [pid for pid, (ppid, _, cmd) in _processes().items() if ppid == proc.pid and b"spawn_main" in cmd]
    proc.kill()
    proc.wait()
    assert len(workers) == 2, "the run ended before it could be killed mid-way"
    deadline = time.time() + 60
    while time.time() < deadline and any(_processes().get(pid, (0, "Z"))[1] != "Z" for pid in workers):
        time.sleep(0.1)
    assert all(_processes().get(pid, (0, "Z"))[1] == "Z" for pid in workers), "workers outlived their parent"
    finished = {d.name for d in cell_dirs(results) if (d / "done.json").exists()}
    missing = sorted(c.cell_id for c in load_suite(suite_file).cells if c.slug not in finished)
    assert 0 < len(missing) < N_CELLS
    rerun = run_parallel(suite_file, [], results, devices=["cpu", "cpu"], threads=1)
    assert rerun.ok and sorted(rerun.done) == missing and len(rerun.skipped) == N_CELLS - len(missing)
    assert_same_results(results, reference)


@pytest.mark.slow
def test_user_error_in_workers_is_raised_as_one_line(tmp_path):
    suite = tmp_path / "bad.yaml"
    suite.write_text("name: x\ndata:\n  dataset: cifar10\n  root: nowhere\n  train_subset: 10\n")
    with pytest.raises(DataError) as sequential:
        run_suite(load_suite(suite), tmp_path / "seq", device="cpu")
    with pytest.raises(DataError) as parallel:
        run_parallel(suite, [], tmp_path / "par", devices=["cpu", "cpu"], threads=1)
    assert str(parallel.value) == str(sequential.value) and "\n" not in str(parallel.value)
    with pytest.raises(DeviceError):  # checked before any worker starts
        run_parallel(suite, [], tmp_path / "par", devices=["cpu", "tpu"])


@pytest.mark.slow
def test_submitit_local_executor_runs_the_cells_like_a_sequential_run(suite_file, reference, tmp_path):
    pytest.importorskip("submitit")
    results = tmp_path / "res"
    overrides = ["seed=0"]  # 2 of the 4 cells (same cell ids): one job process each
    cells = load_suite(suite_file, overrides).cells
    jobs = submit_slurm(
        suite_file, overrides, results, executor="local", gpus_per_job=0, cpus_per_task=1, time_min=10, wait=True
    )
    assert len(jobs) == len(cells) == 2
    outcomes = [job.result() for job in jobs]
    assert all(o["status"] == "done" and o["trained"] for o in outcomes)
    assert sorted(o["cell_id"] for o in outcomes) == sorted(c.cell_id for c in cells)
    assert_same_results(results, reference, subset=True)
    records = read_jobs(results, "par")
    assert sorted(records) == sorted(o["cell_id"] for o in outcomes)
    assert {r["job_id"] for r in records.values()} == {str(j.job_id) for j in jobs}
    assert all(r["executor"] == "local" for r in records.values())
    assert submit_slurm(suite_file, overrides, results, executor="local", gpus_per_job=0) == []  # nothing left
    rows = cell_status(results, load_suite(suite_file, overrides))
    assert [r["job_id"] for r in rows] == [records[c.cell_id]["job_id"] for c in cells]
    assert [r["status"] for r in rows] == ["done", "done"]


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_preempted_submitit_job_is_requeued_and_resumes_its_cell(suite_file, reference, tmp_path):
    submitit = pytest.importorskip("submitit")
    results = tmp_path / "res"
    overrides = ["seed=0", "variant=stl"]
    (cell,) = load_suite(suite_file, overrides).cells
    (job,) = submit_slurm(suite_file, overrides, results, executor="local", gpus_per_job=0, cpus_per_task=1)
    cell_dir = results / "par" / cell.slug
    deadline = time.time() + 120
    while not (cell_dir / "checkpoint.pt").exists() and time.time() < deadline and not job.done():
        time.sleep(0.02)
    assert (cell_dir / "checkpoint.pt").exists(), "the job ended before it could be preempted"
    # what SLURM does before preemption or the time limit: signal the task, which checkpoints (requeues) itself
    (task,) = [pid for pid, (ppid, _, cmd) in _processes().items() if ppid == int(job.job_id) and b"_submit" in cmd]
    os.kill(task, submitit.JobEnvironment._usr_sig())
    assert job.result()["status"] == "done"
    assert "this job is preempted" in (job.stderr() or "") and "Requeued job" in (job.stdout() or "")
    assert len(json.loads((cell_dir / "history.json").read_text())) == 3
    assert_same_results(results, reference, subset=True)  # resumed from the checkpoint, bit-identical


FAKE_SBATCH = """#!/bin/sh
n=$(cat "$FAKE_SLURM/next")
echo $((n + 1)) > "$FAKE_SLURM/next"
cp "$1" "$FAKE_SLURM/sbatch-$n.sh"
echo "Submitted batch job $n"
"""
FAKE_SACCT = """#!/bin/sh
echo "JobID|State|NodeList"
cat "$FAKE_SLURM/states"
"""


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    """sbatch / srun / sacct stand-ins on PATH: sbatch saves the script and prints an id; sacct prints ``states``."""
    pytest.importorskip("submitit")
    bin_dir = tmp_path / "fake-slurm"
    bin_dir.mkdir()
    for name, text in {"sbatch": FAKE_SBATCH, "sacct": FAKE_SACCT, "srun": "#!/bin/sh\nexit 0\n"}.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)
    (bin_dir / "next").write_text("4242\n")
    (bin_dir / "states").write_text("")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM", str(bin_dir))
    return bin_dir


def test_slurm_submission_options_resubmission_and_job_errors(suite_file, reference, tmp_path, fake_slurm):
    suite = load_suite(suite_file)
    results = tmp_path / "res"
    (results / "par").mkdir(parents=True)
    shutil.copy(reference / "par" / "suite.json", results / "par" / "suite.json")
    done, failed, running, *rest = suite.cells
    for cell in (done, failed):
        shutil.copytree(reference / "par" / cell.slug, results / "par" / cell.slug)
    CellStore(results / "par" / failed.slug).mark_done("failed")
    options = dict(
        executor="slurm", partition="gpu", time_min=120, gpus_per_job=1, cpus_per_task=4, mem_gb=16,
        array_parallelism=2, sbatch={"account": "myproj"}, setup=["module load cuda"],
    )  # fmt: skip
    with CellStore(results / "par" / running.slug).lock():  # a job already trains this cell
        jobs = submit_slurm(suite_file, [], results, **options)
        assert [j.job_id for j in jobs] == ["4242"]  # only the pending cell: not done, failed, or running
        script = (fake_slurm / "sbatch-4242.sh").read_text()
        for line in ("--partition=gpu", "--time=120", "--gpus-per-node=1", "--cpus-per-task=4", "--mem=16GB",
                     "--account=myproj", "--job-name=snnbench-par"):  # fmt: skip
            assert f"#SBATCH {line}\n" in script, line
        assert "module load cuda" in script and "--array" not in script
        assert read_jobs(results, "par")[rest[0].cell_id]["job_id"] == "4242"

        # the job is still queued: nothing is resubmitted; failed cells go again only with retry_failed
        (fake_slurm / "states").write_text("4242|PENDING|\n")
        assert submit_slurm(suite_file, [], results, **options) == []
        jobs = submit_slurm(suite_file, [], results, retry_failed=True, **options)
        assert [j.job_id for j in jobs] == ["4243"]
        assert read_jobs(results, "par")[failed.cell_id]["job_id"] == "4243"

    # the first job ended without training its cell (e.g. missing data): status shows the job's error
    from submitit.core.utils import JobPaths

    record = read_jobs(results, "par")[rest[0].cell_id]
    path = JobPaths(record["folder"], job_id="4242", task_id=0).result_pickle
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(("error", "Traceback (most recent call last):\nDataError: dataset files missing")))
    rows = {r["cell_id"]: r for r in cell_status(results, suite)}
    assert rows[rest[0].cell_id]["status"] == "pending" and rows[rest[0].cell_id]["job_id"] == "4242"
    assert rows[rest[0].cell_id]["error"] == "job 4242: DataError: dataset files missing"
    # it failed, the retry job runs, the lock of the 'running' cell is gone (its process died): resubmit those two
    (fake_slurm / "states").write_text("4242|FAILED|\n4243|RUNNING|\n")
    jobs = submit_slurm(suite_file, [], results, **options)
    assert [j.job_id for j in jobs] == ["4244_0", "4244_1"]
    assert "#SBATCH --array=0-1%2\n" in (fake_slurm / "sbatch-4244.sh").read_text()
    records = read_jobs(results, "par")
    assert records[rest[0].cell_id]["previous"] == ["4242"] and records[running.cell_id]["job_id"] == "4244_0"
    assert records[failed.cell_id]["job_id"] == "4243"


def test_status_reports_done_failed_running_unfinished_and_pending(suite_file, reference, tmp_path):
    suite = load_suite(suite_file)
    results = tmp_path / "res"
    shutil.copytree(reference, results)
    done, failed, unfinished, pending = suite.cells
    failed_dir = results / "par" / failed.slug
    metrics = json.loads((failed_dir / "metrics.json").read_text())
    (failed_dir / "metrics.json").write_text(json.dumps({**metrics, "status": "failed", "error": "RuntimeError: boom"}))
    CellStore(failed_dir).mark_done("failed")
    unfinished_dir = results / "par" / unfinished.slug
    for name in ("done.json", "metrics.json", "model.pt"):
        (unfinished_dir / name).unlink()
    history = json.loads((unfinished_dir / "history.json").read_text())
    (unfinished_dir / "history.json").write_text(json.dumps(history[:1]))
    shutil.rmtree(results / "par" / pending.slug)

    with CellStore(unfinished_dir).lock() as acquired:
        assert acquired
        rows = {r["cell_id"]: r for r in cell_status(results, suite)}
    assert {cid: r["status"] for cid, r in rows.items()} == {
        done.cell_id: "done",
        failed.cell_id: "failed",
        unfinished.cell_id: "running",
        pending.cell_id: "pending",
    }
    assert rows[done.cell_id]["epochs"] == 3 and rows[done.cell_id]["epochs_total"] == 3
    done_metrics = json.loads((results / "par" / done.slug / "metrics.json").read_text())
    assert rows[done.cell_id]["test_acc"] == done_metrics["test_acc"] and rows[failed.cell_id]["test_acc"] is not None
    assert rows[failed.cell_id]["error"] == "RuntimeError: boom" and rows[done.cell_id]["error"] is None
    assert rows[unfinished.cell_id]["epochs"] == 1 and rows[pending.cell_id]["epochs"] == 0
    assert rows[done.cell_id]["slug"] == done.slug

    # the lock released: unfinished; without the suite file only the cells on disk are known
    rows = {r["cell_id"]: r for r in cell_status(results)}
    assert pending.cell_id not in rows and rows[unfinished.cell_id]["status"] == "unfinished"
    assert rows[unfinished.cell_id]["epochs_total"] == 3  # from its spec.json
    assert {r["cell_id"] for r in cell_status(results / "par")} == set(rows)  # a suite directory works too
    rows = cell_status(results, suite)
    assert status_counts(rows) == {"done": 1, "failed": 1, "damaged": 0, "running": 0, "unfinished": 1, "pending": 1}
    text = format_status(rows)
    assert "4 cells: 1 done, 1 failed, 0 running, 1 unfinished, 1 pending" in text and "RuntimeError: boom" in text

    from rich.console import Console

    console = Console(record=True, width=200)
    console.print(status_table(rows, title="par"))
    rendered = console.export_text()
    assert "unfinished" in rendered and failed.cell_id in rendered and "1/3" in rendered


SCHEDULING = """
name: sched
data: {dataset: mnist_digits, T: 2, train_subset: 200, test_subset: 100}
# one conv layer: its weight gradients are reductions that the thread count splits differently (those of an mlp
# this small are not split at all, so an mlp would pass with threads split among the workers too)
model: {name: conv, depth: 1, channels: [8], fc_width: 0, neuron: {theta_init: 0.5}}
train: {epochs: 1, batch_size: 25, lr: 0.01}
noise:
  sweeps:
    - {kind: gaussian, levels: [0, 0.3]}
matrix:
  variant: [stl, sl]
"""
TIMINGS = {"train_time_s", "train_samples_per_s", "peak_memory_mib"}  # what may differ between two runs


def measured(results: Path, suite: str = "sched") -> tuple[dict[str, dict], dict[str, int]]:
    """cell folder -> its metrics (without timings), noise rows and layer rows; cell folder -> provenance threads."""
    numbers, threads = {}, {}
    for cell in sorted(p for p in (results / suite).iterdir() if (p / "done.json").exists()):
        metrics = json.loads((cell / "metrics.json").read_text())
        numbers[cell.name] = {
            "metrics": {k: v for k, v in metrics.items() if k not in TIMINGS},
            "noise": json.loads((cell / "noise.json").read_text()),
            "layers": json.loads((cell / "layers.json").read_text()),
        }
        threads[cell.name] = json.loads((cell / "provenance.json").read_text())["num_threads"]
    return numbers, threads


@pytest.mark.slow
def test_a_cell_has_the_same_numbers_however_the_suite_is_scheduled(tmp_path, capsys):
    pytest.importorskip("submitit")
    from snnbench.runner.threads import launch_threads
    from tests.stores import run_in_process

    suite = tmp_path / "sched.yaml"
    suite.write_text(SCHEDULING)
    runs = {"sequential": (), "workers": ("--workers", "2"), "submitit": ("--launcher", "submitit-local")}
    numbers, threads = {}, {}
    for name, options in runs.items():
        code, _, err = run_in_process(capsys, "run", suite, "--results", tmp_path / name, "--device", "cpu", *options)
        assert code == 0, err
        assert err.count("note: 2 CPU workers x") == (name == "workers"), err  # oversubscribed: said once
        numbers[name], threads[name] = measured(tmp_path / name)
    sequential = numbers["sequential"]
    assert len(sequential) == 2 and all(len(c["noise"]) == 2 for c in sequential.values())
    assert {"test_acc", "test_loss", "train_acc", "firing_rate", "sops_per_sample", "est_energy_uj_per_sample"} <= set(
        next(iter(sequential.values()))["metrics"]
    )
    # bit-identical: every metric, noise row and layer row
    assert numbers["workers"] == sequential
    assert numbers["submitit"] == sequential
    assert set(threads["sequential"].values()) == {launch_threads()}
    assert threads["workers"] == threads["submitit"] == threads["sequential"]
