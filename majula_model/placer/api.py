"""The placer's public API: ``solve``, ``gpus_needed``, ``sweep``, ``baseline``.

Each is a pure function of a typed ``Problem`` (``loading.load_instance`` or ``problem_from_instance``) and
returns contract types (``schema.Plan``) or small named tuples. Example::

    >>> from majula_model import load_instance
    >>> from majula_model.placer import solve, gpus_needed, sweep
    >>> problem = load_instance("instances/default.json")
    >>> plan = solve(problem, "min_gpus", time_limit=10)
    >>> plan.status, plan.objective.value
    ('optimal', 5.0)
    >>> gpus_needed(problem), gpus_needed(problem).cost
    ({'A100-SXM4-80GB': 5}, 5.0)
    >>> [(p.factor, p.gpus) for p in sweep(problem, [1, 1.5])]
    [(1, 5), (1.5, 7)]

Run from the repository root (``tests/placer/test_api_doctest.py`` runs it there).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import replace
from typing import NamedTuple

from ..perf.capacity import Capacity, Key, feasible_table
from ..errors import Infeasible, InputError
from ..problem.loading import Problem
from ..schema import Plan
from . import baselines as _baselines
from .colgen import Generated, generate, sharing_on
from .decode import assign, empty_plan, make_plan
from .formulation import OBJECTIVES, build, build_pools
from .scale import prove_max_scale
from .solver import PHASE2_SECONDS, solve_formulation
from .status import proven, relative_gap


def _table(problem: Problem) -> dict[Key, Capacity]:
    """Capacities, or Infeasible naming every model that meets its SLO nowhere (``capacity.feasible_table``)."""
    return feasible_table(problem)


def _objective(problem: Problem, objective: str | None) -> str:
    obj = objective or problem.instance.objective
    if obj not in OBJECTIVES:
        raise InputError(f"unknown objective '{obj}' (known: {', '.join(OBJECTIVES)})", field="objective")
    return obj


EXPLAIN_SECONDS = 10.0
"""Time limit of the extra solves that explain an infeasible min_gpus (max_scale is the harder objective)."""


def best_scale(problem: Problem, table: dict[Key, Capacity], solver: str = "highs",
               time_limit: float | None = None) -> tuple[float | None, str]:
    """The largest common factor of every demand the pool can serve (the max_scale optimum) and its status."""
    out, _ = prove_max_scale(problem, table, solver, time_limit, phase2=False)
    return (out.value if out.has_solution() else None), out.status


def _unbounded_gpus(problem: Problem, table: dict[Key, Capacity], solver: str) -> int | None:
    """GPUs min_gpus would need if the pool were large enough (for the infeasibility message)."""
    upper = sum(math.ceil(m.demand_rps / max(c.capacity_rps for k, c in table.items() if k[0] == m.name))
                for m in problem.instance.models)
    pools = [replace(p, count=max(p.count, upper)) for p in build_pools(problem, table)]
    out = solve_formulation(build(problem, "min_gpus", table, pools), solver, EXPLAIN_SECONDS, phase2=False)
    return sum(out.y.values()) if out.status == "optimal" else None


def _beyond_pool(problem: Problem, table: dict[Key, Capacity], solver: str) -> Infeasible:
    scale, status = best_scale(problem, table, solver, EXPLAIN_SECONDS)
    cat = problem.catalog
    usable = {k[1] for k in table}
    pools = [(cat.get(g.type).type, g.count) for g in problem.instance.gpus]
    have = ", ".join(f"{n} {t}" for t, n in pools if t in usable) or "no GPU any model can use"
    idle = [f"{n} {t}" for t, n in pools if t not in usable]
    pool = sum(n for t, n in pools if t in usable)
    what = "at most" if status == "optimal" else "at least (time limit hit)"
    reasons = [f"demand beyond the pool: {have} serve {what} {scale:.4g} x every model's demand "
               f"(best max_scale factor)" if scale is not None else "demand beyond the pool"]
    if idle:
        reasons.append(f"{', '.join(idle)} serve no model: no SLO-feasible point on them (measured, or predicted "
                       "where policy.use_predictions allows)")
    need = _unbounded_gpus(problem, table, solver)
    if need is not None:
        reasons.append(f"min_gpus needs {need} GPU(s) to serve every demand; the usable pool has {pool} ({have})")
    return Infeasible(reasons)


def solve(problem: Problem, objective: str | None = None, *, time_limit: float | None = None,
          solver: str = "highs", current: Plan | None = None, reconfig_cost: float = 0.0,
          current_file: str | None = None) -> Plan:
    """Optimal MIG geometries and model-to-instance assignments for ``problem`` (docs/data-format.md Plan).

    ``objective=None`` uses the instance's. Raises ``Infeasible`` (with reasons) when a model meets its SLO
    on no profile, or, for min_gpus, when the pool cannot serve every demand. A time limit hit with an
    incumbent gives status ``feasible`` with the gap; without one, ``no_solution`` and no GPUs. Where the policy
    lets models share instances, the shared patterns are generated first (``colgen``) and the gap is against the
    LP bound of every pattern.

    ``current`` (a running plan; ``current_file`` names it in errors): re-plan from it, keeping its GPU ids and
    charging ``reconfig_cost`` per reconfigured GPU (``replan``, docs/replan.md).
    """
    obj = _objective(problem, objective)
    time_limit = solver_share(problem, time_limit)
    if current is not None:
        from .replan import replan

        return replan(problem, current, reconfig_cost, objective=obj, time_limit=time_limit, solver=solver,
                      file=current_file)
    table = _table(problem)
    if problem.instance.policy.tolerate_failures is not None:  # per-GPU/node columns (robust.py)
        from .robust import solve_tolerant

        return solve_tolerant(problem, obj, table, time_limit=time_limit, solver=solver,
                              unprotected=lambda p, limit: solve(p, "min_gpus", time_limit=limit, solver=solver))
    if obj == "max_scale":  # proven through its max-min structure (scale.py), not by the ILP's own bound
        gen = _patterns(problem, obj, table, time_limit)
        left = _left(time_limit, gen)
        out, f = prove_max_scale(problem, table, solver, left, patterns=gen.patterns if gen else ())
        if gen is not None:
            out.seconds += gen.seconds
    else:
        f, gen = _shared_formulation(problem, obj, table, time_limit)
        left = _left(time_limit, gen)
        out = solve_formulation(f, solver, left)
        if gen is not None:
            _fewest_shared(f, out, solver, left)
            out.seconds += gen.seconds
    if out.status == "infeasible" and gen is not None and not gen.enumerated and not _proven_beyond(problem, gen):
        # infeasible over the generated patterns only: not a proof that no shared plan exists
        out.status = "no_solution"
    if out.status == "infeasible":
        raise _beyond_pool(problem, table, solver) if obj == "min_gpus" else Infeasible(
            [f"the solver reports '{problem.instance.name}' infeasible for {obj}"])
    if not out.has_solution():
        return empty_plan(problem, obj, status=out.status, solver=out.solver, seconds=out.seconds, bound=out.bound)
    gpus = assign(f.pools, out.y, out.x, out.z, f.patterns)
    generated = gen is not None and not gen.enumerated  # else the ILP holds every column: its own proof stands
    plan = make_plan(problem, table, gpus, obj, status=out.status, solver=out.solver, seconds=out.seconds,
                     bound=None if generated else out.bound)
    if generated:
        return _audit(problem, _against_pattern_bound(problem, plan, gen), out)
    if plan.status == "optimal" and out.bound is not None and out.bound > plan.objective.value:
        # a max_scale proof by cover ILP: the optimum is below a0 (1 + step), not exactly a0; say so
        plan = plan.model_copy(update={"objective": plan.objective.model_copy(update={"bound": out.bound}),
                                       "gap": relative_gap(plan.objective.value, out.bound)})
    return _audit(problem, plan, out)


def _audit(problem: Problem, plan: Plan, out) -> Plan:
    """The solver's claims checked against the plan decoded from its counts (never trusted on their own):
    a min_gpus plan serves every demand, else it is an ``error``; the decoded value equals the solver's, else
    the plan is ``feasible`` against the solver's bound; a least-cost tie-break not proven is said in ``notes``."""
    notes = list(plan.notes)
    kind, value = plan.objective.kind, plan.objective.value
    if kind == "min_gpus":
        short = [m.name for m in plan.models if m.served_rps < m.demand_rps * (1 - 1e-9)]
        if short:
            bad = empty_plan(problem, kind, status="error", solver=plan.solver, seconds=plan.solve_seconds,
                             bound=plan.objective.bound)
            return bad.model_copy(update={"notes": (f"the solver's counts leave {', '.join(short)} short of "
                                                    "demand when decoded: no plan is claimed",)})
    if plan.status == "optimal" and out.value is not None and not proven(value, out.value):
        notes.append(f"the solver's objective {out.value:.9g} disagrees with the decoded plan's {value:.9g}: "
                     "not called optimal")
        plan = plan.model_copy(update={"status": "feasible", "gap": relative_gap(value, out.bound),
                                       "objective": plan.objective.model_copy(update={"bound": out.bound})})
    if out.tie_break == "incumbent":
        notes.append("least cost at the optimal value: the best found within its time, not proven least")
    elif out.tie_break == "not applied":
        notes.append("least cost at the optimal value: not applied (no solution within its time); the plan may "
                     "use more GPUs than needed")
    return plan.model_copy(update={"notes": tuple(notes)}) if notes != list(plan.notes) else plan


