"""GPU power and energy per named window, over NVML.

Energy comes from NVML's total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``, mJ, Volta and newer)
differenced between :meth:`begin` and :meth:`end`. Where the counter is missing, or went backwards inside a window
(wrap, driver reset), the window energy is the trapezoid integral of power samples (``nvmlDeviceGetPowerUsage``, mW)
taken by a background daemon thread every ``interval_s``, interpolated at the window edges. The sampler always runs:
it makes the timeline and the mean/peak power. Missing energy is NaN with a reason, never 0. See ``docs/power.md``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
import warnings
import weakref
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

from snnbench.errors import DeviceError
from snnbench.measure import nvml as _nvml
from snnbench.measure.nvml import NvmlUnavailable, describe_error, nvml_status

__all__ = [
    "ENERGY_COUNTER_UPDATE_S",
    "NullPowerMeter",
    "NvmlPowerMeter",
    "NvmlUnavailable",
    "PowerMeter",
    "PowerResolutionWarning",
    "PowerWindow",
    "PowerWindowError",
    "TIMELINE_FIELDS",
    "create_power_meter",
    "integrate_power",
    "nvml_status",
]

log = logging.getLogger(__name__)

ENERGY_COUNTER_UPDATE_S = 0.1
"""Upper bound of the total-energy counter's update period (about 20-100 ms depending on GPU and driver)."""
MIN_SAMPLED_INTERVALS = 2
"""A sampled-power window shorter than this many sampling intervals is flagged as coarse."""
REQUIRED_HINT = "install nvidia-ml-py and run on a machine with an NVIDIA driver, or set power.mode: optional"
NO_GPU_HINT = "run with --device cuda on a machine with an NVIDIA GPU, or set power.mode: optional"
TIMELINE_FIELDS = ("t_s", "power_w", "gpu_util_pct", "mem_used_mib", "sm_clock_mhz", "temperature_c")

Clock = Callable[[], float]


class PowerResolutionWarning(UserWarning):
    """A window is shorter than the energy counter's update period or two sampling intervals."""


class PowerWindowError(ValueError):
    """``begin`` of a window already open, or ``end`` of one never begun (a bug in the caller)."""


@dataclass(frozen=True)
class PowerWindow:
    name: str
    duration_s: float
    energy_j: float  # NaN when unavailable, never 0.0 for missing
    mean_power_w: float
    peak_power_w: float
    method: str  # "energy_counter" | "sampled_power" | "unavailable"
    reason: str | None
    num_samples: int
    gpu_name: str | None

    def to_dict(self, json_safe: bool = False) -> dict[str, Any]:
        """Plain dict; ``json_safe=True`` turns NaN into ``None`` for strict JSON writers."""
        out = asdict(self)
        if json_safe:
            out = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in out.items()}
        return out


@runtime_checkable
class PowerMeter(Protocol):
    method: str
    reason: str | None
    gpu_name: str | None

    def begin(self, name: str) -> None: ...
    def end(self, name: str) -> PowerWindow: ...
    def timeline(self) -> list[dict[str, Any]]: ...
    def close(self) -> None: ...
    def __enter__(self) -> PowerMeter: ...
    def __exit__(self, *exc: object) -> None: ...


def integrate_power(times: Sequence[float], powers: Sequence[float], t0: float, t1: float) -> float:
    """Trapezoid integral (J) of sorted samples over ``[t0, t1]``, linearly interpolated at the edges.

    Outside the sampled range the nearest sample is held. NaN when there are no samples.
    """
    if t1 < t0:
        raise ValueError(f"window end {t1} is before its start {t0}")
    if not times:
        return math.nan
    xs = [t0, *times[bisect_right(times, t0) : bisect_left(times, t1)], t1]
    ps = [_interp(times, powers, t0), *powers[bisect_right(times, t0) : bisect_left(times, t1)]]
    ps.append(_interp(times, powers, t1))
    return sum((xs[i + 1] - xs[i]) * (ps[i + 1] + ps[i]) / 2.0 for i in range(len(xs) - 1))


def _interp(times: Sequence[float], powers: Sequence[float], x: float) -> float:
    i = bisect_right(times, x)
    if i == 0:
        return powers[0]
    if i == len(times):
        return powers[-1]
    ta, tb, pa, pb = times[i - 1], times[i], powers[i - 1], powers[i]
    return pa if tb == ta else pa + (pb - pa) * (x - ta) / (tb - ta)


@dataclass
class _Open:
    t0: float
    counter_mj: int | None


