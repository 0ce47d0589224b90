"""Failure-tolerant plans (``policy.tolerate_failures``): after losing any k GPUs, or any k nodes, every model's
remaining capacity still covers (1 + h) x its demand. Exact in the ILP: no margin is added afterwards.

Why a second formulation: the count ILP (``formulation.py``) knows how many instances serve each model, not on
which GPU they sit, and the loss of one GPU depends on exactly that. Here the columns are whole *units*: one
GPU (domain "gpu") or one node (domain "node": ``gpus_per_node`` GPUs of one type, consecutive among the
plan's GPUs of that type, as ``outputs/migparted.nodes_of`` groups them, docs/ecosystem.md). A unit
configuration u fixes, for each of its GPUs, the geometry and the model on every slot; its vector c[u,m] is
the capacity it gives model m. Counts stay integers, so the size never grows with the fleet.

Sets and data
    M          models with demand d_m > 0 (a retired model gets nothing); h = policy.headroom; k = count.
    U_t        unit configurations of GPU type t (below); s_u GPUs each, cost w_t s_u.
    c[u,m]     capacity of u for m over R_m = d_m, clipped at 1 + h (exact, see below); n[u,m] its instances of
               m (capped at F_m = min_instances, for models with F_m > 1).
    L_m        candidate values of lambda: the distinct positive c[u,m].

Variables
    y[u] >= 0 integer      units of configuration u.          b[m,l] in {0, 1}, l in L_m.

Constraints
    (R1) [pool_t]    sum_{u in U_t} s_u y[u] <= N_t
    (R2) [partial_t] sum_{u in U_t, s_u < G} y[u] <= 1        node domain: one partial node per type (the last)
    (R3) [cover_m]   sum_u c[u,m] y[u] >= 1 + h               (implied by R4; kept for the LP bound)
    (R4) [spare_m_l] sum_u min(c[u,m], l) y[u] >= (k l + 1 + h) b[m,l]     for l in L_m
    (R5) [pick_m]    sum_l b[m,l] >= 1
    (R6) [floor_m]   sum_u n[u,m] y[u] >= F_m                 models[].min_instances > 1
    objective: min sum_t w_t sum_{u in U_t} s_u y[u]

Exactness of (R4)-(R5). For a multiset of unit capacities v_1 >= v_2 >= ... >= v_n (unit u repeated y[u]
times), the worst loss of k units is the top-k sum, and what is left is S(v) = v_{k+1} + ... + v_n. LP
duality of the top-k sum (top_k = min_{lambda >= 0} k lambda + sum_i (v_i - lambda)^+) gives
    S(v) = max_{lambda >= 0} sum_i min(v_i, lambda) - k lambda,
and the maximum is attained at lambda = v_k (each of the k largest contributes lambda, the rest themselves);
for any lambda the value is at most S(v) (the k largest contribute at most lambda each). So S(v) >= 1 + h iff
some lambda in {v_1..v_n} (a value c[u,m] of a used unit; lambda = 0 gives 0 < 1 + h) has
sum_u min(c[u,m], lambda) y[u] >= k lambda + 1 + h, which is (R4) with b[m,lambda] = 1, chosen by (R5). With
b = 0 the row reads "a sum of non-negative terms >= 0": the big-M is implicit, k l + 1 + h, and does not grow
with the fleet. When n <= k every unit is lost: v_k is then 0 or absent and no lambda qualifies, as required.

Exactness of the clip and the pruning. S is non-decreasing in every v_i (raising one unit's capacity raises
the sum by delta and the top-k sum by at most delta), and clip(v) = min(v, 1 + h) keeps the order, so
S(clip v) >= 1 + h iff S(v) >= 1 + h (if one of the n - k smallest exceeds 1 + h both sides hold; else the clip
does not touch them). Hence a configuration whose vector (c, n) is dominated componentwise by another of the
same type and size is never needed: swapping it for the dominating one keeps (R1)-(R6) and the cost. Empty slots
are never needed either (filling one only raises a component), so every GPU takes a maximal geometry of
``formulation.pool_geometries`` with every slot serving a model with a point on that profile. A node is the sum
of its GPUs: the node configurations of size s are the non-dominated sums of a non-dominated (s-1)-GPU node and
one non-dominated GPU (dominance is kept by addition), so enumerating them this way loses nothing.

Nodes. Each type's GPUs are listed consecutively, full nodes first, so every unit the ILP picks is one node of
the plan (and R2 leaves at most one partial node per type, the last one). Nodes never mix types (a real node
holds one kind of GPU); the optimum is over plans of that shape.

Limits (an explained ``InputError`` naming ``policy.tolerate_failures``, never a silent heuristic): more than
``GPU_CONFIG_LIMIT`` raw GPU configurations of one type (many models per profile), or more than
``UNIT_LIMIT`` non-dominated node configurations of one size. Only min_gpus is planned (the rule is about
serving every demand); shared instances (max_models_per_instance > 1) are refused.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pulp

from ..errors import Infeasible, InputError
from ..perf.capacity import Capacity, Key
from ..problem.problem import Problem
from ..schema import Plan
from .backends import backend
from .decode import GpuAssignment, Slots, empty_plan, make_plan
from .formulation import build, pool_geometries, safe
from .solver import solve_formulation
from .status import has_solution, relative_gap

GPU_CONFIG_LIMIT = 50_000
"""Most GPU configurations (geometry x model on every slot) enumerated per GPU type before pruning."""
UNIT_LIMIT = 5_000
"""Most non-dominated node configurations per GPU type and node size."""
PAIR_LIMIT = 2_000_000
"""Most (node, GPU) sums formed per node size before pruning."""
FIELD = "policy.tolerate_failures"


@dataclass(frozen=True)
class Unit:
    """One unit configuration: a GPU type, each GPU's slots, and its (scaled, clipped) capacity and instance
    vectors over the active models."""

    type: str
    gpus: tuple[Slots, ...]
    cap: tuple[float, ...]
    inst: tuple[int, ...]


def _pareto(units: list[Unit]) -> list[Unit]:
    """The units whose (cap, inst) vector no other unit of the list dominates (duplicates kept once)."""
    if not units:
        return []
    vec = np.array([u.cap + tuple(float(i) for i in u.inst) for u in units], dtype=float)
    order = np.argsort(-vec.sum(axis=1), kind="stable")
    kept: list[int] = []
    kept_vec = np.empty((0, vec.shape[1]))
    for i in order:
        v = vec[i]
        if kept and np.any(np.all(kept_vec >= v, axis=1)):
            continue
        kept.append(int(i))
        kept_vec = np.vstack([kept_vec, v])
    return [units[i] for i in sorted(kept)]


class _Scale:
    """Per active model: reference rate (its demand), the clip 1 + h, and the instance floor."""

    def __init__(self, problem: Problem):
        self.models = [m.name for m in problem.instance.models if m.demand_rps > 0]
        self.demand = {m.name: m.demand_rps for m in problem.instance.models}
        self.clip = 1.0 + problem.instance.policy.headroom
        self.floor = {m.name: m.min_instances for m in problem.instance.models
                      if m.demand_rps > 0 and m.min_instances > 1}
        self.floored = sorted(self.floor)

    def vector(self, rates: dict[str, float], counts: Counter) -> tuple[tuple[float, ...], tuple[int, ...]]:
        cap = tuple(min(rates.get(m, 0.0) / self.demand[m], self.clip) for m in self.models)
        return cap, tuple(min(counts[m], self.floor[m]) for m in self.floored)


def gpu_configs(problem: Problem, table: dict[Key, Capacity], gpu_type: str, sc: _Scale) -> list[Unit]:
    """Non-dominated one-GPU configurations of a type: a maximal usable geometry, a model on every slot."""
    gpu = problem.catalog.get(gpu_type)
    active = set(sc.models)
    users: dict[str, list[str]] = {}
    for (m, t, p) in sorted(table):
        if t == gpu_type and m in active:
            users.setdefault(p, []).append(m)
    geos = pool_geometries(gpu, frozenset(users))
    total = sum(math.prod(math.comb(n + len(users[p]) - 1, n) for p, n in Counter(g).items()) for g in geos)
    if total > GPU_CONFIG_LIMIT:
        raise InputError(f"{total} configurations of one {gpu_type} (a model on every slot of every geometry) "
                         f"exceed the {GPU_CONFIG_LIMIT} the failure-tolerant placer enumerates: too many models "
                         "share profiles; plan fewer models at a time or drop tolerate_failures", field=FIELD)
    units: dict[tuple, Unit] = {}
    for g in geos:
        counts = Counter(g)
        profiles = sorted(counts)
        choices = [list(itertools.combinations_with_replacement(users[p], counts[p])) for p in profiles]
        for pick in itertools.product(*choices):
            slots = tuple((p, m) for p, ms in zip(profiles, pick) for m in ms)
            rates: dict[str, float] = {}
            for p, m in slots:
                rates[m] = rates.get(m, 0.0) + table[(m, gpu_type, p)].capacity_rps
            cap, inst = sc.vector(rates, Counter(m for _, m in slots))
            units.setdefault((cap, inst), Unit(gpu_type, (slots,), cap, inst))
    return _pareto(list(units.values()))


def _add(a: Unit, b: Unit, sc: _Scale) -> Unit:
    cap = tuple(min(x + y, sc.clip) for x, y in zip(a.cap, b.cap))
    inst = tuple(min(x + y, sc.floor[m]) for x, y, m in zip(a.inst, b.inst, sc.floored))
    return Unit(a.type, a.gpus + b.gpus, cap, inst)


class OutOfTime(Exception):
    """The configurations were not all enumerated before the time limit."""


def unit_configs(gpus: list[Unit], size: int, sc: _Scale, deadline: float | None = None
                 ) -> dict[int, list[Unit]]:
    """Non-dominated node configurations of 1..size GPUs (module docstring: sums keep dominance); OutOfTime
    when ``deadline`` (a perf_counter time) passes first."""
    out = {1: gpus}
    for s in range(2, size + 1):
        if deadline is not None and time.perf_counter() > deadline:
            raise OutOfTime
        if len(out[s - 1]) * len(gpus) > PAIR_LIMIT:
            raise InputError(f"{len(out[s - 1])} x {len(gpus)} node configurations of {s} {gpus[0].type} GPUs "
                             "are too many to enumerate for the failure-tolerant placer: lower gpus_per_node, "
                             "plan fewer models, or use domain 'gpu'", field=FIELD)
        sums: dict[tuple, Unit] = {}
        for j, a in enumerate(out[s - 1]):
            if deadline is not None and j % 64 == 0 and time.perf_counter() > deadline:
                raise OutOfTime
            for b in gpus:
                u = _add(a, b, sc)
                sums.setdefault((u.cap, u.inst), u)
        out[s] = _pareto(list(sums.values()))
        if len(out[s]) > UNIT_LIMIT:
            raise InputError(f"{len(out[s])} non-dominated node configurations of {s} {gpus[0].type} GPUs exceed "
                             f"the {UNIT_LIMIT} the failure-tolerant placer takes as columns: lower "
                             "gpus_per_node, plan fewer models, or use domain 'gpu'", field=FIELD)
    return out


@dataclass
class Tolerant:
    """The failure-tolerant ILP with its columns."""

    prob: pulp.LpProblem
    units: list[Unit]
    y: list[pulp.LpVariable]
    size: int
    cost_scale: float


def build_tolerant(problem: Problem, table: dict[Key, Capacity], deadline: float | None = None) -> Tolerant:
    """The ILP (R1)-(R6) of the module docstring."""
    pol = problem.instance.policy.tolerate_failures
    k = pol.count
    size = 1 if pol.domain == "gpu" else problem.instance.gpus_per_node
    sc = _Scale(problem)
    pools = [(problem.catalog.get(g.type).type, g.count, g.cost) for g in problem.instance.gpus]
    usable_types = {t for (_, t, _) in table}
    cost_scale = max(c for _, _, c in pools)
    prob = pulp.LpProblem(f"majula_{safe(problem.instance.name)}_tolerant", pulp.LpMinimize)
    units: list[Unit] = []
    ys: list[pulp.LpVariable] = []
    cost_terms = []
    for t, n, cost in pools:
        if t not in usable_types:
            continue
        gpus = gpu_configs(problem, table, t, sc)
        if not gpus:
            continue
        by_size = unit_configs(gpus, min(size, n), sc, deadline)
        pool_terms, partial = [], []
        for s, us in by_size.items():
            for u in us:
                v = prob.add_variable(f"y{len(ys)}_{safe(t)}_{s}", 0, n // s, cat="Integer")
                units.append(u)
                ys.append(v)
                pool_terms.append(s * v)
                cost_terms.append(cost * s / cost_scale * v)
                if s < size:
                    partial.append(v)
        prob += pulp.lpSum(pool_terms) <= n, f"pool_{safe(t)}"  # (R1)
        if partial:
            prob += pulp.lpSum(partial) <= 1, f"partial_{safe(t)}"  # (R2)
    prob += pulp.lpSum(cost_terms)
    for i, m in enumerate(sc.models):
        col = [(u.cap[i], v) for u, v in zip(units, ys) if u.cap[i] > 0]
        prob += pulp.lpSum(c * v for c, v in col) >= sc.clip, f"cover_{i}"  # (R3)
        lams = sorted({c for c, _ in col})
        picks = []
        for j, lam in enumerate(lams):
            b = prob.add_variable(f"b_{i}_{j}", 0, 1, cat="Integer")
            picks.append(b)
            prob += (pulp.lpSum(min(c, lam) * v for c, v in col) - (k * lam + sc.clip) * b >= 0,
                     f"spare_{i}_{j}")  # (R4)
        prob += pulp.lpSum(picks) == 1, f"pick_{i}"  # (R5); no candidate: infeasible, as it must be
    for i, m in enumerate(sc.floored):
        prob += pulp.lpSum(u.inst[i] * v for u, v in zip(units, ys) if u.inst[i]) >= sc.floor[m], f"floor_{i}"  # (R6)
    return Tolerant(prob, units, ys, size, cost_scale)


def assignments(problem: Problem, f: Tolerant, counts: list[int]) -> list[GpuAssignment]:
    """GPUs in node order: per pool type, full nodes first, then its partial node; each unit's GPUs together."""
    out: list[GpuAssignment] = []
    for g in problem.instance.gpus:
        t = problem.catalog.get(g.type).type
        chosen = [(u, n) for u, n in zip(f.units, counts) if u.type == t and n > 0]
        for u, n in sorted(chosen, key=lambda un: len(un[0].gpus) < f.size):  # full first (stable)
            for _ in range(n):
                out += [GpuAssignment(t, slots) for slots in u.gpus]
    return out


