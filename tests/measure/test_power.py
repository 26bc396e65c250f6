"""GPU power/energy meter against a scriptable fake ``pynvml`` and a manual clock (no GPU, no driver needed)."""

from __future__ import annotations

import gc
import math
import sys
import threading
import time
import types
import warnings
from types import SimpleNamespace

import pytest

from snnbench.errors import DeviceError
from snnbench.measure import nvml as nvml_mod
from snnbench.measure.power import (
    TIMELINE_FIELDS,
    NullPowerMeter,
    NvmlPowerMeter,
    NvmlUnavailable,
    PowerMeter,
    PowerResolutionWarning,
    PowerWindowError,
    create_power_meter,
    integrate_power,
    nvml_status,
)

NOT_SUPPORTED = 3


class FakeNVMLError(Exception):
    def __init__(self, value: int = 999, msg: str = "Unknown Error") -> None:
        super().__init__(msg)
        self.value = value


class FakeNotSupported(FakeNVMLError):
    def __init__(self) -> None:
        super().__init__(NOT_SUPPORTED, "Not Supported")


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class FakeNvml:
    """Scriptable NVML: ``power_w(t)`` follows ``clock``; ``energy_mj`` is a settable counter (None: NotSupported)."""

    def __init__(self, clock=None, power_w=lambda t: 200.0, energy_mj: int | None = 0, gpus: int = 1) -> None:
        self.clock = clock or time.perf_counter
        self.power_w = power_w
        self.energy_mj = energy_mj
        self.gpus = gpus
        self.counter_gpus = set(range(gpus))  # GPUs that have the total-energy counter
        self.init_error: Exception | None = None
        self.power_error: Exception | None = None
        self.fail_power_after: int | None = None  # raise power_error after this many power reads
        self.power_calls = 0
        self.inits = 0
        self.shutdowns = 0

    def module(self) -> types.ModuleType:
        mod = types.ModuleType("pynvml")
        mod.NVMLError = FakeNVMLError
        mod.NVMLError_NotSupported = FakeNotSupported
        mod.NVML_ERROR_NOT_SUPPORTED = NOT_SUPPORTED
        mod.NVML_CLOCK_SM = 1
        mod.NVML_TEMPERATURE_GPU = 0
        for name in dir(self):
            if name.startswith("nvml"):
                setattr(mod, name, getattr(self, name))
        return mod

    def nvmlInit(self):
        if self.init_error is not None:
            raise self.init_error
        self.inits += 1

    def nvmlShutdown(self):
        self.shutdowns += 1

    def nvmlSystemGetDriverVersion(self):
        return b"550.54.15"

    def nvmlDeviceGetCount(self):
        return self.gpus

    def nvmlDeviceGetHandleByIndex(self, index):
        if not 0 <= index < self.gpus:
            raise FakeNVMLError(2, "Invalid Argument")
        return ("gpu", index)

    def nvmlDeviceGetIndex(self, handle):
        return handle[1]

    def nvmlDeviceGetName(self, handle):
        return f"Fake GPU {handle[1]}"

    def nvmlDeviceGetPciInfo(self, handle):
        return SimpleNamespace(domain=0, bus=0x10 * (handle[1] + 1), device=0)

    def nvmlDeviceGetEnforcedPowerLimit(self, handle):
        return 700_000

    def nvmlDeviceGetPowerUsage(self, handle):
        self.power_calls += 1
        if self.fail_power_after is not None and self.power_calls > self.fail_power_after:
            raise self.power_error or FakeNVMLError(15, "GPU is lost")
        return int(round(self.power_w(self.clock()) * 1000))

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if self.energy_mj is None or handle[1] not in self.counter_gpus:
            raise FakeNotSupported()
        return self.energy_mj

    def nvmlDeviceGetUtilizationRates(self, handle):
        return SimpleNamespace(gpu=87, memory=40)

    def nvmlDeviceGetMemoryInfo(self, handle):
        return SimpleNamespace(used=512 * 2**20, total=80 * 2**30)

    def nvmlDeviceGetClockInfo(self, handle, kind):
        return 1980

    def nvmlDeviceGetTemperature(self, handle, kind):
        raise FakeNotSupported()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def fake(monkeypatch, clock):
    nvml = FakeNvml(clock)
    monkeypatch.setitem(sys.modules, "pynvml", nvml.module())
    return nvml


