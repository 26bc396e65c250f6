"""Suites: load YAML (with includes and line numbers), validate strictly, expand the matrix into cells."""

from snnbench.suite.expand import Cell, Suite, cell_id_of, load_suite
from snnbench.suite.fields import build_spec, spec_to_dict
from snnbench.suite.schema import ALIASES, VARIANTS, CellSpec, DataSpec, ModelSpec, NeuronSpec, TrainSpec

__all__ = [
    "ALIASES",
    "VARIANTS",
    "Cell",
    "CellSpec",
    "DataSpec",
    "ModelSpec",
    "NeuronSpec",
    "Suite",
    "TrainSpec",
    "build_spec",
    "cell_id_of",
    "load_suite",
    "spec_to_dict",
]
