"""One adapter per MILP solver: how each is built, run, read back (status, value, dual bound) and relaxed.

Why one place: the two solvers differ exactly where a plan's claims come from. Status: on a time limit with an
incumbent PuLP reports ``LpStatusOptimal`` for both, and only ``sol_status`` tells a proven optimum from a
feasible incumbent (``status.classify``, docs/ecosystem.md). Dual bound: HiGHS gives it through its API (in the
minimisation PuLP hands it, so the sign is undone for a maximisation); CBC only prints it in its log. Tolerances:
both are tightened from the defaults (HiGHS stops at 1e-4 relative gap, which at 10,000 GPUs is a whole GPU) so
that "optimal" means proven optimal. The solver is always named explicitly: PuLP's default depends on what is
installed, and PuLP 4 dropped the bundled CBC.

``highs`` (``pulp.HiGHS``: highspy in process, no files) is the default; ``cbc`` (``pulp.PULP_CBC_CMD``) the
fallback.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from dataclasses import dataclass

import pulp

from ..errors import InputError
from .status import classify, has_solution

REL_GAP = 1e-9
ABS_GAP = 1e-6


@dataclass(frozen=True)
class RunResult:
    """What one solver run says: the plan status, the objective value (None without an incumbent) and the dual
    bound in the problem's own sense (None where the solver gave none)."""

    status: str
    value: float | None
    bound: float | None

    def has_solution(self) -> bool:
        """True when the run left integer values to read (a proven optimum or a feasible incumbent)."""
        return has_solution(self.status)


class Backend:
    """A MILP solver behind PuLP: ``run`` solves a problem in place, ``relax`` solves its LP relaxation."""

    name: str = ""
    label: str = ""

    def run(self, prob: pulp.LpProblem, time_limit: float | None, options: dict | None = None) -> RunResult:
        raise NotImplementedError

    def relax(self, prob: pulp.LpProblem, time_limit: float | None) -> float | None:
        """The LP relaxation's optimal value, or None when the solver gave none. Leaves variable values as the
        relaxation set them (callers read only the returned value)."""
        raise NotImplementedError

    @staticmethod
    def _read(prob: pulp.LpProblem, bound_if_not_optimal: float | None) -> RunResult:
        status = classify(prob.status, prob.sol_status)
        value = pulp.value(prob.objective) if has_solution(status) else None
        value = None if value is None else float(value)
        return RunResult(status, value, value if status == "optimal" else bound_if_not_optimal)


class Highs(Backend):
    """HiGHS in process through highspy (``pulp.HiGHS``); one thread, so timings are comparable."""

    name, label = "highs", "HiGHS"

    def run(self, prob: pulp.LpProblem, time_limit: float | None, options: dict | None = None) -> RunResult:
        solver = pulp.HiGHS(msg=False, timeLimit=time_limit, gapRel=REL_GAP, gapAbs=ABS_GAP, threads=1,
                            **(options or {}))
        try:
            prob.solve(solver)
        except pulp.PulpSolverError:
            return RunResult("error", None, None)
        return self._read(prob, self.dual_bound(prob))

    @staticmethod
    def dual_bound(prob: pulp.LpProblem) -> float | None:
        """HiGHS's dual bound in the problem's own sense (PuLP hands HiGHS a minimisation; undo its sign flip)."""
        model = getattr(prob, "solverModel", None)
        if model is None:
            return None
        try:
            bound = float(model.getInfo().mip_dual_bound)
        except Exception:  # noqa: BLE001 - an LP (no MIP info) or an older highspy: no bound to report
            return None
        if not math.isfinite(bound):
            return None
        return -bound if prob.sense == pulp.LpMaximize else bound

    def relax(self, prob: pulp.LpProblem, time_limit: float | None) -> float | None:
        try:
            prob.solve(pulp.HiGHS(msg=False, mip=False, timeLimit=time_limit, threads=1))
        except pulp.PulpSolverError:
            return None
        return float(pulp.value(prob.objective)) if prob.status == pulp.LpStatusOptimal else None


class Cbc(Backend):
    """CBC as bundled with PuLP 3.3.x (``pulp.PULP_CBC_CMD``, a subprocess); its dual bound is read from its log."""

    name, label = "cbc", "CBC"

    def _solver(self, time_limit: float | None, log_path: str | None = None, mip: bool = True) -> pulp.LpSolver:
        solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, gapRel=REL_GAP, gapAbs=ABS_GAP, logPath=log_path,
                                   mip=mip)
        if not solver.available():
            raise InputError("CBC is not available in this PuLP installation", field="--solver")
        return solver

    def run(self, prob: pulp.LpProblem, time_limit: float | None, options: dict | None = None) -> RunResult:
        fd, log = tempfile.mkstemp(prefix="majula-cbc-", suffix=".log")
        os.close(fd)
        try:
            prob.solve(self._solver(time_limit, log))
        except pulp.PulpSolverError:
            return RunResult("error", None, None)
        finally:
            bound = cbc_log_bound(log)
            os.unlink(log)
        return self._read(prob, bound)

    def relax(self, prob: pulp.LpProblem, time_limit: float | None) -> float | None:
        try:
            prob.solve(self._solver(time_limit, mip=False))
        except pulp.PulpSolverError:
            return None
        return float(pulp.value(prob.objective)) if prob.status == pulp.LpStatusOptimal else None


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


BACKENDS: dict[str, Backend] = {b.name: b for b in (Highs(), Cbc())}
SOLVERS = tuple(BACKENDS)


def backend(name: str) -> Backend:
    """The adapter for ``name``; InputError naming ``--solver`` for an unknown one."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise InputError(f"unknown solver '{name}' (known: {', '.join(SOLVERS)})", field="--solver") from None
