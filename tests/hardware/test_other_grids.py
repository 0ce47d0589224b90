"""A GPU whose MIG grid is not 7 compute x 8 memory slices works from a catalog file alone (issue 10).

The made-up X4-96GB has 4 compute and 4 memory slices and a profile shape no bundled type has (1 compute slice over
2 memory slices that may start at 0 or 2), like the RTX PRO 6000 Blackwell's four-instance grid. Geometries are
checked against the brute force; a plan from ``majula --catalog FILE solve`` against the placement reference and a
hand-worked optimum.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from majula_model.cli import main
from majula_model.hardware.catalog import Catalog, CatalogFile
from majula_model.hardware.geometry import geometries, place
from majula_model.schema import Plan
from reference.geometry_brute import brute_force_multisets
from reference.placements_ref import check_gpu, geometry_is_placeable

X4 = {"type": "X4-96GB", "aliases": ["ACME X4"], "compute_slices": 4, "memory_slices": 4, "memory_gb": 96,
      "sms": 96, "sms_per_compute_slice": 24, "provenance": "made up for a test",
      "profiles": [
          {"name": "1g.24gb", "compute_slices": 1, "memory_slices": 1, "memory_gb": 24, "starts": [0, 1, 2, 3],
           "max_count": 4},
          {"name": "1g.24gb+me", "compute_slices": 1, "memory_slices": 1, "memory_gb": 24, "starts": [0, 1, 2, 3],
           "max_count": 1, "media_extensions": True},
          {"name": "1g.48gb", "compute_slices": 1, "memory_slices": 2, "memory_gb": 48, "starts": [0, 2],
           "max_count": 2},
          {"name": "2g.48gb", "compute_slices": 2, "memory_slices": 2, "memory_gb": 48, "starts": [0, 2],
           "max_count": 2},
          {"name": "4g.96gb", "compute_slices": 4, "memory_slices": 4, "memory_gb": 96, "starts": [0], "max_count": 1},
      ]}

MAXIMAL_BY_HAND = {("4g.96gb",), ("2g.48gb", "2g.48gb"), ("2g.48gb", "1g.48gb"), ("2g.48gb", "1g.24gb", "1g.24gb"),
                   ("1g.48gb", "1g.48gb"), ("1g.48gb", "1g.24gb", "1g.24gb"), ("1g.24gb",) * 4}
"""Memory slices 0-1 and 2-3 each take one 2-slice instance or two 1-slice ones; 4g takes all."""


def gpu():
    return CatalogFile.model_validate({"gpus": [X4]}).gpus[0].gpu_type()


def test_geometries_match_brute_force_and_hand_count():
    g = gpu()
    Catalog([g])  # the spec checks a catalog makes
    got = {frozenset(Counter(x.profiles).items()) for x in geometries(g)}
    assert got == brute_force_multisets(g)
    assert {x.profiles for x in geometries(g) if x.maximal} == MAXIMAL_BY_HAND
    assert place(g, ["1g.24gb", "1g.48gb", "1g.24gb"]) is not None
    assert place(g, ["1g.48gb", "1g.48gb", "1g.24gb"]) is None
    for x in geometries(g):
        assert geometry_is_placeable(g, x.profiles)


def _instance(tmp_path, demand_rps: float) -> str:
    lat = {"1g.24gb": 40.0, "1g.48gb": 38.0, "2g.48gb": 20.0, "4g.96gb": 12.0}  # batch 4: 100, 105, 200, 333 rps
    doc = {"name": "x4", "gpus": [{"type": "ACME X4", "count": 3}],
           "models": [{"name": "m", "slo_ms": 100.0, "demand_rps": demand_rps}],
           "measurements": [{"model": "m", "gpu": "X4-96GB", "profile": p, "batch": 4, "latency_ms": ms}
                            for p, ms in lat.items()]}
    path = tmp_path / "inst.json"
    path.write_text(json.dumps(doc))
    return str(path)


@pytest.mark.parametrize("demand, gpus", [(350.0, 1), (420.0, 2), (850.0, 3)])
def test_solve_from_a_catalog_file_gives_a_valid_plan(capsys, tmp_path, demand, gpus):
    """Hand-worked: one X4 serves at most 400 rps (2g + 2g, 2g + 2 x 1g.24gb or 4 x 1g.24gb; 4g gives 333,
    2g + 1g.48gb 305), so 350 rps needs 1 GPU, 420 needs 2 and 850 needs 3."""
    cat = tmp_path / "x4.json"
    cat.write_text(json.dumps({"source": "test", "gpus": [X4]}))
    code = main(["--catalog", str(cat), "solve", _instance(tmp_path, demand), "--objective", "min_gpus",
                 "--json"])
    out = capsys.readouterr().out
    assert code == 0
    plan = Plan.model_validate_json(out)
    assert plan.status == "optimal" and plan.objective.value == gpus and len(plan.gpus) == gpus
    g = gpu()
    for pg in plan.gpus:
        assert pg.type == "X4-96GB"
        check_gpu(g, pg.geometry, [(i.profile, i.start) for i in pg.instances])
    assert plan.models[0].served_rps >= demand - 1e-6
