r"""The paper's claims, tested on stored results (never trains): does each one hold in the cells that are there?

Five claims (Sun et al., TCDS 2023), each a comparison of variant ``a`` with variant ``b`` on one per-cell metric
(:data:`CLAIMS`):

1. ``stl`` reaches a higher test accuracy than ``sl`` (``test_acc``, 0–1), at each depth;
2. ``stl`` reaches a higher test accuracy than ``tl``, at each depth;
3. ``stl``'s firing rates stay within a narrower band across layers than ``sl``'s, at the largest depth: the
   *relative band* of a cell is ``W = (max_l r_l − min_l r_l) / mean_l r_l`` over its hidden LIF layers ``l``
   (network order, the output population excluded: the loss pins its rate to the one-hot target), ``r_l`` the
   layer's ``firing_rate`` (spikes / (neurons × T), per test sample). It is scale-free: a network whose deep layers
   fall silent has a wide relative band even when its absolute spread is small. Undefined with fewer than 2 hidden
   layers or no spike at all (:func:`firing_band_frame`);
4. ``stl`` is more robust to input noise than ``sl``: the normalised area under the accuracy-noise curve (nAUC,
   :func:`snnbench.analysis.robustness.normalised_auc`) is higher, per noise kind and depth (:func:`nauc_frame`);
5. ``stl`` costs less estimated energy than ``sl`` (``est_energy_uj_per_sample``, µJ) at the largest depth.

**Comparable group**: cells with the same ``dataset``, ``model`` and every configuration column that varies among the
finished cells (``T`` and the dotted matrix axes, e.g. ``model.neuron.tau``), plus the depth (each depth, or the
largest depth present among the group's finished ``a`` and ``b`` cells) and, for claim 4, the noise kind and options.

**Effect and test** (:func:`snnbench.analysis.stats.compare`; values of one variant and seed are averaged first):
with >= 2 shared seeds, paired: ``d_s = x_a,s − x_b,s``, ``effect = mean(d)``,
``CI = effect ± t(0.975, n−1) · sd(d)/√n``, ``n`` = shared seeds; otherwise Welch:
``effect = mean(x_a) − mean(x_b)``, ``CI = effect ± t(0.975, ν) · √(s_a²/n_a + s_b²/n_b)`` with the
Welch–Satterthwaite ``ν``, ``n = min(n_a, n_b)``.

**Verdict** (claimed direction ``a > b`` or ``a < b``): *supported* when the CI excludes 0 on the claimed side,
*contradicted* when it excludes 0 on the other side, *inconclusive* otherwise, and also when ``n < min_n`` (3) or no
CI exists; *no data* when either variant has no value in the group (``reason`` says what is missing).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from snnbench.analysis.robustness import normalised_auc
from snnbench.analysis.stats import compare
from snnbench.results.frame import cells_frame, config_columns, layers_frame, noise_frame


@dataclass(frozen=True)
class Claim:
    """One claim: ``a`` beats ``b`` on ``metric`` (higher when ``higher``, else lower), at each depth or the largest."""

    number: int
    key: str
    statement: str
    metric: str
    unit: str
    a: str
    b: str
    higher: bool
    largest_depth_only: bool
    source: str  # what the metric is computed from, named in "no data" reasons


CLAIMS: tuple[Claim, ...] = (
    Claim(1, "accuracy_stl_sl", "stl reaches a higher test accuracy than sl", "test_acc", "accuracy 0-1",
          "stl", "sl", True, False, "test_acc"),
    Claim(2, "accuracy_stl_tl", "stl reaches a higher test accuracy than tl", "test_acc", "accuracy 0-1",
          "stl", "tl", True, False, "test_acc"),
    Claim(3, "firing_band", "stl keeps per-layer firing rates within a narrower band than sl in the deepest net",
          "firing_band", "relative spread", "stl", "sl", False, True, "per-layer firing rates (>= 2 hidden LIF)"),
    Claim(4, "noise_nauc", "stl is more robust to input noise than sl", "nauc", "nAUC 0-1", "stl", "sl", True,
          False, "noise rows"),
    Claim(5, "energy_deep", "stl needs less estimated energy per sample than sl in the deepest net",
          "est_energy_uj_per_sample", "uJ/sample", "stl", "sl", False, True, "est_energy_uj_per_sample"),
)  # fmt: skip

VERDICTS = ("supported", "contradicted", "inconclusive", "no data")
MIN_N = 3
NAN = math.nan


@dataclass(frozen=True)
class ClaimRow:
    """One claim in one comparable group. ``effect``, ``ci_low``, ``ci_high``, ``mean_a``, ``mean_b`` are in ``unit``
    (``effect = mean_a − mean_b`` for Welch, the mean paired difference for paired); ``test`` is ``paired``,
    ``welch`` or ``none``; ``n`` = shared seeds (paired) or the smaller sample (Welch); ``config``: the other
    varying settings as ``(column, value)`` pairs; ``noise``: the noise kind and options (claim 4)."""

    claim: int
    key: str
    statement: str
    dataset: Any
    model: Any
    config: tuple[tuple[str, Any], ...]
    depth: Any
    noise: str | None
    a: str
    b: str
    metric: str
    unit: str
    direction: str
    mean_a: float
    mean_b: float
    effect: float
    ci_low: float
    ci_high: float
    test: str
    n: int
    n_a: int
    n_b: int
    p: float
    verdict: str
    reason: str


CLAIM_COLUMNS = [
    "claim", "key", "statement", "dataset", "model", "depth", "noise", "a", "b", "metric", "unit", "direction",
    "mean_a", "mean_b", "effect", "ci_low", "ci_high", "test", "n", "n_a", "n_b", "p", "verdict", "reason",
]  # fmt: skip


def _nan(value: Any) -> bool:
    try:
        return value is None or math.isnan(float(value))
    except (TypeError, ValueError):
        return True


def _layer_rate(row: pd.Series) -> float:
    """A layer's firing rate; the mean of ``firing_rate_per_step`` where only that is recorded."""
    rate = row.get("firing_rate")
    if not _nan(rate):
        return float(rate)
    per_step = row.get("firing_rate_per_step")
    if isinstance(per_step, (list, tuple)) and per_step:
        return float(sum(per_step) / len(per_step))
    return NAN


