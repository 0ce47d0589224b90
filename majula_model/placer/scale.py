"""max_scale proven by its max-min structure: an incumbent, then a cover ILP that says nothing better exists.

Why: ``max a`` subject to ``sum c x >= a d_m`` is a bottleneck objective with a continuous ``a``. HiGHS finds
near-optimal incumbents within a second, but its dual bound stalls a few 1e-4 above them: at 100 and 1,000 GPUs
a full proof took ~1 min and longer (docs/benchmarks.md). The same question with ``a`` fixed is a cover ILP
(``formulation.build_cover``: least cost such that every model gets at least ``A_m``), the kind min_gpus proves
in about a second. So:

1. solve the max_scale ILP for a short while (``INCUMBENT_SECONDS``; ``MIXED_POOL_SECONDS`` or half the time
   limit on pools of several GPU types). Even a HiGHS 'optimal' is checked by step 3: at 10,000 GPUs HiGHS 1.13
   called a = 1.229839 optimal and a cover found a valid plan at 1.229884;
2. ``a0`` = the incumbent's factor, computed from its integer counts (``factor``), never from the solver's value;
3. cover ILP with ``A_m = a0 (1 + STEP) d_m``: infeasible proves that no plan reaches ``a0 (1 + STEP)``: the
   optimum lies in ``[a0, a0 (1 + STEP))``, reported as ``optimal`` with that bound (gap STEP, within the
   solvers' own ``ABS_GAP``); a solution is a better incumbent: recompute its factor from its counts and go on.
   After an improvement (or when a0 is more than ``FAR`` below the LP relaxation) the next cover asks for the
   midpoint of a0 and the upper end (LP relaxation, or the lowest target proven infeasible), then step 3 again.

Strictness despite tolerances: a solver accepts rows and integrality within ~1e-6, so a cover solution may be the
old incumbent in disguise (seen on ``instances/large.json`` with a 1e-9 step). A candidate is kept only if its
factor, recomputed in Python from rounded counts, is strictly above ``a0``; otherwise (or on a HiGHS solve error,
which is how HiGHS reports a presolve point its postsolve finds violated by about the step) the step is multiplied
by 3 (up to ``MAX_STEP``) and the proof states the larger step; if even that is ambiguous, the plan keeps the
max_scale ILP's own 'optimal' when HiGHS gave one, else it is 'feasible'. Every loop either raises ``a0``
strictly (there are finitely many count vectors) or ends, so it terminates. On a time limit the plan is
``feasible`` with the best proven bound: the lowest cover target proven infeasible, else the LP relaxation
(HiGHS's time-limited dual bound was seen below a verified plan's factor, so it is not used).
"""

from __future__ import annotations

import math
import time

from ..perf.capacity import Capacity, Key
from ..problem.loading import Problem
from .formulation import Formulation, Pool, build, build_cover
from .patterns import Pattern
from .solver import PHASE2_SECONDS, Outcome, counts, pattern_counts, relax, run_once, solve_formulation

INCUMBENT_SECONDS = 1.0
"""Time the max_scale ILP gets before the cover proof takes over (it is often proven within it)."""
MIXED_POOL_SECONDS = 10.0
"""Time the max_scale ILP gets on pools with several GPU types (half the time limit when one is given)."""
FAR = 1e-3
"""Relative distance to the LP relaxation above which the loop bisects before trying the proof."""
STEP = 1e-7
"""Relative step of the cover proof: optimal means no plan reaches a0 (1 + STEP) (abs gap ~1e-7 <= ABS_GAP)."""
MAX_STEP = 9e-7
"""Largest step tried (x3 each time) when the solver's tolerances accept a non-improving cover solution: a proof
stays within a relative gap of 1e-6."""
FIRST_SOLUTION = {"mip_rel_gap": 1.0}
"""HiGHS option for cover runs: the proof needs feasibility, not the cheapest cover, so any gap is accepted
(a cost >= 0 has relative gap <= 1 from its first incumbent on); an infeasibility proof is unaffected."""


def factor(problem: Problem, table: dict[Key, Capacity], x: dict[Key, int], z: dict[str, int] | None = None,
           patterns: dict[str, Pattern] | None = None) -> float:
    """min_m (capacity given to m) / d_m for integer counts ``x`` (and shared patterns ``z``), in exact-sum
    floating point."""
    cap: dict[str, list[float]] = {}
    for k, n in x.items():
        cap.setdefault(k[0], []).append(table[k].capacity_rps * n)
    for name, n in (z or {}).items():
        for r in patterns[name].runs:
            cap.setdefault(r.model, []).append(r.capacity_rps * n)
    return min((math.fsum(cap.get(m.name, [])) / m.demand_rps for m in problem.instance.models if m.demand_rps > 0),
               default=0.0)


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.perf_counter()


def _relaxation(f: Formulation, solver: str, left: float | None) -> float | None:
    """The max_scale LP relaxation's value: where the bisection starts looking (not used as a proof)."""
    return None if f.a is None else relax(f, solver, left)


