"""MIG geometries: which multisets of profiles fit on one GPU, and where each instance goes.

A *placement* is (profile, start memory slice). A *layout* is a set of placements that do not overlap in memory
slices, keep each profile within its ``max_count`` and use at most the GPU's compute slices. A *geometry* is the
multiset of profiles of a layout; performance depends on the geometry only (MIG isolation), validity on the
layout. Everything here is derived from the placement table in the catalog, never from a hand-written list.

Geometries are tuples of profile names in canonical order (most compute slices first, then by name).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from .types import GpuType

Geometry = tuple[str, ...]
Placement = tuple[str, int]


def canonical(profiles: list[str] | tuple[str, ...], gpu: GpuType) -> Geometry:
    """Sort profile names into the canonical geometry order."""
    return tuple(sorted(profiles, key=lambda n: (-gpu.profile(n).compute_slices, -gpu.profile(n).memory_slices, n)))


def layout_problem(gpu: GpuType, layout: list[Placement] | tuple[Placement, ...]) -> str | None:
    """Why a concrete layout is invalid on ``gpu``, or None when it is valid."""
    used: dict[int, str] = {}
    counts: Counter[str] = Counter()
    compute = 0
    for name, start in layout:
        if not gpu.has_profile(name) or name == "full":
            return f"{gpu.type} has no MIG profile '{name}'"
        prof = gpu.profile(name)
        if start not in prof.starts:
            return f"{name} cannot start at memory slice {start} (allowed: {', '.join(map(str, prof.starts))})"
        counts[name] += 1
        if counts[name] > prof.max_count:
            return f"at most {prof.max_count} x {name} per GPU"
        compute += prof.compute_slices
        for s in range(start, start + prof.memory_slices):
            if s in used:
                return f"{name} at {start} overlaps {used[s]} on memory slice {s}"
            used[s] = f"{name} at {start}"
    if compute > gpu.compute_slices:
        return f"uses {compute} compute slices; {gpu.type} has {gpu.compute_slices}"
    return None


def _placements(gpu: GpuType, include_me: bool) -> list[Placement]:
    profs = gpu.profiles if include_me else gpu.plain_profiles
    return sorted(((p.name, s) for p in profs for s in p.starts), key=lambda x: (x[1], x[0]))


@lru_cache(maxsize=None)
def _layouts(gpu: GpuType, include_me: bool) -> tuple[tuple[Placement, ...], ...]:
    """Every valid non-empty layout (depth-first over placements in start order)."""
    cands = _placements(gpu, include_me)
    out: list[tuple[Placement, ...]] = []

    def grow(i: int, chosen: list[Placement]) -> None:
        for j in range(i, len(cands)):
            trial = [*chosen, cands[j]]
            if layout_problem(gpu, trial) is None:
                out.append(tuple(trial))
                grow(j + 1, trial)

    grow(0, [])
    return tuple(out)


@dataclass(frozen=True)
class GeometryInfo:
    """A geometry with one layout that realises it and whether anything more fits."""

    profiles: Geometry
    layout: tuple[Placement, ...]
    maximal: bool


@lru_cache(maxsize=None)
def geometries(gpu: GpuType, include_me: bool = False) -> tuple[GeometryInfo, ...]:
    """Every distinct non-empty multiset of profiles placeable at once on ``gpu``.

    ``maximal`` is True when no further profile instance can be added in any layout. Deterministic order:
    by total compute slices (descending), then by the canonical profile tuple.
    """
    first: dict[Geometry, tuple[Placement, ...]] = {}
    for lay in _layouts(gpu, include_me):
        key = canonical([n for n, _ in lay], gpu)
        first.setdefault(key, tuple(sorted(lay, key=lambda x: x[1])))
    keys = set(first)
    profs = gpu.profiles if include_me else gpu.plain_profiles
    infos = []
    for key, lay in first.items():
        bigger = (canonical([*key, p.name], gpu) for p in profs)
        infos.append(GeometryInfo(key, lay, maximal=not any(b in keys for b in bigger)))
    infos.sort(key=lambda g: (-sum(gpu.profile(n).compute_slices for n in g.profiles), g.profiles))
    return tuple(infos)


@lru_cache(maxsize=None)
def _layout_index(gpu: GpuType) -> dict[Geometry, tuple[Placement, ...]]:
    return {g.profiles: g.layout for g in geometries(gpu, include_me=True)}


def place(gpu: GpuType, profiles: list[str] | tuple[str, ...]) -> tuple[Placement, ...] | None:
    """A valid layout for a multiset of profiles (start order), or None when it does not fit.

    Found by exhaustive search over layouts, cached per GPU type: a greedy largest-first pass does not always
    find one (e.g. 1g.20gb must avoid the start a 1g.10gb needs).
    """
    if not profiles:
        return ()
    try:
        key = canonical(list(profiles), gpu)
    except KeyError:
        return None
    return _layout_index(gpu).get(key)
