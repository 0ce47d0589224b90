"""The placement ILP: how many GPUs of each type take each MIG geometry, and how many instances of each profile
serve each model.

Why counts and not per-GPU variables: MIG instances are isolated (docs/domain.md (MIG and SLO rules)), so an instance's
throughput depends on its profile only, never on its neighbours or its start index. Two GPUs with the same
geometry are interchangeable, and the ILP only needs to know how many there are. Its size depends on the
number of GPU types, geometries, profiles and models, never on the number of GPUs; ``decode.py`` turns the
counts back into one concrete layout per physical GPU.

Sets
    T          GPU types of the pool; ``N_t`` GPUs available, cost ``w_t`` each.
    G_t        geometries of type t: among the MIG geometries of ``geometry.geometries`` made only of profiles
               some model can use (has a key in K), the maximal ones; plus ``("full",)`` (MIG disabled) where
               a model has a ``full`` point. Exact: what a plan uses on a GPU is a placeable multiset of
               usable profiles, contained in one of these; the decoder drops idle instances.
    P_t        profiles of type t (``full`` included when measured); ``n(g, p)`` = instances of p in g.
    M          models, demand ``d_m``.
    K          keys (m, t, p) with an SLO-feasible point; ``c_k`` its capacity (``capacity.capacity_table``:
               the best point, since a slower point of the same profile never helps).

Variables
    y[t,g] >= 0 integer     GPUs of type t with geometry g.
    x[m,t,p] >= 0 integer   instances of profile p on type t serving model m, (m,t,p) in K.
    s[m] >= 0               rate served to model m.
    a >= 0                  common demand factor (max_scale only).
    z[P] >= 0 integer       instances running shared pattern P (``patterns``: profile, mode, models with
                            batches; rate r[P,m] for each of its models), P in the generated set Q_{t,p}.

Constraints (names in brackets; the number is cited in code)
    (1) [supply_{t}_{p}]    sum_m x[m,t,p] + sum_{P in Q_{t,p}} z[P]
                                <= sum_g n(g,p) y[t,g]                    instances used <= instances provided
    (2) [pool_{t}]          sum_g y[t,g] <= N_t                           GPUs available
    (3) [capacity_{m}]      (1 + h) s[m] <= cap_m := sum_{t,p} c[m,t,p] x[m,t,p] + sum_{P ∋ m} r[P,m] z[P]
                                                                          (h = policy.headroom, default 0)
                                                                          served within capacity
    (4) [demand_{m}]        s[m] <= d_m                                   never serve beyond demand
    (5) [serve_{m}]         s[m] >= d_m                                   min_gpus: serve every demand
    (6) [scale_{m}]         cap_m >= a * d_m                              max_scale: headroom factor
    (7) [keep_objective]    phase-1 value kept while phase 2 minimises cost (see ``lexicographic``)
    (8) [cover_{m}]         cap_m >= A_m                                 cover problem (``build_cover``): every
                                                                          model gets at least the rate A_m
    (9) [present_{m}]       s[m] <= d_m (sum_{t,p} x[m,t,p] + sum_{P ∋ m} z[P])
                                                                          a model is served only by instances it
                                                                          is in (min_gpus: it is in one at least);
                                                                          valid for integer plans, it makes the LP
                                                                          see what sharing saves
    (10) [floor_{m}]        sum_{t,p} x[m,t,p] + sum_{P ∋ m} z[P] >= F_m  models[].min_instances, written where
                                                                          F_m > 1 and d_m > 0 (F_m = 1 is implied
                                                                          by (5); a retired model gets none); not
                                                                          in column generation's masters, whose
                                                                          pricing knows no such dual: their LP is
                                                                          then a relaxation, its bound still valid

Objectives (each with (10) where a model asks for more than one instance)
    max_throughput   max sum_m s[m]                       (1)-(4)
    max_scale        max a                                (1)-(3), (6); served = min(demand, capacity)
    min_gpus         min sum_t w_t sum_g y[t,g]           (1)-(5)
    cover            min sum_t w_t sum_g y[t,g]           (1), (2), (8); no s, no a (``scale.py`` proves
                                                          max_scale optima with it: A_m = a' d_m)

Scaling (why: solver tolerances are absolute, about 1e-6; a row of demand 1e-5 rps, or a cost of 1e-7 per GPU,
sits inside them, and the solver calls 0 GPUs or a costlier plan "optimal")
    Every model's rows are divided by a reference rate R_m (1 for a retired model): d_m under min_gpus;
    min(d_m, M_m) under max_throughput, with M_m the most the whole pool could give the model alone
    (``most_capacity``), so a pool far too small for the demand still reads ~1; d_m a_max under max_scale (a_max =
    min_m M_m / d_m bounds the factor, so a / a_max is in [0, 1]); A_m in the cover problem. s[m] is then in units
    of R_m and a column of rate c enters model m's rows with ``min(c / R_m, (1 + h) min(d_m, M_m) / R_m)`` (1
    under max_scale and cover): exact for integer plans, since no model is served beyond min(d_m, M_m) (a / a_max
    never exceeds 1), so capacity beyond that in one column is never needed; it also keeps a fractional 1e-6 of an
    instance from "serving" a small demand. Column generation's masters leave the pattern columns unclipped
    (pricing rates them so; the LP is then a weaker, still valid, relaxation); the final ILP clips them too. Costs
    are divided by the largest pool cost; max_throughput's objective by sum_m min(d_m, M_m).
    ``Formulation.unscale`` turns the solver's value and bound back into the caller's units.

With ``policy.max_models_per_instance`` = 1 there are no patterns and the ILP is exactly the unshared one.
Otherwise ``colgen`` generates the patterns Q (column generation, exact pricing in ``pricing``) and the ILP is
solved over them; one model per instance (x) is always among the columns, so sharing is used only where it
saves GPUs or adds throughput.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import get_args

import pulp

from ..hardware.catalog import FULL, GpuType
from ..hardware.geometry import Geometry, geometries
from ..perf.capacity import Capacity, Key
from ..problem.problem import Problem
from ..schema import Objective
from .patterns import Pattern

OBJECTIVES: tuple[str, ...] = get_args(Objective)
"""The objectives, in the order of ``schema.Objective`` (the contract is the one list)."""


def safe(name: str) -> str:
    """A name PuLP and LP files accept (letters, digits, underscore), readable and deterministic."""
    return re.sub(r"[^A-Za-z0-9]", "_", name)


@dataclass(frozen=True)
class Pool:
    """One GPU type of the pool with the geometries the ILP may choose for it."""

    gpu: GpuType
    count: int
    cost: float
    geometries: tuple[Geometry, ...]


def _contains(big: Counter, small: Counter) -> bool:
    return all(big[p] >= n for p, n in small.items())


def pool_geometries(gpu: GpuType, usable: frozenset[str]) -> tuple[Geometry, ...]:
    """The maximal geometries among those made only of ``usable`` profiles (plus ``full`` when usable).

    Exact: the instances a plan uses on a GPU form a placeable multiset of usable profiles, which is contained
    in one of these. Dropping profiles no model can use removes dominated, symmetric columns from the ILP.
    """
    family = [g.profiles for g in geometries(gpu) if set(g.profiles) <= usable]
    counts = [Counter(g) for g in family]
    keep = [g for g, c in zip(family, counts)
            if not any(o != c and _contains(o, c) for o in counts)]
    return tuple(keep + [(FULL,)] if FULL in usable else keep)


def build_pools(problem: Problem, table: dict[Key, Capacity], only: tuple[str, Geometry] | None = None
                ) -> list[Pool]:
    """Pools in instance order; ``only=(type, geometry)`` restricts to one type with one geometry (baseline)."""
    pools = []
    for g in problem.instance.gpus:
        gpu = problem.catalog.get(g.type)
        if only is not None and gpu.type != only[0]:
            continue
        usable = frozenset(k[2] for k in table if k[1] == gpu.type)
        geos = (only[1],) if only is not None else pool_geometries(gpu, usable)
        pools.append(Pool(gpu, g.count, g.cost, geos))
    return pools


@dataclass
class Formulation:
    """The PuLP problem with its variables, keyed as in the module docstring."""

    prob: pulp.LpProblem
    objective: str
    pools: list[Pool]
    table: dict[Key, Capacity]
    y: dict[tuple[str, Geometry], pulp.LpVariable] = field(default_factory=dict)
    x: dict[Key, pulp.LpVariable] = field(default_factory=dict)
    s: dict[str, pulp.LpVariable] = field(default_factory=dict)
    a: pulp.LpVariable | None = None
    label: dict[str, str] = field(default_factory=dict)
    z: dict[str, pulp.LpVariable] = field(default_factory=dict)
    patterns: dict[str, Pattern] = field(default_factory=dict)
    headroom: float = 0.0
    """policy.headroom: capacity covers (1 + headroom) x the served rate, row (3)."""
    demand: dict[str, float] = field(default_factory=dict)
    """d_m, requests/s (scaled by the demand factor)."""
    ref: dict[str, float] = field(default_factory=dict)
    """R_m: the rate model m's rows are divided by (see Scaling); s[m] is in units of R_m."""
    clip: dict[str, float] = field(default_factory=dict)
    """Per model, the largest coefficient a column gets in its rows (see Scaling)."""
    clip_patterns: bool = True
    """Whether z columns are clipped too (not in column generation's masters: pricing rates them unclipped)."""
    cost_scale: float = 1.0
    """GPU costs are divided by this (the largest pool cost)."""
    obj_scale: float = 1.0
    """The objective in the caller's units = the solver's objective x obj_scale."""

    def cost_expr(self) -> pulp.LpAffineExpression:
        """Total cost of the GPUs used, in units of ``cost_scale`` (the min_gpus objective, and phase 2)."""
        cost = {p.gpu.type: p.cost / self.cost_scale for p in self.pools}
        return pulp.lpSum(cost[t] * v for (t, _), v in self.y.items())

    def primary_expr(self) -> pulp.LpAffineExpression:
        """The objective's own expression (before any lexicographic phase), in units of ``obj_scale``."""
        if self.objective == "max_throughput":  # sum_m s_m in requests/s = sum_m R_m s[m]
            return pulp.lpSum((self.ref[m] / self.obj_scale) * v for m, v in self.s.items() if self.demand[m] > 0)
        if self.objective == "max_scale":
            return pulp.LpAffineExpression(self.a)
        return self.cost_expr()

    def unscale(self, value: float | None) -> float | None:
        """A solver objective value (or bound) in the caller's units."""
        return None if value is None else value * self.obj_scale

    def coefficient(self, m: str, rate_rps: float, pattern: bool = False) -> float:
        """A column's coefficient in model m's rows: its rate over R_m, clipped (see Scaling)."""
        c = rate_rps / self.ref[m]
        return c if pattern and not self.clip_patterns else min(c, self.clip[m])