class _MeterBase:
    method: str
    reason: str | None
    gpu_name: str | None = None

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._t_start = clock()
        self._open: dict[str, _Open] = {}

    def _check_begin(self, name: str) -> None:
        if name in self._open:
            raise PowerWindowError(f"power window '{name}' is already open; end it first or use another name")

    def _check_end(self, name: str) -> None:
        if name not in self._open:
            opened = ", ".join(f"'{n}'" for n in self._open) or "none"
            raise PowerWindowError(f"power window '{name}' was never begun (open windows: {opened})")

    def _unavailable(self, name: str, duration_s: float, reason: str | None, num_samples: int = 0) -> PowerWindow:
        nan = math.nan
        return PowerWindow(name, duration_s, nan, nan, nan, "unavailable", reason, num_samples, self.gpu_name)

    def close(self) -> None:
        pass

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NullPowerMeter(_MeterBase):
    """Same interface, measures nothing: every window has ``energy_j=NaN``, ``method="unavailable"`` and the reason."""

    def __init__(self, reason: str, *, clock: Clock = time.perf_counter) -> None:
        super().__init__(clock)
        self.method = "unavailable"
        self.reason = reason

    def begin(self, name: str) -> None:
        self._check_begin(name)
        self._open[name] = _Open(self._clock(), None)

    def end(self, name: str) -> PowerWindow:
        self._check_end(name)
        return self._unavailable(name, self._clock() - self._open.pop(name).t0, self.reason)

    def timeline(self) -> list[dict[str, Any]]:
        return []