DECODE_SECONDS_PER_GPU = 3e-6
"""Decoding time per plan GPU reserved out of a time limit (measured ~2 us per GPU on the 2-core dev machine
for a 1,000,000-GPU plan; docs/benchmarks.md)."""


def solver_share(problem: Problem, time_limit: float | None) -> float | None:
    """The part of ``time_limit`` the pattern generation and the solver may use: the rest is reserved for
    decoding a plan as large as the pool, so the limit bounds the whole solve as users read it. The solver
    always keeps a tenth of the limit (a plan beats no plan)."""
    if time_limit is None:
        return None
    reserve = DECODE_SECONDS_PER_GPU * sum(g.count for g in problem.instance.gpus)
    return max(0.1 * time_limit, time_limit - reserve)


def _proven_beyond(problem: Problem, gen: Generated) -> bool:
    """True when the LP over every pattern needs more than the whole pool (its elastic shortfall is priced far
    above any GPU): then no plan, shared or not, serves every demand."""
    pool = sum(g.cost * g.count for g in problem.instance.gpus)
    return gen.complete and gen.bound is not None and gen.bound > pool * (1 + 1e-9)


def _left(time_limit: float | None, gen: Generated | None) -> float | None:
    """What the solve may still spend after pattern generation (at least 50 ms once patterns exist)."""
    if time_limit is None or gen is None:
        return time_limit
    return max(0.05, time_limit - gen.seconds)