def unique_labels(names: list[str]) -> dict[str, str]:
    """``safe`` names, with ``_2``, ``_3``... where two names would collide (``a-b`` and ``a_b``)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for n in names:
        base = label = safe(n)
        i = 1
        while label in used:
            i += 1
            label = f"{base}_{i}"
        used.add(label)
        out[n] = label
    return out


def _add_variables(f: Formulation, demand: dict[str, float]) -> None:
    f.label = unique_labels(list(demand))
    for pool in f.pools:
        t = pool.gpu.type
        for g in pool.geometries:
            f.y[(t, g)] = f.prob.add_variable(f"y_{safe(t)}_{safe('+'.join(g))}", 0, pool.count, cat="Integer")
    types = {p.gpu.type for p in f.pools}
    for key in sorted(k for k in f.table if k[1] in types and k[0] in demand):
        m, t, p = key
        f.x[key] = f.prob.add_variable(f"x_{f.label[m]}_{safe(t)}_{safe(p)}", 0, None, cat="Integer")
    for m in demand:
        f.s[m] = f.prob.add_variable(f"s_{f.label[m]}", 0, None)
    if f.objective == "max_scale":
        f.a = f.prob.add_variable("a", 0, 1)  # a / a_max


def _add_patterns(f: Formulation, patterns: list[Pattern]) -> None:
    """One integer z per shared pattern of a pool type (``patterns``), named after the pattern."""
    types = {p.gpu.type for p in f.pools}
    names = unique_labels([p.name for p in patterns if p.gpu in types])
    for p in patterns:
        if p.gpu in types and p.name not in f.patterns:
            f.patterns[p.name] = p
            f.z[p.name] = f.prob.add_variable(f"z_{names[p.name]}", 0, None, cat="Integer")


def _pattern_terms(f: Formulation, gpu: str, profile: str) -> list:
    return [v for n, v in f.z.items() if f.patterns[n].gpu == gpu and f.patterns[n].profile == profile]


def _by_model(f: Formulation) -> dict[str, list[tuple[float, pulp.LpVariable]]]:
    """(scaled coefficient, variable) of every column that serves each model, x and z (built once per
    formulation; ``Formulation.coefficient``)."""
    out: dict[str, list[tuple[float, pulp.LpVariable]]] = {}
    for k, v in f.x.items():
        out.setdefault(k[0], []).append((f.coefficient(k[0], f.table[k].capacity_rps), v))
    for n, v in f.z.items():
        for r in f.patterns[n].runs:
            out.setdefault(r.model, []).append((f.coefficient(r.model, r.capacity_rps, pattern=True), v))
    return out


def capacity_expr(f: Formulation, m: str, columns: dict | None = None) -> pulp.LpAffineExpression:
    """cap_m / R_m: capacity of model m's instances, unshared (x) and in shared patterns (z), scaled."""
    return pulp.lpSum(c * v for c, v in (columns if columns is not None else _by_model(f)).get(m, []))


