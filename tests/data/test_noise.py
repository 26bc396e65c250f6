"""Noise kinds: identity at level 0, seeding, the statistics each level promises, errors, hooks."""

from __future__ import annotations

import pickle
from collections import Counter

import numpy as np
import pytest
import torch

from snnbench.data import dataset_info, load_data
from snnbench.data.noise import (
    APPLIES_TO,
    NOISE,
    EventNoise,
    Param,
    applies_to,
    describe_noise,
    make_event_transform,
    make_image_transform,
    make_train_transform,
    sensor_size_of,
    validate_noise,
)
from snnbench.errors import SuiteError, UnknownNameError
from snnbench.measure.accuracy import evaluate
from snnbench.models import create_model
from snnbench.suite import load_suite
from snnbench.suite.schema import DataSpec, ModelSpec, NeuronSpec, TrainNoise

EVENT_DTYPE = np.dtype([("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])
SENSOR = (34, 30)  # (width, height), not square so x/y mix-ups show
STATIC_KINDS = [e.name for e in NOISE if e.meta["applies_to"] == "static"]
EVENT_KINDS = [e.name for e in NOISE if e.meta["applies_to"] == "event"]
LEVEL = {"gaussian": 0.2, "salt_pepper": 0.2, "event_drop": 0.3, "event_background": 50, "event_time_jitter": 500.0,
         "event_spatial_jitter": 1.5}  # fmt: skip


def known_events(n=10_000, seed=0, t0=1_000_000, duration=300_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    events = np.zeros(n, dtype=EVENT_DTYPE)
    events["x"] = rng.integers(0, SENSOR[0], n)
    events["y"] = rng.integers(0, SENSOR[1], n)
    events["t"] = t0 + np.sort(rng.choice(duration, n, replace=False))  # unique times: events are identifiable
    events["p"] = rng.integers(0, 2, n)
    return events


def images(batch=8, value=None, seed=0) -> torch.Tensor:
    if value is not None:
        return torch.full((batch, 1, 28, 28), float(value))
    return torch.rand((batch, 1, 28, 28), generator=torch.Generator().manual_seed(seed))


def gen(seed=123) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- registry


def test_registry_metadata_and_describe():
    assert {"gaussian", "event_drop", "event_background", "event_time_jitter", "event_spatial_jitter"} <= set(
        NOISE.names()
    )
    for entry in NOISE:
        assert entry.meta["applies_to"] in APPLIES_TO
        assert entry.meta["level"] and entry.meta["unit"]
        assert all(isinstance(p, Param) for p in entry.meta["params"].values())
    rows = {r["name"]: r for r in describe_noise()}
    assert rows["gaussian"]["applies_to"] == "static" and rows["gaussian"]["params"] == {"clip": True}
    assert "clip=true" in rows["gaussian"]["params_text"]
    assert rows["event_background"]["params"] == {"mode": "count"}
    assert applies_to("event_drop") == "event"


# ---------------------------------------------------------------- level 0 is the identity


@pytest.mark.parametrize("kind", STATIC_KINDS)
def test_static_level_zero_is_identity_and_draws_nothing(kind):
    x = images()
    g = gen()
    state = g.get_state()
    out = make_image_transform(kind, 0, None, seed=3)(x, g)
    assert out is x and torch.equal(out, images())
    assert torch.equal(g.get_state(), state)  # the caller's stream is untouched


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_event_level_zero_is_identity(kind):
    events = known_events(500)
    out = make_event_transform(kind, 0, None, seed=3, sensor_size=SENSOR)(events)
    assert out is events and np.array_equal(out, known_events(500))


def test_level_zero_gives_clean_accuracy_exactly():
    spec = DataSpec(dataset="mnist_digits", T=2, test_subset=100)
    bundle = load_data(spec)
    torch.manual_seed(0)
    model = create_model(ModelSpec(width=16, neuron=NeuronSpec(backend="reference", theta_init=0.2)), bundle.info)
    clean = evaluate(model, bundle, torch.device("cpu"), seed=5)
    zero = evaluate(model, bundle, torch.device("cpu"), seed=5, input_transform=make_image_transform("gaussian", 0.0))
    noisy = evaluate(model, bundle, torch.device("cpu"), seed=5, input_transform=make_image_transform("gaussian", 0.5))
    assert zero == clean
    assert noisy["test_loss"] != clean["test_loss"]


# ---------------------------------------------------------------- seeding


@pytest.mark.parametrize("kind", STATIC_KINDS)
def test_static_seeding(kind):
    x, level = images(), LEVEL[kind]
    a = make_image_transform(kind, level, None, seed=1)(x, gen())
    b = make_image_transform(kind, level, None, seed=1)(x, gen())
    assert torch.equal(a, b) and not torch.equal(a, x)
    assert not torch.equal(a, make_image_transform(kind, level, None, seed=2)(x, gen()))  # other cell seed
    assert not torch.equal(a, make_image_transform(kind, level * 1.5, None, seed=1)(x, gen()))  # other level
    assert not torch.equal(a, make_image_transform(kind, level, None, seed=1)(x, gen(7)))  # other batch draw
    t = make_image_transform(kind, level, None, seed=1)
    g = gen()
    assert not torch.equal(t(x, g), t(x, g))  # consecutive batches get fresh noise


def test_static_kinds_differ():
    x = images()
    a = make_image_transform("gaussian", 0.2, None, seed=1)(x, gen())
    b = make_image_transform("salt_pepper", 0.2, None, seed=1)(x, gen())
    assert not torch.equal(a, b)


def test_static_noise_is_reproducible_across_evaluations():
    bundle = load_data(DataSpec(dataset="mnist_digits", T=2, test_subset=30))
    model = create_model(ModelSpec(width=8, neuron=NeuronSpec(backend="reference", theta_init=0.2)), bundle.info)
    transform = make_image_transform("gaussian", 0.3, None, seed=0)
    seen: list[list[torch.Tensor]] = [[], []]

    for run in range(2):

        def record(x, g, run=run):
            out = transform(x, g)
            seen[run].append(out.clone())
            return out

        evaluate(model, bundle, torch.device("cpu"), seed=0, batch_size=10, input_transform=record)
    assert len(seen[0]) == 3
    assert all(torch.equal(a, b) for a, b in zip(*seen, strict=True))
    assert not torch.equal(seen[0][0], seen[0][1])


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_event_seeding(kind):
    events, level = known_events(2000), LEVEL[kind]

    def apply(seed=1, lv=level, ev=events):
        return make_event_transform(kind, lv, None, seed, sensor_size=SENSOR)(ev)

    a = apply()
    assert np.array_equal(a, apply())
    assert not np.array_equal(a, events)
    assert not np.array_equal(a, apply(seed=2))
    assert not np.array_equal(a, apply(lv=level * 2))
    # per-sample seeding by content: the order in which samples are seen does not matter
    other = known_events(2000, seed=9)
    t1 = make_event_transform(kind, level, None, 1, sensor_size=SENSOR)
    t2 = make_event_transform(kind, level, None, 1, sensor_size=SENSOR)
    first = (t1(events), t1(other))
    second = (t2(other), t2(events))
    assert np.array_equal(first[0], second[1]) and np.array_equal(first[1], second[0])
    assert not np.array_equal(t1(other)[: len(a)], a[: len(t1(other))])  # two samples get different noise


def test_transforms_pickle():
    image = make_image_transform("gaussian", 0.2, None, 4)
    event = make_event_transform("event_background", 10, None, 4, sensor_size=SENSOR)
    x, events = images(), known_events(300)
    assert torch.equal(pickle.loads(pickle.dumps(image))(x, gen()), image(x, gen()))
    assert np.array_equal(pickle.loads(pickle.dumps(event))(events), event(events))


# ---------------------------------------------------------------- what each level means


def test_gaussian_std_matches_level_without_clipping():
    x = images(batch=16, value=0.5)
    for level in (0.05, 0.2):
        diff = make_image_transform("gaussian", level, {"clip": False}, 0)(x, gen()) - x
        assert abs(float(diff.std()) - level) < 0.03 * level
        assert abs(float(diff.mean())) < 0.03 * level


def test_gaussian_clipping_keeps_unit_range():
    x = images()
    clipped = make_image_transform("gaussian", 1.0, None, 0)(x, gen())
    raw = make_image_transform("gaussian", 1.0, {"clip": False}, 0)(x, gen())
    assert clipped.min() == 0.0 and clipped.max() == 1.0
    assert raw.min() < 0.0 and raw.max() > 1.0
    assert torch.equal(clipped, raw.clamp(0, 1))  # params are not part of the seed: same draws


def test_salt_pepper_fraction():
    x = images(batch=16, value=0.5)
    out = make_image_transform("salt_pepper", 0.3, None, 0)(x, gen())
    changed = out != 0.5
    assert abs(float(changed.float().mean()) - 0.3) < 0.02
    assert set(out[changed].unique().tolist()) == {0.0, 1.0}


def test_event_drop_is_binomial_and_keeps_order():
    events = known_events(10_000)
    out = make_event_transform("event_drop", 0.5, None, 0)(events)
    # binomial(10000, 0.5): sd 50; 5 sd bounds
    assert 5_000 - 250 < len(out) < 5_000 + 250
    idx = np.searchsorted(events["t"], out["t"])  # kept events are original events, in the original order
    assert np.array_equal(events[idx], out) and np.all(np.diff(idx) > 0)
    exact = make_event_transform("event_drop", 0.5, {"exact": True}, 0)(events)
    assert len(exact) == 5_000  # tonic's DropEvent count: round(p * N)
    assert len(make_event_transform("event_drop", 1.0, None, 0)(events)) == 0


def test_event_background_adds_exactly_n_inside_the_sensor():
    events = known_events(3000)
    out = make_event_transform("event_background", 250, None, 0, sensor_size=SENSOR)(events)
    assert len(out) == 3250 and out.dtype == events.dtype
    assert np.all(np.diff(out["t"]) >= 0)
    assert (out["x"] >= 0).all() and (out["x"] < SENSOR[0]).all()
    assert (out["y"] >= 0).all() and (out["y"] < SENSOR[1]).all()
    assert out["t"].min() >= events["t"].min() and out["t"].max() <= events["t"].max()
    assert set(np.unique(out["p"]).tolist()) == {0, 1}
    # the originals are all still there, plus 250 new ones
    assert Counter(events.tolist()) - Counter(out.tolist()) == Counter()
    ratio = make_event_transform("event_background", 0.1, {"mode": "ratio"}, 0, sensor_size=SENSOR)(events)
    assert len(ratio) == 3300
    span_s = (events["t"].max() - events["t"].min()) / 1e6
    rate = make_event_transform("event_background", 0.5, {"mode": "rate"}, 0, sensor_size=SENSOR)(events)
    assert len(rate) == 3000 + round(0.5 * SENSOR[0] * SENSOR[1] * span_s)
    empty = events[:0]
    assert len(make_event_transform("event_background", 10, None, 0, sensor_size=SENSOR)(empty)) == 0


def test_event_background_polarity_conventions():
    events = known_events(100)
    signed = events.copy()
    signed["p"] = np.where(events["p"] > 0, 1, -1)
    out = make_event_transform("event_background", 400, None, 0, sensor_size=SENSOR)(signed)
    assert set(np.unique(out["p"]).tolist()) == {-1, 1}
    boolean = np.zeros(100, dtype=[("x", "<u2"), ("y", "<u2"), ("t", "<f8"), ("p", "?")])
    for f in ("x", "y", "t"):
        boolean[f] = events[f]
    boolean["p"] = events["p"] > 0
    out = make_event_transform("event_background", 400, None, 0, sensor_size=SENSOR)(boolean)
    assert out.dtype == boolean.dtype and len(out) == 500 and out["p"].sum() > 150


def test_time_jitter_keeps_count_and_order():
    events = known_events(5000)
    out = make_event_transform("event_time_jitter", 1000, None, 0)(events)
    assert len(out) == len(events) and np.all(np.diff(out["t"]) >= 0)
    unsorted = make_event_transform("event_time_jitter", 1000, {"sort": False}, 0)(events)
    shift = unsorted["t"] - events["t"]
    assert abs(shift.std() - 1000) < 50 and np.array_equal(unsorted["x"], events["x"])
    assert np.array_equal(np.sort(unsorted["t"]), out["t"])
    early = known_events(5000, t0=0, duration=6000)
    clipped = make_event_transform("event_time_jitter", 1000, None, 0)(early)
    assert len(clipped) == 5000 and clipped["t"].min() == 0
    dropped = make_event_transform("event_time_jitter", 1000, {"negative": "drop"}, 0)(early)
    assert len(dropped) < 5000 and dropped["t"].min() >= 0


def test_spatial_jitter_stays_on_the_sensor():
    events = known_events(5000)
    out = make_event_transform("event_spatial_jitter", 3.0, None, 0, sensor_size=SENSOR)(events)
    assert len(out) == len(events)
    assert (out["x"] >= 0).all() and (out["x"] < SENSOR[0]).all()
    assert (out["y"] >= 0).all() and (out["y"] < SENSOR[1]).all()
    assert np.array_equal(out["t"], events["t"]) and (out["x"] != events["x"]).mean() > 0.5
    inner = (events["x"] > 12) & (events["x"] < 22) & (events["y"] > 12) & (events["y"] < 18)
    dx = (out["x"] - events["x"])[inner]
    assert abs(dx.std() - 3.0) < 0.3  # rounding adds ~1/12 variance
    dropped = make_event_transform("event_spatial_jitter", 3.0, {"outside": "drop"}, 0, sensor_size=SENSOR)(events)
    assert len(dropped) < len(events)
    assert (dropped["x"] < SENSOR[0]).all() and (dropped["y"] < SENSOR[1]).all() and (dropped["x"] >= 0).all()


def test_event_noise_through_the_dataset(tmp_path):
    spec = DataSpec(dataset="dvs_digits", root=str(tmp_path), T=4, test_subset=3, train_subset=1)
    clean = load_data(spec)
    sensor = sensor_size_of(dataset_info("dvs_digits"))
    assert sensor == (34, 34)
    zero = load_data(spec, event_transform=make_event_transform("event_background", 0, None, 0, sensor_size=sensor))
    noisy = load_data(spec, event_transform=make_event_transform("event_background", 300, None, 0, sensor_size=sensor))
    again = load_data(spec, event_transform=make_event_transform("event_background", 300, None, 0, sensor_size=sensor))
    for i in range(3):
        x0, x1, x2, xc = zero.test[i][0], noisy.test[i][0], again.test[i][0], clean.test[i][0]
        assert torch.equal(x0, xc)
        assert torch.equal(x1, x2)
        assert float(x1.sum() - xc.sum()) == 300.0


# ---------------------------------------------------------------- errors


def test_unknown_kind_and_bad_levels():
    with pytest.raises(UnknownNameError, match="did you mean 'gaussian'"):
        make_image_transform("gausian", 0.1)
    with pytest.raises(SuiteError, match="must be >= 0"):
        make_image_transform("gaussian", -0.1)
    with pytest.raises(SuiteError, match="must be <= 1"):
        make_event_transform("event_drop", 1.5)
    with pytest.raises(SuiteError, match="whole number"):
        make_event_transform("event_background", 10.5, sensor_size=SENSOR)
    with pytest.raises(SuiteError, match="did you mean 'clip'"):
        validate_noise("gaussian", 0.1, {"clp": False})
    with pytest.raises(SuiteError, match="parameter 'mode'"):
        validate_noise("event_background", 1, {"mode": "per_second"})
    with pytest.raises(SuiteError, match="parameter 'clip'"):
        validate_noise("gaussian", 0.1, {"clip": 1})  # 1 is not a boolean
    with pytest.raises(SuiteError, match="applies to event data"):
        make_image_transform("event_drop", 0.1)
    with pytest.raises(SuiteError, match="applies to static data"):
        make_event_transform("gaussian", 0.1)
    with pytest.raises(ValueError, match="sensor size"):
        make_event_transform("event_spatial_jitter", 1.0)


SUITE = """
name: noise-check
data: {dataset: mnist_digits}
noise:
  sweeps:
    - {kind: %s, levels: %s}
"""


def test_suite_rejects_unknown_kind_and_negative_level(write_suite):
    with pytest.raises(SuiteError) as err:
        load_suite(write_suite(SUITE % ("gausian", "[0.1]")))
    text = str(err.value)
    assert "did you mean 'gaussian'" in text and "\n" not in text and "suite.yaml" in text
    with pytest.raises(SuiteError, match=r"must be >= 0"):
        load_suite(write_suite(SUITE % ("gaussian", "[0, -0.1]")))
    suite = load_suite(write_suite(SUITE % ("event_drop", "[0, 0.5]")))
    assert suite.cells[0].spec.noise.sweeps[0].levels == (0.0, 0.5)


# ---------------------------------------------------------------- training-time noise


def test_train_transform_static():
    info = dataset_info("mnist_digits")
    assert make_train_transform(None, 0, info) is None
    hooks = make_train_transform(TrainNoise(kind="gaussian", level=0.2), 0, info)
    assert hooks.event_transform is None and hooks.applies_to == "static"
    x, g = images(), gen()
    a, b = hooks.image_transform(x, g), hooks.image_transform(x, g)
    assert not torch.equal(a, b)  # the training stream moves on: fresh noise every batch
    assert not torch.equal(a, make_image_transform("gaussian", 0.2, None, 0)(x, gen()))  # apart from eval noise
    with pytest.raises(SuiteError, match="dataset 'mnist_digits' is static"):
        make_train_transform(TrainNoise(kind="event_drop", level=0.1), 0, info)


def test_train_transform_event_changes_every_epoch():
    info = dataset_info("dvs_digits")
    hooks = make_train_transform(TrainNoise(kind="event_background", level=20), 0, info)
    assert isinstance(hooks.event_transform, EventNoise) and hooks.image_transform is None
    events = known_events(200)
    hooks.on_epoch_begin(1)
    e1, e1b = hooks.event_transform(events), hooks.event_transform(events)
    hooks.on_epoch_begin(2)
    e2 = hooks.event_transform(events)
    hooks.on_epoch_end(2, {})
    assert np.array_equal(e1, e1b) and not np.array_equal(e1, e2) and len(e2) == 220
    with pytest.raises(SuiteError, match="applies to static data"):
        make_train_transform(TrainNoise(kind="gaussian", level=0.1), 0, info)
