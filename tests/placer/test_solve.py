"""End-to-end placer tests on tiny instances whose optimum is worked out by hand (issue 4)."""

from __future__ import annotations

import pytest
from golden.cases import A100, H100, golden_problem, problem, rec, two_models

from majula_model.errors import Infeasible
from majula_model.placer import gpus_needed, solve, sweep


def test_one_model_min_gpus_counts_slices_by_hand():
    # 1g = 100 rps, 7g = 600 rps: seven 1g instances on one GPU give 700 > 600, so 700 rps need 1 GPU, 701 need 2.
    recs = [rec("m", "1g.10gb", 100.0), rec("m", "7g.80gb", 600.0)]
    for demand, gpus in ((700.0, 1), (701.0, 2), (1400.0, 2), (1401.0, 3)):
        plan = solve(problem([("m", 100.0, demand)], recs, [(A100, 10, 1.0)]))
        assert plan.status == "optimal"
        assert plan.objective.value == gpus == len(plan.gpus)
        assert plan.gap == 0.0


def test_max_throughput_single_gpu_picks_seven_small_slices():
    recs = [rec("m", "1g.10gb", 100.0), rec("m", "7g.80gb", 600.0), rec("m", "3g.40gb", 250.0)]
    plan = solve(problem([("m", 100.0, 5000.0)], recs, [(A100, 1, 1.0)], "max_throughput"))
    # 7 x 1g = 700 beats 7g (600), 3g+3g (500) and 3g + 4 x 1g (650: 3g at 4 leaves four 1g starts 0-3).
    assert plan.objective.value == pytest.approx(700.0)
    assert plan.models[0].served_rps == pytest.approx(700.0)


def test_isolation_4g_plus_3g_share_a_gpu():
    plan = solve(two_models(300.0, 500.0))
    assert plan.objective.value == 1
    assert sorted(plan.gpus[0].geometry) == ["3g.40gb", "4g.40gb"]


def test_two_3g_share_but_two_4g_do_not():
    # a needs two 3g (600 rps), b one 4g: 3g+3g on one GPU, 4g on another -> 2 GPUs.
    assert solve(two_models(600.0, 500.0)).objective.value == 2
    # b needs two 4g: two GPUs, and a's 3g fits next to one of them -> 2 GPUs.
    assert solve(two_models(300.0, 1000.0)).objective.value == 2


def test_max_scale_by_hand():
    # One GPU: 4g + 3g serves a 300 (2.0 x 150) and b 500 (1.0 x 500); 3g + 3g leaves b at 0 -> factor 1.0.
    plan = solve(two_models(150.0, 500.0, count=1, objective="max_scale"))
    assert plan.status == "optimal"
    assert plan.objective.value == pytest.approx(1.0)
    # Two GPUs, each 4g + 3g: a 600/150 = 4, b 1000/500 = 2 -> factor 2 (headroom above demand).
    plan = solve(two_models(150.0, 500.0, count=2, objective="max_scale"))
    assert plan.objective.value == pytest.approx(2.0)
    # the plan routes 2 x demand (served >= a x demand, docs/data-format.md (data contract)), within each instance's capacity
    assert [m.served_rps for m in plan.models] == pytest.approx([300.0, 1000.0])


def test_objective_none_uses_the_instance_objective():
    assert solve(two_models(objective="max_throughput")).objective.kind == "max_throughput"
    assert solve(two_models(), "max_scale").objective.kind == "max_scale"


def test_max_throughput_does_not_light_idle_gpus():
    plan = solve(two_models(300.0, 500.0, count=8, objective="max_throughput"))
    assert plan.objective.value == pytest.approx(800.0)
    assert len(plan.gpus) == 1  # phase 2: same throughput, least cost


def test_heterogeneous_pool_cost_weighted():
    # H100 doubles throughput at 3x the cost: A100s are cheaper per rps, until their pool runs out.
    recs = [rec("m", "7g.80gb", 600.0), rec("m", "7g.80gb", 1200.0, gpu=H100)]
    cheap = solve(problem([("m", 100.0, 2400.0)], recs, [(A100, 4, 1.0), (H100, 4, 3.0)]))
    assert {g.type for g in cheap.gpus} == {A100} and cheap.objective.value == 4.0
    # 3600 rps with 4 A100s (2400) + one H100 (1200) costs 7; six A100s would be 6 but the pool has 4.
    mixed = solve(problem([("m", 100.0, 3600.0)], recs, [(A100, 4, 1.0), (H100, 4, 3.0)]))
    assert mixed.objective.value == pytest.approx(7.0)
    assert gpus_needed(problem([("m", 100.0, 3600.0)], recs, [(A100, 4, 1.0), (H100, 4, 3.0)])) == {A100: 4, H100: 1}


