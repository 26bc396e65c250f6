"""Strict conversion of plain data into frozen spec dataclasses.

Each dataclass field may carry metadata: ``choices`` (a tuple, or a callable returning the valid names, e.g. a
registry's), bounds ``ge``/``gt``/``le``/``lt``, and ``doc``. Unknown keys, wrong types and out-of-range values
raise :class:`~snnbench.errors.SuiteError` naming the key path, the file and line, and what is allowed. A number
field takes finite numbers only (``.inf`` and ``.nan`` are refused); a quoted number gets a hint to unquote it.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from typing import Any, Union

from snnbench.errors import SuiteError, did_you_mean, unknown_name_hint

Where = Callable[[tuple[Any, ...]], str]


def dotted(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path) or "<suite>"


def spec_field(default: Any = dataclasses.MISSING, **meta: Any) -> Any:
    """A dataclass field with validation metadata: ``choices``, ``ge``/``gt``/``le``/``lt``, ``min_len``, ``doc``."""
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin in (tuple, list):
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "mapping"
    if dataclasses.is_dataclass(tp):
        return "mapping"
    return {type(None): "null", bool: "true/false", int: "integer", float: "number", str: "string"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _convert(tp: Any, value: Any, path: tuple[Any, ...], where: Where) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(arg, value, path, where)
            except SuiteError as exc:
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        raise SuiteError(f"'{dotted(path)}' must be {_type_name(tp)}, got {value!r}", where=where(path))
    if dataclasses.is_dataclass(tp):
        return build_spec(tp, value, path, where)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise SuiteError(f"'{dotted(path)}' must be {_type_name(tp)}, got {value!r}", where=where(path))
        (item_type, *_) = typing.get_args(tp)
        return tuple(_convert(item_type, v, path + (i,), where) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise SuiteError(f"'{dotted(path)}' must be a mapping, got {value!r}", where=where(path))
        return dict(value)
    if tp is Any:
        return value
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }.get(tp)
    if not ok:
        raise SuiteError(
            f"'{dotted(path)}' must be {_type_name(tp)}, got {value!r}", where=where(path), hint=_number_hint(tp, value)
        )
    return _finite(value, path, where) if tp is float else value


def _number_hint(tp: Any, value: Any) -> str | None:
    """For a quoted number where a number is expected: how to write it."""
    if tp not in (int, float) or not isinstance(value, str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if tp is int and not number.is_integer():
        return None
    return f"write the number without quotes, e.g. {value.strip()}"


def _finite(value: int | float, path: tuple[Any, ...], where: Where) -> float:
    """``value`` as a finite float: ``.inf``, ``.nan`` and integers beyond the float range are refused."""
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise SuiteError(
            f"'{dotted(path)}' is {value!r}, must be a finite number",
            where=where(path),
            hint="write a finite number, e.g. 1.0e-3",
        )
    return number


def _check_meta(meta: typing.Mapping[str, Any], value: Any, path: tuple[Any, ...], where: Where) -> None:
    if value is None:
        return
    if "min_len" in meta and len(value) < meta["min_len"]:
        raise SuiteError(f"'{dotted(path)}' must have at least {meta['min_len']} value(s)", where=where(path))
    choices = meta.get("choices")
    if choices is not None:
        valid = list(choices() if callable(choices) else choices)
        for item in value if isinstance(value, tuple) else (value,):
            if item not in valid:
                raise SuiteError(
                    f"'{dotted(path)}' is {item!r}, not one of the valid values",
                    where=where(path),
                    hint=unknown_name_hint(str(item), [str(v) for v in valid]),
                )
    for key, test, word in (
        ("ge", lambda v, b: v >= b, ">="),
        ("gt", lambda v, b: v > b, ">"),
        ("le", lambda v, b: v <= b, "<="),
        ("lt", lambda v, b: v < b, "<"),
    ):
        if key in meta:
            for item in value if isinstance(value, tuple) else (value,):
                if not test(item, meta[key]):
                    raise SuiteError(
                        f"'{dotted(path)}' is {item!r}, must be {word} {meta[key]}",
                        where=where(path),
                        hint=meta.get("doc"),
                    )


def build_spec(cls: type, data: Any, path: tuple[Any, ...], where: Where) -> Any:
    """Validate ``data`` against dataclass ``cls`` (recursively) and construct it."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SuiteError(f"'{dotted(path)}' must be a mapping, got {data!r}", where=where(path))
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            guess = did_you_mean(str(key), fields)
            valid = "valid keys: " + ", ".join(fields)
            raise SuiteError(
                f"unknown key '{dotted(path + (key,))}'",
                where=where(path + (key,)),
                hint=f"{guess} {valid}" if guess else valid,
            )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            value = _convert(hints[name], data[name], path + (name,), where)
            _check_meta(f.metadata, value, path + (name,), where)
            kwargs[name] = value
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise SuiteError(f"missing required key '{dotted(path + (name,))}'", where=where(path))
    return cls(**kwargs)


def spec_to_dict(spec: Any) -> Any:
    """Plain (JSON-ready) data of a spec dataclass; tuples become lists."""
    if dataclasses.is_dataclass(spec):
        return {f.name: spec_to_dict(getattr(spec, f.name)) for f in dataclasses.fields(spec)}
    if isinstance(spec, (list, tuple)):
        return [spec_to_dict(v) for v in spec]
    if isinstance(spec, dict):
        return {k: spec_to_dict(v) for k, v in spec.items()}
    return spec
