r"""Noise kinds for robustness sweeps and training-time augmentation (``snnbench list noise``, ``docs/noise.md``).

Two families, by where the noise enters:

* ``applies_to='static'``: added to an image batch ``[B, C, H, W]`` in [0, 1] on the device, *before* spike encoding.
  :func:`make_image_transform` returns the ``input_transform(x, generator)`` hook of
  :func:`snnbench.measure.accuracy.evaluate` and :func:`snnbench.train.loop.fit`.
* ``applies_to='event'``: applied to a sample's raw tonic-format event array (fields ``x, y, t, p``) *before*
  binning. :func:`make_event_transform` returns the ``event_transform(events)`` hook of
  :func:`snnbench.data.load_data`.

Level 0 is always the identity: the input comes back unchanged (the very same object) and no random number is drawn.

**Seeding.** Every draw is deterministic:

* Image noise of one batch comes from a fresh ``torch.Generator`` seeded with a hash of
  ``(seed, kind, level, draw)``, where ``draw`` is one 62-bit integer taken from the ``generator`` that the caller
  passes. :func:`~snnbench.measure.accuracy.evaluate` passes a transform stream re-seeded from the cell seed on every
  call and iterates the unshuffled test split in fixed order, so the b-th test batch gets the same noise in every
  evaluation, for every variant trained with that seed. (Noise thus depends on the batch size; the robustness sweep
  uses the batch size of the clean evaluation.) During training the passed generator is the training stream, so the
  noise changes every batch and epoch.
* Event noise of one sample comes from a ``numpy.random.Generator`` seeded with a hash of
  ``(seed, kind, level, [epoch,] blake2b(events))``: the sample is identified by its content, so its noise does not
  depend on the sample index, batch order, subset, split or DataLoader workers. Training-time event noise adds the
  epoch (set through the ``on_epoch_begin`` hook) so augmentation changes every epoch.
* ``params`` are not part of the seed: e.g. ``gaussian`` with ``clip: true`` and ``clip: false`` see the same draws.

tonic's transforms (``UniformNoise``, ``DropEvent``, ``TimeJitter``, ``SpatialJitter``) draw from numpy's global
random state and truncate float shifts toward zero when they write integer fields, so the event kinds here
re-implement their semantics on a private ``numpy.random.Generator`` and round to the nearest integer instead; the
differences are listed in ``docs/noise.md``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from snnbench.data.registry import dataset_info
from snnbench.errors import SuiteError, did_you_mean
from snnbench.registry import Registry
from snnbench.seeds import derived_seed

APPLIES_TO = ("static", "event")


@dataclass(frozen=True)
class Param:
    """A documented option of a noise kind."""

    default: Any
    doc: str
    choices: tuple[Any, ...] | None = None


NOISE: Registry[Callable] = Registry("noise kind")


def register_noise(
    name: str,
    *,
    applies_to: str,
    level: str,
    unit: str,
    description: str,
    params: Mapping[str, Param] | None = None,
    level_max: float | None = None,
) -> Callable:
    """Register a noise function with its metadata (what the level means, its unit, the documented params).

    Static functions are ``fn(x, level, params, generator) -> x``; event functions are
    ``fn(events, level, params, rng, sensor_size) -> events``.
    """
    if applies_to not in APPLIES_TO:
        raise ValueError(f"applies_to must be one of {APPLIES_TO}, got {applies_to!r}")
    return NOISE.register(
        name,
        applies_to=applies_to,
        level=level,
        unit=unit,
        description=description,
        params=dict(params or {}),
        level_max=level_max,
    )


# ---------------------------------------------------------------------------------------------- validation


def resolve_params(kind: str, params: Mapping[str, Any] | None = None, *, where: str | None = None) -> dict[str, Any]:
    """``params`` with every default filled in; an unknown key or a value outside its choices is a SuiteError."""
    entry = NOISE.entry(kind)
    declared: dict[str, Param] = entry.meta["params"]
    params = dict(params or {})
    for key in params:
        if key not in declared:
            valid = ", ".join(declared) or "none"
            guess = did_you_mean(str(key), declared)
            raise SuiteError(
                f"unknown parameter '{key}' for noise kind '{kind}'",
                where=where,
                hint=f"{guess} valid: {valid}" if guess else f"valid: {valid}",
            )
    resolved = {}
    for key, param in declared.items():
        value = params.get(key, param.default)
        if param.choices is not None and not any(type(value) is type(c) and value == c for c in param.choices):
            raise SuiteError(
                f"noise kind '{kind}': parameter '{key}' is {value!r}",
                where=where,
                hint="valid: " + ", ".join(json.dumps(c) for c in param.choices),
            )
        resolved[key] = value
    return resolved


def validate_noise(
    kind: str, level: float, params: Mapping[str, Any] | None = None, *, where: str | None = None
) -> dict[str, Any]:
    """Check a (kind, level, params) triple; return the resolved params. Errors are one-line SuiteErrors."""
    entry = NOISE.entry(kind)
    resolved = resolve_params(kind, params, where=where)
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not math.isfinite(level):
        raise SuiteError(f"noise kind '{kind}': level {level!r} is not a finite number", where=where)
    if level < 0:
        raise SuiteError(f"noise kind '{kind}': level {level!r} must be >= 0", where=where, hint=entry.meta["level"])
    level_max = entry.meta["level_max"]
    if level_max is not None and level > level_max:
        raise SuiteError(
            f"noise kind '{kind}': level {level!r} must be <= {level_max}", where=where, hint=entry.meta["level"]
        )
    if kind == "event_background" and resolved["mode"] == "count" and float(level) != int(level):
        raise SuiteError(
            f"noise kind 'event_background': level {level!r} must be a whole number of events in mode 'count'",
            where=where,
            hint="use mode: ratio or mode: rate for fractional levels",
        )
    return resolved


def applies_to(kind: str) -> str:
    """``'static'`` or ``'event'``."""
    return NOISE.entry(kind).meta["applies_to"]


def params_key(params: Mapping[str, Any]) -> str:
    """Canonical JSON of resolved params (part of a measurement's identity in ``noise.json``)."""
    return json.dumps(dict(params), sort_keys=True, separators=(",", ":"), default=str)


NoiseKey = tuple[str, float, str]  # the identity of a noise measurement: (kind, level, params_key)


def noise_seed(seed: int, kind: str, level: float, *extra: Any) -> int:
    """A 63-bit seed from ``(seed, kind, level, *extra)`` (:func:`snnbench.seeds.derived_seed`)."""
    return derived_seed(seed, kind, float(level), *extra)


def events_digest(events: np.ndarray) -> str:
    """Hex BLAKE2b-128 digest of an event array's dtype and bytes: the identity of a sample for seeding."""
    h = hashlib.blake2b(digest_size=16)
    h.update(str(events.dtype.descr).encode())
    h.update(np.ascontiguousarray(events).tobytes())
    return h.hexdigest()


def describe_noise() -> list[dict[str, Any]]:
    """One row per noise kind for ``snnbench list noise``: name, applies_to, level meaning, unit, params."""
    rows = []
    for entry in NOISE:
        meta = entry.meta
        params: dict[str, Param] = meta["params"]
        rows.append(
            {
                "name": entry.name,
                "applies_to": meta["applies_to"],
                "level": meta["level"],
                "unit": meta["unit"],
                "level_max": meta["level_max"],
                "params": {k: p.default for k, p in params.items()},
                "params_text": "; ".join(
                    f"{k}={json.dumps(p.default)}"
                    + (f" ({'|'.join(json.dumps(c) for c in p.choices)})" if p.choices else "")
                    + f": {p.doc}"
                    for k, p in params.items()
                )
                or "-",
                "description": meta["description"],
            }
        )
    return rows


# ---------------------------------------------------------------------------------------------- static kinds


@register_noise(
    "gaussian",
    applies_to="static",
    level="standard deviation sigma of additive Gaussian noise x + N(0, sigma^2), before spike encoding",
    unit="image intensity (images are in [0, 1])",
    description="additive white Gaussian noise on every pixel and channel, then clipped to [0, 1]",
    params={"clip": Param(True, "clip the noisy image to [0, 1] (false keeps values outside)", (True, False))},
)
def gaussian(x: Tensor, level: float, params: dict[str, Any], generator: torch.Generator) -> Tensor:
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    out = x + float(level) * noise
    return out.clamp_(0.0, 1.0) if params["clip"] else out


@register_noise(
    "salt_pepper",
    applies_to="static",
    level="fraction of pixel values replaced: half by 0 (pepper), half by 1 (salt), before spike encoding",
    unit="probability per pixel value, 0-1",
    description="impulse noise: each pixel value independently becomes 0 with prob. level/2 or 1 with prob. level/2",
    level_max=1.0,
)
def salt_pepper(x: Tensor, level: float, params: dict[str, Any], generator: torch.Generator) -> Tensor:
    u = torch.rand(x.shape, generator=generator, device=x.device)
    out = x.clone()
    out[u < level / 2] = 0.0
    out[(u >= level / 2) & (u < level)] = 1.0
    return out


# ---------------------------------------------------------------------------------------------- event kinds


def _need_sensor(kind: str, sensor_size: tuple[int, int] | None) -> tuple[int, int]:
    if sensor_size is None:
        raise ValueError(f"noise kind '{kind}' needs the sensor size (width, height); pass sensor_size=")
    width, height = (int(v) for v in sensor_size)
    return width, height


def _sorted_by_time(events: np.ndarray) -> np.ndarray:
    return events[np.argsort(events["t"], kind="stable")]


@register_noise(
    "event_drop",
    applies_to="event",
    level="probability that each event is dropped",
    unit="probability, 0-1",
    description="drops events independently (tonic DropEvent); order of the kept events is unchanged",
    params={
        "exact": Param(False, "drop exactly round(level * N) events chosen at random, as tonic does", (False, True))
    },
    level_max=1.0,
)
def event_drop(events, level, params, rng, sensor_size=None) -> np.ndarray:
    n = len(events)
    if params["exact"]:
        keep = np.ones(n, dtype=bool)
        keep[rng.choice(n, int(level * n + 0.5), replace=False)] = False
    else:
        keep = rng.random(n) >= level
    return events[keep]


@register_noise(
    "event_background",
    applies_to="event",
    level="background events added per sample (mode count); see mode for rate and ratio",
    unit="events (count) | events per pixel per second (rate) | background per signal event (ratio)",
    description="uniform background activity (tonic UniformNoise): x, y uniform on the sensor, t uniform on the "
    "sample's [t_min, t_max], polarity uniform; result sorted by t. An empty sample stays empty",
    params={
        "mode": Param(
            "count",
            "count: add exactly round(level) events; rate: round(level * W * H * (t_max - t_min) / 1e6) "
            "(level in Hz per pixel, t in us); ratio: round(level * N)",
            ("count", "rate", "ratio"),
        )
    },
)
def event_background(events, level, params, rng, sensor_size=None) -> np.ndarray:
    width, height = _need_sensor("event_background", sensor_size)
    if len(events) == 0:
        return events
    t = events["t"]
    t_min, t_max = t.min(), t.max()
    mode = params["mode"]
    if mode == "count":
        n = int(round(level))
    elif mode == "rate":
        n = int(round(level * width * height * float(t_max - t_min) / 1e6))
    else:
        n = int(round(level * len(events)))
    if n == 0:
        return events
    noise = np.zeros(n, dtype=events.dtype)
    noise["x"] = rng.integers(0, width, n)
    noise["y"] = rng.integers(0, height, n)
    if np.issubdtype(t.dtype, np.integer):
        noise["t"] = rng.integers(int(t_min), int(t_max) + 1, n)
    else:
        noise["t"] = rng.uniform(float(t_min), float(t_max), n)
    on = rng.integers(0, 2, n).astype(bool)
    p = events["p"]
    if p.dtype == np.bool_:
        noise["p"] = on
    elif p.min() < 0:  # -1 / +1 polarity convention
        noise["p"] = np.where(on, 1, -1)
    else:
        noise["p"] = on.astype(np.int64)
    return _sorted_by_time(np.concatenate([events, noise]))


@register_noise(
    "event_time_jitter",
    applies_to="event",
    level="standard deviation of Gaussian noise added to each timestamp, rounded to whole time units",
    unit="microseconds (the dataset's time unit)",
    description="tonic TimeJitter, keeping the event count: t + N(0, level^2), rounded; negative times clipped to 0",
    params={
        "negative": Param(
            "clip", "events pushed below t=0: clip to 0 (keeps the count), drop them, or keep", ("clip", "drop", "keep")
        ),
        "sort": Param(True, "re-sort events by the jittered timestamps (stable)", (True, False)),
    },
)
def event_time_jitter(events, level, params, rng, sensor_size=None) -> np.ndarray:
    out = events.copy()
    t = out["t"]
    shifted = t.astype(np.float64) + rng.normal(0.0, level, len(out))
    if np.issubdtype(t.dtype, np.integer):
        shifted = np.rint(shifted)
    if params["negative"] == "drop":
        keep = shifted >= 0
        out, shifted = out[keep], shifted[keep]
    elif params["negative"] == "clip" or np.issubdtype(t.dtype, np.unsignedinteger):
        shifted = np.maximum(shifted, 0)
    out["t"] = shifted
    return _sorted_by_time(out) if params["sort"] else out


@register_noise(
    "event_spatial_jitter",
    applies_to="event",
    level="standard deviation of Gaussian noise added to x and to y (independently), rounded to whole pixels",
    unit="pixels",
    description="tonic SpatialJitter with var_x = var_y = level^2, sigma_xy = 0; rounded to the nearest pixel and "
    "clipped to the sensor edge (or dropped)",
    params={
        "outside": Param(
            "clip", "events pushed off the sensor: clip to the edge (keeps the count) or drop", ("clip", "drop")
        )
    },
)
def event_spatial_jitter(events, level, params, rng, sensor_size=None) -> np.ndarray:
    width, height = _need_sensor("event_spatial_jitter", sensor_size)
    out = events.copy()
    shifts = np.rint(rng.normal(0.0, level, (2, len(out)))).astype(np.int64)
    x = out["x"].astype(np.int64) + shifts[0]
    y = out["y"].astype(np.int64) + shifts[1]
    if params["outside"] == "drop":
        keep = (x >= 0) & (x < width) & (y >= 0) & (y < height)
        out, x, y = out[keep], x[keep], y[keep]
    else:
        x, y = np.clip(x, 0, width - 1), np.clip(y, 0, height - 1)
    out["x"], out["y"] = x, y
    return out


# ---------------------------------------------------------------------------------------------- hooks


def _check_kind(kind: str, expected: str) -> None:
    actual = applies_to(kind)
    if actual != expected:
        raise SuiteError(
            f"noise kind '{kind}' applies to {actual} data, not {expected} data",
            hint="valid: " + ", ".join(e.name for e in NOISE if e.meta["applies_to"] == expected),
        )


class ImageNoise:
    """``input_transform(x, generator)``: image noise on a device batch before spike encoding (picklable).

    Each call draws one integer from ``generator`` (the caller's stream; none at level 0) and seeds a fresh generator
    on ``x.device`` with ``hash(seed, kind, level, that integer)``. Without a ``generator``, a call counter replaces
    the draw (the n-th call after construction or :meth:`reset` gets the n-th noise).
    """

    def __init__(self, kind: str, level: float, params: Mapping[str, Any] | None = None, seed: int = 0) -> None:
        _check_kind(kind, "static")
        self.kind, self.level, self.seed = kind, float(level), int(seed)
        self.params = validate_noise(kind, self.level, params)
        self.fn = NOISE.get(kind)
        self.key = noise_seed(self.seed, kind, self.level)
        self.calls = 0

    def reset(self) -> None:
        self.calls = 0

    def batch_seed(self, generator: torch.Generator | None) -> int:
        if generator is None:
            draw, self.calls = self.calls, self.calls + 1
        else:
            draw = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
        return noise_seed(self.key, self.kind, self.level, draw)

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.level == 0:
            return x
        g = torch.Generator(device=x.device).manual_seed(self.batch_seed(generator))
        return self.fn(x, self.level, self.params, g)

    def __repr__(self) -> str:
        return f"ImageNoise({self.kind!r}, {self.level}, {self.params}, seed={self.seed})"


class EventNoise:
    """``event_transform(events)``: event noise on one sample's raw events before binning (picklable).

    Seeded per sample by ``hash(seed, kind, level, [epoch,] events_digest(events))``. ``epoch`` (None for evaluation)
    is set by :class:`TrainNoiseHooks` so training-time noise changes every epoch.
    """

    def __init__(
        self,
        kind: str,
        level: float,
        params: Mapping[str, Any] | None = None,
        seed: int = 0,
        *,
        sensor_size: tuple[int, int] | None = None,
        stream: str = "eval",
    ) -> None:
        _check_kind(kind, "event")
        self.kind, self.level, self.seed, self.stream = kind, float(level), int(seed), stream
        self.params = validate_noise(kind, self.level, params)
        self.sensor_size = None if sensor_size is None else (int(sensor_size[0]), int(sensor_size[1]))
        if kind in ("event_background", "event_spatial_jitter"):
            _need_sensor(kind, self.sensor_size)
        self.fn = NOISE.get(kind)
        self.epoch: int | None = None

    def sample_seed(self, events: np.ndarray) -> int:
        extra = [self.stream, self.epoch] if self.stream != "eval" else []
        return noise_seed(self.seed, self.kind, self.level, *extra, events_digest(events))

    def __call__(self, events: np.ndarray) -> np.ndarray:
        if self.level == 0:
            return events
        rng = np.random.default_rng(self.sample_seed(events))
        return self.fn(events, self.level, self.params, rng, self.sensor_size)

    def __repr__(self) -> str:
        return f"EventNoise({self.kind!r}, {self.level}, {self.params}, seed={self.seed})"


def make_image_transform(kind: str, level: float, params: Mapping[str, Any] | None = None, seed: int = 0) -> ImageNoise:
    """The ``input_transform(x, generator)`` hook of ``evaluate``/``fit`` for a static noise kind."""
    return ImageNoise(kind, level, params, seed)


def make_event_transform(
    kind: str,
    level: float,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    *,
    sensor_size: tuple[int, int] | None = None,
) -> EventNoise:
    """The ``event_transform(events)`` hook of ``load_data`` for an event noise kind.

    ``sensor_size`` is ``(width, height)`` in pixels (needed by ``event_background`` and ``event_spatial_jitter``);
    :func:`sensor_size_of` reads it from a dataset's info.
    """
    return EventNoise(kind, level, params, seed, sensor_size=sensor_size)


def sensor_size_of(info) -> tuple[int, int]:
    """``(width, height)`` of an event dataset from its :class:`~snnbench.data.DatasetInfo` frame shape."""
    _, height, width = info.shape
    return int(width), int(height)


@dataclass
class TrainNoiseHooks:
    """Training-time noise of a cell (``data.train_noise``), ready to wire into the training loop.

    * static kinds: ``image_transform`` goes to ``fit(..., input_transform=)``; it draws from the training stream,
      so the noise differs every batch and epoch; ``event_transform`` is None.
    * event kinds: ``event_transform`` goes to the *train* split only (``load_data(..., event_transform=)`` builds
      both splits, so take the test split from a clean ``load_data``); pass this object in ``fit(..., hooks=[...])``
      so ``on_epoch_begin`` gives each epoch fresh noise (the DataLoader is rebuilt every epoch, so worker
      processes see the new epoch).
    """

    kind: str
    level: float
    params: dict[str, Any]
    applies_to: str
    image_transform: ImageNoise | None = None
    event_transform: EventNoise | None = None

    def on_epoch_begin(self, epoch: int) -> None:
        if self.event_transform is not None:
            self.event_transform.epoch = epoch

    def on_epoch_end(self, epoch: int, record: dict[str, Any]) -> None:
        pass


def make_train_transform(train_noise, seed: int, info=None) -> TrainNoiseHooks | None:
    """Hooks for ``DataSpec.train_noise`` (a :class:`~snnbench.suite.schema.TrainNoise` or None -> None).

    ``info`` (the dataset's :class:`~snnbench.data.DatasetInfo`) checks that the kind fits the dataset and gives event
    kinds the sensor size. The train streams are seeded apart from the evaluation noise of the same kind and level.
    """
    if train_noise is None:
        return None
    kind, level = train_noise.kind, float(train_noise.level)
    kind_applies = applies_to(kind)
    where = "data.train_noise"
    if info is not None and info.kind != kind_applies:
        raise SuiteError(
            f"noise kind '{kind}' applies to {kind_applies} data but dataset '{info.name}' is {info.kind}",
            where=where,
            hint="valid: " + ", ".join(e.name for e in NOISE if e.meta["applies_to"] == info.kind),
        )
    params = validate_noise(kind, level, train_noise.params, where=where)
    hooks = TrainNoiseHooks(kind, level, params, kind_applies)
    train_seed = noise_seed(seed, "train", 0.0)
    if kind_applies == "static":
        hooks.image_transform = ImageNoise(kind, level, params, train_seed)
    else:
        sensor = sensor_size_of(info) if info is not None else None
        hooks.event_transform = EventNoise(kind, level, params, train_seed, sensor_size=sensor, stream="train")
        hooks.event_transform.epoch = 0
    return hooks


def check_noise_spec(spec, where: Callable[[tuple], str] | None = None) -> None:
    """Validate a :class:`~snnbench.suite.schema.CellSpec`'s noise params and levels beyond what the schema checks
    (unknown params, per-kind level limits, train_noise kind vs dataset kind). One-line SuiteError on a problem,
    located by ``where(key_path)`` (e.g. ``suites/x.yaml:23``; default: the dotted key path)."""
    where = where or (lambda path: ".".join(map(str, path)))
    try:
        for i, sweep in enumerate(spec.noise.sweeps):
            for level in sweep.levels:
                validate_noise(sweep.kind, level, sweep.params, where=where(("noise", "sweeps", i)))
        if spec.data.train_noise is not None:
            make_train_transform(spec.data.train_noise, spec.seed, dataset_info(spec.data.dataset))
    except SuiteError as exc:
        if exc.where == "data.train_noise":
            exc.where = where(("data", "train_noise"))
        raise
