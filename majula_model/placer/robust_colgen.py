"""Column generation of unit configurations for failure-tolerant plans, and the bound that says how far a plan
built from them can be from the optimum over every configuration.

Why generated: one GPU of ten models has hundreds of thousands of configurations (``instances/large.json``:
318,050), a node of eight GPUs far more; enumerating them (``robust``) stops at its limits. Their count is what
grows, not the fleet: the master's variables are still counts of identical units.

The LP master (over the configurations found so far, y >= 0 continuous):

    min  sum_u w_t(u) s_u y_u
    s.t. (R1) sum_{u of t} s_u y_u <= N_t;   (R2) sum_{u of t, s_u < G} y_u <= 1   (node domain)
         (R7) sum_u e(c_um) y_u >= 1;        (R6) sum_u min(n_um, F_m) y_u >= F_m          for every model m

with e(c) = c / (k c + 1 + h). (R7) is the convex hull of model m's disjunction (R4)-(R5) of ``robust``: a
plan survives for m iff some lambda has sum_u min(c_um, lambda) y_u >= k lambda + 1 + h, and the hull of that
union of half-spaces in y >= 0 is sum_u y_u max_lambda min(c_um, lambda) / (k lambda + 1 + h) >= 1, whose maximum
is at lambda = c_um. It is exact for identical units ((n - k) c >= 1 + h iff n c / (k c + 1 + h) >= 1), it
implies the cover row (R3), and its coefficient depends on the column alone, which is what lets pricing
(``unit_pricing``) search columns the master has not seen: the LP's value over every configuration is a lower
bound on every failure-tolerant plan's cost, once pricing proves that no configuration improves it.

Phase 1 (the restricted LP may not yet cover every model): slacks on (R7) and (R6) are minimised, prices
without costs, until they are 0 (phase 2 then starts from a feasible LP and needs none) or no configuration
lowers them (the LP over every configuration is infeasible, and so is every plan: an explained Infeasible).

The ILP is then ``robust``'s (R1)-(R7) over the generated columns (price and branch); the plan's gap is against
the LP bound above, rounded up to a whole GPU where every usable GPU costs the same. When generation stops
early (time, ``MAX_ROUNDS``) the bound is the Lagrangian one: the restricted LP's value less, per type, how much
one unit could still improve it (pricing's proven upper bound) times the most units of that type a solution no
dearer than the restricted LP can hold.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field

import pulp

from ..perf.capacity import Capacity, Key
from ..problem.problem import Problem
from .formulation import pool_geometries, safe
from .unit_pricing import PROVEN, GpuPricer, NodePricer, Shape, UnitPrices, fill, hull, slot_key

MAX_ROUNDS = 400
"""Most pricing rounds per phase; the bound is the LP's only when a round finds nothing."""


@dataclass
class Generated:
    """Unit columns per type (per GPU, its slots), the proven bound on the cost and what it took."""

    columns: dict[str, list[tuple[tuple[tuple[str, str], ...], ...]]] = field(default_factory=dict)
    bound: float | None = None
    """A lower bound on every failure-tolerant plan's cost (unscaled), or None."""
    complete: bool = False
    """True when pricing proved that no configuration improves the LP (the bound is then that LP's value)."""
    infeasible: bool = False
    """True when phase 1 proved that no plan, over every configuration, survives the losses."""
    rounds: int = 0
    seconds: float = 0.0


def shapes(problem: Problem, table: dict[Key, Capacity], models: list[str], clip: float, k: int,
           floor: dict[str, int], patterns: list | None = None) -> dict[str, Shape]:
    """What pricing needs per usable pool type (``unit_pricing.Shape``), in instance order; ``patterns``: the
    shared instances a slot may hold (those whose members all have demand)."""
    demand = {m.name: m.demand_rps for m in problem.instance.models}
    active = set(models)
    by_slot: dict[tuple[str, str], list] = {}
    for q in patterns or ():
        if set(q.models) <= active:
            by_slot.setdefault((q.gpu, q.profile), []).append((q, {r.model: r.capacity_rps / demand[r.model]
                                                                     for r in q.runs}))
    out = {}
    for g in problem.instance.gpus:
        gpu = problem.catalog.get(g.type)
        kappa = {m: {p: table[(m, gpu.type, p)].capacity_rps / demand[m] for (mm, t, p) in table
                     if mm == m and t == gpu.type} for m in models}
        shared = {p: tuple(qs) for (t, p), qs in by_slot.items() if t == gpu.type}
        usable = frozenset(p for m in models for p in kappa[m]) | frozenset(shared)
        if not usable:
            continue
        out[gpu.type] = Shape(gpu.type, tuple(models), kappa, pool_geometries(gpu, usable), k, clip, floor,
                              shared)
    return out


