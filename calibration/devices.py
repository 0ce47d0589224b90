"""Finding the GPUs and MIG instances to measure, through NVML (nvidia-ml-py's ``pynvml``), read-only.

Why read-only: a calibration measures what the operator set up. This module only *queries* NVML (names, UUIDs,
MIG mode, MIG device handles); it never creates or destroys MIG instances, and never touches clocks, power
limits or compute mode. Each MIG instance is measured in its own subprocess whose ``CUDA_VISIBLE_DEVICES`` is
the instance's MIG UUID (``instance_env``), so CUDA sees exactly that slice as device 0.

Tests pass a fake ``pynvml`` module to :func:`discover`; nothing else in the calibration tool talks to NVML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from majula_model.hardware.catalog import Catalog, default_catalog
from majula_model.errors import InputError

MIG_ENABLED = 1  # NVML_DEVICE_MIG_ENABLE


@dataclass(frozen=True)
class MigInstance:
    """One existing MIG device: its UUID (``MIG-...``) and profile name ('3g.40gb')."""

    uuid: str
    profile: str
    parent_index: int


@dataclass(frozen=True)
class GpuDevice:
    """One physical GPU: NVML product name, the catalog type it maps to (None if unknown), MIG state."""

    index: int
    name: str
    uuid: str
    gpu_type: str | None
    mig_enabled: bool
    instances: tuple[MigInstance, ...] = ()


@dataclass(frozen=True)
class Inventory:
    """What NVML reports: driver, CUDA driver version and the GPUs."""

    driver: str
    cuda_driver: str
    gpus: tuple[GpuDevice, ...] = field(default=())


def _text(value: Any) -> str:
    """NVML strings are bytes in old bindings and str in new ones."""
    return value.decode() if isinstance(value, bytes) else str(value)


def profile_from_name(mig_name: str) -> str:
    """'NVIDIA A100-SXM4-40GB MIG 3g.20gb' -> '3g.20gb' (the text after 'MIG ', or the whole name)."""
    return mig_name.rsplit("MIG ", 1)[-1].strip()


def _mig_enabled(nvml: Any, handle: Any) -> bool:
    """Current MIG mode; GPUs without MIG support report NotSupported, which means off."""
    try:
        current, _pending = nvml.nvmlDeviceGetMigMode(handle)
    except nvml.NVMLError:
        return False
    return current == MIG_ENABLED


def _mig_instances(nvml: Any, handle: Any, index: int) -> tuple[MigInstance, ...]:
    """Existing MIG devices of a GPU (empty slots raise NotFound in NVML and are skipped)."""
    found = []
    for j in range(nvml.nvmlDeviceGetMaxMigDeviceCount(handle)):
        try:
            mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, j)
        except nvml.NVMLError:
            continue
        name = _text(nvml.nvmlDeviceGetName(mig))
        found.append(MigInstance(_text(nvml.nvmlDeviceGetUUID(mig)), profile_from_name(name), index))
    return tuple(found)


def _cuda_version(nvml: Any) -> str:
    """CUDA driver API version as 'major.minor' (NVML reports e.g. 12040)."""
    try:
        v = int(nvml.nvmlSystemGetCudaDriverVersion())
    except (nvml.NVMLError, AttributeError):
        return "unknown"
    return f"{v // 1000}.{(v % 1000) // 10}"


def discover(nvml: Any = None, catalog: Catalog | None = None) -> Inventory:
    """Query NVML for every GPU, its catalog type, MIG mode and MIG instances; InputError when NVML is absent."""
    catalog = catalog or default_catalog()
    if nvml is None:
        import pynvml as nvml
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as e:
        raise InputError(f"no NVIDIA GPU found (NVML: {e})", field="--device") from None
    try:
        gpus = []
        for i in range(nvml.nvmlDeviceGetCount()):
            h = nvml.nvmlDeviceGetHandleByIndex(i)
            name = _text(nvml.nvmlDeviceGetName(h))
            mig = _mig_enabled(nvml, h)
            gpus.append(GpuDevice(i, name, _text(nvml.nvmlDeviceGetUUID(h)), catalog.resolve(name), mig,
                                  _mig_instances(nvml, h, i) if mig else ()))
        return Inventory(_text(nvml.nvmlSystemGetDriverVersion()), _cuda_version(nvml), tuple(gpus))
    finally:
        nvml.nvmlShutdown()


def instance_env(uuid: str) -> dict[str, str]:
    """Environment for a subprocess that must see exactly one GPU or MIG instance (as CUDA device 0)."""
    return {"CUDA_VISIBLE_DEVICES": uuid, "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
