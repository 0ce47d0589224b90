"""Exhaustive optimum of tiny placement instances (1-3 GPUs, 1-3 models, 2-3 measured profiles).

How: for each GPU type, every valid geometry (from ``placements_ref``) and every way of giving each of its
instances to a model that qualifies there (``capacity_ref``) yields a per-model capacity vector; a plan is one
such vector per GPU, and its value follows from the sum. Two reductions keep this exact:
- an instance left idle is the same plan as its geometry without that instance (also enumerated), and a
  profile on which no model qualifies is never worth placing, so only useful profiles and busy instances are
  enumerated;
- sums that another sum with the same GPU count dominates in every model are dropped (every objective is
  monotone in capacity, and min_gpus compares sums with the same cost).
Objectives (docs/data-format.md (data contract)): max_throughput = max sum_m min(demand_m, capacity_m); max_scale = max min_m
capacity_m / demand_m (all capacity may be routed); min_gpus = least total cost of used GPUs with capacity_m >=
demand_m for all m (None when the pool cannot).
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations_with_replacement, product

from majula_model.hardware.catalog import FULL
from majula_model.problem.loading import Problem

from .capacity_ref import capacity_table
from .placements_ref import valid_geometries

Vector = tuple[float, ...]
TOL = 1e-9


def _key(v: Vector) -> Vector:
    return tuple(round(x, 7) for x in v)


def pareto(vectors: set[Vector] | list[Vector]) -> list[Vector]:
    """The vectors no other vector dominates (>= everywhere), duplicates merged."""
    uniq = list({_key(v): v for v in vectors}.values())
    uniq.sort(key=lambda v: -sum(v))
    kept: list[Vector] = []
    for v in uniq:
        if not any(all(k >= x - TOL for k, x in zip(w, v)) for w in kept):
            kept.append(v)
    return kept


def gpu_vectors(problem: Problem, gpu_type: str, allow_full: bool = True) -> list[Vector]:
    """Capacity vectors (one entry per model, instance order) of every busy configuration of one GPU."""
    caps = capacity_table(problem)
    models = [m.name for m in problem.instance.models]
    gpu = problem.catalog.gpus[gpu_type]
    runs = {p: [m for m in models if (gpu_type, p, m) in caps] for (_, p, _) in caps}
    useful = {p for (t, p, _) in caps if t == gpu_type}
    geoms = [g for g in valid_geometries(gpu) if g and set(g) <= useful]
    if allow_full and FULL in useful:
        geoms.append((FULL,))
    out: set[Vector] = set()
    for geom in geoms:
        groups = [list(combinations_with_replacement(runs[p], c)) for p, c in sorted(Counter(geom).items())]
        for choice in product(*groups):
            vec = [0.0] * len(models)
            for (p, _), chosen in zip(sorted(Counter(geom).items()), choice):
                for m in chosen:
                    vec[models.index(m)] += caps[(gpu_type, p, m)]
            out.add(tuple(vec))
    return pareto(out)


def _add(a: list[Vector], b: list[Vector]) -> list[Vector]:
    return pareto({tuple(x + y for x, y in zip(u, v)) for u in a for v in b})


def reachable(problem: Problem, allow_full: bool = True) -> dict[float, list[Vector]]:
    """``{total cost of used GPUs: Pareto-best capacity vectors}`` over every way to use the pools."""
    n = len(problem.instance.models)
    zero: list[Vector] = [tuple([0.0] * n)]
    per_type: list[list[tuple[float, list[Vector]]]] = []
    for pool in problem.instance.gpus:
        t = problem.catalog.resolve(pool.type)
        vecs = gpu_vectors(problem, t, allow_full)
        levels, cur = [(0.0, zero)], zero
        for k in range(1, pool.count + 1):
            if not vecs:
                break
            cur = _add(cur, vecs)
            levels.append((k * pool.cost, cur))
        per_type.append(levels)
    out: dict[float, list[Vector]] = {}
    for combo in product(*per_type):
        cost = round(sum(c for c, _ in combo), 9)
        acc = zero
        for _, vs in combo:
            acc = _add(acc, vs)
        out[cost] = pareto(out.get(cost, []) + acc)
    return out


def brute_force(problem: Problem, allow_full: bool = True) -> dict[str, float | None]:
    """Optimal value of each objective: ``{"max_throughput", "max_scale", "min_gpus"}`` (min_gpus None if no
    way to serve every demand)."""
    demand = [m.demand_rps for m in problem.instance.models]
    reach = reachable(problem, allow_full)
    every = [v for vs in reach.values() for v in vs]
    best_tp = max(sum(min(d, x) for d, x in zip(demand, v)) for v in every)
    best_scale = max(min(x / d for d, x in zip(demand, v)) for v in every)
    costs = [c for c, vs in reach.items() if any(all(x >= d * (1 - TOL) for d, x in zip(demand, v)) for v in vs)]
    return {"max_throughput": best_tp, "max_scale": best_scale, "min_gpus": min(costs) if costs else None}


def naive(problem: Problem, allow_full: bool = True) -> dict[str, float | None]:
    """The same optimum with no reduction at all, for up to 2 GPUs: every valid layout of every GPU (useless
    profiles included), every instance idle or serving any model, every combination of GPUs."""
    from .placements_ref import valid_layouts

    caps = capacity_table(problem)
    models = [m.name for m in problem.instance.models]
    demand = [m.demand_rps for m in problem.instance.models]
    gpus: list[tuple[str, float]] = []
    for pool in problem.instance.gpus:
        gpus += [(problem.catalog.resolve(pool.type), pool.cost)] * pool.count
    assert len(gpus) <= 2, "naive enumeration is for 1-2 GPUs"
    options: list[set[tuple[float, Vector]]] = []
    for t, cost in gpus:
        layouts = list(valid_layouts(problem.catalog.gpus[t]))
        if allow_full and any(k[0] == t and k[1] == FULL for k in caps):
            layouts.append(((FULL, 0),))
        opts: set[tuple[float, Vector]] = set()
        for lay in layouts:
            for choice in product([None, *models], repeat=len(lay)):
                vec = [0.0] * len(models)
                for (p, _), m in zip(lay, choice):
                    if m is not None:
                        vec[models.index(m)] += caps.get((t, p, m), 0.0)
                opts.add((cost if lay else 0.0, tuple(vec)))
        options.append(opts)
    best = {"max_throughput": 0.0, "max_scale": 0.0, "min_gpus": None}
    for combo in product(*options):
        cost = sum(c for c, _ in combo)
        vec = [sum(v[i] for _, v in combo) for i in range(len(models))]
        best["max_throughput"] = max(best["max_throughput"], sum(min(d, x) for d, x in zip(demand, vec)))
        best["max_scale"] = max(best["max_scale"], min(x / d for d, x in zip(demand, vec)))
        if all(x >= d * (1 - TOL) for d, x in zip(demand, vec)):
            best["min_gpus"] = cost if best["min_gpus"] is None else min(best["min_gpus"], cost)
    return best