def units_of(problem: Problem, plan: Plan) -> list[list]:
    """The plan's failure units: single GPUs, or nodes (per type, gpus_per_node consecutive plan GPUs)."""
    pol = problem.instance.policy.tolerate_failures
    if pol.domain == "gpu":
        return [[g] for g in plan.gpus]
    size = problem.instance.gpus_per_node
    by_type: dict[str, list] = {}
    for g in plan.gpus:
        by_type.setdefault(g.type, []).append(g)
    return [gs[i:i + size] for gs in by_type.values() for i in range(0, len(gs), size)]


def worst_remaining(problem: Problem, plan: Plan) -> dict[str, float]:
    """Per model, the capacity left after the worst loss of ``count`` units (the k largest for that model)."""
    k = problem.instance.policy.tolerate_failures.count
    out = {}
    for m in problem.instance.models:
        per = sorted((math.fsum(r.capacity_rps for g in unit for i in g.instances for r in i.models
                                if r.name == m.name) for unit in units_of(problem, plan)), reverse=True)
        out[m.name] = math.fsum(per[k:])
    return out


def _plain_gpus(problem: Problem, table: dict[Key, Capacity], solver: str, time_limit: float | None
                ) -> tuple[int | None, float | None, str]:
    """GPUs and cost of the plain min_gpus plan (the count ILP, no failure tolerance), and its status."""
    f = build(problem, "min_gpus", table)
    out = solve_formulation(f, solver, time_limit, phase2=False)
    if not out.has_solution():
        return None, None, out.status
    cost = {problem.catalog.get(g.type).type: g.cost for g in problem.instance.gpus}
    return sum(out.y.values()), math.fsum(cost[t] * n for (t, _), n in out.y.items()), out.status