class NvmlPowerMeter(_MeterBase):
    """Power and energy of one GPU (NVML index ``device_index``; :func:`create_power_meter` maps CUDA ordinals).

    ``interval_s=None`` starts no thread: samples are then taken only at window edges and by :meth:`sample_once`
    (deterministic tests). ``sync`` (e.g. ``torch.cuda.synchronize``) is called at both edges of every window.
    """

    def __init__(
        self,
        device_index: int = 0,
        interval_s: float | None = 0.1,
        sync: Callable[[], object] | None = None,
        *,
        clock: Clock = time.perf_counter,
    ) -> None:
        if interval_s is not None and interval_s <= 0:
            raise ValueError(f"interval_s must be positive or None, got {interval_s}")
        try:
            nvml = _nvml._import_pynvml()
        except ImportError as exc:
            raise NvmlUnavailable(f"pynvml not installed ({exc})") from exc
        try:
            nvml.nvmlInit()
        except Exception as exc:
            raise NvmlUnavailable(f"NVML init failed: {describe_error(exc)}") from exc
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(device_index)
            nvml.nvmlDeviceGetPowerUsage(handle)
        except Exception as exc:
            _safe_shutdown(nvml)
            raise NvmlUnavailable(f"NVML cannot read power of GPU {device_index}: {describe_error(exc)}") from exc
        super().__init__(clock)
        self._nvml, self._handle, self.device_index = nvml, handle, device_index
        self.interval_s, self._sync = interval_s, sync
        self.gpu_name = _nvml.device_name(nvml, handle)
        self._use_counter, self._base_reason = _nvml.energy_counter_supported(nvml, handle)
        self.method = "energy_counter" if self._use_counter else "sampled_power"
        self.reason: str | None = None if self._use_counter else self._base_reason + "; integrating sampled power"
        self._error: str | None = None
        self._lock = threading.Lock()
        self._times: list[float] = []
        self._powers: list[float] = []
        self._extras: list[tuple[float | None, ...]] = []
        self._extra_readers: dict[str, Callable[[], float] | None] = self._make_extra_readers()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if interval_s is not None:
            self._thread = threading.Thread(
                target=_sampler_loop,
                args=(weakref.ref(self), self._stop, interval_s),
                name="snnbench-power",
                daemon=True,
            )
        join_s = 1.0 + 2.0 * (interval_s or 0.0)
        self._finalizer = weakref.finalize(self, _shutdown, self._stop, self._thread, nvml, join_s)
        if self._thread is not None:
            self._thread.start()

    # -- sampling ----------------------------------------------------------------------------------------------
    def _make_extra_readers(self) -> dict[str, Callable[[], float] | None]:
        nvml, h = self._nvml, self._handle
        clock_sm, temp_gpu = getattr(nvml, "NVML_CLOCK_SM", 1), getattr(nvml, "NVML_TEMPERATURE_GPU", 0)
        return {
            "gpu_util_pct": lambda: float(nvml.nvmlDeviceGetUtilizationRates(h).gpu),
            "mem_used_mib": lambda: float(nvml.nvmlDeviceGetMemoryInfo(h).used) / 2**20,
            "sm_clock_mhz": lambda: float(nvml.nvmlDeviceGetClockInfo(h, clock_sm)),
            "temperature_c": lambda: float(nvml.nvmlDeviceGetTemperature(h, temp_gpu)),
        }

    def _read_extras(self) -> tuple[float | None, ...]:
        values: list[float | None] = []
        for key, reader in self._extra_readers.items():
            value = None
            if reader is not None:
                try:
                    value = reader()
                except Exception as exc:  # optional field: drop it for the rest of the run
                    log.debug("NVML %s unavailable: %s", key, describe_error(exc))
                    self._extra_readers[key] = None
            values.append(value)
        return tuple(values)

    def sample_once(self) -> dict[str, Any] | None:
        """Take one sample now; the timeline row, or ``None`` once closed or failed."""
        return self._sample(self._clock())

    def _sample(self, t: float) -> dict[str, Any] | None:
        if self._stop.is_set():
            return None
        try:
            power_w = float(self._nvml.nvmlDeviceGetPowerUsage(self._handle)) / 1000.0
            extras = self._read_extras()
        except Exception as exc:
            self._fail(f"NVML error while sampling power: {describe_error(exc)}")
            return None
        with self._lock:
            i = bisect_right(self._times, t)
            self._times.insert(i, t)
            self._powers.insert(i, power_w)
            self._extras.insert(i, extras)
        return self._row(t, power_w, extras)

    def _row(self, t: float, power_w: float, extras: tuple[float | None, ...]) -> dict[str, Any]:
        return {"t_s": t - self._t_start, "power_w": power_w, **dict(zip(self._extra_readers, extras, strict=True))}

    def _fail(self, message: str) -> None:
        with self._lock:
            if self._error is not None:
                return
            self._error = message
            self.method, self.reason = "unavailable", message
        self._stop.set()
        log.warning("power measurement stopped: %s", message)

    def _read_counter(self) -> int | None:
        if not self._use_counter or self._stop.is_set():
            return None
        try:
            return int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))
        except Exception as exc:
            if _nvml.is_not_supported(self._nvml, exc):
                return None
            self._fail(f"NVML error while reading the energy counter: {describe_error(exc)}")
            return None

    # -- windows -----------------------------------------------------------------------------------------------
    def begin(self, name: str) -> None:
        self._check_begin(name)
        if self._sync is not None:
            self._sync()
        t0 = self._clock()
        counter = self._read_counter()
        self._sample(t0)
        self._open[name] = _Open(t0, counter)

    def end(self, name: str) -> PowerWindow:
        self._check_end(name)
        if self._sync is not None:
            self._sync()
        t1 = self._clock()
        counter = self._read_counter() if self._open[name].counter_mj is not None else None
        self._sample(t1)
        return self._window(name, self._open.pop(name), t1, counter)

    def _window(self, name: str, w: _Open, t1: float, counter_mj: int | None) -> PowerWindow:
        duration = t1 - w.t0
        with self._lock:
            error = self._error
            times, powers = list(self._times), list(self._powers)
        lo, hi = bisect_left(times, w.t0), bisect_right(times, t1)
        num = hi - lo
        if error is not None:
            return self._unavailable(name, duration, error, num)
        if not self._finalizer.alive:
            return self._unavailable(name, duration, "power meter closed before the window ended", num)
        integral = integrate_power(times, powers, w.t0, t1)
        peak = max(powers[lo:hi], default=math.nan)
        reason: str | None
        if w.counter_mj is not None and counter_mj is not None and counter_mj >= w.counter_mj:
            method, energy, reason = "energy_counter", (counter_mj - w.counter_mj) / 1000.0, None
        elif w.counter_mj is not None and counter_mj is not None:
            method, energy = "sampled_power", integral
            reason = (
                f"energy counter went backwards ({w.counter_mj} -> {counter_mj} mJ: wrap or driver reset); "
                "integrated sampled power instead"
            )
        else:
            method, energy = "sampled_power", integral
            reason = self._base_reason if not self._use_counter else "energy counter read not supported"
        if math.isnan(energy):
            return self._unavailable(name, duration, "no power samples in the window", num)
        note = None
        if method == "energy_counter" and duration < ENERGY_COUNTER_UPDATE_S:
            note = (
                f"window of {duration:.3g} s is shorter than the energy counter update period "
                f"(~{ENERGY_COUNTER_UPDATE_S} s)"
            )
        elif method == "sampled_power" and self.interval_s and duration < MIN_SAMPLED_INTERVALS * self.interval_s:
            note = f"window of {duration:.3g} s is shorter than {MIN_SAMPLED_INTERVALS} sampling intervals"
        if note:
            warnings.warn(f"power window '{name}': {note}; energy is coarse", PowerResolutionWarning, stacklevel=3)
            reason = f"{reason}; {note}" if reason else note
        mean = energy / duration if duration > 0 else math.nan
        return PowerWindow(name, duration, energy, mean, peak, method, reason, num, self.gpu_name)

    def timeline(self) -> list[dict[str, Any]]:
        """Every sample so far: ``t_s`` since meter start, ``power_w`` and the NVML extras (``None`` if unsupported)."""
        with self._lock:
            rows = list(zip(self._times, self._powers, self._extras, strict=True))
        return [self._row(t, p, e) for t, p, e in rows]

    @property
    def sampler_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        """Stop and join the sampler, shut NVML down. Idempotent; also runs at interpreter exit and on GC."""
        self._finalizer()


