"""Interpret a loaded suite: apply ``-o`` overrides, validate, and expand the ``matrix`` into cells.

Matrix axes multiply in the order written; the last axis varies fastest. An axis is a cell key (``train.lr``) or an
alias, with a list of values; or a *group axis*, any other name, whose values are mappings of cell keys to values
set together (e.g. one dataset with its own T and channels). An ``-o`` of a key that a group sets wins in every
cell. Each cell's ``cell_id`` is the first 12
hex digits of the SHA-256 of its training sections (``seed, data, model, train``) as canonical JSON, so the same
training configuration has the same id in any suite and on any machine, and reruns find finished work.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import json
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from snnbench.errors import SuiteError
from snnbench.suite.checks import check_cell
from snnbench.suite.fields import build_spec, dotted, spec_to_dict
from snnbench.suite.load import KeyPath, LoadedSuite, load_suite_file
from snnbench.suite.safe_yaml import compose_yaml
from snnbench.suite.schema import ALIASES, TRAINING_SECTIONS, CellSpec

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
SUITE_KEYS = ("name", "description", "matrix")


@dataclass(frozen=True)
class Cell:
    index: int
    cell_id: str
    spec: CellSpec
    axes: dict[str, Any]  # the matrix values that made this cell, by full key path
    sources: dict[KeyPath, str] = field(default_factory=dict, compare=False, repr=False)  # -o / matrix locations

    @property
    def slug(self) -> str:
        """Directory name: readable axes, then the id."""
        s = self.spec
        return f"{s.data.dataset}-{s.model.name}-d{s.model.depth}-{s.train.variant}-s{s.seed}-{self.cell_id}"


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    path: Path
    cells: list[Cell]
    matrix: dict[str, list[Any]]
    raw: dict[str, Any]  # the suite data after includes and overrides, before expansion
    loaded: LoadedSuite | None = field(default=None, compare=False, repr=False)

    def where(self, key_path: KeyPath, cell: Cell | None = None) -> str:
        """Where a cell's key was set: ``file:line`` of the suite (or an included file), the ``-o`` that set it, or
        the matrix value that made ``cell``."""
        sources = cell.sources if cell is not None else {}
        if self.loaded is None:
            return ".".join(map(str, key_path))
        return _where_fn(self.loaded, sources)(key_path)


def canonical_key(key: str) -> KeyPath:
    return tuple(ALIASES.get(key, key).split("."))


# Keys added after cell ids were first published: at these values they stay out of the hash, so existing results
# keep their ids; any other value makes a new cell.
HASH_NEUTRAL: dict[KeyPath, Any] = {
    ("model", "precision"): "fp32",
    ("model", "dropout_placement"): None,
    ("model", "dropout_mask"): None,
    ("model", "bn_mode"): None,
    ("model", "kernel_size"): None,
    ("model", "conv_bias"): None,
    ("model", "fc_bias"): None,
    ("model", "neuron", "input_bias"): False,
    ("train", "init_from"): None,
    ("train", "threads"): None,
    ("data", "augment"): "none",
}


def _drop_neutral(data: dict[str, Any]) -> dict[str, Any]:
    """The spec dict without keys that sit at their hash-neutral value (copies only the mappings it changes)."""
    for path, neutral in HASH_NEUTRAL.items():
        parents = [data]
        for key in path[:-1]:
            parents.append(parents[-1].get(key) if isinstance(parents[-1], dict) else None)
        node = parents[-1]
        if not isinstance(node, dict) or path[-1] not in node or node[path[-1]] != neutral:
            continue
        child = {k: v for k, v in node.items() if k != path[-1]}
        for parent, key in zip(reversed(parents[:-1]), reversed(path[:-1]), strict=True):
            child = {**parent, key: child}
        data = child
    return data


def cell_id_of(spec: CellSpec) -> str:
    data = _drop_neutral(spec_to_dict(spec))
    payload = json.dumps({k: data[k] for k in TRAINING_SECTIONS}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _set_path(
    data: dict[str, Any], path: KeyPath, value: Any, where: str, set_by: dict[KeyPath, str] | None = None
) -> None:
    """Set ``data[path]``; a non-mapping on the way is an error blamed on the ``-o`` that put it there (``set_by``),
    else on ``where``."""
    node = data
    for n, key in enumerate(path[:-1], start=1):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise SuiteError(
                f"cannot set '{dotted(path)}': '{dotted(path[:n])}' is {child!r}, not a mapping",
                where=(set_by or {}).get(path[:n], where),
                hint=f"set keys inside it instead, e.g. -o {dotted(path)}=...",
            )
        node = child
    node[path[-1]] = value


def takes_list(path: KeyPath) -> bool | None:
    """Whether the schema key at ``path`` takes a list value (``model.channels``); None for an unknown key."""
    tp: Any = CellSpec
    for key in path:
        if not dataclasses.is_dataclass(tp):
            return None
        fields = {f.name for f in dataclasses.fields(tp)}
        if key not in fields:
            return None
        tp = typing.get_type_hints(tp)[key]
    options = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
    return any(t is Any or typing.get_origin(t) in (tuple, list) for t in options)


def parse_override(text: str) -> tuple[KeyPath, Any]:
    """``key.path=value`` with the value parsed as YAML (``3``, ``true``, ``[0, 1]``, ``null``)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise SuiteError(f"override '{text}' is not key=value", where="-o", hint="e.g. -o train.epochs=1")
    try:
        parsed = compose_yaml(value, "-o") if value.strip() else ""
    except yaml.YAMLError:
        parsed = value  # not YAML: the text itself
    except SuiteError as exc:  # past the bounds of a suite (aliases, nesting)
        raise SuiteError(exc.message, where=f"-o {text}", hint=exc.hint) from None
    return canonical_key(key.strip()), parsed


