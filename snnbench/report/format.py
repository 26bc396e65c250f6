"""Number formatting for reading: one style per quantity, used by every table.

* accuracy and other 0–1 fractions: 4 decimals (``0.9234``),
* operation counts: 3 significant digits with an SI prefix (``1.23 M``),
* energies, times, powers and other measurements: 3 significant digits (``0.0123``, ``45.6``, ``1230``),
* missing values: ``—``; GPU measurements that could not be made: ``unavailable``.
"""

from __future__ import annotations

import math
from typing import Any

MISSING = "—"
UNAVAILABLE = "unavailable"
_PREFIXES = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def sig(value: Any, digits: int = 3) -> str:
    """``digits`` significant digits, plain notation between 1e-4 and 1e6 (``1230``, ``0.0123``), else ``1.23e-05``."""
    if is_missing(value):
        return MISSING
    x = float(value)
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(x)))
    if magnitude < -4 or magnitude >= 6:
        return f"{x:.{digits - 1}e}"
    decimals = max(digits - 1 - magnitude, 0)
    rounded = round(x, decimals)
    if rounded != 0 and math.floor(math.log10(abs(rounded))) > magnitude:  # 9.996 -> 10.0 -> 10.00: one digit less
        decimals = max(decimals - 1, 0)
    return f"{rounded:.{decimals}f}"


def si(value: Any, digits: int = 3) -> str:
    """Counts with an SI prefix and ``digits`` significant digits: ``1.23 M``, ``456 k``, ``12.0``."""
    if is_missing(value):
        return MISSING
    x = float(value)
    for scale, prefix in _PREFIXES:
        if abs(x) >= scale * 0.9995:
            return f"{sig(x / scale, digits)} {prefix}"
    return sig(x, digits)


def acc(value: Any) -> str:
    """A 0–1 fraction (accuracy, silent share) with 4 decimals."""
    return MISSING if is_missing(value) else f"{float(value):.4f}"


def signed(value: Any, decimals: int = 4) -> str:
    """A difference with its sign: ``+0.0200``, ``−0.0100``."""
    if is_missing(value):
        return MISSING
    x = float(value)
    text = f"{abs(x):.{decimals}f}"
    return ("−" if x < 0 and float(text) != 0 else "+") + text


def fixed(value: Any, decimals: int = 4) -> str:
    """Fixed decimals (thresholds: ``2.0000``)."""
    return MISSING if is_missing(value) else f"{float(value):.{decimals}f}"


def dof(value: Any) -> str:
    """Degrees of freedom: integral as ``2``, Welch's as ``2.64``."""
    if is_missing(value):
        return MISSING
    return str(int(value)) if float(value).is_integer() else sig(value, 3)


def integer(value: Any) -> str:
    return MISSING if is_missing(value) else str(int(round(float(value))))


def pvalue(value: Any) -> str:
    """p-values: 3 significant digits, ``<0.0001`` below that."""
    if is_missing(value):
        return MISSING
    return "<0.0001" if float(value) < 1e-4 else sig(value, 3)


def label(value: Any) -> str:
    """An axis value as text: integral floats without ``.0``, missing as ``—``."""
    if is_missing(value):
        return MISSING
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def mean_std(values: Any, fmt=acc, with_n: bool = True) -> str:
    """``mean ± std (n=k)`` with the sample std (ddof=1); ``mean (n=1)`` for a single value; ``—`` for none."""
    import pandas as pd

    values = pd.Series(values, dtype=float).dropna()
    n = len(values)
    if n == 0:
        return MISSING
    suffix = f" (n={n})" if with_n else ""
    if n == 1:
        return f"{fmt(values.iloc[0])}{suffix}"
    return f"{fmt(values.mean())} ± {fmt(values.std(ddof=1))}{suffix}"