def _sampler_loop(ref: weakref.ref[NvmlPowerMeter], stop: threading.Event, interval_s: float) -> None:
    """Sample every ``interval_s`` until stopped, failed, or the meter is garbage-collected."""
    next_t = time.monotonic()
    while not stop.is_set():
        meter = ref()
        if meter is None:
            return
        try:
            meter.sample_once()
        except Exception as exc:  # never die silently
            meter._fail(f"power sampler crashed: {describe_error(exc)}")
        del meter
        next_t += interval_s
        now = time.monotonic()
        next_t = max(next_t, now)
        stop.wait(next_t - now)


def _shutdown(stop: threading.Event, thread: threading.Thread | None, nvml: Any, join_s: float) -> None:
    stop.set()
    if thread is not None and thread is not threading.current_thread():  # else: GC'd from the sampler, which exits
        if thread.is_alive():
            thread.join(join_s)
        if thread.is_alive():
            return  # stuck inside an NVML call: leave NVML initialised rather than pull it from under the thread
    _safe_shutdown(nvml)


def _safe_shutdown(nvml: Any) -> None:
    with contextlib.suppress(Exception):
        nvml.nvmlShutdown()


def create_power_meter(
    device: Any,
    interval_s: float | None = 0.1,
    required: bool = False,
    *,
    sync: Callable[[], object] | None | str = "auto",
    clock: Clock = time.perf_counter,
) -> PowerMeter:
    """A meter for ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a ``torch.device``).

    Not measurable (cpu, no CUDA, no pynvml, NVML init failure) gives a :class:`NullPowerMeter` with the reason, or
    with ``required=True`` raises :class:`~snnbench.errors.DeviceError`. ``sync="auto"`` synchronises the CUDA device
    at window edges; pass ``None`` to skip or any callable.
    """
    text = str(device)
    kind, _, index_text = text.partition(":")

    def unavailable(reason: str, hint: str = REQUIRED_HINT) -> NullPowerMeter:
        if required:
            raise DeviceError(f"GPU power measurement unavailable: {reason}", where="power", hint=hint)
        return NullPowerMeter(reason, clock=clock)

    if kind == "cpu":
        return unavailable("device is cpu", NO_GPU_HINT)
    if kind != "cuda":
        return unavailable(f"device is {text}; NVML measures NVIDIA GPUs only", NO_GPU_HINT)
    try:
        cuda_index, pci = _nvml.cuda_device(int(index_text) if index_text else None)
    except NvmlUnavailable as exc:
        return unavailable(str(exc), NO_GPU_HINT)
    try:
        nvml = _nvml._import_pynvml()
    except ImportError:
        return unavailable("pynvml not installed")
    try:
        nvml.nvmlInit()
    except Exception as exc:
        return unavailable(f"NVML init failed: {describe_error(exc)}")
    try:
        nvml_index = _nvml.nvml_index_for_cuda(nvml, cuda_index, pci)
    except Exception as exc:
        return unavailable(f"NVML device lookup failed: {describe_error(exc)}")
    finally:
        _safe_shutdown(nvml)
    if sync == "auto":
        sync = _cuda_sync(cuda_index)
    elif isinstance(sync, str):
        raise ValueError(f"sync must be 'auto', None or a callable, got {sync!r}")
    try:
        return NvmlPowerMeter(nvml_index, interval_s, sync, clock=clock)
    except NvmlUnavailable as exc:
        return unavailable(str(exc))


def _cuda_sync(index: int) -> Callable[[], None]:
    import torch

    return lambda: torch.cuda.synchronize(index)
