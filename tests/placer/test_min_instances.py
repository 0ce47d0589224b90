"""``models[].min_instances``: a floor of instances per model, row (10) of the count ILP and (R6) of the
failure-tolerant one; hand-worked counts, checked with the independent plan checker."""

from __future__ import annotations

from dataclasses import replace

import pytest

from majula_model import schema
from majula_model.errors import Infeasible
from majula_model.placer import solve
from reference.instances import build
from reference.plan_check import check_plan


def rec(profile: str, tput: float, model: str = "a") -> schema.MeasurementRecord:
    return schema.MeasurementRecord(model=model, gpu="A30-24GB", profile=profile, batch=1, latency_ms=10.0,
                                    throughput_rps=tput)


def floors(problem, **mins):
    models = tuple(m.model_copy(update={"min_instances": mins.get(m.name, 1)}) for m in problem.instance.models)
    return replace(problem, instance=problem.instance.model_copy(update={"models": models}))


def instances(plan, model: str) -> int:
    return sum(1 for g in plan.gpus for i in g.instances for r in i.models if r.name == model)


def a30(count: int, models, recs, objective="min_gpus", **policy):
    return build("floor", [("A30-24GB", count, 1.0)], models, recs, schema.Policy(**policy), objective)


def test_default_is_one():
    assert schema.ModelDemand(name="a", slo_ms=10, demand_rps=1).min_instances == 1
    with pytest.raises(ValueError):
        schema.ModelDemand(name="a", slo_ms=10, demand_rps=1, min_instances=0)


def test_floor_on_one_gpu():
    # 1g: 100 rps; demand 100 needs one instance; a floor of 3 puts three 1g instances on the same A30
    p = a30(2, [("a", 100.0, 100.0)], [rec("1g.6gb", 100.0)])
    assert instances(solve(p), "a") == 1
    fp = floors(p, a=3)
    plan = solve(fp)
    check_plan(fp, plan, "min_gpus")
    assert instances(plan, "a") == 3 and len(plan.gpus) == 1


def test_floor_needs_more_gpus():
    # only 4g (400 rps, one per A30) measured: demand 300 takes 1 GPU, a floor of 4 takes 4
    p = floors(a30(5, [("a", 100.0, 300.0)], [rec("4g.24gb", 400.0)]), a=4)
    plan = solve(p)
    check_plan(p, plan, "min_gpus")
    assert len(plan.gpus) == 4 and instances(plan, "a") == 4
    with pytest.raises(Infeasible):
        solve(floors(a30(3, [("a", 100.0, 300.0)], [rec("4g.24gb", 400.0)]), a=4))


def test_retired_model_gets_none():
    p = floors(a30(2, [("a", 100.0, 100.0), ("b", 100.0, 0.0)], [rec("1g.6gb", 100.0), rec("1g.6gb", 50.0, "b")]),
               b=3)
    plan = solve(p)
    assert instances(plan, "b") == 0 and instances(plan, "a") == 1


def test_floor_under_max_throughput():
    # one A30, a and b each on 1g of 100; demand a 400, b 10: a takes all four slices (400 > 310); with a floor
    # of 2 for b, two slices each (210)
    p = a30(1, [("a", 100.0, 400.0), ("b", 100.0, 10.0)], [rec("1g.6gb", 100.0), rec("1g.6gb", 100.0, "b")],
            "max_throughput")
    assert instances(solve(p), "a") == 4
    fp = floors(p, b=2)
    plan = solve(fp)
    check_plan(fp, plan, "max_throughput")
    assert instances(plan, "b") == 2 and instances(plan, "a") == 2


def test_floor_with_failure_tolerance():
    # 4g of 400 rps, demand 400, lose 1 GPU: 2 GPUs; a floor of 4 instances: 4 GPUs
    p = a30(6, [("a", 100.0, 400.0)], [rec("4g.24gb", 400.0)],
            tolerate_failures=schema.FailureTolerance(domain="gpu", count=1))
    assert len(solve(p).gpus) == 2
    fp = floors(p, a=4)
    plan = solve(fp)
    check_plan(fp, plan, "min_gpus")
    assert len(plan.gpus) == 4 and instances(plan, "a") == 4
