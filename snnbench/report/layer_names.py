"""Readable layer names: ``conv1``, ``conv2``, ``fc1``, ``output`` instead of module paths (``features.2``).

``layers.json`` names each row by the network module it measures (``layer``, e.g. ``features.7``) and says what it
is (``kind``: ``conv``, ``linear``, ``lif``, ``bn``, ``pool``). Walking the rows of one cell in network order
(``order``):

* the k-th ``conv`` row is ``conv<k>``, the k-th ``linear`` row ``fc<k>``; other non-spiking rows are ``<kind><k>``
  (``pool1``, ``bn1``);
* a ``lif`` row takes the name of the synaptic layer (conv or linear) that feeds it, the last one before it, so
  a layer's synapses and its neurons share one name; a ``lif`` row with no synaptic layer before it is ``lif<k>``;
* the last ``lif`` row (the output population the readout averages) and the synaptic layer feeding it are
  ``output``.

The module path stays available: the ``layer`` column keeps it and ``layer_name`` holds the readable name.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

SYNAPTIC_PREFIX = {"conv": "conv", "linear": "fc"}
OUTPUT = "output"


def readable_names(kinds: Sequence[object]) -> list[str]:
    """One name per row of one network, rows in network order, from their ``kind`` (module docstring)."""
    kinds = [str(k) for k in kinds]
    lifs = [i for i, k in enumerate(kinds) if k == "lif"]
    last_lif = lifs[-1] if lifs else None
    feeding_output = None
    if last_lif is not None:
        before = [i for i in range(last_lif) if kinds[i] in SYNAPTIC_PREFIX]
        previous_lif = lifs[-2] if len(lifs) > 1 else -1
        feeding_output = before[-1] if before and before[-1] > previous_lif else None
    counts: dict[str, int] = {}
    names: list[str] = []
    synaptic = None  # name of the last synaptic layer seen
    for i, kind in enumerate(kinds):
        if i in (last_lif, feeding_output):
            name = OUTPUT
        elif kind == "lif":
            counts["lif"] = counts.get("lif", 0) + 1
            name = synaptic or f"lif{counts['lif']}"
        else:
            prefix = SYNAPTIC_PREFIX.get(kind, kind)
            counts[prefix] = counts.get(prefix, 0) + 1
            name = f"{prefix}{counts[prefix]}"
        if kind in SYNAPTIC_PREFIX:
            synaptic = name
        names.append(name)
    return names


def with_layer_names(layers: pd.DataFrame) -> pd.DataFrame:
    """``layers`` (the long frame of ``layers.json`` rows, several cells) with a ``layer_name`` column after
    ``layer``, named per cell (``path``) in network order."""
    out = layers.copy()
    if out.empty or "kind" not in out.columns:
        out.insert(out.columns.get_loc("layer") + 1 if "layer" in out else 0, "layer_name", out.get("layer"))
        return out
    names = pd.Series(index=out.index, dtype=object)
    by = out.groupby("path", sort=False) if "path" in out.columns else [(None, out)]
    for _, rows in by:
        rows = rows.sort_values("order", kind="stable") if "order" in rows.columns else rows
        names.loc[rows.index] = readable_names(rows["kind"].tolist())
    out.insert(out.columns.get_loc("layer") + 1, "layer_name", names)
    return out


def name_map(layers: pd.DataFrame) -> dict[tuple[str, str], str]:
    """``(path, layer)`` → readable name of the spiking rows: renames threshold rows, which use the LIF module path."""
    if "layer_name" not in layers.columns or layers.empty:
        return {}
    lif = layers[layers["kind"] == "lif"] if "kind" in layers.columns else layers
    return {(p, str(layer)): n for p, layer, n in zip(lif["path"], lif["layer"], lif["layer_name"], strict=True)}
