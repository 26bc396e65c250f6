"""The thread count of a cell (one rule for every launcher) and the determinism settings of CUDA cells; no GPU."""
# ruff: noqa: F811  (the fixture of tests.trained is imported by name)

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import torch

from snnbench import machine, seeds
from snnbench.results import provenance
from snnbench.results.store import CellStore
from snnbench.runner import cell as cell_module
from snnbench.runner import evaluate as evaluate_module
from snnbench.runner import run_suite, threads
from snnbench.runner.evaluate import eval_results
from snnbench.runner.slurm import SlurmOptions, job_threads
from snnbench.runner.threads import cell_threads, launch_threads, oversubscription, recorded_threads, restores_threads
from snnbench.suite import Cell, CellSpec, cell_id_of, load_suite
from snnbench.suite.schema import TrainSpec
from tests.stores import noise_sweep
from tests.trained import trained  # noqa: F401  (fixture)


def spec(threads: int | None = None) -> CellSpec:
    return CellSpec(train=TrainSpec(threads=threads))


@pytest.fixture
def cpus(monkeypatch):
    """This process may use 8 CPUs."""
    monkeypatch.setattr(machine.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    return 8


def test_the_launch_count_is_the_cpus_of_the_launching_process(cpus):
    assert launch_threads() == cpus


def test_cell_threads_rule(cpus):
    assert cell_threads(spec()) == cpus  # nothing given: this process's CPUs
    assert cell_threads(spec(), launch=4) == 4  # a worker or job: its launcher's count, never divided
    assert cell_threads(spec(), launch=4, recorded=2) == 2  # resumed or re-measured: what the cell started with
    assert cell_threads(spec(3), launch=4, recorded=2) == 3  # the suite's train.threads wins


def test_slurm_jobs_get_cpus_per_task_else_the_submitting_process_count(cpus):
    assert job_threads(SlurmOptions(cpus_per_task=4)) == 4
    assert job_threads(SlurmOptions()) == cpus


def test_threads_key_keeps_existing_cell_ids_and_enters_the_id_when_set():
    assert cell_id_of(spec()) == cell_id_of(CellSpec()) == "b91a67e87a07"
    assert cell_id_of(spec(1)) != cell_id_of(spec())


def test_recorded_threads_reads_the_cells_provenance(tmp_path):
    store = CellStore(tmp_path / "cell")
    store.path.mkdir()
    assert recorded_threads(store) is None
    for value, expected in ((3, 3), (None, None), (True, None), (0, None), ("2", None)):
        store.write_provenance({"num_threads": value})
        assert recorded_threads(store) == expected
    (store.path / "provenance.json").write_text("{not json")
    assert recorded_threads(store) is None


def test_oversubscription_line_only_when_cpu_workers_exceed_the_cpus():
    cells = [Cell(index=0, cell_id="x", spec=spec(), axes={})]
    line = oversubscription(["cpu", "cpu"], cells, launch=2, cpus=2)
    assert line.startswith("note: 2 CPU workers x 2 threads per cell on 2 CPUs") and "train.threads=1" in line
    assert "\n" not in line
    assert oversubscription(["cpu"], cells, launch=2, cpus=2) is None  # a single worker is a sequential run
    assert oversubscription(["cpu", "cpu"], cells, launch=1, cpus=2) is None  # 2 x 1 fits
    assert oversubscription(["cuda:0", "cuda:1"], cells, launch=2, cpus=2) is None
    one = [dataclasses.replace(c, spec=spec(1)) for c in cells]
    assert oversubscription(["cpu", "cpu"], one, launch=2, cpus=2) is None  # train.threads: 1 side by side


@pytest.mark.parametrize(
    "device, deterministic, expected", [("cuda", True, True), ("cuda", False, False), ("cpu", True, None)]
)
def test_deterministic_algorithms_decision(device, deterministic, expected):
    assert seeds.deterministic_algorithms(device, deterministic) is expected


def test_cuda_cells_set_deterministic_algorithms_and_cublas_workspace_cpu_cells_are_left_alone(monkeypatch):
    calls = []
    monkeypatch.setattr(
        torch, "use_deterministic_algorithms", lambda mode, warn_only=False: calls.append((mode, warn_only))
    )
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    seeds.set_deterministic_algorithms(torch.device("cpu"), True)
    assert calls == [] and "CUBLAS_WORKSPACE_CONFIG" not in seeds.os.environ
    seeds.set_deterministic_algorithms(torch.device("cuda", 1), True)  # a device name, no GPU needed
    assert calls == [(True, True)] and seeds.os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")  # the user's setting stays
    seeds.set_deterministic_algorithms("cuda", True)
    seeds.set_deterministic_algorithms("cuda", False)
    assert calls[1:] == [(True, True), (False, True)] and seeds.os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"


def test_provenance_records_threads_and_deterministic_algorithms():
    record = provenance(torch.device("cpu"), 0)
    assert record["num_threads"] == torch.get_num_threads()
    assert record["deterministic_algorithms"] is torch.are_deterministic_algorithms_enabled() is False


def test_restores_threads_gives_the_callers_count_back():
    before = torch.get_num_threads()

    @restores_threads
    def work():
        threads.use_threads(before + 1)
        raise RuntimeError("the count comes back on errors too")

    with pytest.raises(RuntimeError):
        work()
    assert torch.get_num_threads() == before


@pytest.fixture
def store(trained, tmp_path):
    """A private copy of the trained store of ``tests.trained``: the tl cell recorded 1 thread, the stl cell none."""
    root = tmp_path / "results"
    shutil.copytree(trained[1], root)
    for path in root.rglob("provenance.json"):
        record = json.loads(path.read_text())
        record.pop("num_threads")
        if "-tl-" in path.parent.name:
            record["num_threads"] = 1
        path.write_text(json.dumps(record))
    return root


def spy(monkeypatch, module):
    """The thread count each cell is given by ``module`` (its settings are not applied)."""
    calls = []
    monkeypatch.setattr(
        module,
        "use_cell_settings",
        lambda spec, device, launch, recorded: calls.append(cell_threads(spec, launch, recorded)),
    )
    return calls


def test_eval_measures_each_cell_with_its_recorded_count_else_the_launch_count(store, monkeypatch):
    calls = spy(monkeypatch, evaluate_module)
    summary = eval_results(store, [noise_sweep("gaussian", [0.3])], "cpu", threads=3)
    assert summary.rows_added == 2 and calls == [3, 1]  # stl (nothing recorded): the launch count; tl: its own


def test_a_finished_cell_is_completed_with_its_recorded_count(trained, store, monkeypatch):
    calls = spy(monkeypatch, cell_module)
    overrides = ["noise.sweeps=[{kind: gaussian, levels: [0.3]}]"]
    summary = run_suite(load_suite(trained[0], overrides), store, device="cpu", threads=3)
    assert len(summary.measured) == 2 and calls == [3, 1]
