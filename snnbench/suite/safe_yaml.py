"""Bounded, safe YAML reading for suites: a hostile file gets one :class:`~snnbench.errors.SuiteError` line.

A suite is a few hundred bytes of YAML, so everything past generous bounds is refused before it can cost time or
memory:

* **File**: only a regular file is read (a FIFO, ``/dev/zero`` or a directory is refused at once, without
  blocking), and at most :data:`MAX_SUITE_BYTES`; the text must be UTF-8 (the error names the line of the bad byte).
* **Nesting**: at most :data:`MAX_DEPTH` levels of mappings and lists, counted while composing, so 5000-deep
  input stops at level ``MAX_DEPTH + 1`` instead of exhausting Python's stack; aliases count at full depth.
* **Aliases**: the node graph is walked once, memoised per node, to count the values it expands to; a suite that
  expands to more than :data:`MAX_EXPANDED_NODES` values ("billion laughs": n levels of 10 aliases each expand to
  10^n values) or an anchor used inside itself (``data: &x {root: *x}``) is refused.

Scalars resolve as in YAML 1.1 (PyYAML's safe schema) plus the YAML 1.2 float form without a dot, so
``lr: 1e-3`` is the number 0.001 (YAML 1.1 reads it as the string ``'1e-3'``).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from snnbench.errors import SuiteError

MAX_SUITE_BYTES = 1 << 20  # 1 MiB; the largest shipped suite is ~3 kB
MAX_DEPTH = 32  # mappings and lists inside each other; shipped suites nest at most 5 deep
MAX_EXPANDED_NODES = 20_000  # values after expanding aliases; shipped suites have fewer than 300

# YAML 1.2 floats that YAML 1.1 leaves as strings: an exponent without a dot (1e-3, 5E+4, -2e10)
EXPONENT_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$")


class SuiteLoader(yaml.SafeLoader):
    """PyYAML's safe loader with bounded nesting, 1.2-style exponent floats, and constructor errors with a line."""

    def __init__(self, text: str, name: str) -> None:
        super().__init__(text)
        self.suite_name = name
        self.depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                line = self.peek_event().start_mark.line + 1
                raise SuiteError(
                    f"values nest more than {MAX_DEPTH} levels deep",
                    where=f"{self.suite_name}:{line}",
                    hint="a suite nests a few levels (section, key, list); flatten the structure",
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:  # e.g. an int of 5000 digits, a date 2026-13-45
            reason = str(exc).split(";")[0]
            mark = node.start_mark
            raise yaml.constructor.ConstructorError(None, None, f"unreadable value ({reason})", mark) from None


SuiteLoader.add_implicit_resolver("tag:yaml.org,2002:float", EXPONENT_FLOAT, list("-+0123456789"))


def read_suite_text(path: Path, name: str) -> str:
    """The UTF-8 text of the regular file ``path`` (at most :data:`MAX_SUITE_BYTES`); ``name`` is shown in errors."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO without a writer must not block
    except FileNotFoundError:
        raise SuiteError("suite file not found", where=name, hint="check the path") from None
    except OSError as exc:
        raise SuiteError(f"cannot read suite file ({exc.strerror})", where=name) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "a FIFO, socket or device"
            raise SuiteError(f"not a regular file ({kind})", where=name, hint="give the path of a YAML suite file")
        chunks, size = [], 0
        while size <= MAX_SUITE_BYTES:
            chunk = os.read(fd, MAX_SUITE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise SuiteError(f"cannot read suite file ({exc.strerror})", where=name) from None
    finally:
        os.close(fd)
    if size > MAX_SUITE_BYTES:
        raise SuiteError(
            f"suite file is larger than {MAX_SUITE_BYTES} bytes", where=name, hint="a suite is a small YAML file"
        )
    raw = b"".join(chunks)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SuiteError(
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x})",
            where=f"{name}:{line}",
            hint="save the suite as UTF-8 text; a suite is YAML, not a binary file",
        ) from None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def check_graph(root: yaml.Node, name: str) -> None:
    """Refuse recursive aliases, and alias expansions past :data:`MAX_EXPANDED_NODES` values or :data:`MAX_DEPTH`.

    One walk, memoised per node (an alias is the very node it names): the cost is the size of the file, not of
    its expansion. Anchors precede their aliases in the stream, so a node is either finished (memoised) or an
    ancestor (a cycle) when an alias reaches it, and the walk recurses no deeper than the composed tree.
    """
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded values, expanded depth)
    active: set[int] = set()

    def walk(node: yaml.Node) -> tuple[int, int]:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise SuiteError(
                "recursive alias: an anchored value contains an alias of itself",
                where=f"{name}:{node.start_mark.line + 1}",
                hint="an anchor (&name) can only be used (*name) after its value ends",
            )
        active.add(key)
        count, depth = 1, 0
        for child in _children(node):
            child_count, child_depth = walk(child)
            count, depth = count + child_count, max(depth, child_depth)
        active.discard(key)
        if count > MAX_EXPANDED_NODES:
            raise SuiteError(
                f"aliases expand the suite to more than {MAX_EXPANDED_NODES} values",
                where=f"{name}:{node.start_mark.line + 1}",
                hint="use fewer aliases (*name) of large anchored values",
            )
        if depth + 1 > MAX_DEPTH:
            raise SuiteError(
                f"aliases nest values more than {MAX_DEPTH} levels deep",
                where=f"{name}:{node.start_mark.line + 1}",
                hint="a suite nests a few levels (section, key, list); flatten the structure",
            )
        sizes[key] = (count, depth + 1)
        return sizes[key]

    walk(root)


def _line_of(text: str, position: int) -> int:
    return text.count("\n", 0, max(position, 0)) + 1


def compose_yaml(text: str, name: str, on_node: Callable[[yaml.Node], None] | None = None) -> Any:
    """The data of one YAML document whose node graph passed :func:`check_graph`.

    ``on_node(root)`` sees the node graph before construction (which flattens merge keys ``<<`` into it).
    Raises :class:`SuiteError` for a structure past the bounds and ``yaml.YAMLError`` for malformed YAML.
    """
    loader = SuiteLoader(text, name)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_graph(node, name)
        if on_node is not None:
            on_node(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_yaml(text: str, name: str, on_node: Callable[[yaml.Node], None] | None = None) -> Any:
    """:func:`compose_yaml` with every YAML error as one ``SuiteError`` line naming ``name:line``."""
    try:
        return compose_yaml(text, name, on_node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}" if mark else name
        hint = (
            "write a valid value, or quote it to keep it a string"
            if isinstance(exc, yaml.constructor.ConstructorError)
            else "check the indentation, colons and brackets"
        )
        raise SuiteError(f"malformed YAML: {exc.problem or exc.context}", where=where, hint=hint) from None
    except yaml.reader.ReaderError as exc:  # a control character such as NUL
        raise SuiteError(
            f"malformed YAML: unacceptable character #x{exc.character:04x}"
            if isinstance(exc.character, int)
            else f"malformed YAML: {exc.reason}",
            where=f"{name}:{_line_of(text, exc.position)}",
            hint="a suite is plain text; remove control characters",
        ) from None
    except yaml.YAMLError as exc:
        raise SuiteError(f"malformed YAML: {exc}", where=name) from None
    except RecursionError:  # a last guard: the bounds above keep every recursion far from Python's limit
        raise SuiteError("values nest too deeply", where=name, hint="flatten the structure") from None
