"""Results store (atomic per-cell directories), provenance, and pandas views of results."""

from snnbench.results.frame import CELL_COLUMNS, cells_frame, history_frame, load_model
from snnbench.results.provenance import provenance
from snnbench.results.store import SCHEMA_VERSION, CellStore, ResultsStore, atomic_write_json

__all__ = [
    "CELL_COLUMNS",
    "SCHEMA_VERSION",
    "CellStore",
    "ResultsStore",
    "atomic_write_json",
    "cells_frame",
    "history_frame",
    "load_model",
    "provenance",
]
