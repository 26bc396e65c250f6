"""Running suites: preflight checks, one cell start to finish, the suite loop, local worker pools, SLURM jobs via
submitit, status of a results directory, and ``eval`` of finished cells. Only the runner and the CLI see every
stage of the flow."""

from snnbench.runner.cell import DataCache, run_cell
from snnbench.runner.device import resolve_device
from snnbench.runner.evaluate import eval_results
from snnbench.runner.preflight import check_suite, preflight
from snnbench.runner.progress import Progress
from snnbench.runner.suite import RunSummary, run_suite

__all__ = [
    "DataCache",
    "Progress",
    "RunSummary",
    "check_suite",
    "eval_results",
    "preflight",
    "resolve_device",
    "run_cell",
    "run_suite",
]
