"""``solve --triton DIR`` on every bundled instance: every ``config.pbtxt`` parses with Triton's own
``model_config.proto`` (``tritonclient.grpc.model_config_pb2``, protobuf text format: unknown fields are
errors), one file per variant the plan runs, and the numbers are the plan's: batch, processes, turn-taking, and
the queue delay from the SLO rule (recomputed here by a separate search)."""

from __future__ import annotations

import math
from collections import defaultdict

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from cluster_runs import INSTANCES, solve_odd, solved
from majula_model.hardware.catalog import default_catalog
from majula_model.outputs.triton import queue_budget_ms, safe_name
from majula_model.perf.queueing import poisson_capacity
from majula_model.problem.loading import load_instance
from majula_model.schema import Plan, Policy
from majula_model.simulator.service import build_runs


def _configs(run) -> dict[str, model_config_pb2.ModelConfig]:
    out = {}
    for p in sorted(run.triton.glob("*/config.pbtxt")):
        out[p.parent.name] = text_format.Parse(p.read_text(), model_config_pb2.ModelConfig())
    return out


def _plan_variants(plan: dict) -> dict[tuple, list]:
    """(model, batch, processes, takes turns) -> the plan's (gpu id, instance index) runs, from the plan JSON."""
    out = defaultdict(list)
    for gi, g in enumerate(plan["gpus"]):
        for ii, inst in enumerate(g["instances"]):
            for m in inst["models"]:
                out[(m["name"], m["batch"], m["processes"], inst.get("sharing") == "time")].append((gi, ii))
    return out


def _expected_names(plan: dict) -> dict[str, tuple]:
    keys = _plan_variants(plan)
    per_model = defaultdict(int)
    for k in keys:
        per_model[k[0]] += 1
    return {(k[0] if per_model[k[0]] == 1 else f"{k[0]}-b{k[1]}-p{k[2]}" + ("-time" if k[3] else "")): k
            for k in keys}


@pytest.mark.parametrize("name", INSTANCES)
def test_every_config_parses_and_holds_the_plans_numbers(name):
    run = solved(name)
    configs = _configs(run)
    expected = _expected_names(run.plan)
    assert sorted(configs) == sorted(expected)
    for dirname, cfg in configs.items():
        model, batch, processes, turns = expected[dirname]
        assert cfg.name == dirname
        assert cfg.max_batch_size == batch
        [group] = cfg.instance_group
        assert group.count == processes and group.kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
        assert list(cfg.dynamic_batching.preferred_batch_size) == [batch]
        assert cfg.dynamic_batching.max_queue_delay_microseconds >= 0
        resources = [(r.name, r.count) for r in group.rate_limiter.resources]
        assert resources == ([("majula-turn", 1)] if turns else [])
    if name == "lowrate":  # shares instances by time: the turn-taking branch above ran
        assert any(k[3] for k in expected.values())


def _rule_holds(policy: Policy, slo: float, service: float, batch: int, processes: int, rate: float,
                cycle: float | None, d: float) -> bool:
    """Whether a run still meets the policy's SLO rule with its SLO shortened by a queue delay ``d`` (ms), and a
    lone request still fits (``d <= slo - S``, time-shared ``slo - cycle``); written from docs/operator.md."""
    span = service if cycle is None else cycle
    if d > slo - span + 1e-9:
        return False
    if policy.arrivals == "smooth":
        need = service if cycle is None else (cycle + service) / 2
        return need <= policy.latency_budget_fraction * (slo - d) + 1e-9
    k = processes if cycle is None else 1
    return rate * (1 + policy.headroom) <= poisson_capacity(batch, k, span, slo - d, policy.target_attainment)


