"""The thin NVML boundary: every ``pynvml`` import goes through :func:`_import_pynvml`.

Tests substitute a fake module with ``monkeypatch.setitem(sys.modules, "pynvml", fake)`` (or ``None`` to simulate a
missing library). Nothing here runs at import time, so ``snnbench`` imports fine without ``nvidia-ml-py`` or a driver.
"""

from __future__ import annotations

import contextlib
import os
from types import ModuleType
from typing import Any


class NvmlUnavailable(RuntimeError):
    """NVML cannot measure this device; the message is the one-line reason."""


def _import_pynvml() -> ModuleType:
    """Import ``pynvml`` (package ``nvidia-ml-py``); raises :class:`ImportError` when it is not installed."""
    import pynvml

    return pynvml


def to_str(value: Any) -> str:
    """NVML strings come back as ``bytes`` from old bindings and ``str`` from new ones."""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def describe_error(exc: BaseException) -> str:
    """``NVMLError_NotSupported: Not Supported`` style text, one line."""
    text = " ".join(str(exc).split())
    name = type(exc).__name__
    return f"{name}: {text}" if text and text != name else name


def is_not_supported(nvml: ModuleType, exc: BaseException) -> bool:
    """True when ``exc`` is NVML's ``NOT_SUPPORTED`` (the GPU or driver lacks the query)."""
    cls = getattr(nvml, "NVMLError_NotSupported", None)
    if isinstance(cls, type) and isinstance(exc, cls):
        return True
    code = getattr(nvml, "NVML_ERROR_NOT_SUPPORTED", 3)
    return getattr(exc, "value", None) == code


def device_name(nvml: ModuleType, handle: Any) -> str | None:
    try:
        return to_str(nvml.nvmlDeviceGetName(handle))
    except Exception:
        return None


def energy_counter_supported(nvml: ModuleType, handle: Any) -> tuple[bool, str | None]:
    """Probe ``nvmlDeviceGetTotalEnergyConsumption`` (Volta and newer); ``(supported, why not)``."""
    try:
        nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    except Exception as exc:
        if is_not_supported(nvml, exc):
            return False, "total-energy counter not supported on this GPU (needs Volta or newer)"
        return False, f"total-energy counter unreadable ({describe_error(exc)})"
    return True, None


def _pci_tuple(nvml: ModuleType, handle: Any) -> tuple[int, int, int] | None:
    try:
        info = nvml.nvmlDeviceGetPciInfo(handle)
        return int(info.domain), int(info.bus), int(info.device)
    except Exception:
        return None


def nvml_index_for_pci(nvml: ModuleType, pci: tuple[int, int, int]) -> int | None:
    """The NVML index of the GPU at PCI ``(domain, bus, device)``, or ``None``. NVML must be initialised."""
    for index in range(int(nvml.nvmlDeviceGetCount())):
        if _pci_tuple(nvml, nvml.nvmlDeviceGetHandleByIndex(index)) == tuple(pci):
            return index
    return None


def nvml_index_from_visible_devices(cuda_index: int, nvml: ModuleType | None = None) -> int:
    """Map a CUDA ordinal through ``CUDA_VISIBLE_DEVICES`` (integers, or ``GPU-`` UUIDs when ``nvml`` is given).

    A fallback only: CUDA orders devices fastest-first unless ``CUDA_DEVICE_ORDER=PCI_BUS_ID``, NVML by PCI bus, so
    matching the PCI bus id (:func:`nvml_index_for_pci`) is preferred.
    """
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    if cuda_index >= len(visible):
        return cuda_index
    entry = visible[cuda_index]
    if entry.isdigit():
        return int(entry)
    if nvml is not None and entry.upper().startswith(("GPU-", "MIG-")):
        try:
            handle = nvml.nvmlDeviceGetHandleByUUID(entry)
            return int(nvml.nvmlDeviceGetIndex(handle))
        except Exception:
            pass
    return cuda_index


def cuda_device(index: int | None) -> tuple[int, tuple[int, int, int] | None]:
    """The CUDA ordinal and its PCI ``(domain, bus, device)`` as torch sees it; raises :class:`NvmlUnavailable`."""
    import torch

    if not torch.cuda.is_available():
        raise NvmlUnavailable("no CUDA device")
    if index is None:
        index = torch.cuda.current_device()
    if not 0 <= index < torch.cuda.device_count():
        raise NvmlUnavailable(f"no CUDA device cuda:{index} ({torch.cuda.device_count()} visible)")
    props = torch.cuda.get_device_properties(index)
    try:
        return index, (int(props.pci_domain_id), int(props.pci_bus_id), int(props.pci_device_id))
    except (AttributeError, TypeError, ValueError):
        return index, None


def nvml_index_for_cuda(nvml: ModuleType, cuda_index: int, pci: tuple[int, int, int] | None) -> int:
    """NVML index of CUDA ordinal ``cuda_index``: by PCI bus id when known, else via ``CUDA_VISIBLE_DEVICES``."""
    found = nvml_index_for_pci(nvml, pci) if pci is not None else None
    return found if found is not None else nvml_index_from_visible_devices(cuda_index, nvml)


def nvml_status() -> dict[str, Any]:
    """What ``snnbench env`` shows about NVML: library, init, driver, and per GPU the energy counter and power limit.

    Never raises; errors are reported as one-line strings under ``"error"``.
    """
    status: dict[str, Any] = {
        "pynvml_available": False,
        "init_ok": False,
        "error": None,
        "driver_version": None,
        "gpus": [],
    }
    try:
        nvml = _import_pynvml()
    except ImportError as exc:
        status["error"] = f"pynvml not installed ({exc}); install nvidia-ml-py"
        return status
    status["pynvml_available"] = True
    try:
        nvml.nvmlInit()
    except Exception as exc:
        status["error"] = f"NVML init failed: {describe_error(exc)}"
        return status
    status["init_ok"] = True
    try:
        try:
            status["driver_version"] = to_str(nvml.nvmlSystemGetDriverVersion())
        except Exception as exc:
            status["error"] = f"driver version unreadable: {describe_error(exc)}"
        for index in range(int(nvml.nvmlDeviceGetCount())):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            supported, why = energy_counter_supported(nvml, handle)
            try:
                limit_w: float | None = float(nvml.nvmlDeviceGetEnforcedPowerLimit(handle)) / 1000.0
            except Exception:
                limit_w = None
            pci = _pci_tuple(nvml, handle)
            status["gpus"].append(
                {
                    "index": index,
                    "name": device_name(nvml, handle),
                    "pci_bus_id": None if pci is None else "{:08X}:{:02X}:{:02X}.0".format(*pci),
                    "energy_counter_supported": supported,
                    "energy_counter_note": why,
                    "power_limit_w": limit_w,
                }
            )
    except Exception as exc:
        status["error"] = f"NVML device query failed: {describe_error(exc)}"
    finally:
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()
    return status
