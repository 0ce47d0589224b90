"""The hardware catalog: GPU types, their MIG profiles and placement rules, as data.

Why data and not code: a new GPU is one JSON record (``majula --catalog my-gpus.json``), validated on load by the
same pydantic models as the bundled file ``hardware/gpus.json``. Names follow docs/domain.md (MIG placements); the aliases are
the product names nvidia-smi / NVML report, so a calibration run can map a device to its type. The format, every
bundled type and where its figures come from: docs/hardware.md.

Why some checks run when a type joins a :class:`Catalog` and not in the model: a file that repeats a bundled
type must be told so first (or accepted, when it is the same entry: ``majula gpus --json`` fed back), before
what else may be wrong with its copy.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from ..errors import InputError, format_loc, validation_reason
from .geometry import geometries

from .types import _CFG, FULL, GpuType, Profile  # noqa: F401 - re-exported: the catalog's vocabulary


class CatalogEntry(GpuType):
    """A GPU type as a catalog file gives it: optionally with the geometries ``majula gpus --json`` lists.

    Why accepted: so that ``majula gpus --json`` output is itself a catalog file. Why checked, not ignored: a file
    that states geometries must state the ones its placement table gives, or it says two different things.
    """

    geometries: tuple[tuple[str, ...], ...] | None = Field(
        None, description="Every valid geometry (as `majula gpus --json` lists them); if given, it must equal the set "
                          "enumerated from the placement table.")
    maximal_geometries: tuple[tuple[str, ...], ...] | None = Field(
        None, description="The geometries nothing more fits into; if given, checked like `geometries`.")

    def gpu_type(self) -> GpuType:
        """The GPU type itself, without the listed geometries (which are derived data)."""
        return GpuType.model_validate(self.model_dump(exclude={"geometries", "maximal_geometries"}))


class CatalogFile(BaseModel):
    """A file of GPU types (the bundled one, or a user's extension)."""

    model_config = _CFG

    source: str | None = Field(None, description="Where the figures come from.")
    gpus: tuple[CatalogEntry, ...] = Field(description="GPU types.")


def require_specs(gpu: GpuType) -> None:
    """InputError naming the field when a MIG-capable type lacks a figure every prediction needs.

    Why an error: without ``sms_per_compute_slice`` a profile's SMs are unknown, and guessing one SM per slice
    made a B200 slice look many times slower than an A100's. Types used whole (``mig: false``) may omit it.
    """
    per = gpu.sms_per_compute_slice
    if gpu.mig and per is None:
        raise InputError(f"required for MIG-capable type {gpu.type}: each profile's SMs are its compute slices "
                         f"x this (the SM column of its 1g profile in `nvidia-smi mig -lgip`; docs/hardware.md)",
                         field="sms_per_compute_slice")
    if per is not None and gpu.sms is not None and per * gpu.compute_slices > gpu.sms:
        raise InputError(f"{gpu.type}: {gpu.compute_slices} compute slices x {per} SMs is more than its "
                         f"{gpu.sms} SMs", field="sms_per_compute_slice")


def _differences(a: GpuType, b: GpuType) -> list[str]:
    return [name for name in GpuType.model_fields if getattr(a, name) != getattr(b, name)]


class Catalog:
    """GPU types by canonical name and alias."""

    def __init__(self, gpus: tuple[GpuType, ...] | list[GpuType]) -> None:
        self.gpus: dict[str, GpuType] = {}
        self._alias: dict[str, str] = {}
        for g in gpus:
            self.add(g)

    def add(self, gpu: GpuType) -> None:
        """Add a type; its name and aliases must not name a type already in the catalog (no silent override).

        The very same entry again is a no-op, so a catalog printed by ``majula gpus --json`` can be read back.
        """
        owner = self.resolve(gpu.type)
        if owner is not None:
            if not _differences(self.gpus[owner], gpu):
                return
            differ = f" with other figures ({', '.join(_differences(self.gpus[owner], gpu))})" \
                if owner == gpu.type else ""
            raise InputError(f"GPU type '{gpu.type}' is already in the catalog (as {owner}){differ}; give yours "
                             f"another name", field="type")
        for name in gpu.aliases:
            other = self._alias.get(name.casefold())
            if other is not None and other != gpu.type:
                raise InputError(f"name '{name}' already names GPU type {other}", field="aliases")
        require_specs(gpu)
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
        """A copy with the GPU types from a user file added (errors name ``gpus[i].field``)."""
        cat = Catalog(list(self.gpus.values()))
        for i, entry in enumerate(load_catalog_file(path).gpus):
            try:
                add_entry(cat, entry)
            except InputError as e:
                field = f"gpus[{i}]" + (f".{e.field}" if e.field else "")
                raise InputError(e.reason, file=str(path), field=field) from None
        return cat


def add_entry(cat: Catalog, entry: CatalogEntry) -> None:
    """Add a file's entry to ``cat`` once the geometries it lists, if any, are checked against its table."""
    gpu = entry.gpu_type()
    cat.add(gpu)

    found = geometries(gpu)
    for field, listed, want in (("geometries", entry.geometries, found),
                                ("maximal_geometries", entry.maximal_geometries, [g for g in found if g.maximal])):
        if listed is not None:
            _check_listed(listed, {tuple(sorted(g.profiles)) for g in want}, gpu.type, field)


def _check_listed(listed: tuple[tuple[str, ...], ...], want: set[tuple[str, ...]], gpu: str, field: str) -> None:
    got = [tuple(sorted(g)) for g in listed]
    if len(set(got)) != len(got):
        raise InputError("lists a geometry twice", field=field)
    extra, missing = sorted(set(got) - want), sorted(want - set(got))
    if extra or missing:
        example = f"{' + '.join(extra[0])} does not fit" if extra else f"{' + '.join(missing[0])} is missing"
        raise InputError(f"not the {len(want)} the placement table of {gpu} gives: {len(extra)} extra, "
                         f"{len(missing)} missing (e.g. {example})", field=field)


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
        cat = Catalog([])
        for entry in CatalogFile.model_validate_json(text, strict=True).gpus:
            add_entry(cat, entry)
        _DEFAULT = cat
    return _DEFAULT