def _cover(problem: Problem, table: dict[Key, Capacity], pools: list[Pool], a: float,
           patterns: list[Pattern] = ()) -> Formulation:
    """Cover ILP asking every model for a x demand; a = 0 asks for one instance each (any factor above 0)."""
    if a > 0:
        return build_cover(problem, table, {m.name: a * m.demand_rps for m in problem.instance.models}, pools,
                           patterns)
    least = {m.name: min(c.capacity_rps for k, c in table.items() if k[0] == m.name) if m.demand_rps > 0 else 0.0
             for m in problem.instance.models}
    return build_cover(problem, table, least, pools, patterns)


def prove_max_scale(problem: Problem, table: dict[Key, Capacity], solver: str = "highs",
                    time_limit: float | None = None, phase2: bool = True,
                    patterns: list[Pattern] = ()) -> tuple[Outcome, Formulation]:
    """The max_scale optimum with its proof (module docstring) over one model per instance and the shared
    ``patterns``; the Formulation is the max_scale ILP (for pools and patterns)."""
    t0 = time.perf_counter()
    deadline = None if time_limit is None else t0 + time_limit
    f = build(problem, "max_scale", table, patterns=patterns)
    pats = list(f.patterns.values())
    first = INCUMBENT_SECONDS
    if len(f.pools) > 1:  # heterogeneous pools: covers are harder and incumbents worse; the ILP gets longer
        first = MIXED_POOL_SECONDS if time_limit is None else max(first, time_limit / 2)
    first = first if time_limit is None else min(first, time_limit)
    out = solve_formulation(f, solver, first, phase2=False)
    if not out.has_solution() or (out.status == "feasible" and (_left(deadline) or 1) <= 0):
        out.seconds = time.perf_counter() - t0
        return out, f
    a0 = factor(problem, table, out.x, out.z, f.patterns)
    ilp_proved = out.status == "optimal"
    a_ilp = a0
    # even a HiGHS 'optimal' is checked: at 10,000 GPUs it claimed 1.229839 optimal, and a cover found 1.229884
    out.status, out.value = "feasible", a0
    hi = _relaxation(f, solver, _left(deadline))  # where the bisection looks; also the bound on a time limit
    if hi is not None:
        # HiGHS's time-limited dual bound was seen below a verified plan's factor; the LP relaxation is a bound
        out.bound = hi
    step = STEP
    prove = hi is None or hi - a0 <= FAR * a0  # far from the relaxation: bisect first, the proof would be slow
    while out.status != "optimal":
        left = _left(deadline)
        if left is not None and left <= 0.01:
            break
        last = a0 * (1 + step)
        # try the proof first (the incumbent is usually optimal); after an improvement, halve [a0, hi) once
        target = last if prove or hi is None or hi <= last else (a0 + hi) / 2
        prove = not prove
        g = _cover(problem, table, f.pools, target, pats)
        run = run_once(g, solver, left, FIRST_SOLUTION)
        if run.status == "infeasible":
            if target == last:
                out.status, out.bound = "optimal", last  # the proof (a0 = 0: no plan serves every model)
                break
            hi = out.bound = target  # proven: no plan reaches target; bisect below it
            continue
        timed_out = deadline is not None and _left(deadline) <= 0.01
        if not run.has_solution() and timed_out:
            break  # time limit without an answer: the incumbent stands, 'feasible'
        # HiGHS reports a solve error when presolve accepted a point its postsolve finds violated by about
        # the step: as ambiguous as a cover solution that does not improve
        y, x = counts(g) if run.has_solution() else ({}, {})
        z = pattern_counts(g) if run.has_solution() else {}
        a1 = factor(problem, table, x, z, f.patterns) if x or z else -1.0
        if a1 > a0:
            a0, out.y, out.x, out.z, out.value = a1, y, x, z, a1
        elif target > last:
            hi = target  # tolerances accepted a plan below the target: treat the target as the bound hint
        elif step * 3 <= MAX_STEP:
            step *= 3  # the tolerances accepted the old factor: ask for a clearly larger one
        else:
            if ilp_proved and a0 == a_ilp:
                # small demands next to large capacities: integrality tolerance x capacity exceeds any step we
                # may claim; fall back to the max_scale ILP's own proof (HiGHS 'optimal', gap <= ABS_GAP)
                out.status, out.bound = "optimal", a0
            break
    if out.status == "optimal" and phase2:
        _least_cost(problem, table, f.pools, out, solver, t0, deadline, pats)
    out.seconds = time.perf_counter() - t0
    return out, f


def _least_cost(problem: Problem, table: dict[Key, Capacity], pools: list[Pool], out: Outcome, solver: str,
                t0: float, deadline: float | None, patterns: list[Pattern] = ()) -> None:
    """Phase 2: the cheapest plan whose factor (recomputed from its counts) is still the proven optimum."""
    spent = time.perf_counter() - t0
    left = max(PHASE2_SECONDS, 2 * spent)
    if deadline is not None:
        left = max(0.05, min(left, deadline - time.perf_counter()))
    g = _cover(problem, table, pools, out.value, patterns)
    if run_once(g, solver, left).has_solution():
        y, x = counts(g)
        z = pattern_counts(g)
        if factor(problem, table, x, z, g.patterns) >= out.value:
            out.y, out.x, out.z = y, x, z
