"""The paper's claims on synthetic result frames with known effects: exact effects, CIs, n, tests and verdicts."""

import math

import pandas as pd
import pytest
from scipy import stats as st

from snnbench.analysis.claims import (
    CLAIM_COLUMNS,
    CLAIMS,
    ClaimRow,
    claims,
    claims_frame,
    claims_from_results,
    claims_summary,
    firing_band_frame,
    nauc_frame,
)
from snnbench.results.frame import cells_frame, layers_frame, noise_frame
from tests.stores import write_cell

T975_2 = st.t.ppf(0.975, 2)  # 4.302652729911275


def cell(variant, seed, depth=2, acc=0.9, energy=None, dataset="mnist_digits", T=4, status="done", **extra):
    path = f"r/{dataset}-d{depth}-{variant}-s{seed}-T{T}"
    row = {"suite": "s", "cell_id": path, "dataset": dataset, "model": "mlp", "depth": depth, "variant": variant,
           "seed": seed, "T": T, "status": status, "test_acc": acc, "path": path, **extra}  # fmt: skip
    if energy is not None:
        row["est_energy_uj_per_sample"] = energy
    return row


def frame(rows):
    return pd.DataFrame(rows)


def pick(rows, number, **where):
    found = [r for r in rows if r.claim == number and all(getattr(r, k) == v for k, v in where.items())]
    assert len(found) == 1, found
    return found[0]


def accuracy_cells(stl, other, variant="sl", depth=2, seeds=(0, 1, 2), other_seeds=None):
    rows = [cell("stl", s, depth, a) for s, a in zip(seeds, stl, strict=True)]
    rows += [cell(variant, s, depth, a) for s, a in zip(other_seeds or seeds, other, strict=True)]
    return frame(rows)


def test_clear_difference_is_supported_with_the_paired_test_and_exact_ci():
    rows = claims(accuracy_cells([0.95, 0.96, 0.97], [0.90, 0.90, 0.91]))
    r = pick(rows, 1)
    d = [0.05, 0.06, 0.06]
    mean, sd = sum(d) / 3, st.tstd(d)
    assert (r.test, r.n, r.n_a, r.n_b, r.depth) == ("paired", 3, 3, 3, 2)
    assert r.effect == pytest.approx(0.17 / 3) and r.effect == pytest.approx(mean)
    assert (r.ci_low, r.ci_high) == pytest.approx(
        (mean - T975_2 * sd / math.sqrt(3), mean + T975_2 * sd / math.sqrt(3))
    )
    assert r.ci_low == pytest.approx(0.042324, abs=1e-6)
    assert r.p == pytest.approx(st.ttest_rel([0.95, 0.96, 0.97], [0.90, 0.90, 0.91]).pvalue)
    assert (r.mean_a, r.mean_b) == pytest.approx((0.96, 0.903333), abs=1e-6)
    assert (r.verdict, r.unit, r.direction, r.metric) == ("supported", "accuracy 0-1", "stl > sl", "test_acc")
    assert pick(rows, 2).verdict == "no data" and pick(rows, 2).reason == "no finished tl cell"


def test_equal_groups_are_inconclusive():
    same = claims(accuracy_cells([0.9, 0.8, 0.7], [0.9, 0.8, 0.7]))
    r = pick(same, 1)
    assert (r.effect, r.ci_low, r.ci_high, r.n, r.verdict) == (0.0, 0.0, 0.0, 3, "inconclusive")
    assert r.reason == "CI includes 0"
    noisy = pick(claims(accuracy_cells([0.91, 0.92, 0.93], [0.90, 0.90, 0.90])), 1)  # CI (-0.0048, 0.0448)
    assert noisy.effect == pytest.approx(0.02) and noisy.ci_low < 0 < noisy.ci_high and noisy.verdict == "inconclusive"


