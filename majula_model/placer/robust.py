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
    (R7) [hull_m]    sum_u e(c[u,m]) y[u] >= 1,  e(c) = c / (k c + 1 + h)   (valid; the LP's strength)
    (R8) [lower]     sum_t w_t sum_{u in U_t} s_u y[u] >= B      B: a proven lower bound (below), when known
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

(R7) is the convex hull of model m's disjunction (R4)-(R5) alone (``robust_colgen`` derives it): it cuts no
plan, implies (R3), and is what makes the LP bound worth having. (R8) cuts no plan either; it lets the solver
stop as soon as its incumbent reaches B.

The survivors' bound B (``survivor_bound``). Remove from any plan its k dearest units: every model still
keeps (1 + h) d_m, so what is left is an unprotected plan within the pool, which costs at least the
unprotected optimum P (its proven bound; instance floors dropped, survivors need not keep them). The k removed
units cost at least k w_min (domain gpu); for nodes, a plan has k + 1 units at least (a model in k units dies
with them) and at most one partial node per type, so at least k + 1 - T of them are full nodes of G GPUs. So
cost >= P + w_min (G max(0, k + 1 - T) + k - max(0, k + 1 - T)). With one type this is P + kG: the LP, which
splits nodes, never sees it (ParvaGPU, 10 GPUs' demand, nodes of 8: LP 14.8, B = 9 + 8 = 17 = the optimum).

Columns, enumerated or generated. Up to ``GPU_CONFIG_LIMIT`` raw configurations of one GPU and
``UNIT_LIMIT`` non-dominated node configurations of one size, every configuration is a column and the ILP's
own proof covers them. Past those limits (``TooMany``) the columns are generated (``robust_colgen``), and the
plan's bound is the larger of the LP bound over every configuration and B; ``optimal`` then means the plan's
cost reaches it. Only min_gpus is planned (the rule is about serving every demand).

Shared instances (``colgen.sharing_on``). A slot may hold a shared pattern (``patterns.Pattern``) instead of one
model; its capacities enter every member's c[u,m] and count as an instance of each. The patterns are those of
the unprotected problem: all of them where few (``colgen.ENUMERATE_LIMIT``), else the ones its LP asked for
(``colgen.generate``). The configurations are then always generated (``robust_colgen``), starting from every solo
configuration when they can be listed (else from the solo generation's columns), so allowing sharing never
loses a solo plan the ILP would find. With every pattern listed, the LP bound covers them all; with generated
patterns it does not, and the plan's bound is the survivors' B, whose P is the unprotected shared optimum's
proven bound (``api.solve``: the LP bound over every pattern), so it holds over every pattern.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import pulp

from ..errors import Infeasible, InputError
from ..perf.capacity import Capacity, Key
from ..problem.problem import Problem
from ..schema import Plan
from .backends import backend
from .decode import GpuAssignment, Slots, empty_plan, make_plan
from .colgen import generate as generate_patterns, sharing_on
from .formulation import build, build_pools, pool_geometries, safe
from .solver import solve_formulation
from .status import has_solution, relative_gap
from .robust_colgen import generate
from .unit_pricing import hull

GPU_CONFIG_LIMIT = 50_000
"""Most GPU configurations (geometry x model on every slot) enumerated per GPU type before pruning."""
UNIT_LIMIT = 5_000
"""Most non-dominated node configurations per GPU type and node size."""
PAIR_LIMIT = 2_000_000
"""Most (node, GPU) sums formed per node size before pruning."""
FIELD = "policy.tolerate_failures"
SHARING_SECONDS = 30.0
"""Without a time limit, how long the shared patterns may be generated."""
PLAIN_SHARE = 0.2
"""Of ``--time-limit``, the share the unprotected solve (the note's price of protection, and the survivors'
bound) may take."""
ENUMERATION_SECONDS = 10.0
ENUMERATION_SHARE = 0.25
"""Listing every configuration may take this long (s), and at most this share of ``--time-limit``; past it the
configurations are generated instead."""
GENERATION_SHARE = 0.6
"""Of ``--time-limit``, the share column generation may take before the ILP over its columns starts."""


class TooMany(Exception):
    """More configurations than the enumeration takes: they are generated instead (``robust_colgen``)."""


@dataclass(frozen=True)
class Unit:
    """One unit configuration: a GPU type, each GPU's slots, and its (scaled, clipped) capacity and instance
    vectors over the active models."""

    type: str
    gpus: tuple[Slots, ...]
    cap: tuple[float, ...]
    inst: tuple[int, ...]


def _pareto(units: list[Unit], limit: int | None = None) -> list[Unit]:
    """The units whose (cap, inst) vector no other unit of the list dominates (duplicates kept once);
    TooMany as soon as more than ``limit`` are kept."""
    if not units:
        return []
    vec = np.array([u.cap + tuple(float(i) for i in u.inst) for u in units], dtype=float)
    order = np.argsort(-vec.sum(axis=1), kind="stable")
    kept: list[int] = []
    kept_vec = np.empty((min(len(units), (limit or len(units)) + 1), vec.shape[1]))
    for i in order:
        v = vec[i]
        if kept and np.any(np.all(kept_vec[:len(kept)] >= v, axis=1)):
            continue
        if limit is not None and len(kept) >= limit:
            raise TooMany(f"more than {limit} non-dominated node configurations of {len(units[0].gpus)} "
                          f"{units[0].type} GPUs")
        kept_vec[len(kept)] = v
        kept.append(int(i))
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
        raise TooMany(f"{total} configurations of one {gpu_type}")
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
            raise TooMany(f"{len(out[s - 1])} x {len(gpus)} node configurations of {s} {gpus[0].type} GPUs")
        sums: dict[tuple, Unit] = {}
        for j, a in enumerate(out[s - 1]):
            if deadline is not None and j % 64 == 0 and time.perf_counter() > deadline:
                raise OutOfTime
            for b in gpus:
                u = _add(a, b, sc)
                sums.setdefault((u.cap, u.inst), u)
        out[s] = _pareto(list(sums.values()), UNIT_LIMIT)
    return out


@dataclass
class Tolerant:
    """The failure-tolerant ILP with its columns."""

    prob: pulp.LpProblem
    units: list[Unit]
    y: list[pulp.LpVariable]
    size: int
    cost_scale: float


def enumerated(problem: Problem, table: dict[Key, Capacity], sc: _Scale, size: int,
               deadline: float | None = None) -> dict[str, list[Unit]]:
    """Every non-dominated unit configuration per usable pool type; TooMany past the limits, OutOfTime."""
    out: dict[str, list[Unit]] = {}
    usable_types = {t for (_, t, _) in table}
    for g in problem.instance.gpus:
        t = problem.catalog.get(g.type).type
        if t not in usable_types:
            continue
        gpus = gpu_configs(problem, table, t, sc)
        if gpus:
            out[t] = [u for us in unit_configs(gpus, min(size, g.count), sc, deadline).values() for u in us]
    return out


def unit(table: dict[Key, Capacity], gpu_type: str, gpus: tuple[Slots, ...], sc: _Scale) -> Unit:
    """The unit whose GPUs hold these slots (a model, or a shared pattern, on each), with its capacity and
    instance vectors (a shared instance counts as one instance of each member)."""
    rates: dict[str, float] = {}
    counts: Counter = Counter()
    for slots in gpus:
        for p, occ in slots:
            runs = [(occ, table[(occ, gpu_type, p)].capacity_rps)] if isinstance(occ, str) else \
                [(r.model, r.capacity_rps) for r in occ.runs]
            for m, r in runs:
                rates[m] = rates.get(m, 0.0) + r
                counts[m] += 1
    cap, inst = sc.vector(rates, counts)
    return Unit(gpu_type, tuple(gpus), cap, inst)


def build_tolerant(problem: Problem, columns: dict[str, list[Unit]], k: int, size: int, sc: _Scale,
                   lower: float | None = None) -> Tolerant:
    """The ILP (R1)-(R8) of the module docstring over ``columns`` (per GPU type); ``lower``: a proven lower
    bound on the cost (R8), which lets the solver stop once its incumbent reaches it."""
    pools = {problem.catalog.get(g.type).type: (g.count, g.cost) for g in problem.instance.gpus}
    cost_scale = max(c for _, c in pools.values())
    prob = pulp.LpProblem(f"majula_{safe(problem.instance.name)}_tolerant", pulp.LpMinimize)
    units: list[Unit] = []
    ys: list[pulp.LpVariable] = []
    cost_terms = []
    for t, us in columns.items():
        n, cost = pools[t]
        pool_terms, partial = [], []
        for u in us:
            s = len(u.gpus)
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
    if lower is not None and cost_terms:
        prob += pulp.lpSum(cost_terms) >= lower / cost_scale * (1 - 1e-9), "lower"  # (R8)
    for i, m in enumerate(sc.models):
        col = [(u.cap[i], v) for u, v in zip(units, ys) if u.cap[i] > 0]
        prob += pulp.lpSum(c * v for c, v in col) >= sc.clip, f"cover_{i}"  # (R3)
        prob += pulp.lpSum(hull(c, k, sc.clip) * v for c, v in col) >= 1, f"hull_{i}"  # (R7)
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


Unprotected = Callable[[Problem, float | None], Plan]
"""Solves a problem's unprotected min_gpus plan within a time limit (``api.solve`` hands its own in, so that
shared plans get their patterns without this module importing the API)."""


def _plain_gpus(problem: Problem, table: dict[Key, Capacity], solver: str, time_limit: float | None,
                unprotected: Unprotected | None = None) -> tuple[int | None, float | None, float | None]:
    """GPUs and cost of the plain min_gpus plan (the count ILP, no failure tolerance; where the policy shares
    instances, ``unprotected``, with its patterns), and its proven lower bound on the cost (None without one)."""
    if sharing_on(problem):  # the count ILP knows no patterns: its optimum would not bound a shared plan
        if unprotected is None:
            return None, None, None
        pol = problem.instance.policy.model_copy(update={"tolerate_failures": None})
        try:
            plan = unprotected(replace(problem, instance=problem.instance.model_copy(update={"policy": pol})),
                               time_limit)
        except Infeasible:
            return None, None, None
        if not plan.gpus:
            return None, None, plan.objective.bound
        value = plan.objective.value
        return len(plan.gpus), value, value if plan.status == "optimal" else plan.objective.bound
    f = build(problem, "min_gpus", table)
    out = solve_formulation(f, solver, time_limit, phase2=False)
    bound = out.bound if out.status in ("optimal", "feasible") else None
    if not out.has_solution():
        return None, None, bound
    cost = {problem.catalog.get(g.type).type: g.cost for g in problem.instance.gpus}
    value = math.fsum(cost[t] * n for (t, _), n in out.y.items())
    return sum(out.y.values()), value, value if out.status == "optimal" else bound


def survivor_bound(problem: Problem, table: dict[Key, Capacity], solver: str, time_limit: float | None,
                   plain_bound: float | None, unprotected: Unprotected | None = None) -> float | None:
    """A lower bound on every failure-tolerant plan's cost from what is left after a loss (module docstring,
    "The survivors' bound"): the k dearest units cost at least ``lost``, and the rest serve every demand on
    their own, so cost at least the unprotected optimum (without instance floors, which survivors need not
    keep)."""
    inst = problem.instance
    k = inst.policy.tolerate_failures.count
    if not any(m.demand_rps > 0 for m in inst.models):  # nothing to serve: no unit is needed at all
        return None
    if any(m.min_instances > 1 for m in inst.models):
        bare = inst.model_copy(update={"models": tuple(m.model_copy(update={"min_instances": 1})
                                                        for m in inst.models)})
        plain_bound = _plain_gpus(replace(problem, instance=bare), table, solver, time_limit, unprotected)[2]
    if plain_bound is None:
        return None
    usable = {t for (_, t, _) in table}
    pools = [g for g in inst.gpus if problem.catalog.get(g.type).type in usable]
    w = min(g.cost for g in pools)
    if inst.policy.tolerate_failures.domain == "gpu":
        lost = k * w
    else:
        full = max(0, k + 1 - len(pools))  # k + 1 units at least, at most one partial node per type
        lost = w * (inst.gpus_per_node * full + (k - full))
    return plain_bound + lost


def solve_tolerant(problem: Problem, objective: str, table: dict[Key, Capacity], *,
                   time_limit: float | None = None, solver: str = "highs",
                   unprotected: Unprotected | None = None) -> Plan:
    """The least-cost plan that survives the loss of any k GPUs or nodes (module docstring), with the price
    of protection in ``plan.notes``; Infeasible when the pool cannot give it. ``unprotected``: how to solve the
    plan without protection where instances are shared (``api.solve`` passes itself)."""
    pol = problem.instance.policy
    tol = pol.tolerate_failures
    if objective != "min_gpus":
        raise InputError(f"objective '{objective}' with policy.tolerate_failures: a failure-tolerant plan serves "
                         "every demand after the loss, so only min_gpus is planned (use --objective min_gpus)",
                         field="objective")
    t0 = time.perf_counter()
    label = backend(solver).label
    k = tol.count
    size = 1 if tol.domain == "gpu" else problem.instance.gpus_per_node
    sc = _Scale(problem)
    what = f"{tol.count} {'GPU' if tol.domain == 'gpu' else f'node(s) of {problem.instance.gpus_per_node} GPU'}(s)"

    def until(share: float) -> float | None:
        return None if time_limit is None else t0 + share * time_limit

    def left(deadline: float | None) -> float | None:
        return None if deadline is None else max(0.05, deadline - time.perf_counter())

    plain, plain_cost, plain_bound = _plain_gpus(problem, table, solver, left(until(PLAIN_SHARE)), unprotected)
    floor = survivor_bound(problem, table, solver, left(until(PLAIN_SHARE)), plain_bound, unprotected)
    gen = None
    shared = _patterns(problem, table, until(PLAIN_SHARE + 0.1)) if sharing_on(problem) else None
    enum_until = time.perf_counter() + (ENUMERATION_SECONDS if time_limit is None
                                        else min(ENUMERATION_SECONDS, ENUMERATION_SHARE * time_limit))
    try:
        columns = enumerated(problem, table, sc, size, enum_until)
        if shared is not None:  # every solo configuration seeds the shared generation: sharing never loses one
            gen = generate(problem, table, sc.models, sc.clip, k, sc.floor, size, until(GENERATION_SHARE),
                           patterns=shared.patterns, seeds={t: [u.gpus for u in us] for t, us in columns.items()})
    except (TooMany, OutOfTime):  # too many to list (or to list in time): generate those the LP asks for
        gen = generate(problem, table, sc.models, sc.clip, k, sc.floor, size, until(GENERATION_SHARE))
        if shared is not None:  # the solo columns seed the shared generation: sharing never loses them
            solo = gen
            gen = generate(problem, table, sc.models, sc.clip, k, sc.floor, size, until(GENERATION_SHARE),
                           patterns=shared.patterns, seeds=solo.columns)
            gen.rounds += solo.rounds
            gen.seconds += solo.seconds
    if gen is not None:
        if shared is not None and not shared.enumerated:  # generated patterns only: no bound, no proof
            gen.bound, gen.complete, gen.infeasible = None, False, False
        if gen.infeasible:
            _infeasible(what, plain, plain_cost)
        columns = {t: [unit(table, t, gpus, sc) for gpus in cs] for t, cs in gen.columns.items()}
    bounds = [b for b in (floor, None if gen is None else gen.bound) if b is not None]
    lower = _rounded(problem, table, max(bounds)) if bounds else None
    f = build_tolerant(problem, columns, k, size, sc, lower)
    run = backend(solver).run(f.prob, left(until(1.0)))
    seconds = time.perf_counter() - t0
    if run.status == "infeasible" and gen is None:
        _infeasible(what, plain, plain_cost)
    bound = None if run.bound is None else run.bound * f.cost_scale
    if gen is not None:  # the ILP's own bound covers its columns only; the generation's covers every one
        bound = lower
    elif lower is not None:
        bound = lower if bound is None else max(bound, lower)
    gen_note = None
    if gen is not None:
        n_cols = sum(len(c) for c in gen.columns.values())
        if shared is not None and not shared.enumerated:
            why = (f"shared instances from the {len(shared.patterns)} patterns the unprotected LP asked for, so the "
                   "LP bound covers those only and the plan's bound is the survivors'")
        elif gen.complete:
            why = f"the LP over every configuration costs at least {gen.bound:.6g}"
        else:
            why = "generation stopped before it proved the LP bound" + (
                f"; the Lagrangian bound is {gen.bound:.6g}" if gen.bound is not None else "")
        gen_note = f"{n_cols} unit configurations generated in {gen.rounds} LP rounds ({gen.seconds:.2f} s): {why}"
    if not has_solution(run.status):
        plan = empty_plan(problem, "min_gpus", status="no_solution" if run.status == "infeasible" else run.status,
                          solver=label, seconds=seconds, bound=bound)
        return plan.model_copy(update={"notes": tuple(n for n in (
            "no failure-tolerant plan among the generated configurations" if run.status == "infeasible" else None,
            gen_note) if n)})
    counts = [int(round(v.varValue or 0)) for v in f.y]
    cost = _plan_cost(problem, f, counts)
    status = "optimal" if (gen is None and run.status == "optimal") or (
        bound is not None and cost <= bound + 1e-9 * max(1.0, cost)) else "feasible"
    plan = make_plan(problem, table, assignments(problem, f, counts), "min_gpus", status=status,
                     solver=label, seconds=seconds, bound=bound)
    notes = [f"tolerates the loss of any {what}: every model keeps (1 + headroom) x its demand"]
    if gen_note:
        notes.append(gen_note)
    if floor is not None and plan.status != "optimal":
        notes.append(f"after any loss the rest is a plan of its own: no protected plan costs less than {floor:.6g}")
    if plain is not None:
        notes.append(f"without failure tolerance: {plain} GPUs (cost {plain_cost:.6g}); with it: "
                     f"{len(plan.gpus)} GPUs (cost {plan.objective.value:.6g})")
    need = {m.name: m.demand_rps * (1 + pol.headroom) for m in problem.instance.models}
    short = [m for m, r in worst_remaining(problem, plan).items() if r < need[m] * (1 - 1e-9)]
    if short:  # the solver's tolerances let a row slip: the plan does not keep its promise, so none is claimed
        bad = empty_plan(problem, "min_gpus", status="error", solver=label, seconds=seconds, bound=bound)
        return bad.model_copy(update={"notes": (f"the solver's counts leave {', '.join(short)} short of demand "
                                                f"after the loss of {what}: no plan is claimed",)})
    value = None if run.value is None else run.value * f.cost_scale
    if value is not None and plan.status == "optimal" and gen is None \
            and abs(value - plan.objective.value) > 1e-6 * max(1, value):
        notes.append(f"the solver's objective {value:.9g} disagrees with the decoded plan's "
                     f"{plan.objective.value:.9g}: not called optimal")
        plan = plan.model_copy(update={"status": "feasible", "gap": relative_gap(plan.objective.value, bound),
                                       "objective": plan.objective.model_copy(update={"bound": bound})})
    return plan.model_copy(update={"notes": tuple(notes)})


def _patterns(problem: Problem, table: dict[Key, Capacity], deadline: float | None):
    """The shared patterns a failure-tolerant unit may hold: all of them where few (``colgen.ENUMERATE_LIMIT``),
    else those the unprotected LP asks for (``colgen.generate``)."""
    return generate_patterns(problem, table, "min_gpus", build_pools(problem, table),
                             deadline=time.perf_counter() + SHARING_SECONDS if deadline is None else deadline)


def _plan_cost(problem: Problem, f: Tolerant, counts: list[int]) -> float:
    cost = {problem.catalog.get(g.type).type: g.cost for g in problem.instance.gpus}
    return math.fsum(cost[u.type] * len(u.gpus) * n for u, n in zip(f.units, counts))


def _rounded(problem: Problem, table: dict[Key, Capacity], bound: float | None) -> float | None:
    """A cost bound raised to a whole GPU where every usable pool type costs the same (plans cost w x GPUs)."""
    if bound is None:
        return None
    usable = {t for (_, t, _) in table}
    costs = {g.cost for g in problem.instance.gpus if problem.catalog.get(g.type).type in usable}
    if len(costs) == 1:
        w = costs.pop()
        gpus = bound / w
        return w * math.ceil(gpus - 1e-7 * max(1.0, gpus))  # relative: LP noise grows with the fleet
    return bound


def _infeasible(what: str, plain: int | None, plain_cost: float | None) -> None:
    """Raise the explained Infeasible: no plan within the pool survives, and what the unprotected plan needs."""
    reasons = [f"no plan within the pool survives the loss of any {what}"]
    if plain is not None:
        reasons.append(f"without failure tolerance {plain} GPU(s) (cost {plain_cost:.6g}) serve every demand")
    raise Infeasible(reasons)
