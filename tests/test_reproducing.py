"""docs/reproducing.md's "paper vs snnbench" tables agree with the paper suites as they resolve (no drift)."""

import re
from functools import cache
from pathlib import Path

import pytest
import yaml

from snnbench.suite import load_suite
from snnbench.suite.fields import spec_to_dict

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reproducing.md"
PAIR = re.compile(r"`([a-z_]+(?:\.[a-z_A-Z]+)+): ([^`]*)`")
SCOPE = re.compile(r"^([a-z_]+)(?: \(([a-z0-9_]+)\))?$")


def table_rows(text: str) -> list[dict[str, str]]:
    """Rows of every markdown table whose header has both a ``snnbench`` and a ``suites`` column."""
    rows, header = [], None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif not set(cells) <= {"---"} and {"snnbench", "suites"} <= set(header):
            rows.append(dict(zip(header, cells, strict=True)))
    return rows


ROWS = table_rows(DOC.read_text(encoding="utf-8"))


@cache
def suite_cells(name: str):
    return load_suite(ROOT / "suites" / f"{name}.yaml").cells


def value_at(spec: dict, key: str):
    node = spec
    for part in key.split("."):
        node = node[part]
    return node


def scoped_cells(scope: str) -> list:
    match = SCOPE.match(scope.strip())
    assert match, f"suite scope {scope!r} is not 'name' or 'name (dataset)'"
    name, dataset = match.groups()
    cells = [c for c in suite_cells(name) if dataset is None or c.spec.data.dataset == dataset]
    assert cells, f"no cells of {name} for dataset {dataset}"
    return cells


def test_the_tables_cover_every_setting_and_both_cifar10_dvs_figures():
    settings = {r["setting"] for r in ROWS if "setting" in r}
    for needed in (
        "MNIST network", "CIFAR-10 network", "CIFAR10-DVS network", "T, CIFAR10-DVS", "neuron", "surrogate",
        "input coding", "loss", "optimiser", "learning rate", "weight decay", "schedule", "batch", "epochs",
        "dropout", "BatchNorm", "biases", "augmentation, CIFAR-10", "split, CIFAR10-DVS",
    ):  # fmt: skip
        assert needed in settings, needed
    reported = {(r["setup"], r["reported (STL)"]) for r in ROWS if "setup" in r}
    assert {("CIFAR10-DVS", "78.50 %"), ("CIFAR10-DVS", "77.30 %"), ("CIFAR-10", "92.42 %")} <= reported
    assert ("DVS128 Gesture", "97.22 %") in reported


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.get("setting") or r.get("setup") + " " + r["reported (STL)"])
def test_each_row_matches_the_resolved_suites(row):
    pairs = PAIR.findall(row["snnbench"])
    assert pairs, f"row has no `key: value` to check: {row['snnbench']!r}"
    for scope in row["suites"].split(","):
        for cell in scoped_cells(scope):
            spec = spec_to_dict(cell.spec)
            for key, text in pairs:
                assert value_at(spec, key) == yaml.safe_load(text), (scope, cell.cell_id, key)


def test_checker_catches_a_wrong_value():
    row = {"snnbench": "`data.T: 9`", "suites": "paper (cifar10)"}
    with pytest.raises(AssertionError):
        test_each_row_matches_the_resolved_suites(row)
