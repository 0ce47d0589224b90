"""MIG placement validity from the catalog's placement table, by brute force over subsets of placements.

Why not ``majula_model.hardware.geometry``: the plan checks must not share a bug with the code that builds plans. A
placement is a (profile, start) pair from the table (docs/domain.md (MIG placements)). A set of placements on one GPU is
valid when no two overlap in memory slices, each profile is used at most ``max_count`` times and the compute
slices add up to at most the GPU's. ``full`` (MIG disabled) is the whole GPU, alone, at start 0. ``+me``
profiles are not used in geometries.
"""

from __future__ import annotations

from collections import Counter

from majula_model.hardware.catalog import FULL, GpuType

Placement = tuple[str, int]


def table(gpu: GpuType) -> list[tuple[str, int, int, int, int]]:
    """``(profile, start, memory_slices, compute_slices, max_count)`` for every plain placement of ``gpu``."""
    return [(p.name, s, p.memory_slices, p.compute_slices, p.max_count)
            for p in gpu.profiles if not p.media_extensions for s in p.starts]


def is_valid(gpu: GpuType, placements: list[Placement]) -> bool:
    """True when these (profile, start) pairs can coexist on one GPU of this type."""
    if any(p == FULL for p, _ in placements):
        return list(placements) == [(FULL, 0)]
    rows = {(name, s): (mem, comp, cap) for name, s, mem, comp, cap in table(gpu)}
    used: set[int] = set()
    compute = 0
    for pl in placements:
        if pl not in rows:
            return False
        mem, comp, _ = rows[pl]
        span = set(range(pl[1], pl[1] + mem))
        if used & span:
            return False
        used |= span
        compute += comp
    counts = Counter(p for p, _ in placements)
    caps = {name: cap for name, _, _, _, cap in table(gpu)}
    return compute <= gpu.compute_slices and all(c <= caps[p] for p, c in counts.items())


_LAYOUTS: dict[tuple, tuple[tuple[Placement, ...], ...]] = {}


def valid_layouts(gpu: GpuType) -> tuple[tuple[Placement, ...], ...]:
    """Every valid set of placements of ``gpu`` (the empty set included), cached per placement table."""
    key = (gpu.type, gpu.compute_slices, gpu.memory_slices, tuple(table(gpu)))
    if key not in _LAYOUTS:
        rows = [(name, s) for name, s, *_ in table(gpu)]
        out: list[tuple[Placement, ...]] = []

        def walk(i: int, chosen: list[Placement]) -> None:
            # Exhaustive include/exclude over all placements; a branch is cut only once its chosen set is
            # invalid, and every superset of an invalid set is invalid too (overlap, counts, compute only grow).
            if not is_valid(gpu, chosen):
                return
            if i == len(rows):
                out.append(tuple(chosen))
                return
            walk(i + 1, chosen)
            walk(i + 1, chosen + [rows[i]])

        walk(0, [])
        _LAYOUTS[key] = tuple(out)
    return _LAYOUTS[key]


def valid_geometries(gpu: GpuType) -> set[tuple[str, ...]]:
    """Every placeable multiset of profiles (sorted tuples; the empty one included, ``full`` not)."""
    return {tuple(sorted(p for p, _ in lay)) for lay in valid_layouts(gpu)}


def geometry_is_placeable(gpu: GpuType, geometry: list[str] | tuple[str, ...]) -> bool:
    """True when some choice of starts places every profile of ``geometry``."""
    if list(geometry) == [FULL]:
        return True
    return tuple(sorted(geometry)) in valid_geometries(gpu)


def check_gpu(gpu: GpuType, geometry: list[str] | tuple[str, ...], placements: list[Placement]) -> None:
    """Assert that a plan GPU's instances are a valid layout and that its geometry lists exactly them."""
    assert is_valid(gpu, placements), f"{gpu.type}: invalid placements {sorted(placements)}"
    assert Counter(geometry) == Counter(p for p, _ in placements), \
        f"{gpu.type}: geometry {list(geometry)} does not match instances {sorted(placements)}"


def starts_for(gpu: GpuType, geometry: list[str]) -> list[Placement] | None:
    """Some valid layout of ``geometry`` found by trying every start for every instance, or None."""
    options = {name: [s for n, s, *_ in table(gpu) if n == name] for name in set(geometry)}

    def place(i: int, chosen: list[Placement]) -> list[Placement] | None:
        if i == len(geometry):
            return chosen
        for s in options.get(geometry[i], []):
            nxt = chosen + [(geometry[i], s)]
            if is_valid(gpu, nxt):
                found = place(i + 1, nxt)
                if found is not None:
                    return found
        return None

    return place(0, [])
