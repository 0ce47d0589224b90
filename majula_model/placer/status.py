"""Solver termination in one table: PuLP's (status, sol_status) -> optimal / feasible / infeasible /
no_solution / error.

Why a table and not ``prob.status == LpStatusOptimal``: on a time limit with an incumbent, PuLP reports
``LpStatusOptimal`` for both HiGHS and CBC (docs/ecosystem.md (ecosystem rules)); only ``sol_status`` tells a proven optimum
(``LpSolutionOptimal``) from a feasible incumbent (``LpSolutionIntegerFeasible``). Anything not in the table is
``error``, never a guess.
"""

from __future__ import annotations

import math

import pulp

STATUS_TABLE: dict[tuple[int, int], str] = {
    (pulp.LpStatusOptimal, pulp.LpSolutionOptimal): "optimal",
    (pulp.LpStatusOptimal, pulp.LpSolutionIntegerFeasible): "feasible",  # time limit with an incumbent
    (pulp.LpStatusInfeasible, pulp.LpSolutionInfeasible): "infeasible",
    (pulp.LpStatusInfeasible, pulp.LpSolutionNoSolutionFound): "infeasible",
    (pulp.LpStatusNotSolved, pulp.LpSolutionNoSolutionFound): "no_solution",  # time limit, no incumbent
    (pulp.LpStatusUnbounded, pulp.LpSolutionUnbounded): "error",  # cannot happen: every variable is bounded
    (pulp.LpStatusUndefined, pulp.LpSolutionNoSolutionFound): "no_solution",  # CBC stopped without incumbent
}


SOLUTION_STATUSES = frozenset({"optimal", "feasible"})
"""Statuses that come with integer values to read: a proven optimum, or an incumbent found before a limit."""


def has_solution(status: str) -> bool:
    """True for a status with a solution to decode (``SOLUTION_STATUSES``)."""
    return status in SOLUTION_STATUSES


def classify(status: int, sol_status: int) -> str:
    """The plan status for PuLP's pair; ``error`` for any pair the table does not know."""
    return STATUS_TABLE.get((status, sol_status), "error")


def relative_gap(value: float | None, bound: float | None) -> float | None:
    """|bound - value| / max(|value|, 1), or None when either is unknown (scale-free, 0 at a proven optimum)."""
    if value is None or bound is None or not (math.isfinite(value) and math.isfinite(bound)):
        return None
    return abs(bound - value) / max(abs(value), 1.0)


def proven(value: float | None, bound: float | None, tol: float = 1e-6) -> bool:
    """True when ``bound`` proves ``value`` optimal: they agree to ``tol`` relative to their own size. Unlike
    ``relative_gap`` (the contract's figure, with a floor of 1 under the denominator), this holds at any scale:
    a cost of 1e-7 per GPU and a bound 20% below it is not a proof."""
    if value is None or bound is None or not (math.isfinite(value) and math.isfinite(bound)):
        return False
    return abs(bound - value) <= tol * max(abs(value), abs(bound))
