"""Reload a finished cell's trained network from its folder, so anyone can re-measure it with other tools."""

from __future__ import annotations

from pathlib import Path

import torch

from snnbench.data import dataset_info
from snnbench.errors import ResultsError
from snnbench.models import create_model
from snnbench.results.store import MODEL, CellStore, damaged
from snnbench.suite import CellSpec, build_spec
from snnbench.suite.schema import TRAINING_SECTIONS


def cell_spec(cell: CellStore, raw: dict | None = None) -> CellSpec:
    """The training configuration a cell folder was made with (its ``spec.json``), as a :class:`CellSpec`."""
    raw = cell.read_spec() if raw is None else raw
    if raw is None:
        raise ResultsError(f"{cell.path} has no spec.json", hint="is this a cell folder of a results directory?")
    return build_spec(CellSpec, {k: raw[k] for k in TRAINING_SECTIONS if k in raw}, (), lambda p: str(cell.path))


def load_model(cell_dir: str | Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuild a finished cell's network from its ``spec.json`` and load ``model.pt``; returned in eval mode.

    >>> model = snnbench.load_model("results/quick/mnist_digits-mlp-d2-stl-s0-1a2b3c4d5e6f")
    >>> rates = model(spikes)  # spikes: [T, batch, C, H, W] -> class rates [batch, classes]

    The spec is attached as ``model.cell_spec`` (a :class:`~snnbench.suite.CellSpec`).
    """
    cell = CellStore(Path(cell_dir))
    raw = cell.read_spec()
    if raw is None or not cell.has_model():
        raise ResultsError(f"{cell.path} holds no finished cell (spec.json and model.pt expected)")
    spec = cell_spec(cell, raw)
    model = create_model(spec.model, dataset_info(spec.data.dataset))
    try:
        model.load_state_dict(cell.load_state_dict())
    except RuntimeError as exc:  # a model.pt of another network (foreign or edited spec.json)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise damaged(cell.path / MODEL, f"does not fit the network of spec.json ({first})") from None
    model.cell_spec = spec
    return model.to(device).eval()
