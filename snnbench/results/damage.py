"""What a damaged results file is, checked without trusting it: the pure checks behind the store's damage policy.

:mod:`snnbench.results.store` names the files and says what each should hold; the functions here say whether a file
does, and why not. A check never raises on bad content: JSON readers raise :class:`DamagedFile` (a one-line
:class:`~snnbench.errors.ResultsError` naming the file, the problem and what to do), the others return the problem
as a short phrase, or None when the file looks whole.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import torch

from snnbench.errors import ResultsError

_JSON_NAMES = {dict: "object", list: "list", object: "value"}


class DamagedFile(ResultsError):
    """A results file that cannot be read as what the layout says it is. ``path``: the file; ``problem``: why."""

    def __init__(self, path: Path, problem: str, hint: str | None = None) -> None:
        super().__init__(f"{path} is damaged: {problem}", hint=hint)
        self.path, self.problem = Path(path), problem


def short(exc: BaseException, limit: int = 80) -> str:
    """An exception's text on one line, at most ``limit`` characters."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_shaped_json(path: Path, kind: type, item_keys: tuple[str, ...] = ()) -> Any:
    """The JSON value of ``path`` if it is a ``kind`` (``dict``, ``list`` or ``object`` for any) whose items, for a
    list, are objects holding ``item_keys``; :class:`DamagedFile` otherwise. A missing file raises
    ``FileNotFoundError``."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise DamagedFile(path, "a folder where a file should be") from None
    except PermissionError:
        raise DamagedFile(path, "not readable (permission denied)") from None
    except UnicodeDecodeError:
        raise DamagedFile(path, "not valid JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise DamagedFile(path, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(value, kind):
        raise DamagedFile(path, f"holds a JSON {type(value).__name__}, not a JSON {_JSON_NAMES[kind]}")
    if kind is list:
        for i, item in enumerate(value):
            if not isinstance(item, dict) or any(k not in item for k in item_keys):
                need = f"an object with {', '.join(item_keys)}" if item_keys else "an object"
                raise DamagedFile(path, f"item {i} is not {need}")
    return value


def torch_problem(path: Path) -> str | None:
    """Why ``path`` (a ``torch.save`` archive) cannot be loaded, judged without loading it; None when it looks
    whole (``torch.save`` writes a zip archive)."""
    try:
        if not zipfile.is_zipfile(path):
            return "not a torch file (truncated or foreign)"
    except OSError as exc:
        return f"not readable ({exc.strerror or type(exc).__name__})"
    return None


def csv_header_problem(path: Path, columns: tuple[str, ...]) -> str | None:
    """Why the CSV ``path`` does not start with a header naming every one of ``columns``; None when it does."""
    try:
        with open(path, encoding="utf-8") as handle:
            header = handle.readline().strip().split(",")
    except (OSError, UnicodeDecodeError) as exc:
        return f"not readable ({short(exc)})"
    missing = [c for c in columns if c not in header]
    return f"lacks the header columns {' and '.join(missing)}" if missing else None


def checkpoint_problem(state: Any, keys: tuple[str, ...], model: torch.nn.Module | None = None) -> str | None:
    """Why ``state`` cannot resume training — not a mapping with ``keys``, or (given ``model``) weights whose names
    and shapes are not ``model``'s — or None."""
    if not isinstance(state, dict) or any(k not in state for k in keys):
        return "not a training checkpoint (keys " + ", ".join(keys) + " expected)"
    weights = state.get("model")
    if not isinstance(weights, dict) or not isinstance(state.get("history"), list):
        return "not a training checkpoint (model or history of another type)"
    if model is not None:
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        stored = {k: tuple(getattr(v, "shape", ())) for k, v in weights.items()}
        if expected != stored:
            return "the training state of another network"
    return None
