"""The hardware catalog: GPU types, their MIG profiles and placement rules, as data.

Why data and not code: a new GPU is one JSON record (``majula --catalog my-gpus.json``), validated on load by the
same pydantic models as the bundled file ``hardware/gpus.json``. Names follow docs/domain.md (MIG placements); the aliases are
the product names nvidia-smi / NVML report, so a calibration run can map a device to its type.
"""

from __future__ import annotations

import json
from functools import cached_property
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import InputError, format_loc, validation_reason

_CFG = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)  # Infinity / NaN are errors, as in schema.py

FULL = "full"
"""Profile name of a GPU with MIG disabled: one device, a little faster than the largest MIG profile."""


class Profile(BaseModel):
    """One MIG profile of one GPU type, with where it may be placed."""

    model_config = _CFG

    name: str = Field(description="Profile name as nvidia-smi prints it, e.g. '3g.40gb'.")
    compute_slices: int = Field(ge=1, description="Compute slices (GPCs) the instance owns.")
    memory_slices: int = Field(ge=1, description="Memory slices the instance occupies from its start index.")
    memory_gb: float = Field(gt=0, description="Memory of the instance in GB.")
    starts: tuple[int, ...] = Field(min_length=1, description="Memory-slice indices where the instance may start.")
    max_count: int = Field(ge=1, description="Most instances of this profile on one GPU.")
    media_extensions: bool = Field(False, description="A '+me' profile (owns the media engines; max one).")


class GpuType(BaseModel):
    """A GPU type: its slices, memory and the MIG profiles it offers."""

    model_config = _CFG

    type: str = Field(description="Canonical name, e.g. 'A100-SXM4-80GB'.")
    aliases: tuple[str, ...] = Field((), description="Other names, e.g. what NVML reports.")
    compute_slices: int = Field(ge=1, le=16, description="Compute slices (GPCs) available to MIG.")
    memory_slices: int = Field(ge=1, le=16, description="Memory slices available to MIG.")
    memory_gb: float = Field(gt=0, description="Device memory in GB.")
    sms: int | None = Field(None, ge=1, description="SMs of the whole GPU (MIG disabled), where known.")
    sms_per_compute_slice: int | None = Field(None, ge=1, description="SMs in one compute slice, where known.")
    memory_bandwidth_gbps: float | None = Field(None, gt=0, description="Spec-sheet memory bandwidth, GB/s.")
    fp32_tflops: float | None = Field(None, gt=0, description="Spec-sheet dense FP32 TFLOPS.")
    fp16_tflops: float | None = Field(None, gt=0, description="Spec-sheet dense FP16 tensor TFLOPS.")
    profiles: tuple[Profile, ...] = Field((), description="MIG profiles of this type (none: MIG unsupported).")
    mig: bool = Field(True, description="Supports MIG; False for a device used whole (profile 'full' only).")

    @model_validator(mode="after")
    def _check_profiles(self) -> "GpuType":
        names = [p.name for p in self.profiles]
        if self.mig and not names:
            raise ValueError(f"MIG-capable type {self.type} lists no profiles")
        if not self.mig and names:
            raise ValueError(f"{self.type} has mig: false but lists MIG profiles")
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate profile names in {self.type}")
        if FULL in names:
            raise ValueError(f"'{FULL}' is reserved for a GPU with MIG disabled")
        for p in self.profiles:
            if p.compute_slices > self.compute_slices:
                raise ValueError(f"profile {p.name} has more compute slices than the GPU")
            for s in p.starts:
                if s < 0 or s + p.memory_slices > self.memory_slices:
                    raise ValueError(f"profile {p.name}: start {s} + {p.memory_slices} slices runs past the GPU")
        return self

    def profile(self, name: str) -> Profile:
        """The profile called ``name``; KeyError if this type has none."""
        return self._by_name[name]

    @cached_property
    def _by_name(self) -> dict[str, Profile]:
        return {p.name: p for p in self.profiles}

    def has_profile(self, name: str) -> bool:
        """True for a MIG profile of this type or for ``full`` (MIG disabled)."""
        return name == FULL or name in self._by_name

    def profile_memory_gb(self, name: str) -> float:
        """Memory available to a profile; ``full`` is the whole device."""
        return self.memory_gb if name == FULL else self.profile(name).memory_gb

    def profile_compute_slices(self, name: str) -> int:
        """Compute slices of a profile; ``full`` counts as all of them."""
        return self.compute_slices if name == FULL else self.profile(name).compute_slices

    @property
    def plain_profiles(self) -> tuple[Profile, ...]:
        """Profiles without media extensions: the ones geometries are built from."""
        return tuple(p for p in self.profiles if not p.media_extensions)


