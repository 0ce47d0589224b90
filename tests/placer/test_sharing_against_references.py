"""The placer with shared instances (issue 12) against the independent references: on tiny instances its
optimum equals the sharing brute force (``reference.shared_brute``) under smooth and Poisson arrivals with time
sharing, MPS or both; every plan passes ``reference.shared_check.check_shared_plan``; allowing sharing, or one
more mode, never worsens the optimum; with ``max_models_per_instance = 1`` plans are exactly the unshared ones.

A placer that ignores sharing fails the equalities where sharing helps (the reference's optimum is better)
and nothing else: the invariants and the K = 1 checks hold for it too.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from majula_model.errors import Infeasible
from majula_model.placer import solve
from majula_model.problem.loading import problem_from_instance
from reference.brute_force import brute_force
from reference.plan_check import check_plan, close
from reference.shared_brute import HAND_WORKED, hand_k, hand_m, hand_t, shared_brute, tiny_shared, unservable
from reference.shared_check import check_shared_plan

MODES = {"time": ("time",), "mps": ("mps",), "both": ("time", "mps")}


def placer(problem, objective: str):
    """The placer's plan, checked by ``check_shared_plan``; None when it raises Infeasible."""
    try:
        plan = solve(problem, objective)
    except Infeasible:
        return None
    check_shared_plan(problem, plan, objective)
    return plan


def compare(problem, objective: str, expected: float | None) -> None:
    """The placer's optimum equals ``expected`` (None: it must find the instance infeasible)."""
    plan = placer(problem, objective)
    got = None if plan is None else plan.objective.value
    where = f"\n{problem.instance.model_dump_json()}"
    if expected is None:
        assert plan is None, f"{objective}: placer found {got}, the reference says no plan serves the demand{where}"
        return
    assert plan is not None, f"{objective}: placer says infeasible, the reference reaches {expected}{where}"
    beats = got < expected if objective == "min_gpus" else got > expected
    hint = " (better than the exact reference, with a plan the checker accepts: a reference misses a rule)" \
        if beats and not close(got, expected) else ""
    assert close(got, expected), f"{objective}: placer {got} ({plan.status}), reference {expected}{hint}{where}"
    # The proof is the LP bound of every pattern (colgen). Under smooth arrivals it proves these optima; under
    # Poisson arrivals a time-shared pattern's rate falls with the cycle and the LP (with rows (9)) can sit a
    # whole GPU below the optimum: the plan is then the optimum but may only say "feasible", with a valid bound.
    bound = plan.objective.bound
    if problem.instance.policy.arrivals == "smooth":
        assert plan.status == "optimal", f"{objective}: the optimum {got}, but status {plan.status}{where}"
    else:
        assert plan.status in ("optimal", "feasible") and bound is not None, f"{objective}: {plan.status}{where}"
    sign = 1 if objective == "min_gpus" else -1
    assert sign * bound <= sign * got + 1e-6 * max(1.0, abs(got)), f"{objective}: bound {bound} beyond {got}{where}"


def reference(problem, objective: str) -> float | None:
    """The brute-force optimum; None where the placer must raise Infeasible (a model served nowhere, or
    min_gpus beyond the pool)."""
    return None if unservable(problem) else shared_brute(problem, (objective,))[objective]


def with_policy(problem, **update):
    """The same problem under a changed policy."""
    inst = problem.instance
    return problem_from_instance(inst.model_copy(update={"policy": inst.policy.model_copy(update=update)}))


def value(problem, objective: str) -> float | None:
    plan = placer(problem, objective)
    return None if plan is None else plan.objective.value


# --- (a, b) the optimum equals the references; every plan passes check_shared_plan (in placer()) --------------

@pytest.mark.parametrize("name", sorted(HAND_WORKED))
def test_hand_worked(name):
    case, objective, want = HAND_WORKED[name]
    problem = case()
    assert reference(problem, objective) == pytest.approx(want)  # the reference is worked by hand too
    compare(problem, objective, want)


@pytest.mark.parametrize("arrivals", ["smooth", "poisson"])
@pytest.mark.parametrize("modes", sorted(MODES))
def test_tiny_min_gpus_equals_brute_force(arrivals, modes):
    @settings(max_examples=8, deadline=None)
    @given(tiny_shared(arrivals=arrivals, modes=MODES[modes]))
    def run(problem):
        compare(problem, "min_gpus", reference(problem, "min_gpus"))

    run()


@settings(max_examples=16, deadline=None)
@given(st.sampled_from(["smooth", "poisson"]).flatmap(
    lambda a: tiny_shared(arrivals=a, gpus=(1, 2), objective="max_throughput")),
    st.sampled_from(["max_throughput", "max_scale"]))
def test_tiny_other_objectives_equal_brute_force(problem, objective):
    compare(problem, objective, reference(problem, objective))


# --- (c) sharing never worsens the optimum ------------------------------------------------------------------------

def no_worse(better: float | None, worse: float | None, objective: str) -> bool:
    if objective == "min_gpus":
        return worse is None or (better is not None and better <= worse + 1e-9)
    if better is None or worse is None:  # max_throughput is infeasible only where a model is served nowhere
        return better is None and worse is None
    return better >= worse - 1e-6 * max(1.0, worse)


@settings(max_examples=12, deadline=None)
@given(st.sampled_from(["smooth", "poisson"]).flatmap(lambda a: tiny_shared(arrivals=a, gpus=(1, 2))),
       st.sampled_from(["min_gpus", "max_throughput"]))
