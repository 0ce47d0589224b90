"""Geometry enumeration and layout validity (issue 2), checked against a brute force written here.

The brute force enumerates *all* subsets of placements with numpy bit tricks, so the expected geometry sets come
from a different computation than the depth-first search in ``majula_model.hardware.geometry``.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, strategies as st

from majula_model import default_catalog, geometries, layout_problem, place
from majula_model.hardware.catalog import GpuType  # noqa: F401
from reference.geometry_brute import brute_force_multisets

CAT = default_catalog()
TYPES = [g.type for g in CAT]


def as_multiset(profiles) -> frozenset:
    return frozenset(Counter(profiles).items())


@pytest.mark.parametrize("gpu_type", TYPES)
def test_enumeration_matches_brute_force(gpu_type):
    gpu = CAT.get(gpu_type)
    got = {as_multiset(g.profiles) for g in geometries(gpu)}
    assert len(got) == len(geometries(gpu)), "duplicate geometries"
    assert got == brute_force_multisets(gpu)


@pytest.mark.parametrize("gpu_type", TYPES)
def test_maximal_flag_means_nothing_more_fits(gpu_type):
    gpu = CAT.get(gpu_type)
    valid = brute_force_multisets(gpu)
    for g in geometries(gpu):
        grown = [Counter(g.profiles) + Counter([p.name]) for p in gpu.plain_profiles]
        can_grow = any(frozenset(c.items()) in valid for c in grown)
        assert g.maximal == (not can_grow), g.profiles


@pytest.mark.parametrize("gpu_type", TYPES)
def test_every_geometry_has_a_valid_layout(gpu_type):
    gpu = CAT.get(gpu_type)
    for g in geometries(gpu):
        layout = place(gpu, list(reversed(g.profiles)))
        assert layout is not None
        assert sorted(n for n, _ in layout) == sorted(g.profiles)
        assert layout_problem(gpu, layout) is None


def test_design_consequences():
    a40 = CAT.get("A100-SXM4-40GB")
    assert place(a40, ["4g.20gb", "3g.20gb"]) == (("4g.20gb", 0), ("3g.20gb", 4))
    assert place(a40, ["3g.20gb", "3g.20gb"]) is not None
    assert place(a40, ["2g.10gb", "2g.10gb", "2g.10gb", "1g.5gb"]) is not None
    # a 1g.10gb at start 6 takes memory slices 6 and 7: the last 1g.5gb slot (6) is gone
    assert "overlaps" in layout_problem(a40, [("1g.10gb", 6), ("1g.5gb", 6)])
    assert place(a40, ["7g.40gb", "1g.5gb"]) is None
    assert place(a40, ["1g.5gb"] * 8) is None
    a30 = CAT.get("A30-24GB")
    assert {g.profiles for g in geometries(a30) if g.maximal} == {
        ("4g.24gb",), ("2g.12gb", "2g.12gb"), ("2g.12gb", "1g.6gb", "1g.6gb"), ("1g.6gb",) * 4}


def test_layout_problem_reasons():
    gpu = CAT.get("A100-SXM4-80GB")
    assert "cannot start" in layout_problem(gpu, [("3g.40gb", 2)])
    assert "no MIG profile" in layout_problem(gpu, [("5g.50gb", 0)])
    assert "at most 1" in layout_problem(gpu, [("1g.10gb+me", 0), ("1g.10gb+me", 1)])
    assert layout_problem(gpu, [("1g.10gb+me", 0), ("2g.20gb", 2)]) is None


def test_me_profiles_excluded_from_geometries():
    for gpu in CAT:
        assert not any("+me" in n for g in geometries(gpu) for n in g.profiles)


@st.composite
def random_layout(draw):
    gpu = CAT.get(draw(st.sampled_from(TYPES)))
    placements = [(p.name, s) for p in gpu.plain_profiles for s in p.starts]
    chosen = draw(st.lists(st.sampled_from(placements), unique=True, max_size=8))
    return gpu, chosen


def _independent_valid(gpu: GpuType, layout) -> bool:
    used: list[int] = []
    for name, start in layout:
        used += range(start, start + gpu.profile(name).memory_slices)
    counts = Counter(n for n, _ in layout)
    return (len(used) == len(set(used)) and all(c <= gpu.profile(n).max_count for n, c in counts.items())
            and sum(gpu.profile(n).compute_slices for n, _ in layout) <= gpu.compute_slices)


@given(random_layout())
def test_random_valid_layouts_reduce_to_enumerated_geometries(case):
    gpu, layout = case
    valid = _independent_valid(gpu, layout)
    assert (layout_problem(gpu, layout) is None) == valid
    if valid and layout:
        assert as_multiset(n for n, _ in layout) in {as_multiset(g.profiles) for g in geometries(gpu)}