def _add_pool_constraints(f: Formulation) -> None:
    for pool in f.pools:
        t = pool.gpu.type
        profiles = sorted({p for g in pool.geometries for p in g} | {k[2] for k in f.x if k[1] == t})
        for p in profiles:
            used = pulp.lpSum([v for (m, tt, pp), v in f.x.items() if tt == t and pp == p]
                              + _pattern_terms(f, t, p))
            provided = pulp.lpSum(g.count(p) * f.y[(t, g)] for g in pool.geometries if p in g)
            f.prob += used <= provided, f"supply_{safe(t)}_{safe(p)}"  # (1)
        f.prob += pulp.lpSum(f.y[(t, g)] for g in pool.geometries) <= pool.count, f"pool_{safe(t)}"  # (2)


def _add_model_constraints(f: Formulation, demand: dict[str, float], present: bool = False,
                           short: dict[str, pulp.LpVariable] | None = None) -> None:
    columns = _by_model(f)
    for m, d in demand.items():
        cap = capacity_expr(f, m, columns)
        share = d / f.ref[m]  # 1, or 0 for a retired model (max_scale: 1 / a_max; max_throughput: >= 1)
        f.prob += (1 + f.headroom) * f.s[m] <= cap, f"capacity_{f.label[m]}"  # (3)
        if f.objective != "max_scale":
            f.prob += f.s[m] <= share, f"demand_{f.label[m]}"  # (4)
        if f.objective == "min_gpus":
            f.prob += f.s[m] + (short[m] if short else 0) >= share, f"serve_{f.label[m]}"  # (5)
        if f.objective == "max_scale" and d > 0:
            f.prob += cap >= f.a, f"scale_{f.label[m]}"  # (6)
        if present and f.objective in ("min_gpus", "max_throughput"):
            inside = [v for _, v in columns.get(m, [])]
            # s[m] <= cap_m / (1 + h) <= sum of its columns (each clipped to 1 + h), so 1 is valid as d_m / R_m is
            f.prob += f.s[m] - min(share, 1.0) * pulp.lpSum(inside) <= 0, f"present_{f.label[m]}"  # (9)