def test_sharing_never_worsens_the_optimum(problem, objective):
    k = problem.instance.policy.max_models_per_instance
    alone = value(with_policy(problem, max_models_per_instance=1), objective)
    time = value(with_policy(problem, sharing_modes=("time",)), objective)
    mps = value(with_policy(problem, sharing_modes=("mps",)), objective)
    both = value(with_policy(problem, sharing_modes=("time", "mps")), objective)
    assert no_worse(both, alone, objective), f"K = {k}: {both} with sharing, {alone} without"
    assert no_worse(time, alone, objective) and no_worse(mps, alone, objective), (time, mps, alone)
    assert no_worse(both, time, objective) and no_worse(both, mps, objective), (both, time, mps)
    if k == 3:
        two = value(with_policy(problem, max_models_per_instance=2), objective)
        assert no_worse(both, two, objective) and no_worse(two, alone, objective), (both, two, alone)


# --- (d) one model per instance: today's plans ---------------------------------------------------------------

def canonical(plan) -> dict:
    """The plan without solver name and time, floats to 9 significant digits."""
    def walk(x):
        if isinstance(x, float):
            return float(f"{x:.9g}")
        if isinstance(x, dict):
            return {k: walk(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [walk(v) for v in x]
        return x
    return walk(plan.model_dump(exclude={"solver", "solve_seconds"}))


def _run(name, batch, latency, rate, cap):
    return {"name": name, "batch": batch, "processes": 1, "latency_ms": latency, "rate_rps": rate,
            "capacity_rps": cap}


def _expected(name, kind, value, gpus, models):
    return {"instance": name, "objective": {"kind": kind, "value": value, "bound": value}, "status": "optimal",
            "gap": 0.0, "gpus": [{"id": i, "type": "A30-24GB", "geometry": [p for p, _, _ in insts],
                                  "instances": [{"profile": p, "start": s, "sharing": "none", "cycle_ms": None,
                                                 "models": [r]} for p, s, r in insts]}
                                 for i, insts in enumerate(gpus)],
            "models": [{"name": m, "demand_rps": d, "served_rps": s, "capacity_rps": c} for m, d, s, c in models]}


# Worked by hand from the instances in reference/shared_brute.py, with max_models_per_instance = 1 (each has
# one optimal plan): T on one A30: a alone on the 4g (266.7 rps, demand 100) beats b (30). M on one A30: a on
# both 2g (200 rps, 160 routed, 80 each) beats a + b (150). K needs a 4g per model: a, b, c on GPUs 0, 1, 2.
TODAY = {
    "T": (lambda: hand_t(count=1, objective="max_throughput", max_models_per_instance=1), "max_throughput",
          _expected("T", "max_throughput", 100.0, [[("4g.24gb", 0, _run("a", 8, 30.0, 100.0, 8000 / 30))]],
                    [("a", 100.0, 100.0, 8000 / 30), ("b", 30.0, 0.0, 0.0)])),
    "M": (lambda: hand_m(count=1, objective="max_throughput", max_models_per_instance=1), "max_throughput",
          _expected("M", "max_throughput", 160.0, [[("2g.12gb", 0, _run("a", 1, 10.0, 80.0, 100.0)),
                                                    ("2g.12gb", 2, _run("a", 1, 10.0, 80.0, 100.0))]],
                    [("a", 160.0, 160.0, 200.0), ("b", 50.0, 0.0, 0.0)])),
    "K": (lambda: hand_k(k=1), "min_gpus",
          _expected("K", "min_gpus", 3.0, [[("4g.24gb", 0, _run(m, 1, 10.0, 30.0, 100.0))] for m in "abc"],
                    [(m, 30.0, 30.0, 100.0) for m in "abc"])),
}


@pytest.mark.parametrize("name", sorted(TODAY))
@pytest.mark.parametrize("variant", ["as built", "no modes", "interference prior"])
def test_one_model_per_instance_gives_todays_plan(name, variant):
    case, objective, want = TODAY[name]
    problem = case()
    if variant == "no modes":
        problem = with_policy(problem, sharing_modes=())
    elif variant == "interference prior":
        problem = with_policy(problem, interference_prior=True)
    plan = solve(problem, objective)
    check_plan(problem, plan, objective)
    assert canonical(plan) == canonical_dict(want)


def canonical_dict(d: dict) -> dict:
    from majula_model.schema import Plan

    return canonical(Plan.model_validate({**d, "solver": "-", "solve_seconds": 0.0}))


@settings(max_examples=10, deadline=None)
@given(st.sampled_from(["smooth", "poisson"]).flatmap(lambda a: tiny_shared(arrivals=a, k=(1, 1))),
       st.sampled_from(["min_gpus", "max_throughput"]))
def test_one_model_per_instance_ignores_sharing_data(problem, objective):
    """K = 1: no shared instance; the plan does not change with the modes, the interference prior or the
    co-located records; the optimum is the unshared one (issue-4 brute force under smooth arrivals)."""
    plan = placer(problem, objective)
    stripped = problem_from_instance(problem.instance.model_copy(update={"measurements": tuple(
        r for r in problem.instance.measurements if not r.colocated)}))
    others = [with_policy(problem, sharing_modes=("time",)), with_policy(problem, sharing_modes=()),
              with_policy(problem, interference_prior=True), stripped]
    for other in others:
        again = placer(other, objective)
        assert (again is None) == (plan is None)
        if plan is not None:
            assert canonical(again) == canonical(plan)
    want = None if unservable(problem) else (
        brute_force(problem) if problem.instance.policy.arrivals == "smooth"
        else shared_brute(problem, (objective,)))[objective]
    if plan is None:
        assert want is None, f"placer infeasible, the unshared optimum is {want}"
        return
    assert all(i.sharing == "none" for g in plan.gpus for i in g.instances)
    if problem.instance.policy.arrivals == "smooth":
        check_plan(problem, plan, objective)
    assert close(plan.objective.value, want), (plan.objective.value, want)
