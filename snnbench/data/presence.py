"""Which registered datasets can be loaded from a data root (``snnbench list datasets``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from snnbench.data.registry import DATASETS, DatasetInfo, DatasetRequest
from snnbench.errors import DataError


def dataset_presence(data_root: str | Path) -> Iterator[tuple[DatasetInfo, str]]:
    """``(info, files)`` per registered dataset: ``built-in``, ``present``, ``missing``, ``unusable: <why>`` or
    ``unreadable (<error type>)``, from trying to open its training split under ``data_root`` without download."""
    for entry in DATASETS:
        info = entry.meta["info"]
        if info.builtin:
            yield info, "built-in"
            continue
        request = DatasetRequest(split="train", root=Path(data_root), download=False, T=info.default_T)
        try:
            entry.obj(request)
            yield info, "present"
        except DataError as exc:
            missing = "not found" in exc.message or "missing" in exc.message
            yield info, "missing" if missing else f"unusable: {exc.message}"
        except Exception as exc:  # noqa: BLE001  (a listing must not crash on one broken dataset)
            yield info, f"unreadable ({type(exc).__name__})"