def test_full_gpu_used_where_measured():
    recs = [rec("m", "7g.80gb", 600.0), rec("m", "full", 800.0), rec("m", "1g.10gb", 100.0)]
    plan = solve(problem([("m", 100.0, 800.0)], recs, [(A100, 3, 1.0)]))
    assert plan.objective.value == 1
    assert plan.gpus[0].geometry == ("full",)
    assert plan.gpus[0].instances[0].start == 0


def test_gpus_needed_and_sweep():
    need = gpus_needed(golden_problem())
    assert need == {A100: 5} and need.cost == 5.0
    points = sweep(golden_problem(), [0.5, 1.0, 2.0])
    assert [p.factor for p in points] == [0.5, 1.0, 2.0]
    assert points[1].gpus == 5 and points[1].status == "optimal"
    assert points[0].gpus <= points[1].gpus
    assert points[2].status == "infeasible" and points[2].gpus is None  # 2x demand needs more than 6 GPUs


def test_infeasible_slo_names_model_and_best_latency():
    recs = [rec("m", "1g.10gb", 100.0, latency_ms=80.0)]
    with pytest.raises(Infeasible) as e:
        solve(problem([("m", 100.0, 10.0)], recs, [(A100, 1, 1.0)]))
    assert "model 'm' cannot meet its SLO" in e.value.reasons[0]
    assert "80 ms" in e.value.reasons[0]


def test_infeasible_pool_reports_best_scale():
    with pytest.raises(Infeasible) as e:
        solve(two_models(600.0, 1000.0, count=1))
    # one GPU: 4g + 3g serves a 300/600 and b 500/1000 -> 0.5 of every demand; 2 GPUs needed.
    assert "at most 0.5 x every model's demand" in e.value.reasons[0]
    assert "needs 2 GPU(s)" in e.value.reasons[1]


def test_cbc_fallback_matches_highs():
    for obj in ("min_gpus", "max_throughput", "max_scale"):
        h = solve(golden_problem(), obj, solver="highs")
        c = solve(golden_problem(), obj, solver="cbc")
        assert c.solver == "CBC" and c.status == "optimal"
        assert c.objective.value == pytest.approx(h.objective.value, rel=1e-6)


def test_model_names_that_sanitise_alike_get_distinct_constraints():
    recs = [rec("a-b", "1g.10gb", 100.0), rec("a_b", "1g.10gb", 100.0)]
    plan = solve(problem([("a-b", 100.0, 150.0), ("a_b", 100.0, 250.0)], recs, [(A100, 2, 1.0)]))
    assert plan.objective.value == 1  # 2 + 3 instances of 1g on one GPU
    assert [m.served_rps for m in plan.models] == pytest.approx([150.0, 250.0])


def test_max_scale_zero_factor_is_proven():
    # one GPU, both models need the whole 7g: one of them gets nothing, so the best common factor is 0
    recs = [rec("a", "7g.80gb", 600.0), rec("b", "7g.80gb", 600.0)]
    plan = solve(problem([("a", 100.0, 100.0), ("b", 100.0, 100.0)], recs, [(A100, 1, 1.0)], "max_scale"))
    assert plan.status == "optimal" and plan.objective.value == 0.0 and plan.objective.bound == 0.0


def test_max_scale_is_proven_by_an_infeasible_cover():
    """max_scale optimal = an incumbent a0 whose factor is recomputed from its counts, and a cover ILP asking
    every model for a0 (1 + step) x demand that the solver proves infeasible (placer/scale.py). The plan carries
    that bound; a cover at the plan's own value is feasible (the plan itself), one at the bound is not."""
    from majula_model.perf.capacity import capacity_table
    from majula_model.placer.formulation import build_pools
    from majula_model.placer.scale import _cover, factor
    from majula_model.placer.solver import run_once

    rates = [97.0, 131.0, 173.0, 211.0]
    recs = [rec(f"m{i}", prof, round(r * k, 3)) for i, r in enumerate(rates)
            for prof, k in (("1g.10gb", 1.0), ("2g.20gb", 2.13), ("3g.40gb", 3.31), ("7g.80gb", 7.4))]
    p = problem([(f"m{i}", 100.0, 1000.0 + 37.0 * i) for i in range(len(rates))], recs, [(A100, 12, 1.0)],
                "max_scale")
    plan = solve(p)
    assert plan.status == "optimal"
    a, bound = plan.objective.value, plan.objective.bound
    assert a <= bound <= a * (1 + 1e-6) and plan.gap <= 1e-6
    table = capacity_table(p)
    x = {}
    for g in plan.gpus:
        for i in g.instances:
            for m in i.models:
                x[(m.name, g.type, i.profile)] = x.get((m.name, g.type, i.profile), 0) + 1
    assert factor(p, table, x) == pytest.approx(a, rel=1e-12)  # the plan's value is its counts' factor
    assert run_once(_cover(p, table, build_pools(p, table), bound), "highs", 60).status == "infeasible"
    assert run_once(_cover(p, table, build_pools(p, table), a * (1 - 1e-9)), "highs", 60).status in ("optimal",
                                                                                                "feasible")