def test_reversed_difference_is_contradicted():
    rows = claims(accuracy_cells([0.80, 0.81, 0.80], [0.90, 0.90, 0.91], variant="tl"))
    r = pick(rows, 2)
    assert r.effect == pytest.approx(-0.10)  # differences -0.10, -0.09, -0.11
    assert r.ci_high < 0 and (r.verdict, r.test, r.n, r.b) == ("contradicted", "paired", 3, "tl")
    assert r.reason == "CI excludes 0 against the claimed direction"


def test_lower_is_better_claim_energy_at_the_largest_depth_only():
    rows = [cell("stl", s, 2, energy=1.0) for s in range(3)] + [cell("sl", s, 2, energy=1.0) for s in range(3)]
    rows += [cell("stl", s, 6, energy=e) for s, e in enumerate([2.0, 2.1, 2.2])]
    rows += [cell("sl", s, 6, energy=e) for s, e in enumerate([3.0, 3.0, 3.1])]
    out = claims(frame(rows))
    r = pick(out, 5)  # one row: depth 6, not 2
    assert (r.depth, r.direction, r.unit, r.test, r.n) == (6, "stl < sl", "uJ/sample", "paired", 3)
    assert r.effect == pytest.approx(-2.8 / 3) and r.ci_high < 0 and r.verdict == "supported"
    assert len([x for x in out if x.claim == 1]) == 2  # accuracy: each depth


def test_welch_when_seeds_do_not_pair():
    stl, sl = [0.95, 0.96, 0.97], [0.90, 0.91, 0.89]
    r = pick(claims(accuracy_cells(stl, sl, other_seeds=(3, 4, 5))), 1)
    ref = st.ttest_ind(stl, sl, equal_var=False)
    assert (r.test, r.n, r.n_a, r.n_b) == ("welch", 3, 3, 3)
    assert r.effect == pytest.approx(0.06) and r.p == pytest.approx(ref.pvalue)
    half = st.t.ppf(0.975, 4) * math.sqrt(0.0001 / 3 + 0.0001 / 3)  # equal variances: Welch df = 4
    assert (r.ci_low, r.ci_high) == pytest.approx((0.06 - half, 0.06 + half)) and r.verdict == "supported"


def test_too_few_seeds_are_inconclusive_even_with_a_large_difference():
    two = pick(claims(accuracy_cells([0.95, 0.96], [0.50, 0.52], seeds=(0, 1))), 1)
    assert (two.test, two.n, two.verdict, two.reason) == ("paired", 2, "inconclusive", "n=2 below 3")
    assert two.ci_low > 0  # the CI alone would support it
    assert (two.n_a, two.n_b) == (2, 2)
    one = pick(claims(accuracy_cells([0.95], [0.5], seeds=(0,))), 1)
    assert (one.test, one.n, one.effect, one.verdict) == ("none", 1, pytest.approx(0.45), "inconclusive")
    assert math.isnan(one.ci_low) and math.isnan(one.p)
    assert pick(claims(accuracy_cells([0.95, 0.96], [0.50, 0.52], seeds=(0, 1)), min_n=2), 1).verdict == "supported"


def test_missing_metric_gives_no_data_with_the_reason():
    rows = claims(accuracy_cells([0.95, 0.96, 0.97], [0.90, 0.90, 0.91]))  # no energy, layers or noise
    for number, what in [(3, "per-layer firing rates"), (4, "noise rows"), (5, "est_energy_uj_per_sample")]:
        r = pick(rows, number)
        assert (r.verdict, r.n, r.test) == ("no data", 0, "none") and math.isnan(r.effect)
        assert r.reason == f"3 finished stl cell(s) without {CLAIMS[number - 1].source}; 3 finished sl cell(s) " \
            f"without {CLAIMS[number - 1].source}" and what in r.reason  # fmt: skip
    partial = frame([cell("stl", s, energy=1.0) for s in range(3)] + [cell("sl", s) for s in range(3)])
    assert pick(claims(partial), 5).reason == "3 finished sl cell(s) without est_energy_uj_per_sample"