def _fewest_shared(f, out, solver: str, time_limit: float | None) -> None:
    """Tie-break of a min_gpus plan that shares: at the same cost, as few shared instances as possible, so sharing
    is chosen only where it saves GPUs (phase 2, ``formulation.lexicographic``'s rule (7) for cost)."""
    import pulp

    from .solver import counts, pattern_counts, run_once

    if f.objective != "min_gpus" or out.status != "optimal" or not out.z:
        return
    cost = out.value / f.cost_scale
    f.prob += f.cost_expr() <= cost + 1e-7 * max(1.0, abs(cost)), "keep_objective"  # (7)
    f.prob.setObjective(pulp.lpSum(f.z.values()))
    left = PHASE2_SECONDS if time_limit is None else max(0.05, min(PHASE2_SECONDS, time_limit))
    if run_once(f, solver, left).has_solution():
        out.y, out.x = counts(f)
        out.z = pattern_counts(f)


def _patterns(problem: Problem, obj: str, table: dict[Key, Capacity], time_limit: float | None
              ) -> Generated | None:
    """Generated shared patterns where the policy allows sharing, else None. For max_scale, whose LP never
    prices a time-shared pattern (it has no row (9)), the patterns of the min_gpus LP at the same demands join
    those of its own LP, and the bound is its own LP's."""
    if not sharing_on(problem):
        return None
    pools = build_pools(problem, table)
    limit = SHARING_SECONDS if time_limit is None else time_limit / 2
    if obj == "max_scale":  # two generations share the half of the limit the solve does not need
        limit /= 2
    gen = generate(problem, table, obj, pools, deadline=time.perf_counter() + limit)
    if obj == "max_scale":
        extra = generate(problem, table, "min_gpus", pools, deadline=time.perf_counter() + limit)
        names = {p.name for p in gen.patterns}
        gen.patterns += [p for p in extra.patterns if p.name not in names]
        gen.seconds += extra.seconds
    return gen


def _shared_formulation(problem: Problem, obj: str, table: dict[Key, Capacity], time_limit: float | None):
    """The ILP, with generated shared patterns where the policy allows sharing (else exactly the unshared one)."""
    gen = _patterns(problem, obj, table, time_limit)
    if gen is None:
        return build(problem, obj, table), None
    return build(problem, obj, table, build_pools(problem, table), patterns=gen.patterns, present=True), gen


def _against_pattern_bound(problem: Problem, plan: Plan, gen: Generated) -> Plan:
    """Status, bound and gap of a shared plan against the LP bound of the full pattern set (``colgen``): the
    ILP's own bound covers only the generated patterns. Optimal means the plan reaches that bound (min_gpus with
    whole-number GPU costs: its ceiling), also when the ILP itself stopped at a time limit."""
    value, bound = plan.objective.value, gen.bound
    if bound is not None and plan.objective.kind == "min_gpus":
        cheapest = min(g.cost for g in problem.instance.gpus) if any(m.demand_rps > 0 for m in
                                                                       problem.instance.models) else 0.0
        bound = max(bound, cheapest)  # some GPU is needed: a weak Lagrangian bound may fall below it
        if all(float(g.cost).is_integer() for g in problem.instance.gpus):
            bound = math.ceil(bound - 1e-6 * max(1.0, abs(bound)))
    gap = relative_gap(value, bound)
    status = "optimal" if proven(value, bound) else "feasible"
    if status == "optimal":
        bound, gap = value, 0.0
    return plan.model_copy(update={"status": status, "gap": gap,
                                   "objective": plan.objective.model_copy(update={"bound": bound})})