def _seeds(sh: Shape, size: int) -> list[tuple[tuple[tuple[str, str], ...], ...]]:
    """Per model, the unit whose every GPU gives it the most: every model is covered from the first LP."""
    out = []
    for m in sh.models:
        best, geo = 0.0, None
        for g in sh.geometries:
            c = sum(sh.kappa[m].get(p, 0.0) for p in g)
            if all(p in sh.kappa[m] for p in g) and c > best:
                best, geo = c, g
        if geo is None:
            continue
        gpu = fill(sh, {m: Counter(p for p in geo)}, Counter(geo))
        slots = tuple(sorted((p, mm) for mm, c in gpu.items() for p, n in c.items() for _ in range(n)))
        out.append(tuple([slots] * size))
    return out


def generate(problem: Problem, table: dict[Key, Capacity], models: list[str], clip: float, k: int,
             floor: dict[str, int], node: int, deadline: float | None = None, patterns: list | None = None,
             seeds: dict[str, list] | None = None) -> Generated:
    """Generate unit columns (phase 1, then phase 2, module docstring) until none improves or ``deadline``;
    ``patterns``: shared instances a slot may hold; ``seeds``: extra columns per type to start from."""
    t0 = time.perf_counter()
    out = Generated()
    pools = {problem.catalog.get(g.type).type: (g.count, g.cost) for g in problem.instance.gpus}
    sh = shapes(problem, table, models, clip, k, floor, patterns)
    cost_scale = max(c for _, c in pools.values())
    size = {t: min(node, pools[t][0]) for t in sh}
    pricers = {t: GpuPricer(s) if node == 1 and not s.patterns else NodePricer(s, node, pools[t][0])
               for t, s in sh.items()}
    cols: dict[str, dict[tuple, tuple]] = {t: {_canon(g): g for g in _seeds(s, size[t]) + (seeds or {}).get(t, [])}
                                           for t, s in sh.items()}

    def lp(phase1: bool):
        prob = pulp.LpProblem("majula_tolerant_lp", pulp.LpMinimize)
        ys, obj = [], []
        hull_terms: dict[str, list] = {m: [] for m in models}
        floor_terms: dict[str, list] = {m: [] for m in floor}
        pool_terms: dict[str, list] = {t: [] for t in sh}
        partial: dict[str, list] = {t: [] for t in sh}
        for t, us in cols.items():
            for gpus in us.values():
                v = prob.add_variable(f"y{len(ys)}", 0)
                ys.append((t, gpus, v))
                s = len(gpus)
                obj.append((0.0 if phase1 else pools[t][1] * s / cost_scale) * v)
                pool_terms[t].append(s * v)
                if node > 1 and s < node:
                    partial[t].append(v)
                cap, inst = sh[t].slot_vector(gpus)
                for m, c in cap.items():
                    if c > 0:
                        hull_terms[m].append(hull(c, k, clip) * v)
                for m in floor:
                    if inst.get(m):
                        floor_terms[m].append(min(inst[m], floor[m]) * v)
        slack = []
        for i, m in enumerate(models):
            sl = prob.add_variable(f"sh{i}", 0) if phase1 else 0
            slack.append(sl)
            prob += pulp.lpSum(hull_terms[m]) + sl >= 1, f"hull_{i}"
        for i, m in enumerate(sorted(floor)):
            sl = prob.add_variable(f"sf{i}", 0) if phase1 else 0
            slack.append(sl)
            prob += pulp.lpSum(floor_terms[m]) + sl >= floor[m], f"floor_{i}"
        for t in sh:
            prob += pulp.lpSum(pool_terms[t]) <= pools[t][0], f"pool_{safe(t)}"
            if partial[t]:
                prob += pulp.lpSum(partial[t]) <= 1, f"partial_{safe(t)}"
        prob += pulp.lpSum(obj) + pulp.lpSum(s for s in slack if not isinstance(s, int))
        return prob

    def prices(prob, phase1: bool) -> UnitPrices:
        rows = {c.name: c for c in prob.constraints()}
        pi = {m: max(0.0, rows[f"hull_{i}"].pi or 0.0) for i, m in enumerate(models)}
        rho = {m: max(0.0, rows[f"floor_{i}"].pi or 0.0) for i, m in enumerate(sorted(floor))}
        alpha = {t: min(0.0, rows[f"pool_{safe(t)}"].pi or 0.0) for t in sh}
        beta = {t: min(0.0, rows[f"partial_{safe(t)}"].pi or 0.0) for t in sh if f"partial_{safe(t)}" in rows}
        cost = {t: 0.0 if phase1 else pools[t][1] / cost_scale for t in sh}
        return UnitPrices(pi, rho, alpha, beta, cost)

    def run(phase1: bool) -> str:
        """One phase's loop: 'covered' (phase 1 reached 0), 'infeasible' (phase 1 proved it cannot), 'converged'
        (phase 2: no column improves, bound set), or 'stopped' (time, rounds, or a stall on tolerances)."""
        for _ in range(MAX_ROUNDS):
            if deadline is not None and time.perf_counter() > deadline:
                return "stopped"
            prob = lp(phase1)
            left = None if deadline is None else max(0.05, deadline - time.perf_counter())
            prob.solve(pulp.HiGHS(msg=False, mip=False, timeLimit=left, threads=1))
            if prob.status != pulp.LpStatusOptimal:
                return "stopped"
            value = float(pulp.value(prob.objective))
            out.rounds += 1
            if phase1 and value <= 1e-9:
                return "covered"
            pr = prices(prob, phase1)
            excess: dict[str, float] = {}
            new = 0
            for t, pricer in pricers.items():
                if isinstance(pricer, GpuPricer):
                    found, top = pricer.best(pr)
                    over = top - pr.price(t, 1, 1)
                else:
                    found, over = pricer.best(pr, deadline)
                excess[t] = max(0.0, over)
                for f in found:
                    key = _canon(f.gpus)
                    if key not in cols[t]:
                        cols[t][key] = f.gpus
                        new += 1
            proven = all(v <= PROVEN * max(1.0, abs(value)) for v in excess.values())
            if not phase1:  # every round's Lagrangian bound is valid; the best one is kept
                lag = _lagrangian(value, excess, pools, size, node, cost_scale)
                out.bound = lag * cost_scale if out.bound is None else max(out.bound, lag * cost_scale)
            if new:
                continue
            if phase1:  # infeasible when even the Lagrangian bound of the slacks stays above 0
                return "infeasible" if _lagrangian(value, excess, pools, size, node, None) > 1e-9 else "stopped"
            out.complete = proven
            if node > 1:  # the best node of every size at the final prices: the ILP's partial nodes
                for t, pricer in pricers.items():
                    for s in range(1, size[t] + 1):
                        for f in pricer.best(pr, deadline, size=s)[0]:
                            cols[t].setdefault(_canon(f.gpus), f.gpus)
            return "converged"
        return "stopped"

    first = run(True)
    out.infeasible = first == "infeasible"
    if first == "covered":
        run(False)
    out.columns = {t: list(c.values()) for t, c in cols.items()}
    out.seconds = time.perf_counter() - t0
    if out.bound is not None and not math.isfinite(out.bound):
        out.bound = None
    return out


def _canon(gpus) -> tuple:
    """A unit's key: its GPUs' slots by name, in order (two units with the same key are the same column)."""
    return tuple(sorted(tuple(sorted(slot_key(x) for x in g)) for g in gpus))


def _lagrangian(value: float, excess: dict[str, float], pools: dict[str, tuple[int, float]],
                size: dict[str, int], node: int, cost_scale: float | None) -> float:
    """The restricted LP's value less what the unseen columns could still save (module docstring), scaled:
    per type, the most any unit improves times the most units it can hold (the pool's, and in phase 2, with
    ``cost_scale``, what a solution no dearer than the restricted LP can pay for)."""
    total = 0.0
    for t, over in excess.items():
        if over <= 0:
            continue
        n, cost = pools[t]
        units = n if node == 1 else n // node + 1
        total += over * (units if cost_scale is None else min(units, value / (cost / cost_scale)))
    return value - total
