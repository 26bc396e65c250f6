"""``snnbench eval RESULTS_DIR``: add noise evaluations to finished cells without retraining."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click
import yaml

from snnbench.cli.common import load, require_results_dir, say
from snnbench.data.noise import validate_noise
from snnbench.errors import ResultsError, SnnbenchError, SuiteError
from snnbench.runner.evaluate import EvalSummary, eval_results
from snnbench.suite import build_spec
from snnbench.suite.schema import NoiseSpec, NoiseSweep


def parse_noise_option(text: str):
    """A ``NoiseSweep`` from the CLI form ``KIND=L1,L2,...[:key=value[:key=value]]``, e.g. ``gaussian=0,0.1,0.2``
    or ``event_background=0,0.5:mode=ratio``. Values are read as YAML (``false``, ``3``, ``count``)."""
    where = f"--noise {text}"
    kind, sep, rest = text.partition("=")
    if not sep or not kind.strip() or not rest.strip():
        raise SuiteError(f"'{text}' is not KIND=L1,L2,...", where="--noise", hint="e.g. --noise gaussian=0,0.1,0.2")
    levels_text, *options = rest.split(":")
    try:
        levels = [yaml.safe_load(v) for v in levels_text.split(",") if v.strip()]
    except yaml.YAMLError:
        raise SuiteError(f"cannot read the levels '{levels_text}'", where=where) from None
    params: dict[str, Any] = {}
    for option in options:
        key, eq, value = option.partition("=")
        if not eq or not key.strip():
            raise SuiteError(f"parameter '{option}' is not key=value", where=where, hint="e.g. gaussian=0.1:clip=false")
        try:
            params[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            raise SuiteError(
                f"cannot read the value '{value}' of parameter '{key.strip()}'", where=where,
                hint="write a number, true/false or a word, e.g. gaussian=0.1:clip=false",
            ) from None  # fmt: skip
    sweep = build_spec(
        NoiseSweep, {"kind": kind.strip(), "levels": levels, "params": params}, ("noise",), lambda p: where
    )
    for level in sweep.levels:
        validate_noise(sweep.kind, level, sweep.params, where=where)
    return sweep


def parse_noise_options(texts: Sequence[str]):
    """A ``NoiseSpec`` from repeated ``--noise`` options."""
    return NoiseSpec(sweeps=tuple(parse_noise_option(t) for t in texts))


@click.command(name="eval")
@click.argument("results_dir", metavar="RESULTS_DIR", type=click.Path(file_okay=False))
@click.option("--suite", "suite_path", type=click.Path(dir_okay=False), help="Use this suite's noise sweeps.")
@click.option("--noise", "noise", multiple=True, metavar="KIND=L1,L2[:param=value]", help="A noise sweep.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--data-root", default=None, help="Dataset directory (overrides data.root).")
def eval_(results_dir: str, suite_path: str | None, noise: tuple[str, ...], device: str, data_root: str | None) -> None:
    """Add noise evaluations to finished cells without retraining; levels already measured are skipped.

    Without --suite or --noise each cell's own noise section is used.
    """
    require_results_dir(results_dir)
    if suite_path and noise:
        raise SnnbenchError("give --suite or --noise, not both", hint="see 'snnbench eval --help'")
    sweeps, suite_name = None, None
    if noise:
        sweeps = parse_noise_options(noise)
    elif suite_path:
        suite = load(suite_path, ())
        sweeps, suite_name = suite.cells[0].spec.noise, suite.name
    summary = eval_results(
        results_dir, sweeps, device, data_root=data_root, suite_name=suite_name,
        on_cell=lambda path, status, n: say(f"{status}: {path} (+{n} rows)"),
    )  # fmt: skip
    for path, why in {**summary.damaged, **summary.no_sweeps}.items():
        say(f"  {path}: {why}" if path in summary.no_sweeps else f"  {why}")
    say(summary_line(summary))
    _check_something_done(summary, results_dir, suite_name)


def summary_line(summary: EvalSummary) -> str:
    """``2 cells evaluated (12 new rows), 1 up to date, 0 not finished`` and, when there are any, the damaged,
    busy and not-applicable counts."""
    parts = [
        f"{len(summary.evaluated)} cells evaluated ({summary.rows_added} new rows)",
        f"{len(summary.up_to_date)} up to date",
        f"{len(summary.not_done)} not finished",
    ]
    extra = {"damaged": summary.damaged, "no requested noise applies": summary.no_sweeps, "busy": summary.busy}
    parts += [f"{len(cells)} {what}" for what, cells in extra.items() if cells]
    return ", ".join(parts)


def _check_something_done(summary: EvalSummary, results_dir: str, suite_name: str | None) -> None:
    """Exit 2 with the reason when nothing could be evaluated: no cell (of the suite), no sweep applies, every cell
    is damaged or unfinished."""
    if summary.cells == 0 and suite_name is not None:
        found = ", ".join(sorted(summary.suites)) or "none"
        raise ResultsError(f"no cell of suite '{suite_name}' under {results_dir}", hint=f"suites found there: {found}")
    if summary.cells == 0:
        raise ResultsError(f"no cells under {results_dir}", hint="pass the --results directory of a run")
    if summary.evaluated or summary.up_to_date or summary.busy:
        return
    if summary.no_sweeps:
        first = next(iter(summary.no_sweeps.values()))
        raise ResultsError(
            f"no requested noise applies to the finished cells under {results_dir}: {first}",
            hint="see 'snnbench list noise' for the kinds of static and event data",
        )
    if summary.damaged:
        raise ResultsError(
            f"no cell under {results_dir} could be evaluated: {len(summary.damaged)} damaged, "
            f"{len(summary.not_done)} not finished", hint="see the damaged files above and what to do with each",
        )  # fmt: skip
    raise ResultsError(
        f"no finished cell under {results_dir}: {len(summary.not_done)} not finished",
        hint="finish the run first (snnbench run SUITE --results DIR), then evaluate",
    )