def add_floors(f: Formulation, problem: Problem) -> None:
    """Row (10): at least ``min_instances`` instances (x and z columns) for every model with demand that asks
    for more than one."""
    columns = _by_model(f)
    for m in problem.instance.models:
        if m.min_instances > 1 and m.demand_rps > 0:
            inside = [v for _, v in columns.get(m.name, [])]
            f.prob += pulp.lpSum(inside) >= m.min_instances, f"floor_{f.label[m.name]}"  # (10)


def most_capacity(pools: list[Pool], table: dict[Key, Capacity], patterns: list[Pattern], models: list[str]
                  ) -> dict[str, float]:
    """Per model, an upper bound on the capacity the whole pool could give it alone: per GPU the best geometry
    filled with the model's best column of each profile (x, or its rate in any pattern)."""
    best: dict[tuple[str, str, str], float] = {}
    for (m, t, p), c in table.items():
        best[(m, t, p)] = max(best.get((m, t, p), 0.0), c.capacity_rps)
    for pat in patterns:
        for r in pat.runs:
            k = (r.model, pat.gpu, pat.profile)
            best[k] = max(best.get(k, 0.0), r.capacity_rps)
    return {m: math.fsum(pool.count * max((math.fsum(best.get((m, pool.gpu.type, p), 0.0) for p in g)
                                           for g in pool.geometries), default=0.0) for pool in pools)
            for m in models}