@pytest.fixture
def no_pynvml(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import raises ImportError


@pytest.fixture
def one_cuda_device(monkeypatch):
    """Pretend torch sees cuda:0 without a PCI bus id (this machine has no GPU)."""
    monkeypatch.setattr(nvml_mod, "cuda_device", lambda index: (index or 0, None))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def manual_meter(clock, **kw) -> NvmlPowerMeter:
    return NvmlPowerMeter(0, interval_s=None, clock=clock, **kw)


def wait_until(predicate, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


# -- energy counter ----------------------------------------------------------------------------------------------
def test_counter_difference_is_exact(fake, clock):
    fake.energy_mj = 1000
    with manual_meter(clock) as meter, warnings.catch_warnings():
        warnings.simplefilter("error", PowerResolutionWarning)
        assert meter.method == "energy_counter" and meter.reason is None
        meter.begin("w")
        clock.t, fake.energy_mj = 1.0, 4500
        w = meter.end("w")
    assert w.energy_j == 3.5
    assert w.method == "energy_counter" and w.reason is None
    assert w.duration_s == 1.0 and w.mean_power_w == 3.5
    assert w.peak_power_w == 200.0 and w.num_samples == 2  # edge samples
    assert w.gpu_name == "Fake GPU 0"
    assert w.to_dict()["energy_j"] == 3.5


def test_counter_going_backwards_falls_back_to_samples(fake, clock):
    fake.power_w = lambda t: 150.0
    fake.energy_mj = 9_000_000
    meter = manual_meter(clock)
    meter.begin("w")
    for k in range(1, 21):
        clock.t = k * 0.1
        if k == 10:
            fake.energy_mj = 200  # driver reset
        if k < 20:
            meter.sample_once()
    w = meter.end("w")
    meter.close()
    assert w.method == "sampled_power"
    assert w.energy_j == pytest.approx(300.0, rel=1e-9)
    assert "backwards" in w.reason and "wrap or driver reset" in w.reason
    assert meter.method == "energy_counter"  # later windows still use the counter


def test_nested_and_overlapping_windows(fake, clock):
    meter = manual_meter(clock)
    meter.begin("train")
    clock.t, fake.energy_mj = 1.0, 1000
    meter.begin("epoch_1")
    clock.t, fake.energy_mj = 2.0, 3000
    e1 = meter.end("epoch_1")
    meter.begin("epoch_2")
    clock.t, fake.energy_mj = 3.0, 4000
    meter.begin("eval")  # overlaps epoch_2, not nested in it
    clock.t, fake.energy_mj = 3.5, 6000
    e2 = meter.end("epoch_2")
    clock.t, fake.energy_mj = 4.0, 7000
    ev = meter.end("eval")
    train = meter.end("train")
    meter.close()
    assert (e1.energy_j, e2.energy_j, ev.energy_j, train.energy_j) == (2.0, 3.0, 3.0, 7.0)
    assert (e1.duration_s, e2.duration_s, ev.duration_s, train.duration_s) == (1.0, 1.5, 1.0, 4.0)
    assert train.num_samples == 8  # begin/end edges of every window inside [0, 4]


def test_window_name_errors(fake, clock):
    for meter in (manual_meter(clock), NullPowerMeter("device is cpu", clock=clock)):
        with pytest.raises(PowerWindowError, match="'nope' was never begun"):
            meter.end("nope")
        meter.begin("a")
        with pytest.raises(PowerWindowError, match="already open"):
            meter.begin("a")
        clock.t += 1.0
        meter.end("a")
        with pytest.raises(PowerWindowError, match="never begun"):
            meter.end("a")
        meter.close()


def test_short_counter_window_warns(fake, clock):
    meter = manual_meter(clock)
    meter.begin("tiny")
    clock.t, fake.energy_mj = 0.01, 5
    with pytest.warns(PowerResolutionWarning, match="tiny"):
        w = meter.end("tiny")
    meter.close()
    assert w.method == "energy_counter" and w.energy_j == 0.005
    assert "shorter than the energy counter update period" in w.reason


def test_sync_called_at_both_edges(fake, clock):
    calls = []
    meter = manual_meter(clock, sync=lambda: calls.append(clock.t))
    meter.begin("w")
    clock.t = 1.0
    meter.end("w")
    meter.close()
    assert calls == [0.0, 1.0]


# -- sampled power -----------------------------------------------------------------------------------------------
def ramp_samples(meter, clock, t_end=2.0, step=0.1):
    meter.begin("w")
    for k in range(1, round(t_end / step)):
        clock.t = k * step
        meter.sample_once()
    clock.t = t_end
    return meter.end("w")


def test_missing_counter_integrates_linear_ramp(fake, clock):
    fake.energy_mj = None  # NVMLError_NotSupported on the energy call
    fake.power_w = lambda t: 100.0 + 100.0 * t  # 100 -> 300 W over 2 s = 400 J
    meter = manual_meter(clock)
    assert meter.method == "sampled_power" and "not supported" in meter.reason
    w = ramp_samples(meter, clock)
    meter.close()
    assert w.method == "sampled_power" and "not supported" in w.reason
    assert w.energy_j == pytest.approx(400.0, rel=0.01)
    assert w.mean_power_w == pytest.approx(200.0, rel=0.01)
    assert w.peak_power_w == pytest.approx(300.0)
    assert w.num_samples == 21


def test_sampled_power_uses_interior_samples(fake, clock):
    fake.energy_mj = None
    fake.power_w = lambda t: 100.0 + 50.0 * t * t  # exact 333.33 J; the two edge samples alone would give 400 J
    meter = manual_meter(clock)
    w = ramp_samples(meter, clock)
    meter.close()
    assert w.energy_j == pytest.approx(200.0 + 400.0 / 3.0, rel=0.01)


def test_integrate_power_interpolates_at_edges():
    times = [k * 0.1 for k in range(31)]
    powers = [100.0 + 100.0 * t for t in times]
    assert integrate_power(times, powers, 0.25, 2.25) == pytest.approx(450.0, rel=1e-9)
    assert integrate_power(times, powers, 0.12, 0.18) == pytest.approx(6.9, rel=1e-9)  # inside one interval
    assert integrate_power(times, powers, 4.0, 5.0) == pytest.approx(400.0)  # held after the last sample
    assert math.isnan(integrate_power([], [], 0.0, 1.0))
    with pytest.raises(ValueError):
        integrate_power(times, powers, 1.0, 0.5)


def test_short_sampled_window_warns(fake, clock):
    fake.energy_mj = None
    meter = NvmlPowerMeter(0, interval_s=1.0, clock=clock)
    try:
        meter.begin("w")
        clock.t = 0.5
        with pytest.warns(PowerResolutionWarning, match="sampling intervals"):
            w = meter.end("w")
    finally:
        meter.close()
    assert w.energy_j == pytest.approx(100.0) and "sampling intervals" in w.reason


def test_timeline_rows(fake, clock):
    fake.power_w = lambda t: 100.0 + t
    meter = manual_meter(clock)
    clock.t = 0.5
    meter.sample_once()
    clock.t = 0.25  # out-of-order timestamps still end up sorted
    meter.sample_once()
    rows = meter.timeline()
    meter.close()
    assert [r["t_s"] for r in rows] == [0.25, 0.5]
    assert rows[1]["power_w"] == pytest.approx(100.5)
    assert set(rows[0]) == set(TIMELINE_FIELDS)
    assert rows[0]["gpu_util_pct"] == 87 and rows[0]["mem_used_mib"] == 512 and rows[0]["sm_clock_mhz"] == 1980
    assert rows[0]["temperature_c"] is None  # NotSupported extra is dropped, not fatal


# -- threads, failures, shutdown ---------------------------------------------------------------------------------
def test_nvml_error_mid_run_stops_sampler(fake):
    fake.clock = time.perf_counter
    fake.fail_power_after = 5
    meter = NvmlPowerMeter(0, interval_s=0.002)
    meter.begin("w")
    assert wait_until(lambda: not meter.sampler_alive), "sampler did not stop after an NVML error"
    assert meter.method == "unavailable" and "GPU is lost" in meter.reason
    w = meter.end("w")
    assert math.isnan(w.energy_j) and w.method == "unavailable" and "GPU is lost" in w.reason
    assert 1 <= len(meter.timeline()) <= 5
    started = time.monotonic()
    meter.close()
    assert time.monotonic() - started < 1.0
    assert fake.shutdowns == fake.inits


def test_close_joins_thread_and_is_idempotent(fake):
    fake.clock = time.perf_counter
    meter = NvmlPowerMeter(0, interval_s=0.002)
    assert wait_until(lambda: len(meter.timeline()) >= 3), "sampler produced no samples"
    thread = meter._thread
    meter.close()
    assert not thread.is_alive() and not meter.sampler_alive
    meter.close()
    assert fake.inits == 1 and fake.shutdowns == 1
    with NvmlPowerMeter(0, interval_s=0.002) as other:
        thread = other._thread
        assert thread.is_alive()
    assert not thread.is_alive() and fake.shutdowns == 2


def test_garbage_collected_meter_stops_its_thread(fake):
    fake.clock = time.perf_counter
    meter = NvmlPowerMeter(0, interval_s=0.002)
    thread = meter._thread
    del meter
    gc.collect()
    assert wait_until(lambda: not thread.is_alive())
    assert fake.shutdowns == 1


def test_windows_after_close_are_nan(fake, clock):
    meter = manual_meter(clock)
    meter.begin("w")
    meter.close()
    clock.t = 1.0
    w = meter.end("w")
    assert math.isnan(w.energy_j) and "closed" in w.reason


# -- factory, missing library, required --------------------------------------------------------------------------
def test_missing_library_gives_null_meter_with_nan(no_pynvml, one_cuda_device, clock):
    meter = create_power_meter("cuda", clock=clock)
    assert isinstance(meter, NullPowerMeter) and isinstance(meter, PowerMeter)
    assert meter.method == "unavailable" and meter.reason == "pynvml not installed"
    meter.begin("w")
    clock.t = 2.0
    w = meter.end("w")
    assert math.isnan(w.energy_j) and w.energy_j != 0.0
    assert math.isnan(w.mean_power_w) and math.isnan(w.peak_power_w)
    assert w.duration_s == 2.0 and w.method == "unavailable" and w.reason == "pynvml not installed"
    assert w.to_dict(json_safe=True)["energy_j"] is None
    assert meter.timeline() == []
    with pytest.raises(NvmlUnavailable, match="pynvml not installed"):
        NvmlPowerMeter(0)


def test_cpu_device_gives_null_meter():
    meter = create_power_meter("cpu")
    assert isinstance(meter, NullPowerMeter) and meter.reason == "device is cpu"


def test_init_failure_gives_null_meter(fake, one_cuda_device):
    fake.init_error = FakeNVMLError(9, "Driver Not Loaded")
    meter = create_power_meter("cuda:0", sync=None)
    assert isinstance(meter, NullPowerMeter)
    assert meter.reason.startswith("NVML init failed") and "Driver Not Loaded" in meter.reason


@pytest.mark.parametrize("case", ["no_pynvml", "init_fails", "cpu"])
def test_required_raises_one_line_device_error(case, monkeypatch, one_cuda_device):
    device = "cpu" if case == "cpu" else "cuda"
    if case == "no_pynvml":
        monkeypatch.setitem(sys.modules, "pynvml", None)
    else:
        nvml = FakeNvml()
        nvml.init_error = FakeNVMLError(12, "NVML Shared Library Not Found")
        monkeypatch.setitem(sys.modules, "pynvml", nvml.module())
    with pytest.raises(DeviceError) as info:
        create_power_meter(device, required=True, sync=None)
    text = str(info.value)
    assert "\n" not in text and text.startswith("power: GPU power measurement unavailable") and "hint:" in text
    assert ("--device cuda" if case == "cpu" else "nvidia-ml-py") in text
    assert info.value.exit_code == 2


def test_factory_maps_cuda_device_by_pci_bus_id(fake, monkeypatch, clock):
    fake.gpus = 3
    monkeypatch.setattr(nvml_mod, "cuda_device", lambda index: (0, (0, 0x30, 0)))  # NVML GPU 2 is at bus 0x30
    meter = create_power_meter("cuda", interval_s=None, sync=None, clock=clock)
    assert isinstance(meter, NvmlPowerMeter) and meter.device_index == 2 and meter.gpu_name == "Fake GPU 2"
    meter.close()
    assert fake.inits == fake.shutdowns


def test_factory_falls_back_to_cuda_visible_devices(fake, monkeypatch, clock):
    fake.gpus = 2
    monkeypatch.setattr(nvml_mod, "cuda_device", lambda index: (index, None))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,0")
    meter = create_power_meter("cuda:0", interval_s=None, sync=None, clock=clock)
    assert meter.device_index == 1
    meter.close()


# -- nvml_status -------------------------------------------------------------------------------------------------
def test_nvml_status_with_fake(fake):
    fake.gpus = 2
    fake.counter_gpus = {0}
    status = nvml_status()
    assert status["pynvml_available"] and status["init_ok"] and status["error"] is None
    assert status["driver_version"] == "550.54.15"
    gpu0, gpu1 = status["gpus"]
    assert gpu0 == {
        "index": 0,
        "name": "Fake GPU 0",
        "pci_bus_id": "00000000:10:00.0",
        "energy_counter_supported": True,
        "energy_counter_note": None,
        "power_limit_w": 700.0,
    }
    assert gpu1["energy_counter_supported"] is False and "not supported" in gpu1["energy_counter_note"]
    assert fake.inits == fake.shutdowns == 1


def test_nvml_status_without_library(no_pynvml):
    status = nvml_status()
    assert not status["pynvml_available"] and not status["init_ok"] and status["gpus"] == []
    assert "nvidia-ml-py" in status["error"]


def test_nvml_status_init_failure(fake):
    fake.init_error = FakeNVMLError(9, "Driver Not Loaded")
    status = nvml_status()
    assert status["pynvml_available"] and not status["init_ok"]
    assert "NVML init failed" in status["error"] and "Driver Not Loaded" in status["error"]


def test_no_thread_left_behind():
    leftovers = [t for t in threading.enumerate() if t.name == "snnbench-power" and t.is_alive()]
    assert leftovers == []