def firing_band_frame(cells: pd.DataFrame, layers: pd.DataFrame) -> pd.DataFrame:
    """Per finished cell: ``hidden_layers`` (LIF layers but the last, the output population) and ``firing_band``
    ((max − min) / mean of their firing rates, dimensionless; NaN with fewer than 2 hidden layers, a missing rate or
    no spike at all), with the cell's columns."""
    done = cells[cells["status"] == "done"]
    out = []
    if not layers.empty and "kind" in layers.columns:
        lif = layers[layers["kind"] == "lif"]
        if "order" in lif.columns:
            lif = lif.sort_values(["path", "order"], kind="stable")
        for path, rows in lif.groupby("path", sort=False):
            rates = [_layer_rate(r) for _, r in rows.iterrows()][:-1]
            ok = len(rates) >= 2 and not any(_nan(r) for r in rates) and sum(rates) > 0
            band = (max(rates) - min(rates)) / (sum(rates) / len(rates)) if ok else NAN
            out.append({"path": path, "hidden_layers": len(rates), "firing_band": band})
    per_cell = pd.DataFrame(out, columns=["path", "hidden_layers", "firing_band"])
    return done.merge(per_cell, on="path", how="inner")


def nauc_frame(cells: pd.DataFrame, noise: pd.DataFrame) -> pd.DataFrame:
    """Per finished cell and noise kind + options: ``noise`` (``kind`` or ``kind {options}``) and ``nauc`` (clean
    accuracy: the cell's ``test_acc``; the first row of a repeated level counts), with the cell's columns."""
    done = cells[cells["status"] == "done"]
    columns = [*done.columns, "noise", "nauc"]
    if noise.empty or "noise_kind" not in noise.columns:
        return pd.DataFrame(columns=columns)
    clean = dict(zip(done["path"], done["test_acc"], strict=True))
    params = noise["noise_params"] if "noise_params" in noise.columns else pd.Series("{}", index=noise.index)
    noise = noise.assign(noise=[_noise_name(k, p) for k, p in zip(noise["noise_kind"], params, strict=True)])
    out = []
    for (path, name), rows in noise[noise["path"].isin(clean)].groupby(["path", "noise"], sort=False):
        rows = rows.dropna(subset=["test_acc"]).drop_duplicates("noise_level").sort_values("noise_level")
        if rows.empty:
            continue
        value = normalised_auc(list(rows["noise_level"].astype(float)), list(rows["test_acc"]), clean[path])
        out.append({"path": path, "noise": name, "nauc": NAN if value is None else value})
    return done.merge(pd.DataFrame(out, columns=["path", "noise", "nauc"]), on="path", how="inner")[columns]