def solve_tolerant(problem: Problem, objective: str, table: dict[Key, Capacity], *,
                   time_limit: float | None = None, solver: str = "highs") -> Plan:
    """The least-cost plan that survives the loss of any k GPUs or nodes (module docstring), with the price
    of protection in ``plan.notes``; Infeasible when the pool cannot give it."""
    pol = problem.instance.policy
    tol = pol.tolerate_failures
    if objective != "min_gpus":
        raise InputError(f"objective '{objective}' with policy.tolerate_failures: a failure-tolerant plan serves "
                         "every demand after the loss, so only min_gpus is planned (use --objective min_gpus)",
                         field="objective")
    if pol.max_models_per_instance > 1:
        raise InputError("shared instances (max_models_per_instance > 1) are not planned with "
                         "policy.tolerate_failures; set it to 1", field="policy.max_models_per_instance")
    t0 = time.perf_counter()
    label = backend(solver).label
    try:
        f = build_tolerant(problem, table, None if time_limit is None else t0 + time_limit)
    except OutOfTime:
        plan = empty_plan(problem, "min_gpus", status="no_solution", solver=label,
                          seconds=time.perf_counter() - t0, bound=None)
        return plan.model_copy(update={"notes": (
            f"the failure-tolerant configurations were not all enumerated within the {time_limit:g} s limit",)})
    spent = time.perf_counter() - t0
    run = backend(solver).run(f.prob, None if time_limit is None else max(0.05, time_limit - spent))
    seconds = time.perf_counter() - t0
    what = f"{tol.count} {'GPU' if tol.domain == 'gpu' else f'node(s) of {problem.instance.gpus_per_node} GPU'}(s)"
    left = None if time_limit is None else max(0.05, time_limit - seconds)  # the note's unprotected solve
    plain, plain_cost, _ = _plain_gpus(problem, table, solver, left)
    if run.status == "infeasible":
        reasons = [f"no plan within the pool survives the loss of any {what}"]
        if plain is not None:
            reasons.append(f"without failure tolerance {plain} GPU(s) (cost {plain_cost:.6g}) serve every demand")
        raise Infeasible(reasons)
    label = backend(solver).label
    value = None if run.value is None else run.value * f.cost_scale
    bound = None if run.bound is None else run.bound * f.cost_scale
    if not has_solution(run.status):
        return empty_plan(problem, "min_gpus", status=run.status, solver=label, seconds=seconds, bound=bound)
    counts = [int(round(v.varValue or 0)) for v in f.y]
    plan = make_plan(problem, table, assignments(problem, f, counts), "min_gpus", status=run.status,
                     solver=label, seconds=seconds, bound=bound)
    notes = [f"tolerates the loss of any {what}: every model keeps (1 + headroom) x its demand"]
    if plain is not None:
        notes.append(f"without failure tolerance: {plain} GPUs (cost {plain_cost:.6g}); with it: "
                     f"{len(plan.gpus)} GPUs (cost {plan.objective.value:.6g})")
    need = {m.name: m.demand_rps * (1 + pol.headroom) for m in problem.instance.models}
    short = [m for m, r in worst_remaining(problem, plan).items() if r < need[m] * (1 - 1e-9)]
    if short:  # the solver's tolerances let a row slip: the plan does not keep its promise, so none is claimed
        bad = empty_plan(problem, "min_gpus", status="error", solver=label, seconds=seconds, bound=bound)
        return bad.model_copy(update={"notes": (f"the solver's counts leave {', '.join(short)} short of demand "
                                                f"after the loss of {what}: no plan is claimed",)})
    if value is not None and plan.status == "optimal" and abs(value - plan.objective.value) > 1e-6 * max(1, value):
        notes.append(f"the solver's objective {value:.9g} disagrees with the decoded plan's "
                     f"{plan.objective.value:.9g}: not called optimal")
        plan = plan.model_copy(update={"status": "feasible", "gap": relative_gap(plan.objective.value, bound),
                                       "objective": plan.objective.model_copy(update={"bound": bound})})
    return plan.model_copy(update={"notes": tuple(notes)})


