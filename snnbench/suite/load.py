"""Load suite YAML into plain data plus the file and line of every key. No interpretation happens here.

* YAML is read by :mod:`snnbench.suite.safe_yaml`: a safe loader with bounded file size, nesting and alias
  expansion; every YAML error is one line naming the file and line.
* ``include: base.yaml`` (or a list) deep-merges the named files first, relative to the including file; the
  including file's own keys win. Include cycles are an error.
* Duplicate keys in one mapping are an error (YAML would silently keep the last).

The result is a :class:`LoadedSuite`: ``data`` (dicts/lists/scalars) and ``locations`` mapping a key path such as
``("train", "epochs")`` to ``"suites/quick.yaml:12"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from snnbench.errors import SuiteError
from snnbench.suite.safe_yaml import load_yaml, read_suite_text

KeyPath = tuple[Any, ...]
MAX_SUITE_FILES = 64  # a suite and all its includes


@dataclass
class LoadedSuite:
    path: Path
    data: dict[str, Any]
    locations: dict[KeyPath, str] = field(default_factory=dict)

    def where(self, key_path: KeyPath) -> str:
        """``file:line`` of the deepest known prefix of ``key_path`` (the file itself when none is known)."""
        for n in range(len(key_path), 0, -1):
            if key_path[:n] in self.locations:
                return self.locations[key_path[:n]]
        return str(self.path)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _key_of(key_node: yaml.Node) -> Any:
    if isinstance(key_node, yaml.ScalarNode):
        return key_node.value
    return yaml.safe_load(yaml.serialize(key_node))


def _record_locations(
    node: yaml.Node, prefix: KeyPath, name: str, out: dict[KeyPath, str], checked: set[int] | None = None
) -> None:
    """``file:line`` of every key path. The duplicate-key check runs once per node (``checked``), however many
    aliases reach it; the walk itself is bounded by :data:`~snnbench.suite.safe_yaml.MAX_EXPANDED_NODES`."""
    checked = set() if checked is None else checked
    first_visit = id(node) not in checked
    checked.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = _key_of(key_node)
            where = f"{name}:{key_node.start_mark.line + 1}"
            if first_visit and key in seen:
                raise SuiteError(f"duplicate key '{key}'", where=where, hint="each key may appear once per mapping")
            seen.add(key)
            out[prefix + (key,)] = where
            _record_locations(value_node, prefix + (key,), name, out, checked)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[prefix + (i,)] = f"{name}:{item.start_mark.line + 1}"
            _record_locations(item, prefix + (i,), name, out, checked)


def _read_yaml(path: Path) -> tuple[Any, dict[KeyPath, str]]:
    name = _display(path)
    locations: dict[KeyPath, str] = {}
    data = load_yaml(read_suite_text(path, name), name, lambda node: _record_locations(node, (), name, locations))
    return data, locations


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``; mappings merge recursively, anything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_suite_file(path: str | Path, _stack: tuple[Path, ...] = (), _files: list[Path] | None = None) -> LoadedSuite:
    """Read ``path`` and its includes into one :class:`LoadedSuite` (see module docstring)."""
    path = Path(path)
    resolved = path.resolve()
    if resolved in _stack:
        chain = " -> ".join(_display(p) for p in (*_stack, resolved))
        raise SuiteError(f"include cycle: {chain}", where=_display(path), hint="remove one of the includes")
    _files = [] if _files is None else _files
    _files.append(resolved)
    if len(_files) > MAX_SUITE_FILES:
        raise SuiteError(
            f"the suite reads more than {MAX_SUITE_FILES} files through its includes",
            where=_display(path),
            hint="include each file once, from one place",
        )
    data, locations = _read_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SuiteError("a suite must be a YAML mapping of keys to values", where=f"{_display(path)}:1")
    includes = data.pop("include", [])
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise SuiteError(
            "'include' must be a file name or a list of file names", where=locations.get(("include",), str(path))
        )
    merged_data: dict[str, Any] = {}
    merged_locations: dict[KeyPath, str] = {}
    for i, include in enumerate(includes):
        include_path = path.parent / include
        if not include_path.exists():
            where = locations.get(("include", i), locations.get(("include",), str(path)))
            raise SuiteError(f"included file '{include}' not found", where=where, hint=f"looked in {path.parent}/")
        sub = load_suite_file(include_path, (*_stack, resolved), _files)
        merged_data = deep_merge(merged_data, sub.data)
        merged_locations.update(sub.locations)
    merged_locations.update({k: v for k, v in locations.items() if not k or k[0] != "include"})
    return LoadedSuite(path=path, data=deep_merge(merged_data, data), locations=merged_locations)