def _scaling(f: Formulation, objective: str, demand: dict[str, float], patterns: list[Pattern]) -> None:
    """Set R_m, the clips, and the cost and objective scales of the module docstring's Scaling."""
    f.demand = dict(demand)
    f.cost_scale = max((p.cost for p in f.pools), default=1.0)
    most = most_capacity(f.pools, f.table, list(patterns), list(demand))
    if objective == "max_scale":
        factors = [most[m] / d for m, d in demand.items() if d > 0]
        a_max = min(factors, default=1.0)
        a_max = a_max if 0 < a_max < float("inf") else 1.0
        f.obj_scale = a_max
        f.ref = {m: d * a_max if d > 0 else 1.0 for m, d in demand.items()}
        f.clip = {m: 1.0 for m in demand}
        return
    if objective == "min_gpus":
        f.ref = {m: d if d > 0 else 1.0 for m, d in demand.items()}
        f.obj_scale = f.cost_scale
    else:  # max_throughput: what the pool can serve of each model, so a pool far too small still reads ~1
        reach = {m: min(d, most[m]) for m, d in demand.items()}
        f.ref = {m: r if r > 0 else 1.0 for m, r in reach.items()}
        f.obj_scale = math.fsum(reach.values()) or 1.0
    f.clip = {m: (1.0 + f.headroom) if d > 0 else 0.0 for m, d in demand.items()}  # min(d_m, M_m) / R_m = 1


