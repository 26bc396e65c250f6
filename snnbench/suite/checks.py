"""Checks across the fields of one cell spec that field metadata cannot express, made before anything trains.

* A model key that the chosen family does not read (``model.channels`` on an ``mlp``) is an error: it would change
  the cell id and nothing else. Each family lists such keys as ``ignored_keys`` metadata at its registration
  (``snnbench/models/families.py``); the model registry is asked lazily, as for the valid names.
* ``model.channels`` needs one entry per conv layer: ``len(channels) == depth``.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any

from snnbench.errors import SuiteError

Where = Callable[[tuple[Any, ...]], str]


def _models() -> Any:
    return importlib.import_module("snnbench.models").MODELS


def ignored_model_keys(family: str) -> tuple[str, ...]:
    """ModelSpec keys that family ``family`` does not read (registry metadata ``ignored_keys``)."""
    return tuple(_models().entry(family).meta.get("ignored_keys", ()))


def check_model_keys(model: Any, where: Where) -> None:
    """Refuse a key set away from its default on a family that ignores it."""
    defaults = {f.name: f.default for f in dataclasses.fields(model)}
    for key in ignored_model_keys(model.name):
        value = getattr(model, key)
        if value == defaults[key]:
            continue
        readers = [e.name for e in _models() if key not in e.meta.get("ignored_keys", ())]
        raise SuiteError(
            f"'model.{key}' is {value!r} but model '{model.name}' has no use for it",
            where=where(("model", key)),
            hint=f"remove model.{key}, or choose a model that reads it: {', '.join(readers)}",
        )


def check_channels(model: Any, where: Where) -> None:
    """One channel count per conv layer."""
    if model.channels is not None and len(model.channels) != model.depth:
        raise SuiteError(
            f"'model.channels' has {len(model.channels)} entries but model.depth is {model.depth}",
            where=where(("model", "channels")),
            hint="give one channel count per conv layer, or set model.width instead",
        )


def check_cell(spec: Any, where: Where) -> None:
    """Every cross-field check of one :class:`~snnbench.suite.schema.CellSpec`."""
    check_model_keys(spec.model, where)
    check_channels(spec.model, where)