@pytest.mark.parametrize("name", INSTANCES)
def test_queue_delay_is_the_largest_every_instance_of_the_variant_allows(name):
    """The delay holds the rule on every plan instance of the variant, and 2 us more breaks it on one."""
    run = solved(name)
    problem = load_instance(str(run.instance), default_catalog(), command="solve")
    plan = Plan.model_validate(run.plan)
    svc = {(r.instance, r.model): r for r in build_runs(problem, plan)}  # the service times the simulator uses
    policy = problem.instance.policy
    configs = _configs(run)
    keys = _plan_variants(run.plan)
    for dirname, key in _expected_names(run.plan).items():
        d = configs[dirname].dynamic_batching.max_queue_delay_microseconds / 1000
        args = set()
        for gi, ii in keys[key]:
            inst = run.plan["gpus"][gi]["instances"][ii]
            r = svc[((gi, ii), key[0])]
            cycle = None
            if key[3]:
                cycle = max(inst["cycle_ms"], sum(svc[((gi, ii), m["name"])].latency_ms for m in inst["models"]))
            args.add((r.slo_ms, r.latency_ms, r.batch, r.processes, r.rate_rps, cycle))
        holds = [_rule_holds(policy, *a, d) for a in args]
        later = [_rule_holds(policy, *a, d + 0.002) for a in args]
        assert all(holds) or d == 0, (dirname, d)
        assert not all(later), (dirname, d)  # a larger delay breaks some instance: the largest one was taken


def test_queue_budget_by_hand():
    smooth = Policy(arrivals="smooth", latency_budget_fraction=0.5)
    assert queue_budget_ms(smooth, 100.0, 20.0, 4, 1, 50.0) == pytest.approx(60.0)  # 20 <= 0.5 (100 - d)
    assert queue_budget_ms(smooth, 100.0, 60.0, 4, 1, 50.0) == 0.0  # already past the rule: no delay
    # time-shared, cycle 50: 50 + 20 <= 2 * 0.5 * (100 - d) -> d = 30
    assert queue_budget_ms(smooth, 100.0, 20.0, 1, 1, 5.0, cycle_ms=50.0) == pytest.approx(30.0)
    # f = 1: the rule allows 100 - 35 = 65, but a lone request still waits for the cycle: d <= 100 - 50
    loose = Policy(arrivals="smooth", latency_budget_fraction=1.0)
    assert queue_budget_ms(loose, 100.0, 20.0, 1, 1, 5.0, cycle_ms=50.0) == pytest.approx(50.0)
    poisson = Policy(arrivals="poisson", target_attainment=0.99)
    assert queue_budget_ms(poisson, 100.0, 10.0, 1, 1, 0.0) == pytest.approx(90.0)  # nothing routed: slo - S
    full = poisson_capacity(1, 1, 10.0, 100.0, 0.99)  # M/D/1 at its Poisson capacity: no room to wait
    assert queue_budget_ms(poisson, 100.0, 10.0, 1, 1, full) == pytest.approx(0.0, abs=1e-3)
    half = queue_budget_ms(poisson, 100.0, 10.0, 1, 1, full / 2)
    assert 0 < half < 90 and poisson_capacity(1, 1, 10.0, 100.0 - half, 0.99) >= full / 2
    assert poisson_capacity(1, 1, 10.0, 100.0 - half - 0.01, 0.99) < full / 2 or math.isclose(half, 90.0)
    room = Policy(arrivals="poisson", target_attainment=0.99, headroom=1.0)  # headroom: the delay may not eat it
    assert queue_budget_ms(room, 100.0, 10.0, 1, 1, full / 2) == pytest.approx(0.0, abs=1e-3)


def test_safe_names_are_directory_names_and_stay_distinct():
    assert safe_name("resnet50") == "resnet50"
    a, b = safe_name("org/model v2"), safe_name("org-model-v2")
    assert "/" not in a and " " not in a and a != b and b == "org-model-v2"
    assert not safe_name("..hidden").startswith(".")


def test_odd_names_get_directory_names_and_the_cpu_runs_on_cpu(tmp_path):
    run = solve_odd(tmp_path)
    configs = _configs(run)
    assert sorted(configs) == sorted([safe_name("Org/ResNet 50"), "tiny"])
    odd, tiny = configs[safe_name("Org/ResNet 50")], configs["tiny"]
    assert "/" not in odd.name and " " not in odd.name
    assert odd.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    assert tiny.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU
    # smooth, f = 0.5, slo 100 ms: 100 - 5 / 0.5 = 90 ms and 100 - 10 / 0.5 = 80 ms
    assert odd.dynamic_batching.max_queue_delay_microseconds == 90000
    assert tiny.dynamic_batching.max_queue_delay_microseconds == 80000
