"""Run a formulation through a solver adapter (``backends``) and read back integer counts, status, value, bound.

Why separate from the adapters: what is solved (phase 1, then the cheapest GPUs at the phase-1 value for the
maximising objectives) is the placer's policy; how a solver is driven is the adapter's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .backends import RunResult, backend
from .formulation import Formulation, lexicographic
from .status import has_solution

PHASE2_SECONDS = 2.0
"""Phase 2 (least cost at the optimal value) is a tie-break: it gets max(PHASE2_SECONDS, 2 x phase 1 time),
within the caller's limit, and its best incumbent is used (the objective stays proven optimal by (7))."""


@dataclass
class Outcome:
    """What a solve produced: status, objective value and bound, and the integer counts."""

    status: str
    solver: str
    seconds: float
    value: float | None = None
    bound: float | None = None
    y: dict = field(default_factory=dict)
    x: dict = field(default_factory=dict)
    z: dict = field(default_factory=dict)
    """Instances per shared pattern name (``Formulation.patterns``)."""
    tie_break: str | None = None
    """Phase 2 of a maximising objective (least cost at the optimal value): "proven" (least cost proven),
    "incumbent" (the best found within its time: the value stays optimal, the cost may not be least), "not
    applied" (no solution within its time: phase 1's GPUs are kept); None where there is no phase 2."""

    def has_solution(self) -> bool:
        """True when there are counts to decode (a proven optimum or a feasible incumbent)."""
        return has_solution(self.status)


def run_once(f: Formulation, solver_name: str, time_limit: float | None, highs_options: dict | None = None
             ) -> RunResult:
    """One solver run of ``f``: status, objective value and dual bound in the caller's units (``highs_options``:
    extra HiGHS options, ignored by CBC)."""
    run = backend(solver_name).run(f.prob, time_limit, highs_options)
    return RunResult(run.status, f.unscale(run.value), f.unscale(run.bound))


def relax(f: Formulation, solver_name: str, time_limit: float | None) -> float | None:
    """The LP relaxation's optimal value of ``f`` in the caller's units (None when the solver gave none)."""
    return f.unscale(backend(solver_name).relax(f.prob, time_limit))


def counts(f: Formulation) -> tuple[dict, dict]:
    """The positive integer values of y and x after a run with a solution."""
    y = {k: int(round(v.varValue or 0)) for k, v in f.y.items()}
    x = {k: int(round(v.varValue or 0)) for k, v in f.x.items()}
    return {k: n for k, n in y.items() if n > 0}, {k: n for k, n in x.items() if n > 0}


def pattern_counts(f: Formulation) -> dict[str, int]:
    """The positive integer values of z (shared patterns) after a run with a solution."""
    z = {k: int(round(v.varValue or 0)) for k, v in f.z.items()}
    return {k: n for k, n in z.items() if n > 0}


def solve_formulation(f: Formulation, solver_name: str = "highs", time_limit: float | None = None,
                      phase2: bool = True) -> Outcome:
    """Solve ``f``; for the maximising objectives a second phase picks the cheapest GPUs at the same value."""
    t0 = time.perf_counter()
    first = run_once(f, solver_name, time_limit)
    out = Outcome(first.status, backend(solver_name).label, 0.0, first.value, first.bound)
    if out.has_solution():
        out.y, out.x = counts(f)
        out.z = pattern_counts(f)
    if out.status == "optimal" and phase2 and f.objective != "min_gpus":
        spent = time.perf_counter() - t0
        left = max(PHASE2_SECONDS, 2 * spent)
        if time_limit is not None:
            left = max(0.05, min(left, time_limit - spent))
        lexicographic(f, first.value)
        second = run_once(f, solver_name, left)  # (a CBC warm start from phase 1's plan was tried: it kept 512 GPUs)
        out.tie_break = {"optimal": "proven", "feasible": "incumbent"}.get(second.status, "not applied")
        if second.has_solution():
            out.y, out.x = counts(f)
            out.z = pattern_counts(f)
    out.seconds = time.perf_counter() - t0
    return out