def _noise_name(kind: Any, params: Any) -> str:
    """``gaussian``, or ``gaussian {"clip":false}`` where the rows carry options (compact JSON)."""
    missing = params is None or (isinstance(params, float) and math.isnan(params))
    return str(kind) if missing or str(params) in ("", "{}") else f"{kind} {params}"


def _verdict(result: dict[str, Any], higher: bool, min_n: int) -> tuple[str, str]:
    n = result["n"] if result["test"] == "paired" else min(result["n_a"], result["n_b"])
    low, high = result["ci_low"], result["ci_high"]
    if n < min_n:
        return "inconclusive", f"n={n} below {min_n}"
    if _nan(low) or _nan(high):
        return "inconclusive", "no confidence interval"
    if (low > 0 and higher) or (high < 0 and not higher):
        return "supported", "CI excludes 0 in the claimed direction"
    if (low > 0 and not higher) or (high < 0 and higher):
        return "contradicted", "CI excludes 0 against the claimed direction"
    return "inconclusive", "CI includes 0"


def _missing(claim: Claim, cells: pd.DataFrame, values: pd.DataFrame) -> str:
    """Why a group has no comparison: which variant lacks finished cells or lacks the metric."""
    parts = []
    for variant in (claim.a, claim.b):
        n_cells = int((cells["variant"] == variant).sum())
        n_values = int((values["variant"] == variant).sum()) if not values.empty else 0
        if n_cells == 0:
            parts.append(f"no finished {variant} cell")
        elif n_values == 0:
            parts.append(f"{n_cells} finished {variant} cell(s) without {claim.source}")
    return "; ".join(parts)


def _per_seed(values: pd.DataFrame, variant: str, metric: str) -> dict[Any, float]:
    rows = values[values["variant"] == variant]
    return rows.groupby("seed", dropna=False)[metric].mean().to_dict() if not rows.empty else {}


def _values(claim: Claim, cells: pd.DataFrame, layers: pd.DataFrame, noise: pd.DataFrame) -> pd.DataFrame:
    """Finished cells with a value of the claim's metric (one row per cell, or per cell and noise kind)."""
    if claim.metric == "firing_band":
        values = firing_band_frame(cells, layers)
    elif claim.metric == "nauc":
        values = nauc_frame(cells, noise)
    else:
        values = cells[cells["status"] == "done"]
        if claim.metric not in values.columns:
            return values.iloc[0:0].assign(**{claim.metric: []})
    values = values.assign(**{claim.metric: pd.to_numeric(values[claim.metric], errors="coerce")})
    return values.dropna(subset=[claim.metric])


def _row(claim: Claim, where: dict[str, Any], depth: Any, noise: str | None, **fields: Any) -> ClaimRow:
    blank = dict(mean_a=NAN, mean_b=NAN, effect=NAN, ci_low=NAN, ci_high=NAN, test="none", n=0, n_a=0, n_b=0, p=NAN)
    return ClaimRow(
        claim=claim.number, key=claim.key, statement=claim.statement, dataset=where.get("dataset"),
        model=where.get("model"), config=tuple((k, v) for k, v in where.items() if k not in ("dataset", "model")),
        depth=depth, noise=noise, a=claim.a, b=claim.b, metric=claim.metric, unit=claim.unit,
        direction=f"{claim.a} {'>' if claim.higher else '<'} {claim.b}", **{**blank, **fields},
    )  # fmt: skip


def _compare_one(
    claim: Claim, where: dict[str, Any], depth: Any, noise: str | None, cells: pd.DataFrame, values: pd.DataFrame,
    confidence: float, min_n: int,
) -> ClaimRow:  # fmt: skip
    """The claim on the cells of one group, depth (and noise kind): a compared row, or "no data" with the reason."""
    xa, xb = _per_seed(values, claim.a, claim.metric), _per_seed(values, claim.b, claim.metric)
    if not xa or not xb:
        return _row(claim, where, depth, noise, verdict="no data", reason=_missing(claim, cells, values))
    r = compare(xa, xb, confidence)
    verdict, reason = _verdict(r, claim.higher, min_n)
    n = r["n"] if r["test"] == "paired" else min(r["n_a"], r["n_b"])
    return _row(
        claim, where, depth, noise, mean_a=r["mean_a"], mean_b=r["mean_b"], effect=r["mean_diff"],
        ci_low=r["ci_low"], ci_high=r["ci_high"], test="none" if _nan(r["ci_low"]) else r["test"], n=int(n),
        n_a=r["n_a"], n_b=r["n_b"], p=r["p"], verdict=verdict, reason=reason,
    )  # fmt: skip


