r"""Binning raw events into T frames ``float32 [T, 2, H, W]`` of event counts.

Events are a tonic-format structured numpy array with fields ``x``, ``y``, ``t`` (µs) and ``p`` (any field order,
any integer or bool dtypes). The rules, exactly:

* **Polarity channels.** Channel 1 holds ON events (``p > 0``, or ``True``), channel 0 OFF events (``p <= 0``:
  tonic's 0 or ``False``, or -1). Same order as tonic's ``ToFrame``.
* **Time binning** (``binning='time'``, the default): per sample, equal-duration bins spanning that sample's own
  events. With ``t0 = min(t)`` and ``D = max(t) - t0 + 1`` µs, an event goes to bin ``(t - t0) * T // D`` (integer
  arithmetic), so the first event is in bin 0, the last in bin T-1, and every bin covers ``D / T`` µs.
* **Count binning** (``binning='count'``): events are ordered by time (stable, ties keep file order) and the i-th of
  N events goes to bin ``i * T // N``: every bin holds ``floor(N/T)`` or ``ceil(N/T)`` events.
* **Values.** ``frames[b, c, y, x]`` is the number of events of polarity ``c`` at pixel ``(x, y)`` in bin ``b``:
  counts, not clipped to 1.
* **Spatial downsampling** (``downsample=f``, default 1): pixel ``(x, y)`` maps to ``(x // f, y // f)`` and counts
  add up, so a 128×128 sensor becomes 32×32 with ``f=4`` (frame size ``ceil(W / f)``).
* Events outside the sensor (``x >= W`` or ``y >= H`` or negative, e.g. after a noise transform shifts them) are
  dropped. A sample with no events gives all-zero frames.
"""

from __future__ import annotations

import numpy as np

BINNINGS = ("time", "count")


def frame_shape(sensor_size: tuple[int, int], downsample: int = 1) -> tuple[int, int, int]:
    """``(2, H, W)`` of one frame for a sensor of ``(width, height)`` pixels (tonic's x-then-y order)."""
    width, height = sensor_size
    return 2, -(-height // downsample), -(-width // downsample)


def time_bins(t: np.ndarray, T: int) -> np.ndarray:
    """Equal-duration bin of each timestamp, per sample: ``(t - t0) * T // (t_max - t0 + 1)``."""
    t = t.astype(np.int64, copy=False)
    t0 = t.min()
    duration = int(t.max() - t0) + 1
    return ((t - t0) * T // duration).astype(np.int64)


def count_bins(t: np.ndarray, T: int) -> np.ndarray:
    """Equal-count bin of each event: the i-th event in time order goes to bin ``i * T // N``."""
    n = len(t)
    order = np.argsort(t, kind="stable")
    bins = np.empty(n, dtype=np.int64)
    bins[order] = np.arange(n, dtype=np.int64) * T // n
    return bins


def bin_events(
    events: np.ndarray,
    T: int,
    sensor_size: tuple[int, int],
    binning: str = "time",
    downsample: int = 1,
) -> np.ndarray:
    """Events → ``float32 [T, 2, H', W']`` counts (see the module docstring for the exact rules)."""
    if binning not in BINNINGS:
        raise ValueError(f"binning must be one of {BINNINGS}, got {binning!r}")
    if T < 1 or downsample < 1:
        raise ValueError(f"T and downsample must be >= 1, got T={T}, downsample={downsample}")
    width, height = sensor_size
    _, out_h, out_w = frame_shape(sensor_size, downsample)
    frames = np.zeros((T, 2, out_h, out_w), dtype=np.float32)
    if len(events) == 0:
        return frames
    x = events["x"].astype(np.int64)
    y = events["y"].astype(np.int64)
    keep = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    if not keep.all():
        events, x, y = events[keep], x[keep], y[keep]
        if len(events) == 0:
            return frames
    t = events["t"].astype(np.int64)
    bins = time_bins(t, T) if binning == "time" else count_bins(t, T)
    channel = (events["p"].astype(np.int64) > 0).astype(np.int64)
    flat = ((bins * 2 + channel) * out_h + y // downsample) * out_w + x // downsample
    counts = np.bincount(flat, minlength=frames.size)
    frames.reshape(-1)[:] = counts
    return frames
