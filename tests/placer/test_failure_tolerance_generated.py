"""Failure tolerance by column generation (``placer/robust_colgen.py``, ``placer/unit_pricing.py``), against
references computed differently:

- pricing: the one-GPU dynamic program against every configuration listed (``robust.gpu_configs``) and scored by
  hand, and against the node MILP restricted to one GPU (a second formulation of the same question);
- plans: with the enumeration switched off, tiny instances against the brute force over every plan
  (``reference.failure_brute``): the plan survives every loss, its cost is never below the optimum, the bound
  it reports never above it, and ``optimal`` only when it equals it;
- an instance the enumeration refuses (``instances/lowrate.json``: 520,630 configurations of one GPU) is now
  planned, and survives every loss recomputed from its JSON;
- with shared instances, tiny instances against a brute force over the sharing reference's own one-GPU
  vectors (``reference.failure_brute.brute_min_cost_shared``), every plan through the shared-plan checker, and
  "sharing never needs more GPUs" on lowrate (2 GPUs for one lost, against 4 alone).
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from majula_model import load_instance, schema
from majula_model.errors import Infeasible
from majula_model.perf.capacity import capacity_table
from majula_model.placer import robust, solve
from majula_model.placer.robust_colgen import shapes
from majula_model.placer.unit_pricing import PROVEN, GpuPricer, NodePricer, UnitPrices, hull
from reference.failure_brute import brute_min_cost, brute_min_cost_shared, losses
from reference.instances import synthetic
from reference.plan_check import check_plan, close
from reference.shared_brute import tiny_shared
from reference.shared_check import check_shared_plan


def tolerant(problem, domain: str, k: int, gpus_per_node: int = 2, share: bool = False):
    """``problem`` with the loss of k units tolerated; sharing off unless ``share`` (then the instance's own)."""
    upd = {"tolerate_failures": schema.FailureTolerance(domain=domain, count=k)}
    if not share:
        upd["max_models_per_instance"] = 1
    pol = problem.instance.policy.model_copy(update=upd)
    return replace(problem, instance=problem.instance.model_copy(update={"policy": pol,
                                                                        "gpus_per_node": gpus_per_node}))


def survives(problem, plan) -> list:
    inst = problem.instance
    tol = inst.policy.tolerate_failures
    return losses(json.loads(plan.model_dump_json()), {m.name: m.demand_rps for m in inst.models},
                  inst.policy.headroom, inst.gpus_per_node, tol.domain, tol.count)


@pytest.fixture
def generated(monkeypatch):
    """Every configuration count is 'too many': the generated path plans everything."""
    monkeypatch.setattr(robust, "GPU_CONFIG_LIMIT", 0)


def _default_shape(k: int = 1):
    p = load_instance("instances/default.json")
    table = capacity_table(p)
    models = [m.name for m in p.instance.models]
    sh = shapes(p, table, models, 1.0, k, {})
    return p, table, next(iter(sh.values()))


def _by_hand(sh, prices: UnitPrices, slots) -> float:
    """A configuration's score from its slots, summed here rather than by ``Shape.score``."""
    rate: dict[str, float] = {}
    for p, m in slots:
        rate[m] = rate.get(m, 0.0) + sh.kappa[m][p]
    return math.fsum(prices.pi.get(m, 0.0) * hull(min(r, sh.clip), sh.k, sh.clip) for m, r in rate.items())


@pytest.mark.parametrize("seed", range(6))
def test_gpu_pricing_finds_the_best_listed_configuration(seed):
    p, table, sh = _default_shape(k=1 + seed % 2)
    rng = random.Random(seed)
    prices = UnitPrices({m: rng.choice([0.0, rng.uniform(0, 5)]) for m in sh.models}, {}, {}, {}, {sh.gpu_type: 0.0})
    sc = robust._Scale(p)
    listed = robust.gpu_configs(p, table, sh.gpu_type, sc)
    best = max(_by_hand(sh, prices, u.gpus[0]) for u in listed)
    found, top = GpuPricer(sh).best(prices)
    assert top == pytest.approx(best, rel=1e-9, abs=1e-12)
    if best > 1e-9:
        assert found and _by_hand(sh, prices, found[0].gpus[0]) == pytest.approx(best, rel=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_node_pricing_of_one_gpu_agrees_with_the_dynamic_program(seed):
    _, _, sh = _default_shape()
    rng = random.Random(100 + seed)
    pi = {m: rng.uniform(0.1, 5) for m in sh.models}
    top = GpuPricer(sh).best(UnitPrices(pi, {}, {}, {}, {sh.gpu_type: 0.0}))[1]
    # priced just below the best one-GPU score the MILP must find a unit; just above it must prove there is none
    below = UnitPrices(pi, {}, {}, {}, {sh.gpu_type: top - 1e-4})
    above = UnitPrices(pi, {}, {}, {}, {sh.gpu_type: top + 1e-4})
    found, _ = NodePricer(sh, node=1, pool=4).best(below)
    assert found and top - 1e-4 < found[0].score <= top * (1 + 1e-9)
    found, upper = NodePricer(sh, node=1, pool=4).best(above)
    assert not found and upper <= PROVEN * max(1.0, top)


def _tiny(problem, data):
    assume(len(problem.instance.models) <= 2)
    domain = data.draw(st.sampled_from(["gpu", "gpu", "node"]))
    k = data.draw(st.integers(1, 2)) if domain == "gpu" else 1
    return tolerant(problem, domain, k)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(synthetic(max_gpus=3, objective="min_gpus", a30_only=True), st.data())
def test_generated_plans_survive_and_their_bound_holds_against_brute_force(problem, data):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(robust, "GPU_CONFIG_LIMIT", 0)
        p = _tiny(problem, data)
        expected = brute_min_cost(p)
        if expected is None:
            try:
                plan = solve(p)
            except Infeasible:
                return
            assert plan.status == "no_solution"  # no plan among the columns; never a plan that breaks
            return
        plan = solve(p)
    assert plan.status in ("optimal", "feasible")
    check_plan(p, plan, "min_gpus")
    assert survives(p, plan) == []
    assert plan.objective.value >= expected - 1e-9 * max(1.0, expected)
    assert plan.objective.bound is None or plan.objective.bound <= expected * (1 + 1e-9) + 1e-12
    if plan.status == "optimal":
        assert close(plan.objective.value, expected)


def test_an_instance_the_enumeration_refuses_is_planned_and_survives():
    p = tolerant(load_instance("instances/lowrate.json"), "gpu", 1)
    with pytest.raises(robust.TooMany):
        robust.gpu_configs(p, capacity_table(p), p.instance.gpus[0].type, robust._Scale(p))
    plan = solve(p, "min_gpus", time_limit=60)
    assert plan.status in ("optimal", "feasible") and plan.gpus
    assert survives(p, plan) == []
    assert any("unit configurations generated" in n for n in plan.notes)


def test_generated_node_plan_on_the_default_instance_is_the_enumerated_optimum(generated):
    p = load_instance("instances/default.json")
    gpus = tuple(g.model_copy(update={"count": 4 * g.count}) for g in p.instance.gpus)  # as bench_robust lifts it
    p = tolerant(replace(p, instance=p.instance.model_copy(update={"gpus": gpus})), "node", 1, gpus_per_node=8)
    plan = solve(p, "min_gpus", time_limit=60)
    assert plan.status == "optimal" and len(plan.gpus) == 13  # 8 + 5: docs/benchmarks.md, enumerated
    assert survives(p, plan) == []


def test_the_survivors_bound_proves_what_the_lp_cannot():
    # 3 ParvaGPU-like models would need the ILP's branch and bound; here one model on whole GPUs: the rest after
    # losing a node of 4 must serve the demand alone, so no plan has fewer than plain + 4 GPUs
    recs = [schema.MeasurementRecord(model="a", gpu="A30-24GB", profile="4g.24gb", batch=1, latency_ms=10.0,
                                     throughput_rps=400.0)]
    from reference.instances import build

    p = build("surv", [("A30-24GB", 20, 1.0)], [("a", 100.0, 1000.0)], recs, schema.Policy(), "min_gpus")
    pt = tolerant(p, "node", 1, gpus_per_node=4)
    bound = robust.survivor_bound(pt, capacity_table(pt), "highs", None, 3.0)
    assert bound == 3.0 + 4.0
    plan = solve(pt)
    assert plan.status == "optimal" and len(plan.gpus) == 7 and survives(pt, plan) == []
    assert Counter(len(g.instances) for g in plan.gpus) == Counter({1: 7})
    idle = build("idle", [("A30-24GB", 20, 1.0)], [("a", 100.0, 0.0)], recs, schema.Policy(), "min_gpus")
    # found in review: with nothing to serve no unit is needed, so no k units' cost can be claimed
    assert robust.survivor_bound(tolerant(idle, "node", 1, 4), capacity_table(pt), "highs", None, 0.0) is None


def _cost(problem):
    try:
        plan = solve(problem, "min_gpus")
    except Infeasible:
        return None
    return plan.objective.value if plan.gpus else None


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(tiny_shared(gpus=(1, 4), models=(2, 3)), st.sampled_from(["gpu", "gpu", "node"]))
def test_shared_tolerant_plans_against_the_sharing_brute_force(problem, domain):
    p = tolerant(problem, domain, 1, share=True)
    expected = brute_min_cost_shared(p)
    try:
        plan = solve(p, "min_gpus")
    except Infeasible:
        assert expected is None, expected
        return
    where = p.instance.model_dump_json()
    if not plan.gpus:  # no plan among the generated columns (LP feasible, ILP not): honest only if none exists
        assert plan.status == "no_solution" and expected is None, (plan.status, plan.notes, expected, where)
        return
    assert expected is not None, (plan.status, plan.notes, where)
    check_shared_plan(p, plan, "min_gpus")
    assert survives(p, plan) == []
    got = plan.objective.value
    assert got >= expected - 1e-9 * max(1.0, expected), (got, expected, where)
    assert plan.objective.bound is None or plan.objective.bound <= expected * (1 + 1e-9), where
    if plan.status == "optimal":
        assert close(got, expected), (got, expected, where)
    alone = _cost(tolerant(problem, domain, 1, share=False))
    if alone is not None:  # a freedom added: sharing never needs more
        assert got <= alone + 1e-9 * max(1.0, alone), (got, alone, where)


def test_sharing_halves_the_protected_lowrate_fleet():
    p = load_instance("instances/lowrate.json")
    shared = tolerant(p, "gpu", 1, share=True)
    plan = solve(shared, "min_gpus", time_limit=120)
    assert plan.status == "optimal" and len(plan.gpus) == 2  # the survivors' bound: 1 unprotected + 1
    assert survives(shared, plan) == []
    assert any(len(i.models) > 1 for g in plan.gpus for i in g.instances)
    check_shared_plan(shared, plan, "min_gpus")
    alone = solve(tolerant(p, "gpu", 1), "min_gpus", time_limit=120)
    assert len(alone.gpus) == 4 and alone.status == "optimal"
