"""Run a formulation through PuLP with an explicit solver, and read back counts, status, value and bound.

Why explicit: PuLP's default solver depends on what is installed (and PuLP 4 dropped bundled CBC), so the
solver is always named: ``highs`` (``pulp.HiGHS``, highspy in process, no files) by default, ``cbc``
(``pulp.PULP_CBC_CMD``) as fallback. Gap tolerances are tightened from the solvers' defaults (HiGHS stops at
1e-4 relative, which at 10,000 GPUs is a whole GPU) so that "optimal" means proven optimal.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from dataclasses import dataclass, field

import pulp

from ..errors import InputError
from .formulation import Formulation, lexicographic
from .status import classify, highs_bound

SOLVERS = ("highs", "cbc")
REL_GAP = 1e-9
ABS_GAP = 1e-6
PHASE2_SECONDS = 2.0
"""Phase 2 (least cost at the optimal value) is a tie-break: it gets max(PHASE2_SECONDS, 2 x phase 1 time),
within the caller's limit, and its best incumbent is used (the objective stays proven optimal by (7))."""


def make_solver(name: str, time_limit: float | None, highs_options: dict | None = None,
                log_path: str | None = None) -> pulp.LpSolver:
    """The PuLP solver object for ``name`` with our tolerances and time limit (``highs_options``: extra HiGHS
    options, ignored by CBC; ``log_path``: where CBC writes its log, read back for the dual bound)."""
    if name == "highs":
        return pulp.HiGHS(msg=False, timeLimit=time_limit, gapRel=REL_GAP, gapAbs=ABS_GAP, threads=1,
                          **(highs_options or {}))
    if name == "cbc":
        solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, gapRel=REL_GAP, gapAbs=ABS_GAP, logPath=log_path)
        if not solver.available():
            raise InputError("CBC is not available in this PuLP installation", field="--solver")
        return solver
    raise InputError(f"unknown solver '{name}' (known: {', '.join(SOLVERS)})", field="--solver")


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


def run_once(f: Formulation, solver_name: str, time_limit: float | None, highs_options: dict | None = None
             ) -> tuple[str, float | None]:
    """One solver run of ``f``: its plan status and objective value (None without an incumbent)."""
    log = None
    if solver_name == "cbc":
        fd, log = tempfile.mkstemp(prefix="majula-cbc-", suffix=".log")
        os.close(fd)
    solver = make_solver(solver_name, time_limit, highs_options, log)
    try:
        f.prob.solve(solver)
    except pulp.PulpSolverError:
        return "error", None
    finally:
        if log is not None:
            f.cbc_bound = cbc_log_bound(log)
            os.unlink(log)
    status = classify(f.prob.status, f.prob.sol_status)
    value = pulp.value(f.prob.objective) if status in ("optimal", "feasible") else None
    return status, None if value is None else float(value)


def counts(f: Formulation) -> tuple[dict, dict]:
    y = {k: int(round(v.varValue or 0)) for k, v in f.y.items()}
    x = {k: int(round(v.varValue or 0)) for k, v in f.x.items()}
    return {k: n for k, n in y.items() if n > 0}, {k: n for k, n in x.items() if n > 0}


def cbc_log_bound(path: str) -> float | None:
    """The dual bound in CBC's closing summary (``Lower bound:`` when minimising, ``Upper bound:`` when
    maximising, in the problem's own sense); None when CBC printed none (e.g. proven optimal)."""
    try:
        text = open(path, errors="replace").read()
    except OSError:
        return None
    found = re.findall(r"^(?:Lower|Upper) bound:\s+(\S+)", text, flags=re.M)
    try:
        return float(found[-1]) if found else None
    except ValueError:
        return None


def dual_bound(f: Formulation, solver_name: str, status: str, value: float | None) -> float | None:
    if status == "optimal":
        return value
    return highs_bound(f.prob) if solver_name == "highs" else f.cbc_bound


def solve_formulation(f: Formulation, solver_name: str = "highs", time_limit: float | None = None,
                      phase2: bool = True) -> Outcome:
    """Solve ``f``; for the maximising objectives a second phase picks the cheapest GPUs at the same value."""
    t0 = time.perf_counter()
    status, value = run_once(f, solver_name, time_limit)
    label = "HiGHS" if solver_name == "highs" else "CBC"
    out = Outcome(status, label, 0.0, value, dual_bound(f, solver_name, status, value))
    if status in ("optimal", "feasible"):
        out.y, out.x = counts(f)
    if status == "optimal" and phase2 and f.objective != "min_gpus":
        spent = time.perf_counter() - t0
        left = max(PHASE2_SECONDS, 2 * spent)
        if time_limit is not None:
            left = max(0.05, min(left, time_limit - spent))
        lexicographic(f, value)
        status2, _ = run_once(f, solver_name, left)
        if status2 in ("optimal", "feasible"):
            out.y, out.x = counts(f)
    out.seconds = time.perf_counter() - t0
    return out
