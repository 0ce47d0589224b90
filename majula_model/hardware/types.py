"""The hardware records: a MIG profile and a GPU type, as validated data.

Why apart from the catalog: geometries (``geometry.py``) are derived from a type's placement table, and the
catalog (``catalog.py``) checks the geometries a catalog file lists; both need the types, and the catalog needs
the geometries, so the records live here and neither module imports the other for them.
"""

from __future__ import annotations

from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
    sms_per_compute_slice: int | None = Field(
        None, ge=1, description="SMs in one compute slice (the SM column of a 1g profile in `nvidia-smi mig -lgip`); "
                                "required for MIG-capable types: a profile's compute is its compute slices x this.")
    memory_bandwidth_gbps: float | None = Field(None, gt=0, description="Spec-sheet memory bandwidth, GB/s.")
    fp32_tflops: float | None = Field(None, gt=0, description="Spec-sheet dense FP32 TFLOPS.")
    fp16_tflops: float | None = Field(None, gt=0, description="Spec-sheet dense FP16 tensor TFLOPS.")
    profiles: tuple[Profile, ...] = Field((), description="MIG profiles of this type (none: MIG unsupported).")
    mig: bool = Field(True, description="Supports MIG; False for a device used whole (profile 'full' only).")
    provenance: str | None = Field(None, description="Where this entry's profiles, placements and spec figures "
                                                     "come from, and what is assumed rather than published.")

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
