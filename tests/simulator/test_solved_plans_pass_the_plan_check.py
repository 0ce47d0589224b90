"""Every plan `solve` produces passes `validate_plan`: the check that the simulator's plan validator does not
reject good plans. On every bundled instance and objective (instances/*.json; a short time limit, so the larger
ones stop at a `feasible` incumbent, which must pass too), the golden demo, and the hand-worked shared-instance
cases of the sharing references (time-shared and MPS instances, both arrival policies), each plan also checked
by the independent test-side auditors, so a plan accepted here is one they vouch for."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from majula_model.errors import Infeasible
from majula_model.placer import solve
from majula_model.problem.loading import load_instance
from majula_model.simulator import validate_plan
from reference.plan_check import check_plan
from reference.shared_brute import HAND_WORKED, tiny_shared
from reference.shared_check import check_shared_plan

from conftest import ROOT

BUNDLED = sorted((ROOT / "instances").glob("*.json"))
OBJECTIVES = ("max_throughput", "max_scale", "min_gpus")


@pytest.fixture(scope="module", params=BUNDLED, ids=lambda p: p.stem)
def bundled(request):
    return load_instance(str(request.param))


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_bundled_instances(bundled, objective):
    plan = solve(bundled, objective, time_limit=2.0)
    if not plan.gpus:  # 2 s ended before a first incumbent (lowrate, max_scale): an empty plan proves nothing
        plan = solve(bundled, objective, time_limit=6.0)
    assert plan.status in ("optimal", "feasible"), plan.status
    assert plan.gpus, "a solved bundled instance uses GPUs"
    validate_plan(bundled, plan, file="plan.json", load=1.0, duration_s=1.0)


def test_golden_demo():
    from golden.cases import golden_problem

    problem = golden_problem()
    for objective in OBJECTIVES:
        plan = solve(problem, objective)
        check_plan(problem, plan, objective)
        validate_plan(problem, plan)


@pytest.mark.parametrize("name", sorted(HAND_WORKED))
def test_hand_worked_shared_cases(name):
    case, objective, optimum = HAND_WORKED[name]
    problem = case()
    if optimum is None:
        pytest.skip("no plan serves every demand: nothing to validate")
    plan = solve(problem, objective)
    check_shared_plan(problem, plan, objective)
    validate_plan(problem, plan)


def test_shared_cases_cover_both_sharing_modes():
    """The hand-worked cases give at least one time-shared and one MPS instance (else the test above would not
    exercise the shared checks)."""
    modes = set()
    for case, objective, optimum in HAND_WORKED.values():
        if optimum is not None:
            modes |= {i.sharing for g in solve(case(), objective).gpus for i in g.instances}
    assert {"time", "mps"} <= modes, modes


@settings(max_examples=12, deadline=None)
@given(st.sampled_from(["smooth", "poisson"]).flatmap(lambda a: tiny_shared(arrivals=a)),
       st.sampled_from(["min_gpus", "max_throughput"]))
def test_random_shared_instances(problem, objective):
    try:
        plan = solve(problem, objective)
    except Infeasible:
        return
    if plan.status == "no_solution":
        return
    check_shared_plan(problem, plan, objective)
    validate_plan(problem, plan)
