"""policy.headroom and demand_rps 0 (issue 14, items 1 and 5), on hand-worked instances.

Model a runs only on 3g.40gb at 300 rps (two per A100-80GB), b only on 4g.40gb at 500 rps (one per GPU, next to
one 3g). Expected values are worked out by hand; plans are audited by the independent reference checker.
"""

from __future__ import annotations

import pytest
from golden.cases import A100, problem, rec
from reference.plan_check import check_plan

from majula_model.placer import solve


def _problem(demand_a: float, headroom: float = 0.0, objective: str = "min_gpus", extra_models=()):
    recs = [rec("a", "3g.40gb", 300.0), rec("b", "4g.40gb", 500.0)]
    models = [("a", 100.0, demand_a), ("b", 100.0, 0.0), *extra_models]
    return problem(models, recs, [(A100, 4, 1.0)], objective, policy={"headroom": headroom})


def _capacity(plan, model: str) -> float:
    return sum(r.capacity_rps for g in plan.gpus for i in g.instances for r in i.models if r.name == model)


@pytest.mark.parametrize("headroom, gpus, instances", [
    (0.0, 1, 2),    # 500 rps: two 3g (600) on one GPU
    (0.2, 1, 2),    # 600 rps: still two 3g, exactly
    (0.25, 2, 3),   # 625 rps: a third 3g, so a second GPU
    (1.0, 2, 4),    # 1000 rps: four 3g, two per GPU
])
def test_headroom_buys_capacity_above_demand(headroom, gpus, instances):
    plan = solve(_problem(500.0, headroom))
    check_plan(_problem(500.0, headroom), plan, "min_gpus")
    assert plan.status == "optimal" and len(plan.gpus) == gpus
    assert sum(len(g.instances) for g in plan.gpus) == instances
    assert _capacity(plan, "a") >= (1 + headroom) * 500.0 - 1e-9
    assert next(m for m in plan.models if m.name == "a").served_rps == pytest.approx(500.0)  # routes the demand


def test_headroom_caps_throughput_at_capacity_over_one_plus_headroom():
    p = problem([("a", 100.0, 5000.0)], [rec("a", "3g.40gb", 300.0)], [(A100, 1, 1.0)], "max_throughput",
                policy={"headroom": 0.5})
    plan = solve(p)
    assert plan.objective.value == pytest.approx(600.0 / 1.5)  # two 3g (600 rps) keep 50% spare


@pytest.mark.parametrize("objective", ["min_gpus", "max_throughput", "max_scale"])
def test_a_retired_model_stays_in_the_file_without_instances(objective):
    # c has demand 0 and no measurements at all; b has demand 0 and measurements
    p = _problem(500.0, objective=objective, extra_models=[("c", 100.0, 0.0)])
    plan = solve(p)
    assert {m.name for m in plan.models} == {"a", "b", "c"}
    for name in ("b", "c"):
        m = next(m for m in plan.models if m.name == name)
        assert m.demand_rps == 0 and m.served_rps == 0 and _capacity(plan, name) == 0
    assert _capacity(plan, "a") >= 500.0 - 1e-9
