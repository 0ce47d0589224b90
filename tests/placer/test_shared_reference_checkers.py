"""The sharing references of issue 12 checked by hand and against each other; runs without the placer.

``check_shared_plan`` accepts hand-built good shared plans and rejects each kind of broken one (with the
message that names the broken rule); ``shared_brute`` gives hand-worked optima on three tiny instances, equals
the issue-4 brute force when nothing may share, and equals a naive enumeration without pruning.
"""

from __future__ import annotations

import copy
import re

import pytest
from hypothesis import given, settings, strategies as st

from majula_model import schema
from majula_model.perf.queueing import poisson_capacity
from reference.brute_force import brute_force
from reference.instances import build, synthetic
from reference.plan_check import check_plan
from reference.shared_brute import (A30, HAND_WORKED, co, hand_k, hand_m, hand_t,
                                    min_gpus_plan, naive, patterns, shared_brute, solo, tiny_shared)
from reference.shared_check import check_shared_plan

OBJECTIVES = ["max_throughput", "max_scale", "min_gpus"]


def agree(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


# --- the hand-worked optima (worked out in reference/shared_brute.py, "Hand-worked instances") -------------

def test_poisson_figures_used_by_hand():
    assert poisson_capacity(1, 1, 10.0, 100.0, 0.99) == pytest.approx(76.588, abs=1e-3)
    assert poisson_capacity(1, 1, 20.0, 100.0, 0.99) == pytest.approx(26.622, abs=1e-3)
    assert poisson_capacity(1, 1, 30.0, 100.0, 0.99) == pytest.approx(10.616, abs=1e-3)


@pytest.mark.parametrize("name", sorted(HAND_WORKED))
def test_brute_force_hand_worked(name):
    case, objective, want = HAND_WORKED[name]
    got = shared_brute(case())[objective]
    assert agree(got, want), (got, want)


@pytest.mark.parametrize("name", sorted(n for n, (_, objective, want) in HAND_WORKED.items()
                                     if objective == "min_gpus" and want is not None))
def test_brute_force_plan_passes_the_checker_hand_worked(name):
    case, _, want = HAND_WORKED[name]
    problem = case()
    plan = min_gpus_plan(problem)
    check_shared_plan(problem, plan, "min_gpus")
    assert plan.objective.value == want


@settings(max_examples=30, deadline=None)
@given(st.tuples(st.sampled_from(["smooth", "poisson"]), st.sampled_from([("time",), ("mps",), ("time", "mps")]))
       .flatmap(lambda am: tiny_shared(arrivals=am[0], modes=am[1])))
def test_brute_force_plan_passes_the_checker(problem):
    """The two references code the rules separately: every optimum the brute force finds is a plan the checker
    accepts (patterns, layouts, capacities, memory, totals)."""
    plan = min_gpus_plan(problem)
    want = shared_brute(problem, ("min_gpus",))["min_gpus"]
    if want is None:
        assert plan is None
        return
    check_shared_plan(problem, plan, "min_gpus")
    assert agree(plan.objective.value, want)


def test_brute_force_mps_uses_the_measured_colocated_latency():
    # Patterns of M on 2g: a alone, b alone, the time pair (20 ms cycle), the MPS pair at 15 / 20 ms.
    pats = patterns(hand_m())["2g.12gb"]
    assert sorted((p.sharing, p.runs) for p in pats) == [
        ("mps", (("a", 1, 1, 15.0), ("b", 1, 1, 20.0))),
        ("none", (("a", 1, 1, 10.0),)), ("none", (("b", 1, 1, 10.0),)),
        ("time", (("a", 1, 1, 10.0), ("b", 1, 1, 10.0)))]
    # A co-located record measured below the solo latency cannot make the pair faster than alone.
    fast = next(p for p in patterns(hand_m(co_a=8.0))["2g.12gb"] if p.sharing == "mps")
    assert fast.runs[0][3] == 10.0 and agree(fast.capacity[0], 100.0)


def test_brute_force_mps_never_faster_than_alone():
    # b alone: 10 ms latency but 40 rps measured, so its service time is 25 ms; measured with a: 20 ms.
    p = build("slow-b", [(A30, 1, 1.0)], [("a", 100.0, 160.0), ("b", 100.0, 50.0)],
              [solo("a", "2g.12gb", 1, 10.0), solo("b", "2g.12gb", 1, 10.0, tput=40.0),
               co("a", 1, "b", 1, "2g.12gb", 15.0), co("b", 1, "a", 1, "2g.12gb", 20.0)],
              schema.Policy(max_models_per_instance=2), "min_gpus")
    pair = next(x for x in patterns(p)["2g.12gb"] if x.sharing == "mps")
    assert pair.runs == (("a", 1, 1, 15.0), ("b", 1, 1, 25.0)) and agree(pair.capacity[1], 40.0)


def test_brute_force_mps_needs_both_directions_measured():
    p = build("one-way", [(A30, 2, 1.0)], [("a", 100.0, 160.0), ("b", 100.0, 50.0)],
              [solo("a", "2g.12gb", 1, 10.0), solo("b", "2g.12gb", 1, 10.0), co("a", 1, "b", 1, "2g.12gb", 15.0)],
              schema.Policy(max_models_per_instance=2, sharing_modes=("mps",)), "min_gpus")
    assert not [x for x in patterns(p)["2g.12gb"] if x.sharing == "mps"]
    assert shared_brute(p)["min_gpus"] == 2.0


@settings(max_examples=20, deadline=None)
@given(st.one_of(synthetic(a30_only=True), synthetic(a30_only=True, with_full=True)))
def test_brute_force_without_sharing_equals_issue4_brute_force(problem):
    # synthetic() draws one A30 pool and max_models_per_instance = 1: nothing may share.
    want, got = brute_force(problem), shared_brute(problem)
    assert all(agree(got[k], want[k]) for k in OBJECTIVES), (got, want)


@settings(max_examples=20, deadline=None)
@given(st.one_of(
    tiny_shared(gpus=(1, 1), profiles=("2g.12gb", "4g.24gb"), arrivals="smooth"),
    tiny_shared(gpus=(1, 1), profiles=("2g.12gb", "4g.24gb"), arrivals="poisson"),
    tiny_shared(gpus=(2, 2), models=(2, 2), batches=(1, 2), profiles=("2g.12gb", "4g.24gb")),
    tiny_shared(gpus=(2, 2), models=(2, 2), batches=(1, 1), n_profiles=(1, 1), arrivals="poisson")))
def test_brute_force_equals_naive(problem):
    want, got = naive(problem), shared_brute(problem)
    assert all(agree(got[k], want[k]) for k in OBJECTIVES), (got, want)


@settings(max_examples=15, deadline=None)
@given(tiny_shared(k=(3, 3)), st.sampled_from(["smooth", "poisson"]))
def test_brute_force_more_sharing_never_worse(problem, arrivals):
    inst = problem.instance
    pol = inst.policy.model_copy(update={"arrivals": arrivals})

    def value(**update):
        from majula_model.problem.loading import problem_from_instance

        p = problem_from_instance(inst.model_copy(update={"policy": pol.model_copy(update=update)}))
        return shared_brute(p, ("min_gpus", "max_throughput"))

    ladder = [value(max_models_per_instance=1), value(max_models_per_instance=2, sharing_modes=("time",)),
              value(max_models_per_instance=2), value(max_models_per_instance=3)]
    for worse, better in zip(ladder, ladder[1:]):
        assert better["max_throughput"] >= worse["max_throughput"] - 1e-9
        assert worse["min_gpus"] is None or (better["min_gpus"] is not None
                                             and better["min_gpus"] <= worse["min_gpus"])


# --- check_shared_plan: good plans -----------------------------------------------------------------------------

def run(name: str, batch: int, latency: float, rate: float, cap: float, processes: int = 1) -> dict:
    return {"name": name, "batch": batch, "processes": processes, "latency_ms": latency, "rate_rps": rate,
            "capacity_rps": cap}


def plan(gpus: list[dict], models: list[tuple[str, float, float, float]], kind: str, value: float,
         name: str) -> dict:
    return {"instance": name, "objective": {"kind": kind, "value": value, "bound": value}, "status": "optimal",
            "gap": 0.0, "solver": "hand", "solve_seconds": 0.0, "gpus": gpus,
            "models": [{"name": m, "demand_rps": d, "served_rps": s, "capacity_rps": c} for m, d, s, c in models]}


def plan_t() -> dict:
    """T served by one time-shared 4g: cycle 60 ms."""
    ins = {"profile": "4g.24gb", "start": 0, "sharing": "time", "cycle_ms": 60.0,
           "models": [run("a", 8, 30.0, 100.0, 8000 / 60), run("b", 2, 30.0, 30.0, 2000 / 60)]}
    return plan([{"id": 0, "type": A30, "geometry": ["4g.24gb"], "instances": [ins]}],
                [("a", 100.0, 100.0, 8000 / 60), ("b", 30.0, 30.0, 2000 / 60)], "min_gpus", 1.0, "T")


def plan_m() -> dict:
    """M served by one A30: a alone on 2g@0, the MPS pair on 2g@2."""
    gpu = {"id": 0, "type": A30, "geometry": ["2g.12gb", "2g.12gb"], "instances": [
        {"profile": "2g.12gb", "start": 0, "models": [run("a", 1, 10.0, 100.0, 100.0)]},
        {"profile": "2g.12gb", "start": 2, "sharing": "mps",
         "models": [run("a", 1, 15.0, 60.0, 1000 / 15), run("b", 1, 20.0, 50.0, 50.0)]}]}
    return plan([gpu], [("a", 160.0, 160.0, 100 + 1000 / 15), ("b", 50.0, 50.0, 50.0)], "min_gpus", 1.0, "M")


def plan_k(demand: float = 30.0, cap: float = 1000 / 30, cycle: float = 30.0) -> dict:
    """K served by one time-shared 4g running all three."""
    ins = {"profile": "4g.24gb", "start": 0, "sharing": "time", "cycle_ms": cycle,
           "models": [run(m, 1, 10.0, demand, cap) for m in "abc"]}
    return plan([{"id": 0, "type": A30, "geometry": ["4g.24gb"], "instances": [ins]}],
                [(m, demand, demand, cap) for m in "abc"], "min_gpus", 1.0, "K")


def plan_k_alone(demand: float, cap: float) -> dict:
    """K with one model per GPU (what K = 1 gives)."""
    gpus = [{"id": i, "type": A30, "geometry": ["4g.24gb"],
             "instances": [{"profile": "4g.24gb", "start": 0, "models": [run(m, 1, 10.0, demand, cap)]}]}
            for i, m in enumerate("abc")]
    return plan(gpus, [(m, demand, demand, cap) for m in "abc"], "min_gpus", 3.0, "K")


def valid(d: dict) -> schema.Plan:
    return schema.Plan.model_validate(d)


def construct(d: dict) -> schema.Plan:
    """A Plan without validation, so that plans the schema itself refuses reach the checker too."""
    gpus = tuple(schema.PlanGpu.model_construct(
        id=g["id"], type=g["type"], geometry=tuple(g["geometry"]),
        instances=tuple(schema.PlanInstance.model_construct(
            profile=i["profile"], start=i["start"], sharing=i.get("sharing", "none"), cycle_ms=i.get("cycle_ms"),
            models=tuple(schema.PlanModelRun.model_construct(**r) for r in i["models"])) for i in g["instances"]))
        for g in d["gpus"])
    return schema.Plan.model_construct(**{**d, "gpus": gpus, "objective": schema.PlanObjective(**d["objective"]),
                                          "models": tuple(schema.PlanModel(**m) for m in d["models"])})


q30 = poisson_capacity(1, 1, 30.0, 100.0, 0.99)
q10 = poisson_capacity(1, 1, 10.0, 100.0, 0.99)

GOOD = {
    "time pair": (lambda: hand_t(), lambda: valid(plan_t())),
    "mps pair and a solo instance": (lambda: hand_m(), lambda: valid(plan_m())),
    "mps allowed alone": (lambda: hand_m(sharing_modes=("mps",)), lambda: valid(plan_m())),
    "time triple filling 24 GB": (lambda: hand_k(), lambda: valid(plan_k())),
    "time triple, capacity below the bound": (lambda: hand_k(), lambda: valid(plan_k(cap=31.0))),
    "time triple under poisson": (lambda: hand_k(demand=10.0, arrivals="poisson"),
                                  lambda: valid(plan_k(demand=10.0, cap=q30))),
    "unshared under poisson": (lambda: hand_k(k=1, arrivals="poisson"), lambda: valid(plan_k_alone(30.0, q10))),
    "unshared under smooth": (lambda: hand_k(k=1), lambda: valid(plan_k_alone(30.0, 100.0))),
}


@pytest.mark.parametrize("name", sorted(GOOD))
def test_check_shared_plan_accepts(name):
    problem, good = GOOD[name]
    check_shared_plan(problem(), good(), "min_gpus")


def test_unshared_smooth_plan_also_passes_check_plan():
    check_plan(hand_k(k=1), valid(plan_k_alone(30.0, 100.0)), "min_gpus")


# --- check_shared_plan: broken plans ---------------------------------------------------------------------------

def edit(base, path: list, value, build_with=valid):
    def make():
        d = copy.deepcopy(base())
        node = d
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return build_with(d)
    return make


TI = ["gpus", 0, "instances", 0]
MI = ["gpus", 0, "instances", 1]

BROKEN = {  # name: (problem, plan, message the checker must give)
    "cycle_ms wrong": (hand_t, edit(plan_t, TI + ["cycle_ms"], 55.0), "cycle_ms 55.0 != sum"),
    "cycle rule violated": (lambda: hand_t(slo_b=85.0), lambda: valid(plan_t()), r"cycle 60.0 \+ latency 30.0"),
    "capacity above b*1000/cycle": (hand_t, edit(plan_t, TI + ["models", 0, "capacity_rps"], 140.0),
                                    "capacity 140.0 >"),
    "time latency not the solo service time": (
        hand_t, edit(edit(plan_t, TI + ["models", 0, "latency_ms"], 25.0, dict), TI + ["cycle_ms"], 55.0),
        "not the service time"),
    "time batch not measured": (hand_t, edit(plan_t, TI + ["models", 1, "batch"], 4), "no solo record at batch 4"),
    "mps latency below the measured co-located latency": (
        hand_m, edit(plan_m, MI + ["models", 0, "latency_ms"], 14.0), "below the 15.0 ms measured"),
    # b's solo point now has 40 rps measured: service time 25 ms, above the 20 ms measured with a.
    "mps latency below the solo service time": (
        lambda: build("M", [(A30, 2, 1.0)], [("a", 100.0, 160.0), ("b", 100.0, 50.0)],
                      [solo("a", "2g.12gb", 1, 10.0), solo("b", "2g.12gb", 1, 10.0, tput=40.0),
                       co("a", 1, "b", 1, "2g.12gb", 15.0), co("b", 1, "a", 1, "2g.12gb", 20.0)],
                      schema.Policy(max_models_per_instance=2), "min_gpus"),
        lambda: valid(plan_m()), "below its solo service time 25.0 ms"),
    "mps capacity above b*1000/latency": (hand_m, edit(plan_m, MI + ["models", 1, "capacity_rps"], 51.0),
                                          "capacity 51.0 >"),
    # b's slo 30 ms gives a 15 ms budget and b runs at 20 ms co-located (alone, its 10 ms still qualifies).
    "mps over the latency budget": (
        lambda: build("M", [(A30, 2, 1.0)], [("a", 100.0, 160.0), ("b", 30.0, 50.0)],
                      hand_m().instance.measurements, schema.Policy(max_models_per_instance=2), "min_gpus"),
        lambda: valid(plan_m()), "co-located latency 20.0 ms > budget 15.0 ms"),
    "mps without co-located data or prior": (
        lambda: build("M0", [(A30, 2, 1.0)], [("a", 100.0, 160.0), ("b", 100.0, 50.0)],
                      [solo("a", "2g.12gb", 1, 10.0), solo("b", "2g.12gb", 1, 10.0)],
                      schema.Policy(max_models_per_instance=2), "min_gpus"),
        lambda: valid(plan_m()), "MPS was not on offer"),
    "time not in sharing_modes": (lambda: hand_t(sharing_modes=("mps",)), lambda: valid(plan_t()),
                                  "not in policy.sharing_modes"),
    "mps not in sharing_modes": (lambda: hand_m(sharing_modes=("time",)), lambda: valid(plan_m()),
                                 "not in policy.sharing_modes"),
    "too many models for max_models_per_instance": (lambda: hand_k(k=2), lambda: valid(plan_k()),
                                                    "3 models in one instance"),
    "shared with max_models_per_instance 1": (lambda: hand_t(max_models_per_instance=1), lambda: valid(plan_t()),
                                              "2 models in one instance"),
    "three models under mps": (hand_k, edit(edit(plan_k, TI + ["sharing"], "mps", dict), TI + ["cycle_ms"], None),
                               "exactly 2 models"),
    "memory overflow": (lambda: hand_k(mem=9.0), lambda: valid(plan_k()), "memory 27.0 GB exceeds"),
    "memory overflow of a pair": (lambda: hand_t(memory=13.0), lambda: valid(plan_t()), "memory 26.0 GB exceeds"),
    "processes 2 in a shared instance": (hand_t, edit(plan_t, TI + ["models", 0, "processes"], 2, construct),
                                         "one process per model"),
    "two models without sharing": (hand_t, edit(edit(plan_t, TI + ["sharing"], "none", dict), TI + ["cycle_ms"],
                                                None, construct), "sharing 'none' with 2 models"),
    "cycle_ms on an mps instance": (hand_m, edit(plan_m, MI + ["cycle_ms"], 35.0, construct),
                                    "cycle_ms 35.0 on an MPS instance"),
    "a model twice in one instance": (hand_t, edit(plan_t, TI + ["models", 1, "name"], "a", construct),
                                      "listed twice"),
    "poisson capacity above the poisson bound": (lambda: hand_k(demand=10.0, arrivals="poisson"),
                                                 lambda: valid(plan_k(demand=10.0, cap=q30 + 1)), "capacity"),
    # slo 25 ms: each model alone (10 ms) keeps a Poisson rate, the 30 ms cycle of the triple none.
    "poisson cycle too long for the slo": (
        lambda: build("K", [(A30, 3, 1.0)], [(m, 25.0, 10.0) for m in "abc"],
                      [solo(m, "4g.24gb", 1, 10.0, memory=8.0) for m in "abc"],
                      schema.Policy(max_models_per_instance=3, arrivals="poisson"), "min_gpus"),
        lambda: valid(plan_k(demand=10.0, cap=1.0)), "keeps no Poisson rate"),
    "unshared poisson capacity not the point's": (lambda: hand_k(k=1, arrivals="poisson"),
                                                  lambda: valid(plan_k_alone(30.0, 100.0)),
                                                  "is not the Poisson capacity"),
    "rate over capacity": (hand_t, edit(plan_t, TI + ["models", 1, "rate_rps"], 34.0), "outside"),
    "served not the sum": (hand_t, edit(plan_t, ["models", 0, "served_rps"], 90.0), "served 90.0 != sum"),
    "wrong objective value": (hand_t, edit(plan_t, ["objective", "value"], 2.0), "objective value"),
    "geometry mismatch": (hand_m, edit(plan_m, ["gpus", 0, "geometry"], ["2g.12gb"]), "does not match"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_check_shared_plan_rejects(name):
    problem, bad, message = BROKEN[name]
    with pytest.raises(AssertionError) as err:
        check_shared_plan(problem(), bad(), "min_gpus")
    assert re.search(message, str(err.value)), str(err.value)
