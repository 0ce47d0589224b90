"""The solver status table (docs/ecosystem.md (ecosystem rules)), including the time-limit cases, on real solver runs too."""

from __future__ import annotations

import pulp
import pytest
from golden.cases import hard_max_scale as _hard

from majula_model.placer.formulation import build
from majula_model.placer.solver import solve_formulation
from majula_model.placer.status import STATUS_TABLE, classify, relative_gap


@pytest.mark.parametrize("pair, expected", [
    ((pulp.LpStatusOptimal, pulp.LpSolutionOptimal), "optimal"),
    ((pulp.LpStatusOptimal, pulp.LpSolutionIntegerFeasible), "feasible"),  # time limit with an incumbent
    ((pulp.LpStatusNotSolved, pulp.LpSolutionNoSolutionFound), "no_solution"),  # time limit, nothing found
    ((pulp.LpStatusInfeasible, pulp.LpSolutionInfeasible), "infeasible"),
    ((pulp.LpStatusUnbounded, pulp.LpSolutionUnbounded), "error"),
    ((pulp.LpStatusOptimal, pulp.LpSolutionInfeasible), "error"),  # inconsistent pair: never guessed
    ((42, 7), "error"),
])
def test_classify(pair, expected):
    assert classify(*pair) == expected


def test_table_values_are_plan_statuses():
    assert set(STATUS_TABLE.values()) <= {"optimal", "feasible", "infeasible", "no_solution", "error"}


def test_relative_gap():
    assert relative_gap(10.0, 10.0) == 0.0
    assert relative_gap(8.0, 10.0) == pytest.approx(0.25)
    assert relative_gap(0.5, 0.6) == pytest.approx(0.1)  # scale floor of 1 near zero
    assert relative_gap(None, 1.0) is None and relative_gap(1.0, None) is None


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_real_time_limits(solver):
    from majula_model.perf.capacity import capacity_table

    p = _hard()
    none = solve_formulation(build(p, "max_scale", capacity_table(p)), solver, 1e-6, phase2=False)
    assert none.status == "no_solution" and none.value is None
    some = solve_formulation(build(p, "max_scale", capacity_table(p)), solver, 0.5, phase2=False)
    assert some.status == "feasible"  # PuLP says LpStatusOptimal here; only sol_status tells
    # HiGHS reports its dual bound through highspy, CBC in its log (solver.cbc_log_bound): both carried
    assert some.bound is not None and some.bound > some.value


def test_cbc_log_bound_reads_both_senses(tmp_path):
    from majula_model.placer.backends import cbc_log_bound

    log = tmp_path / "cbc.log"
    log.write_text("Result - Stopped on time limit\n\nObjective value:    3273.0\nUpper bound:   3334.408\nGap: -0.02\n")
    assert cbc_log_bound(str(log)) == pytest.approx(3334.408)
    log.write_text("Result - Stopped on time limit\nObjective value:  408.0\nLower bound:  405.744\n")
    assert cbc_log_bound(str(log)) == pytest.approx(405.744)
    log.write_text("Result - Optimal solution found\nObjective value:  5.0\n")
    assert cbc_log_bound(str(log)) is None


def test_time_limited_plan_carries_gap_and_bound():
    from majula_model.placer import solve

    plan = solve(_hard(), time_limit=0.5)
    assert plan.status == "feasible"
    assert plan.objective.bound > plan.objective.value
    assert plan.gap == pytest.approx((plan.objective.bound - plan.objective.value) / max(plan.objective.value, 1))
    assert plan.gpus  # the incumbent is decoded


def test_every_solver_has_an_adapter_and_an_unknown_one_names_the_flag():
    from majula_model.errors import InputError
    from majula_model.placer import SOLVERS
    from majula_model.placer.backends import backend

    assert SOLVERS == ("highs", "cbc") and [backend(s).label for s in SOLVERS] == ["HiGHS", "CBC"]
    with pytest.raises(InputError, match="unknown solver 'gurobi'") as e:
        backend("gurobi")
    assert e.value.field == "--solver"


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_both_adapters_give_the_same_lp_relaxation(solver):
    """The relaxation lives in the adapter (scale.py asks it); both solvers agree on a tiny LP solved by hand:
    max x + y s.t. x + 2y <= 4, 3x + y <= 6 -> (1.6, 1.2), value 2.8."""
    from majula_model.placer.backends import backend

    prob = pulp.LpProblem("relax", pulp.LpMaximize)
    x, y = prob.add_variable("x", 0, None, cat="Integer"), prob.add_variable("y", 0, None, cat="Integer")
    prob += x + y
    prob += x + 2 * y <= 4
    prob += 3 * x + y <= 6
    assert backend(solver).relax(prob, 10) == pytest.approx(2.8)
    run = backend(solver).run(prob, 10)
    assert run.status == "optimal" and run.has_solution() and run.value == pytest.approx(2.0) == run.bound


def test_objectives_come_from_the_contract():
    from typing import get_args

    from majula_model.placer import OBJECTIVES
    from majula_model.schema import Objective

    assert OBJECTIVES == get_args(Objective)
