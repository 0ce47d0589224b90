"""Decoded plans are valid, checked independently of the decoder: placements, rates, totals, determinism."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
from golden.cases import golden_problem
from reference.plan_check import check_plan as reference_check

from majula_model.hardware.catalog import FULL
from majula_model.problem.loading import problem_from_instance
from majula_model.placer import solve
from majula_model.schema import Instance, Plan

PARVA_MODELS = ["bert", "densenet121", "inceptionv3", "mobilenetv2", "resnet50", "vgg16"]


@pytest.fixture(scope="module")
def parva_problem(parvagpu_calibration):
    recs = [r for r in parvagpu_calibration.measurements if r.model in PARVA_MODELS]
    demand = {"bert": 700.0, "densenet121": 2100.0, "inceptionv3": 1800.0, "mobilenetv2": 5200.0,
              "resnet50": 4100.0, "vgg16": 1300.0}
    inst = Instance(name="parva6", gpus=[{"type": "A100-SXM4-80GB", "count": 40}],
                    models=[{"name": m, "slo_ms": 150.0, "demand_rps": d} for m, d in demand.items()],
                    measurements=recs, objective="min_gpus")
    return problem_from_instance(inst)


def check_plan(problem, plan: Plan) -> None:
    """Every invariant of a plan: the independent audit (``reference.plan_check``, layouts from its own placement
    table), then what the decoder promises on top (ids in order, one model per instance, the SLO budget)."""
    reference_check(problem, plan)
    assert [g.id for g in plan.gpus] == list(range(len(plan.gpus)))
    demand = {m.name: m for m in problem.instance.models}
    rate: dict[str, float] = defaultdict(float)
    for g in plan.gpus:
        assert Counter(g.geometry) == Counter(i.profile for i in g.instances)
        if tuple(g.geometry) == (FULL,):
            assert g.instances[0].start == 0
        for inst in g.instances:
            assert len(inst.models) == 1  # one model per instance (module docstring of formulation)
            for run in inst.models:
                assert 0 <= run.rate_rps <= run.capacity_rps
                budget = problem.instance.policy.latency_budget_fraction * demand[run.name].slo_ms
                assert run.latency_ms <= budget + 1e-9
                # the point exists among the measurements with this capacity
                assert any(r.model == run.name and r.profile == inst.profile and r.batch == run.batch
                           and r.processes == run.processes and r.rate_rps == pytest.approx(run.capacity_rps)
                           for r in problem.measurements)
                rate[run.name] += run.rate_rps
    scale = plan.objective.value if plan.objective.kind == "max_scale" else 1.0
    for m in plan.models:
        # routed: at most the demand (max_scale: at most a x demand when a > 1, docs/data-format.md (data contract))
        limit = max(1.0, scale) * demand[m.name].demand_rps
        assert rate[m.name] <= limit * (1 + 1e-9)
        assert m.served_rps == pytest.approx(rate[m.name])
        assert m.served_rps >= min(scale, 1.0) * m.demand_rps * (1 - 1e-9) or plan.objective.kind != "max_scale"


@pytest.mark.parametrize("objective", ["min_gpus", "max_throughput", "max_scale"])
def test_golden_plans_valid(objective):
    p = golden_problem()
    check_plan(p, solve(p, objective))


def test_parvagpu_plans_valid_and_serve_demand(parva_problem):
    plan = solve(parva_problem)
    check_plan(parva_problem, plan)
    assert plan.status == "optimal"
    for m in plan.models:
        assert m.served_rps == pytest.approx(m.demand_rps)


def test_max_throughput_fills_pool_when_demand_exceeds_it(parva_problem):
    from dataclasses import replace

    small = replace(parva_problem, instance=parva_problem.instance.model_copy(
        update={"gpus": (parva_problem.instance.gpus[0].model_copy(update={"count": 5}),)}))
    plan = solve(small, "max_throughput")
    check_plan(small, plan)
    assert len(plan.gpus) == 5
    assert plan.objective.value == pytest.approx(sum(m.served_rps for m in plan.models))
    assert plan.objective.value < sum(m.demand_rps for m in plan.models)


def test_decode_is_deterministic(parva_problem):
    a = solve(parva_problem).model_copy(update={"solve_seconds": 0.0})
    b = solve(parva_problem).model_copy(update={"solve_seconds": 0.0})
    assert a.model_dump_json() == b.model_dump_json()


def test_rates_split_in_proportion_to_capacity():
    plan = solve(golden_problem())
    for m in plan.models:
        shares = {round(r.rate_rps / r.capacity_rps, 9) for g in plan.gpus for i in g.instances for r in i.models
                  if r.name == m.name}
        assert len(shares) == 1  # the same utilisation on every instance of a model
