"""Failure-tolerant plans (``policy.tolerate_failures``, ``placer/robust.py``) against independent references:
every loss of up to k GPUs or nodes recomputed from the plan's JSON (``reference.failure_brute.losses``), the
optimum equal to brute force over every plan of tiny instances, hand-worked counts, and the invariants
"protection never needs fewer GPUs" and "k + 1 never fewer than k"."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from majula_model import schema
from majula_model.errors import Infeasible, InputError
from majula_model.placer import solve
from reference.failure_brute import brute_min_cost, losses, plan_units
from reference.instances import build, synthetic
from reference.plan_check import check_plan, close


def tolerant(problem, domain: str, k: int, gpus_per_node: int | None = None, **policy):
    pol = problem.instance.policy.model_copy(update={
        "tolerate_failures": schema.FailureTolerance(domain=domain, count=k), **policy})
    upd = {"policy": pol}
    if gpus_per_node is not None:
        upd["gpus_per_node"] = gpus_per_node
    return replace(problem, instance=problem.instance.model_copy(update=upd))


def survives(problem, plan) -> list:
    inst = problem.instance
    tol = inst.policy.tolerate_failures
    return losses(json.loads(plan.model_dump_json()), {m.name: m.demand_rps for m in inst.models},
                  inst.policy.headroom, inst.gpus_per_node, tol.domain, tol.count)


def rec(profile: str, tput: float, model: str = "a", gpu: str = "A30-24GB") -> schema.MeasurementRecord:
    return schema.MeasurementRecord(model=model, gpu=gpu, profile=profile, batch=1, latency_ms=10.0,
                                    throughput_rps=tput)


def one_model(count: int, demand: float, **kw):
    # A30 4g: 400 rps is the best GPU (2g+2g = 500 would beat it: left unmeasured)
    return build("hand", [("A30-24GB", count, 1.0)], [("a", 100.0, demand)], [rec("4g.24gb", 400)],
                 schema.Policy(**kw), "min_gpus")


@pytest.mark.parametrize("demand,k,expected", [(1000.0, 1, 4), (1000.0, 2, 5), (400.0, 1, 2), (401.0, 1, 3)])
def test_hand_gpu_domain_adds_k_whole_gpus(demand, k, expected):
    # one model on whole 4g GPUs of 400 rps: ceil(demand / 400) + k GPUs, all alike
    p = tolerant(one_model(10, demand), "gpu", k)
    plan = solve(p)
    assert plan.status == "optimal" and len(plan.gpus) == expected
    assert survives(p, plan) == []
    check_plan(p, plan, "min_gpus")
    plain = -(-int(demand) // 400)
    assert f"without failure tolerance: {plain} GPUs" in " ".join(plan.notes)


def test_hand_node_domain_counts_whole_nodes():
    # 3 GPUs of capacity are needed; nodes of 2: 5 GPUs (2+2+1) lose at most 2 -> 3 left; 4 GPUs leave only 2
    p = tolerant(one_model(10, 1000.0), "node", 1, gpus_per_node=2)
    plan = solve(p)
    assert plan.status == "optimal" and len(plan.gpus) == 5
    assert survives(p, plan) == []
    assert [len(u) for u in plan_units(json.loads(plan.model_dump_json()), 2, "node")] == [2, 2, 1]


def test_headroom_is_kept_after_the_loss():
    p = tolerant(one_model(10, 1000.0, headroom=0.2), "gpu", 1)  # 1200 rps left after a loss: 3 + 1 GPUs
    plan = solve(p)
    assert len(plan.gpus) == 4 and survives(p, plan) == []


def test_spread_two_models_over_gpus():
    # a: 1g 100 rps, demand 150; b: 1g 100 rps, demand 150. Without protection 4 x 1g on one A30 serve both;
    # losing that GPU loses everything, so each model needs 2 instances left after losing the worst GPU.
    recs = [rec("1g.6gb", 100.0, "a"), rec("1g.6gb", 100.0, "b")]
    p = build("spread", [("A30-24GB", 4, 1.0)], [("a", 100.0, 150.0), ("b", 100.0, 150.0)], recs,
              schema.Policy(), "min_gpus")
    assert len(solve(p).gpus) == 1
    pt = tolerant(p, "gpu", 1)
    plan = solve(pt)
    # 2 GPUs of 2a + 2b each lose 200 of 400 per model: 200 >= 150 left
    assert len(plan.gpus) == 2 and survives(pt, plan) == []
    assert close(plan.objective.value, brute_min_cost(pt))


def test_beyond_the_pool_is_infeasible_with_the_price():
    p = tolerant(one_model(3, 1000.0), "gpu", 1)  # needs 4, the pool has 3
    with pytest.raises(Infeasible) as e:
        solve(p)
    assert any("without failure tolerance 3 GPU(s)" in r for r in e.value.reasons)


def test_other_objectives_are_refused_naming_the_field():
    p = tolerant(one_model(4, 500.0), "gpu", 1)
    with pytest.raises(InputError) as e:
        solve(p, "max_throughput")
    assert e.value.field == "objective"


def test_sharing_allowed_with_one_model_plans_as_alone():
    # one model: nothing to share with, so the plan is the solo one (sharing is planned since issue 14)
    alone = solve(tolerant(one_model(4, 500.0), "gpu", 1), "min_gpus")
    shared = solve(tolerant(one_model(4, 500.0, max_models_per_instance=2), "gpu", 1), "min_gpus")
    assert len(shared.gpus) == len(alone.gpus) == 3 and shared.status == "optimal"


def test_schema_rejects_a_zero_count():
    with pytest.raises(ValueError):
        schema.FailureTolerance(domain="gpu", count=0)
    with pytest.raises(ValueError):
        schema.FailureTolerance(domain="rack", count=1)


def _small(draw_problem, data):
    assume(len(draw_problem.instance.models) <= 2)
    domain = data.draw(st.sampled_from(["gpu", "gpu", "node"]))
    k = data.draw(st.integers(1, 2)) if domain == "gpu" else 1
    return tolerant(draw_problem, domain, k, gpus_per_node=2)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(synthetic(max_gpus=3, objective="min_gpus", a30_only=True), st.data())
def test_tiny_optimum_equals_brute_force_and_survives_every_loss(problem, data):
    p = _small(problem, data)
    expected = brute_min_cost(p)
    if expected is None:
        with pytest.raises(Infeasible):
            solve(p)
        return
    plan = solve(p)
    assert plan.status == "optimal"
    check_plan(p, plan, "min_gpus")
    assert survives(p, plan) == []
    assert close(plan.objective.value, expected), (plan.objective.value, expected, p.instance.model_dump_json())


def _cost(problem, objective="min_gpus"):
    try:
        return solve(problem, objective).objective.value
    except Infeasible:
        return None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(synthetic(max_gpus=4, objective="min_gpus"), st.sampled_from(["gpu", "node"]))
def test_protection_never_needs_fewer_gpus_and_k_plus_one_never_fewer_than_k(problem, domain):
    plain = _cost(problem)
    one = _cost(tolerant(problem, domain, 1, gpus_per_node=2))
    two = _cost(tolerant(problem, domain, 2, gpus_per_node=2))
    if one is not None:
        assert plain is not None and one >= plain - 1e-9
    if two is not None:
        assert one is not None and two >= one - 1e-9


def test_enumeration_past_its_time_hands_over_to_generation(monkeypatch):
    """Found in review: enumeration ignored --time-limit (70 s at a 5 s limit). A deadline that passes during
    enumeration now hands over to column generation, which still gives a plan that survives every loss."""
    from majula_model.placer import robust

    real = robust.unit_configs

    def slow(gpus, size, sc, deadline=None):
        return real(gpus, size, sc, -1.0 if deadline is not None else None)  # a deadline already passed

    monkeypatch.setattr(robust, "unit_configs", slow)
    from majula_model import load_instance

    p = load_instance("instances/default.json")
    policy = p.instance.policy.model_copy(update={"tolerate_failures": schema.FailureTolerance(domain="node", count=1)})
    p = replace(p, instance=p.instance.model_copy(update={"policy": policy, "gpus_per_node": 2}))
    plan = solve(p, "min_gpus", time_limit=20.0)
    assert plan.status in ("optimal", "feasible") and plan.gpus
    assert any("unit configurations generated" in n for n in plan.notes)
    assert survives(p, plan) == []