def _claim_in_group(
    claim: Claim, where: dict[str, Any], cells: pd.DataFrame, values: pd.DataFrame, confidence: float, min_n: int
) -> list[ClaimRow]:
    """Rows of one claim in one comparable group: at each depth, or at the largest depth of its a and b cells."""
    pair = cells[cells["variant"].isin([claim.a, claim.b])]
    depths = sorted(cells["depth"].unique(), key=float)
    if claim.largest_depth_only:
        depths = [max((pair if not pair.empty else cells)["depth"], key=float)]
    rows = []
    for depth in depths:
        at_cells, at_values = cells[cells["depth"] == depth], values[values["depth"] == depth]
        names = sorted(at_values["noise"].unique()) if claim.metric == "nauc" and not at_values.empty else [None]
        for name in names:
            some = at_values if name is None else at_values[at_values["noise"] == name]
            rows.append(_compare_one(claim, where, depth, name, at_cells, some, confidence, min_n))
    return rows


def claims(
    cells: pd.DataFrame,
    layers: pd.DataFrame | None = None,
    noise: pd.DataFrame | None = None,
    *,
    confidence: float = 0.95,
    min_n: int = MIN_N,
) -> list[ClaimRow]:
    """Every claim of :data:`CLAIMS` in every comparable group of the finished cells (module docstring).

    ``cells``: :func:`~snnbench.results.frame.cells_frame` (all statuses; only ``done`` cells count); ``layers``,
    ``noise``: :func:`~snnbench.results.frame.layers_frame`, :func:`~snnbench.results.frame.noise_frame` (joined
    to the cells on ``path``; None or empty: claims 3 and 4 give "no data")."""
    layers = pd.DataFrame() if layers is None else layers
    noise = pd.DataFrame() if noise is None else noise
    done = cells[cells["status"] == "done"] if "status" in cells.columns else cells.iloc[0:0]
    groups = ["dataset", "model", *config_columns(done)]
    rows: list[ClaimRow] = []
    for claim in CLAIMS:
        if done.empty:
            rows.append(_row(claim, {}, None, None, verdict="no data", reason="no finished cells"))
            continue
        values = _values(claim, cells, layers, noise)
        for keys, group in done.groupby(groups, sort=True, dropna=False):
            where = dict(zip(groups, keys, strict=True))
            in_group = values[values["path"].isin(set(group["path"]))]
            rows.extend(_claim_in_group(claim, where, group, in_group, confidence, min_n))
    return rows


def claims_frame(rows: Iterable[ClaimRow]) -> pd.DataFrame:
    """The rows as a table: :data:`CLAIM_COLUMNS`, with the ``config`` pairs as columns after ``model``.

    ``effect``, ``ci_low``, ``ci_high``, ``mean_a``, ``mean_b`` are in the row's ``unit``; ``p`` is the two-sided
    p-value of the test; ``n``, ``n_a``, ``n_b`` count seeds."""
    records, extra = [], []
    for row in rows:
        record = asdict(row)
        for column, value in record.pop("config"):
            record[column] = value
            extra += [column] if column not in extra else []
        records.append(record)
    columns = CLAIM_COLUMNS[:5] + extra + CLAIM_COLUMNS[5:]
    return pd.DataFrame(records, columns=columns)


def claims_summary(rows: Iterable[ClaimRow]) -> pd.DataFrame:
    """Per claim: how many comparable groups gave each verdict (columns ``claim, statement`` and :data:`VERDICTS`)."""
    frame = claims_frame(rows)
    counts = frame.groupby(["claim", "statement"])["verdict"].value_counts().unstack(fill_value=0)
    counts = counts.reindex(columns=list(VERDICTS), fill_value=0).reset_index()
    counts.columns.name = None
    return counts


def claims_from_results(*roots: str | Path) -> list[ClaimRow]:
    """:func:`claims` on the results directories ``roots`` (their cells, layer rows and noise rows)."""
    return claims(cells_frame(*roots), layers_frame(*roots), noise_frame(*roots))