class CatalogFile(BaseModel):
    """A file of GPU types (the bundled one, or a user's extension)."""

    model_config = _CFG

    source: str | None = Field(None, description="Where the figures come from.")
    gpus: tuple[GpuType, ...] = Field(description="GPU types.")


class Catalog:
    """GPU types by canonical name and alias."""

    def __init__(self, gpus: tuple[GpuType, ...] | list[GpuType]) -> None:
        self.gpus: dict[str, GpuType] = {}
        self._alias: dict[str, str] = {}
        for g in gpus:
            self.add(g)

    def add(self, gpu: GpuType) -> None:
        """Add a type; its name and aliases must not name a type already in the catalog (no silent override)."""
        if self.resolve(gpu.type) is not None:
            raise InputError(f"GPU type '{gpu.type}' is already in the catalog (as {self.resolve(gpu.type)}); "
                             f"give yours another name", field="type")
        for name in gpu.aliases:
            owner = self._alias.get(name.casefold())
            if owner is not None and owner != gpu.type:
                raise InputError(f"name '{name}' already names GPU type {owner}", field="type")
        self.gpus[gpu.type] = gpu
        for name in (gpu.type, *gpu.aliases):
            self._alias[name.casefold()] = gpu.type

    def resolve(self, name: str) -> str | None:
        """Canonical type for a name or alias (case-insensitive), or None."""
        return self._alias.get(name.strip().casefold())

    def get(self, name: str) -> GpuType:
        """The type called ``name`` (or an alias of it); InputError if unknown."""
        canon = self.resolve(name)
        if canon is None:
            raise InputError(f"unknown GPU type '{name}' (known: {', '.join(self.gpus)})")
        return self.gpus[canon]

    def __iter__(self):
        """The MIG-capable GPU types (devices used whole only, like ``cpu``, are left out)."""
        return iter([g for g in self.gpus.values() if g.mig])

    def extended(self, path: str | Path) -> "Catalog":
        """A copy with the GPU types from a user file added."""
        cat = Catalog(list(self.gpus.values()))
        for g in load_catalog_file(path).gpus:
            try:
                cat.add(g)
            except InputError as e:
                raise InputError(e.reason, file=str(path), field="gpus") from None
        return cat


def load_catalog_file(path: str | Path) -> CatalogFile:
    """Read and validate a catalog JSON file."""
    from ..jsonfile import read_json

    raw = read_json(path)
    try:  # strict JSON types, as for instance and calibration files (see ``loading.parse``)
        return CatalogFile.model_validate_json(json.dumps(raw), strict=True)
    except ValidationError as e:
        err = e.errors()[0]
        raise InputError(validation_reason(err), file=str(path), field=format_loc(err["loc"])) from None


_DEFAULT: Catalog | None = None


def default_catalog() -> Catalog:
    """The bundled catalog (loaded once)."""
    global _DEFAULT
    if _DEFAULT is None:
        text = resources.files("majula_model").joinpath("hardware/gpus.json").read_text()
        _DEFAULT = Catalog(CatalogFile.model_validate_json(text, strict=True).gpus)
    return _DEFAULT