def test_failed_cells_are_left_out_and_repeated_seeds_count_once():
    rows = [cell("stl", s, acc=a) for s, a in enumerate([0.95, 0.96, 0.97])]
    rows += [cell("sl", s, acc=a) for s, a in enumerate([0.90, 0.90, 0.91])]
    rows += [cell("sl", 3, acc=math.nan, status="failed"), cell("sl", 4, acc=math.nan, status="unfinished")]
    rows += [{**cell("stl", 0, acc=0.99), "path": "other/root/stl-s0"}]  # seed 0 again: stl 0.97 on average
    r = pick(claims(frame(rows)), 1)
    assert (r.test, r.n, r.n_a, r.n_b) == ("paired", 3, 3, 3)
    assert r.effect == pytest.approx((0.07 + 0.06 + 0.06) / 3) and r.mean_a == pytest.approx(0.9667, abs=1e-4)


def test_no_finished_cells_gives_no_data_for_every_claim():
    rows = claims(frame([cell("stl", 0, status="failed", acc=math.nan)]))
    assert [(r.claim, r.verdict, r.reason) for r in rows] == [
        (c.number, "no data", "no finished cells") for c in CLAIMS
    ]
    assert [r.claim for r in claims(cells_frame())] == [1, 2, 3, 4, 5]


def lif_rows(path, rates):
    """A synaptic row, then one LIF row per rate; the last rate is the output population's."""
    rows = [{"path": path, "layer": "fc1", "kind": "linear", "order": 0, "firing_rate": math.nan}]
    return rows + [{"path": path, "layer": f"lif{i}", "kind": "lif", "order": 2 * i + 1, "firing_rate": r}
                   for i, r in enumerate(rates)]  # fmt: skip


def test_firing_band_is_the_spread_of_hidden_layer_rates():
    cells = frame([cell("stl", 0, 3), cell("sl", 0, 3), cell("tl", 0, 1)])
    layers = pd.DataFrame(
        lif_rows(cells.path[0], [0.10, 0.30, 0.20, 0.90])  # output 0.90 excluded: band (0.30 - 0.10) / 0.20
        + lif_rows(cells.path[1], [0.02, 0.40, 0.05, 0.0])[::-1]  # rows shuffled: ``order`` restores them
        + lif_rows(cells.path[2], [0.2, 0.5])  # one hidden layer: no band
    )
    band = firing_band_frame(cells, layers).set_index("variant")
    assert band.loc["stl", "firing_band"] == pytest.approx(1.0) and band.loc["stl", "hidden_layers"] == 3
    assert band.loc["sl", "firing_band"] == pytest.approx(0.38 / (0.47 / 3))
    assert band.loc["tl", "hidden_layers"] == 1 and math.isnan(band.loc["tl", "firing_band"])


def test_firing_band_falls_back_to_the_mean_of_per_step_rates():
    cells = frame([cell("stl", 0, 2)])
    layers = pd.DataFrame(lif_rows(cells.path[0], [0.1, math.nan, 0.5]))
    layers.loc[2, "firing_rate_per_step"] = None
    layers.at[2, "firing_rate_per_step"] = [0.2, 0.4, 0.6, 0.0]  # mean 0.3
    assert firing_band_frame(cells, layers).loc[0, "firing_band"] == pytest.approx(0.2 / 0.2)


def test_a_network_whose_deep_layers_fall_silent_has_a_wide_band():
    """Scale-free: rates 0.05 -> 0.01 -> 0.0 span less than 0.1 -> 0.15 -> 0.12 in absolute terms, but more in
    relative ones (the band the claim is about)."""
    cells = frame([cell("stl", 0, 3), cell("sl", 0, 3)])
    layers = pd.DataFrame(
        lif_rows(cells.path[0], [0.10, 0.15, 0.12, 0.5]) + lif_rows(cells.path[1], [0.05, 0.01, 0.0, 0.5])
    )
    band = firing_band_frame(cells, layers).set_index("variant")["firing_band"]
    assert band["stl"] == pytest.approx(0.05 / (0.37 / 3)) and band["sl"] == pytest.approx(0.05 / (0.06 / 3))
    assert band["sl"] > band["stl"]