SHARING_SECONDS = 40.0
"""Time pattern generation gets without a time limit (half the limit with one). Stopped early, the plan's bound
is the Lagrangian one (``colgen``), weaker than the LP bound a completed generation proves."""


class GpuCount(dict):
    """GPUs needed per type (a ``dict[str, int]``), with the total cost as ``.cost``."""

    cost: float = 0.0


def gpus_needed(problem: Problem, *, time_limit: float | None = None, solver: str = "highs") -> GpuCount:
    """Least-cost GPUs serving every demand (min_gpus), per type in pool order; ``.cost`` is the total."""
    plan = solve(problem, "min_gpus", time_limit=time_limit, solver=solver)
    return count_gpus(problem, plan)


def count_gpus(problem: Problem, plan: Plan) -> GpuCount:
    """GPUs of a plan per type (pool order) with their total cost."""
    used = Counter(g.type for g in plan.gpus)
    out = GpuCount()
    for g in problem.instance.gpus:
        t = problem.catalog.get(g.type).type
        if used[t]:
            out[t] = used[t]
            out.cost += used[t] * g.cost
    return out


class SweepPoint(NamedTuple):
    """One demand growth factor: GPUs needed (total), their cost and the solve status."""

    factor: float
    gpus: int | None
    cost: float | None
    status: str


def scaled(problem: Problem, factor: float) -> Problem:
    """The same problem with every demand multiplied by ``factor``."""
    models = tuple(m.model_copy(update={"demand_rps": m.demand_rps * factor}) for m in problem.instance.models)
    return replace(problem, instance=problem.instance.model_copy(update={"models": models}))


def unbounded(problem: Problem) -> Problem:
    """The same problem with every pool large enough to serve every demand on its own: for "how many should we
    buy" rather than "does our fleet suffice". The bound puts each model on whole instances of its best profile,
    one per GPU: ceil((1 + headroom) x demand / capacity) of them, at least its ``min_instances``. With
    ``tolerate_failures``, k + 1 copies of that plan (a loss of k units leaves one copy whole), each copy in
    whole nodes for the node domain."""
    table = _table(problem)
    inst = problem.instance
    grow = 1.0 + inst.policy.headroom
    upper = sum(max(m.min_instances, math.ceil(grow * m.demand_rps / max(
        (c.capacity_rps for k, c in table.items() if k[0] == m.name), default=m.demand_rps)))
        for m in inst.models if m.demand_rps > 0)
    tol = inst.policy.tolerate_failures
    if tol is not None:
        per_copy = upper if tol.domain == "gpu" else -(-upper // inst.gpus_per_node) * inst.gpus_per_node
        upper = (tol.count + 1) * per_copy
    pools = tuple(g.model_copy(update={"count": max(g.count, upper)}) for g in inst.gpus)
    return replace(problem, instance=inst.model_copy(update={"gpus": pools}))


def sweep(problem: Problem, factors: list[float], *, time_limit: float | None = None,
          solver: str = "highs", unbounded_pool: bool = False) -> list[SweepPoint]:
    """GPUs needed as demand grows: min_gpus at each factor (``status`` 'infeasible' beyond the pool, unless
    ``unbounded_pool``, which lifts the pool counts so every factor gets an answer)."""
    out = []
    for a in factors:
        if a <= 0:
            raise InputError(f"demand factor must be positive, got {a}", field="factors")
        question = scaled(problem, a)
        if unbounded_pool:
            question = unbounded(question)
        try:
            plan = solve(question, "min_gpus", time_limit=time_limit, solver=solver)
        except Infeasible:
            out.append(SweepPoint(a, None, None, "infeasible"))
            continue
        count = count_gpus(problem, plan)
        out.append(SweepPoint(a, sum(count.values()), count.cost, plan.status))
    return out


def baseline(problem: Problem, name: str, *, solver: str = "highs") -> Plan:
    """A baseline plan serving every demand (``baselines.BASELINES``); Infeasible if it exceeds the pool."""
    if name not in _baselines.BASELINES:
        raise InputError(f"unknown baseline '{name}' (known: {', '.join(_baselines.BASELINES)})",
                         field="--baseline")
    table = _table(problem)
    t0 = time.perf_counter()
    if name == "homogeneous":
        gpus = _baselines.homogeneous(problem, table, solver)
    else:
        gpus = getattr(_baselines, name)(problem, table)
    return make_plan(problem, table, gpus, "min_gpus", status="feasible", solver=f"baseline:{name}",
                     seconds=time.perf_counter() - t0, bound=None)
