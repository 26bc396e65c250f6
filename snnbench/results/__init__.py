"""Results: the per-cell store (file layout, atomic writes, status), noise rows, provenance, model reload, the
metric catalogue, and pandas views."""

from snnbench.results.frame import CELL_COLUMNS, cells_frame, history_frame
from snnbench.results.model import load_model
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