def test_firing_band_claim_paired_at_the_largest_depth():
    stl_rates = [[0.10, 0.12, 0.11, 0.5], [0.10, 0.13, 0.12, 0.5], [0.09, 0.12, 0.10, 0.5]]
    sl_rates = [[0.20, 0.05, 0.01, 0.5], [0.25, 0.05, 0.02, 0.5], [0.20, 0.04, 0.01, 0.5]]

    def band(rates):
        hidden = rates[:-1]
        return (max(hidden) - min(hidden)) / (sum(hidden) / len(hidden))

    rows, layers = [], []
    for seed in range(3):
        for variant, rates in (("stl", stl_rates[seed]), ("sl", sl_rates[seed])):
            rows += [cell(variant, seed, 1), cell(variant, seed, 3)]
            layers += lif_rows(rows[-2]["path"], [0.1, 0.5]) + lif_rows(rows[-1]["path"], rates)
    r = pick(claims(frame(rows), pd.DataFrame(layers)), 3)
    assert (r.depth, r.test, r.n, r.unit, r.direction) == (3, "paired", 3, "relative spread", "stl < sl")
    stl, sl = sum(map(band, stl_rates)) / 3, sum(map(band, sl_rates)) / 3
    assert (r.mean_a, r.mean_b) == pytest.approx((stl, sl))
    assert r.effect == pytest.approx(stl - sl) and r.ci_high < 0 and r.verdict == "supported"


def noise_rows(path, accs, kind="gaussian", params="{}", levels=(0.0, 0.1, 0.3)):
    return [{"path": path, "noise_kind": kind, "noise_level": lv, "noise_params": params, "test_acc": a}
            for lv, a in zip(levels, accs, strict=True)]  # fmt: skip


def test_nauc_per_cell_and_noise_kind():
    cells = frame([cell("stl", 0, acc=0.8)])
    path = cells.path[0]
    noise = pd.DataFrame(
        noise_rows(path, [0.8, 0.6, 0.4])  # AUC = 0.1 * 0.7 + 0.2 * 0.5 = 0.17; nAUC = 0.17 / (0.3 * 0.8)
        + noise_rows(path, [0.8, 0.4], "bitflip", '{"per_step":true}', (0.0, 0.2))  # 0.2 * 0.6 / (0.2 * 0.8)
    )
    out = nauc_frame(cells, noise).set_index("noise")["nauc"]
    assert out["gaussian"] == pytest.approx(0.17 / 0.24)
    assert out['bitflip {"per_step":true}'] == pytest.approx(0.75)


def test_noise_claim_one_row_per_kind_and_depth():
    rows, noise = [], []
    stl = [[0.9, 0.8, 0.7], [0.9, 0.82, 0.7], [0.9, 0.8, 0.72]]
    for seed in range(3):
        rows += [cell("stl", seed, acc=0.9), cell("sl", seed, acc=0.9)]
        noise += noise_rows(rows[-2]["path"], stl[seed]) + noise_rows(rows[-1]["path"], [0.9, 0.5, 0.2])
        noise += noise_rows(rows[-2]["path"], [0.9, 0.9], "event_drop", levels=(0, 1))
    out = claims(frame(rows), None, pd.DataFrame(noise))
    r = pick(out, 4, noise="gaussian")
    nauc = [(0.1 * (0.9 + a[1]) / 2 + 0.2 * (a[1] + a[2]) / 2) / (0.3 * 0.9) for a in stl]
    nauc_sl = (0.1 * 1.4 / 2 + 0.2 * 0.7 / 2) / 0.27
    assert (r.test, r.n, r.unit, r.direction) == ("paired", 3, "nAUC 0-1", "stl > sl")
    assert r.effect == pytest.approx(sum(nauc) / 3 - nauc_sl) and r.verdict == "supported"
    drop = pick(out, 4, noise="event_drop")
    assert drop.verdict == "no data" and drop.reason == "3 finished sl cell(s) without noise rows"