def build(problem: Problem, objective: str, table: dict[Key, Capacity], pools: list[Pool] | None = None,
          demand_factor: float = 1.0, patterns: list[Pattern] = (), present: bool = False,
          elastic: bool = False, clip_patterns: bool = True) -> Formulation:
    """The ILP of the module docstring for ``problem`` (demand scaled by ``demand_factor``), with the shared
    ``patterns`` as columns and, where ``present``, the rows (9). ``elastic`` (min_gpus, for column generation):
    (5) becomes ``s[m] + u[m] >= 1`` with a shortfall ``u[m]`` priced far above any GPU, so the LP is feasible
    before the patterns that make it so exist, and its value stays a lower bound of the real one.
    ``clip_patterns=False`` (column generation's masters) leaves the z coefficients unclipped, as pricing rates
    them."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective '{objective}' (known: {', '.join(OBJECTIVES)})")
    pools = build_pools(problem, table) if pools is None else pools
    sense = pulp.LpMinimize if objective == "min_gpus" else pulp.LpMaximize
    f = Formulation(pulp.LpProblem(f"majula_{safe(problem.instance.name)}_{objective}", sense), objective, pools,
                    table, headroom=problem.instance.policy.headroom, clip_patterns=clip_patterns)
    demand = {m.name: m.demand_rps * demand_factor for m in problem.instance.models}
    _scaling(f, objective, demand, list(patterns))
    _add_variables(f, demand)
    _add_patterns(f, list(patterns))
    short = {}
    if elastic and objective == "min_gpus":
        price = 100.0 * sum(p.cost / f.cost_scale * p.count for p in pools)
        short = {m: f.prob.add_variable(f"u_{f.label[m]}", 0, None) for m in demand}
        f.prob += f.primary_expr() + pulp.lpSum(price * u for u in short.values())
    else:
        f.prob += f.primary_expr()
    _add_pool_constraints(f)
    _add_model_constraints(f, demand, present, short)
    if clip_patterns:  # a final ILP, not a column generation master (see (10))
        add_floors(f, problem)
    return f


def build_cover(problem: Problem, table: dict[Key, Capacity], targets: dict[str, float],
                pools: list[Pool] | None = None, patterns: list[Pattern] = ()) -> Formulation:
    """The cover ILP of the module docstring: least cost with capacity ``sum c x >= targets[m]`` (8) for every
    model, within the pool (1), (2). Feasible iff some plan gives every model at least its target."""
    pools = build_pools(problem, table) if pools is None else pools
    f = Formulation(pulp.LpProblem(f"majula_{safe(problem.instance.name)}_cover", pulp.LpMinimize), "min_gpus",
                    pools, table)
    demand = {m.name: m.demand_rps for m in problem.instance.models}
    f.demand = dict(demand)
    f.cost_scale = f.obj_scale = max((p.cost for p in pools), default=1.0)
    f.ref = {m: targets[m] if targets[m] > 0 else 1.0 for m in demand}
    f.clip = {m: 1.0 for m in demand}
    f.label = unique_labels(list(demand))
    for pool in f.pools:
        for g in pool.geometries:
            f.y[(pool.gpu.type, g)] = f.prob.add_variable(f"y_{safe(pool.gpu.type)}_{safe('+'.join(g))}", 0,
                                                          pool.count, cat="Integer")
    types = {p.gpu.type for p in f.pools}
    for key in sorted(k for k in table if k[1] in types and k[0] in demand):
        m, t, p = key
        f.x[key] = f.prob.add_variable(f"x_{f.label[m]}_{safe(t)}_{safe(p)}", 0, None, cat="Integer")
    _add_patterns(f, list(patterns))
    f.prob += f.cost_expr()
    _add_pool_constraints(f)
    columns = _by_model(f)
    for m in demand:
        cap = capacity_expr(f, m, columns)
        if targets[m] > 0:
            f.prob += cap >= 1, f"cover_{f.label[m]}"  # (8), over A_m
    add_floors(f, problem)
    return f


def lexicographic(f: Formulation, value: float) -> None:
    """Phase 2 of max_throughput / max_scale: keep the phase-1 value (7), then use the cheapest GPUs.

    Why: the first objective is indifferent to idle GPUs; a plan should not light up GPUs it does not need.
    """
    scaled = value / f.obj_scale
    slack = 1e-7 * max(1.0, abs(scaled))
    f.prob += f.primary_expr() >= scaled - slack, "keep_objective"  # (7)
    f.prob.sense = pulp.LpMinimize
    f.prob.setObjective(f.cost_expr())
