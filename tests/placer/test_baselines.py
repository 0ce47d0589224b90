"""Baselines: hand-worked counts, valid plans, and the ILP's min_gpus never above any of them."""

from __future__ import annotations

import pytest
from golden.cases import A100, golden_problem, problem, rec, two_models
from reference.plan_check import check_plan

from majula_model.errors import Infeasible, InputError
from majula_model.problem.loading import problem_from_instance
from majula_model.placer import BASELINES, baseline, solve
from majula_model.schema import Instance


def test_whole_gpu_by_hand():
    # resnet: 7g 800 rps -> ceil(1500/800) = 2; bert: full 400 -> ceil(700/400) = 2; tiny: 7g 2600 -> 1.
    plan = baseline(golden_problem(), "whole_gpu")
    assert len(plan.gpus) == 5
    assert sorted(g.geometry[0] for g in plan.gpus) == ["7g.80gb"] * 3 + ["full"] * 2
    check_plan(golden_problem(), plan)


def test_greedy_best_fit_shares_a_gpu():
    # a's only segment is 3g, b's is 4g: best fit puts the 3g next to the 4g -> 1 GPU.
    plan = baseline(two_models(300.0, 500.0), "greedy")
    assert len(plan.gpus) == 1 and sorted(plan.gpus[0].geometry) == ["3g.40gb", "4g.40gb"]


def test_greedy_remainder_uses_smallest_covering_segment():
    # 1g = 100 rps (100/slice) beats 7g = 600 (86/slice): demand 750 -> seven 1g (700) + one 1g for the 50 rest.
    recs = [rec("m", "1g.10gb", 100.0), rec("m", "7g.80gb", 600.0)]
    plan = baseline(problem([("m", 100.0, 750.0)], recs, [(A100, 5, 1.0)]), "greedy")
    assert sorted(len(g.instances) for g in plan.gpus) == [1, 7]


def test_homogeneous_single_geometry():
    from collections import Counter

    from majula_model.hardware.geometry import place

    p = golden_problem()
    plan = baseline(p, "homogeneous")
    check_plan(p, plan)
    # every GPU is a subset of one common geometry (idle instances are dropped by the decoder): the profile-wise
    # maximum over GPUs must itself be placeable on one GPU
    union: Counter = Counter()
    for g in plan.gpus:
        union |= Counter(g.geometry)
    assert "full" in union or place(p.catalog.get(A100), list(union.elements())) is not None
    assert len(plan.gpus) >= solve(p).objective.value


def test_baseline_beyond_pool_is_infeasible():
    with pytest.raises(Infeasible):
        baseline(two_models(3000.0, 500.0, count=2), "whole_gpu")
    with pytest.raises(InputError):
        baseline(golden_problem(), "nope")


@pytest.fixture(scope="module")
def parva_all(parvagpu_calibration):
    models = sorted({r.model for r in parvagpu_calibration.measurements})
    demand = [(m, 100.0 + 20.0 * (i % 4), 400.0 + 731.0 * ((i * 5) % 11)) for i, m in enumerate(models)]
    inst = Instance(name="parva11", gpus=[{"type": A100, "count": 200}],
                    models=[{"name": m, "slo_ms": s, "demand_rps": d} for m, s, d in demand],
                    measurements=parvagpu_calibration.measurements, objective="min_gpus")
    return problem_from_instance(inst)


@pytest.mark.parametrize("name", BASELINES)
def test_min_gpus_never_above_a_baseline(parva_all, name):
    ilp = solve(parva_all)
    base = baseline(parva_all, name)
    check_plan(parva_all, base)
    assert all(m.served_rps == pytest.approx(m.demand_rps) for m in base.models)
    assert ilp.objective.value <= base.objective.value
    assert ilp.objective.value == len(ilp.gpus) and base.objective.value == len(base.gpus)


def test_ilp_strictly_beats_whole_gpu_on_parvagpu(parva_all):
    assert solve(parva_all).objective.value < baseline(parva_all, "whole_gpu").objective.value


def test_heterogeneous_pool_ilp_never_above_baselines():
    from golden.cases import H100

    recs = [rec("a", "1g.10gb", 100.0), rec("a", "3g.40gb", 320.0), rec("a", "7g.80gb", 700.0),
            rec("a", "1g.10gb", 190.0, gpu=H100), rec("a", "7g.80gb", 1400.0, gpu=H100),
            rec("b", "2g.20gb", 150.0), rec("b", "4g.40gb", 330.0), rec("b", "full", 640.0),
            rec("b", "2g.20gb", 290.0, gpu=H100), rec("b", "4g.40gb", 600.0, gpu=H100)]
    p = problem([("a", 100.0, 2600.0), ("b", 100.0, 1900.0)], recs, [(A100, 20, 1.0), (H100, 20, 1.7)])
    ilp = solve(p)
    check_plan(p, ilp)
    for name in BASELINES:
        base = baseline(p, name)
        check_plan(p, base)
        assert ilp.objective.value <= base.objective.value + 1e-9, name