def test_config_columns_split_groups():
    rows = [cell("stl", s, acc=0.95 + 0.01 * s, T=T) for s in range(3) for T in (4, 8)]
    rows += [cell("sl", s, acc=0.90, T=T) for s in range(3) for T in (4, 8)]
    out = claims(frame(rows))
    accuracy = [r for r in out if r.claim == 1]
    assert [r.config for r in accuracy] == [(("T", 4),), (("T", 8),)]
    table = claims_frame(out)
    assert list(table.columns) == CLAIM_COLUMNS[:5] + ["T"] + CLAIM_COLUMNS[5:]
    assert list(table.loc[table.claim == 1, "T"]) == [4, 8]


def test_frame_and_summary():
    rows = claims(accuracy_cells([0.95, 0.96, 0.97], [0.90, 0.90, 0.91]))
    assert all(isinstance(r, ClaimRow) for r in rows)
    table = claims_frame(rows)
    assert list(table.columns) == CLAIM_COLUMNS and len(table) == 5
    assert table.loc[0, "effect"] == pytest.approx(0.17 / 3) and table.loc[0, "n"] == 3
    summary = claims_summary(rows).set_index("claim")
    assert list(summary.columns) == ["statement", "supported", "contradicted", "inconclusive", "no data"]
    assert summary.loc[1, "supported"] == 1 and summary.loc[5, "no data"] == 1 and summary.loc[3, "supported"] == 0


def test_claims_from_a_results_directory(tmp_path):
    for seed, (a, b) in enumerate([(0.95, 0.90), (0.96, 0.90), (0.97, 0.91)]):
        for variant, acc in (("stl", a), ("sl", b)):
            write_cell(
                tmp_path, "s", "mnist_digits", "mlp", 3, variant, seed, test_acc=acc,
                metrics={"est_energy_uj_per_sample": 1.0 if variant == "stl" else 2.0 + 0.1 * seed},
                layers=[{"layer": f"lif{i}", "kind": "lif", "firing_rate": r}
                        for i, r in enumerate([0.1, 0.11 if variant == "stl" else 0.2 + 0.01 * seed, 0.1, 0.5])],
                noise=[{"noise_kind": "gaussian", "noise_level": lv, "noise_params": {"clip": True},
                        "test_acc": acc - lv * (1 if variant == "sl" else 0.5)} for lv in (0, 0.2)],
            )  # fmt: skip
    rows = claims_from_results(tmp_path)
    assert rows == claims(cells_frame(tmp_path), layers_frame(tmp_path), noise_frame(tmp_path))
    verdicts = {(r.claim, r.noise): (r.verdict, r.test, r.n) for r in rows}
    assert verdicts == {
        (1, None): ("supported", "paired", 3),
        (2, None): ("no data", "none", 0),
        (3, None): ("supported", "paired", 3),  # bands 0.01 / 0.1033 vs (0.1 + 0.01 seed) / ((0.4 + 0.01 seed) / 3)
        (4, 'gaussian {"clip":true}'): ("supported", "paired", 3),
        (5, None): ("supported", "paired", 3),
    }
    sl_bands = [(0.1 + 0.01 * s) / ((0.4 + 0.01 * s) / 3) for s in range(3)]
    assert pick(rows, 3).effect == pytest.approx(0.01 / (0.31 / 3) - sum(sl_bands) / 3)
    assert pick(rows, 5).effect == pytest.approx(-1.1)