def _drop_from_groups(data: dict[str, Any], key_path: KeyPath) -> None:
    """An ``-o`` of a key that a group axis sets wins in every cell: the key leaves the group's values (values that
    become equal then make the same cell, which runs once)."""
    matrix = data.get("matrix")
    for axis, values in matrix.items() if isinstance(matrix, dict) else ():
        if canonical_key(str(axis))[0] in TRAINING_SECTIONS or not isinstance(values, list):
            continue
        for group in values:
            keys = [k for k in group if canonical_key(str(k)) == key_path] if isinstance(group, dict) else []
            for key in keys:
                del group[key]


def load_suite(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Suite:
    """Load, override, validate and expand a suite file."""
    loaded = load_suite_file(path)
    data = copy.deepcopy(loaded.data)
    override_where: dict[KeyPath, str] = {}
    for text in overrides:
        key_path, value = parse_override(text)
        if key_path[0] == "matrix" and len(key_path) == 2:
            key_path = ("matrix", ".".join(canonical_key(key_path[1])))
        elif key_path[0] != "matrix":
            # an override of a swept key replaces its axis: a list sets the axis values, a scalar removes the axis;
            # a list for a key that takes one value sweeps it (a new axis, varying fastest) like a matrix entry
            matrix = data.get("matrix") or {}
            axes = [a for a in matrix if canonical_key(str(a)) == key_path] if isinstance(matrix, dict) else []
            if isinstance(value, list) and isinstance(matrix, dict) and (axes or takes_list(key_path) is False):
                axis = axes[0] if axes else ".".join(key_path)
                data["matrix"] = {**matrix, axis: value}
                override_where[("matrix", axis)] = f"-o {text}"
                continue
            for axis in axes:
                del matrix[axis]
            _drop_from_groups(data, key_path)
        _set_path(data, key_path, value, where=f"-o {text}")
        override_where[key_path] = f"-o {text}"
    return expand(loaded, data, override_where)


def _where_fn(loaded: LoadedSuite, extra: dict[KeyPath, str]):
    def where(path: KeyPath) -> str:
        for n in range(len(path), 0, -1):
            if path[:n] in extra:
                return extra[path[:n]]
        if path and path not in loaded.locations:  # e.g. unknown 'nosuch' that only -o nosuch.key=1 wrote
            setters = [text for key, text in extra.items() if key[: len(path)] == path]
            if setters:
                return setters[0]
        return loaded.where(path)

    return where


def _validate_top(loaded: LoadedSuite, data: dict[str, Any], where) -> tuple[str, str, dict[str, list[Any]]]:
    name = data.get("name")
    if name is None:
        raise SuiteError("missing required key 'name'", where=f"{loaded.where(())}", hint="add e.g. name: my-study")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise SuiteError(
            f"'name' is {name!r}",
            where=where(("name",)),
            hint="use letters, digits, '-', '_' and '.' (a directory name)",
        )
    description = data.get("description", "")
    if not isinstance(description, str):
        raise SuiteError("'description' must be a string", where=where(("description",)))
    matrix = data.get("matrix") or {}
    if not isinstance(matrix, dict):
        raise SuiteError("'matrix' must map keys to lists of values", where=where(("matrix",)))
    for axis, values in matrix.items():
        if not isinstance(values, list) or not values:
            raise SuiteError(
                f"matrix axis '{axis}' must be a non-empty list",
                where=where(("matrix", axis)),
                hint=f"e.g. {axis}: [a, b]",
            )
        if canonical_key(str(axis))[0] in TRAINING_SECTIONS:
            continue
        if not all(isinstance(v, dict) for v in values):
            raise SuiteError(
                f"matrix axis '{axis}' is not a cell key",
                where=where(("matrix", axis)),
                hint="sweep keys under seed, data, model or train, or an alias: " + ", ".join(ALIASES) + "; or "
                "make it a group axis whose values are mappings of such keys",
            )
        for i, group in enumerate(values):
            for key in group:
                if canonical_key(str(key))[0] not in TRAINING_SECTIONS:
                    raise SuiteError(
                        f"group axis '{axis}' sets '{key}', which is not a cell key",
                        where=where(("matrix", axis, i)),
                        hint="use dotted keys under seed, data, model or train, or an alias: " + ", ".join(ALIASES),
                    )
    return name, description, matrix


def _value_at(data: dict[str, Any], path: KeyPath) -> Any:
    for key in path:
        data = data[key]
    return data


def axis_settings(axis: str, value: Any) -> list[tuple[KeyPath, Any]]:
    """The (key path, value) pairs one matrix value sets: one for a key axis, one per key for a group axis."""
    path = canonical_key(axis)
    if path[0] in TRAINING_SECTIONS:
        return [(path, value)]
    return [(canonical_key(str(key)), v) for key, v in value.items()]


def expand(loaded: LoadedSuite, data: dict[str, Any], override_where: dict[KeyPath, str] | None = None) -> Suite:
    where = _where_fn(loaded, override_where or {})
    name, description, matrix = _validate_top(loaded, data, where)
    base = {k: v for k, v in data.items() if k not in SUITE_KEYS}
    cells: list[Cell] = []
    seen: dict[str, int] = {}
    axes = list(matrix)
    # every key some value of a group axis sets: each cell records its resolved value, set by its group or not
    grouped = {path for axis in axes for value in matrix[axis] for path, _ in axis_settings(str(axis), value)}
    for combo in itertools.product(*(enumerate(matrix[axis]) for axis in axes)):
        cell_data = copy.deepcopy(base)
        cell_where = dict(override_where or {})
        values: dict[str, Any] = {}
        for axis, (i, value) in zip(axes, combo, strict=True):
            for path, setting in axis_settings(str(axis), value):
                where_set = where(("matrix", axis, i))
                _set_path(cell_data, path, copy.deepcopy(setting), where=where_set, set_by=override_where)
                cell_where[path] = where_set
                values[".".join(path)] = setting
        cell_where_fn = _where_fn(loaded, cell_where)
        spec = build_spec(CellSpec, cell_data, (), cell_where_fn)
        check_cell(spec, cell_where_fn)
        resolved = spec_to_dict(spec)
        for path in sorted(grouped, key=lambda p: ".".join(p)):
            values.setdefault(".".join(path), _value_at(resolved, path))
        cell_id = cell_id_of(spec)
        if cell_id in seen:
            continue  # two axes combinations that resolve to the same training configuration run once
        seen[cell_id] = len(cells)
        cells.append(Cell(index=len(cells), cell_id=cell_id, spec=spec, axes=values, sources=cell_where))
    return Suite(
        name=name, description=description, path=loaded.path, cells=cells, matrix=matrix, raw=data, loaded=loaded
    )
