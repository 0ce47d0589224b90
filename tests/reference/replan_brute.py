"""Exhaustive re-plan of tiny instances (1-3 GPUs): the least cost + W x reconfigured GPUs, then the fewest
reconfigured, over every plan. Independent of ``majula_model.placer`` (docs/replan.md states the rules).

How: every busy configuration of one GPU (a placeable multiset of profiles from ``placements_ref``, or ``full``,
each instance given a model that qualifies there by ``capacity_ref``) is enumerated; a plan is a multiset of
configurations per pool type, at most the pool's count. A configuration is identified by its type and the
multiset of (profile, model): with the calibration unchanged, each model runs at its best point on a profile,
so this is what "same model, batch and processes" means here. For a plan with ``new_t`` GPUs of type t against
the current plan's ``n_t``, ``kept_t`` = sum over configurations of min(current count, new count) (identical
GPUs keep their ids), and reconfigured_t = min(new_t, n_t) - kept_t (new GPUs take the ids of current GPUs that
are not kept before any new id). A plan serves every demand when each model's capacity reaches its demand.
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations_with_replacement, product

from majula_model.hardware.catalog import FULL
from majula_model.problem.loading import Problem
from majula_model.schema import Plan

from .capacity_ref import capacity_table
from .placements_ref import valid_geometries

TOL = 1e-9

Config = tuple[str, tuple[tuple[str, str], ...]]
"""(GPU type, sorted (profile, model) of its instances)."""


def configs(problem: Problem, gpu_type: str) -> list[Config]:
    """Every busy configuration of one GPU of ``gpu_type``."""
    caps = capacity_table(problem)
    models = [m.name for m in problem.instance.models]
    useful = {p for (t, p, _) in caps if t == gpu_type}
    geoms = [g for g in valid_geometries(problem.catalog.gpus[gpu_type]) if g and set(g) <= useful]
    if FULL in useful:
        geoms.append((FULL,))
    out: set[Config] = set()
    for geom in geoms:
        slots = sorted(Counter(geom).items())
        groups = [list(combinations_with_replacement([m for m in models if (gpu_type, p, m) in caps], c))
                  for p, c in slots]
        for choice in product(*groups):
            out.add((gpu_type, tuple(sorted((p, m) for (p, _), ms in zip(slots, choice) for m in ms))))
    return sorted(out)


def current_configs(plan: Plan, problem: Problem) -> Counter:
    """The current plan's GPUs as configurations (types resolved to the catalog's names)."""
    return Counter((problem.catalog.resolve(g.type), tuple(sorted((i.profile, i.models[0].name)
                                                                  for i in g.instances))) for g in plan.gpus)


def replan_brute(problem: Problem, current: Plan, w: float) -> tuple[float, int] | None:
    """(cost, reconfigured GPUs) of the best plan by (cost + w x reconfigured, reconfigured); None when no plan of
    the pool serves every demand."""
    caps = capacity_table(problem)
    models = [m.name for m in problem.instance.models]
    demand = [m.demand_rps for m in problem.instance.models]
    cur = current_configs(current, problem)
    per_type = []
    for pool in problem.instance.gpus:
        t = problem.catalog.resolve(pool.type)
        cs = configs(problem, t)
        options = [combo for k in range(pool.count + 1) for combo in combinations_with_replacement(cs, k)]
        per_type.append((t, pool.cost, options))
    best = None
    for choice in product(*(opts for _, _, opts in per_type)):
        vec = [0.0] * len(models)
        cost = 0.0
        reconf = 0
        for (t, c, _), combo in zip(per_type, choice):
            cost += c * len(combo)
            for _, insts in combo:
                for p, m in insts:
                    vec[models.index(m)] += caps[(t, p, m)]
            new = Counter(combo)
            n_t = sum(n for cfg, n in cur.items() if cfg[0] == t)
            kept = sum(min(n, new[cfg]) for cfg, n in cur.items() if cfg[0] == t)
            reconf += min(len(combo), n_t) - kept
        if not all(x >= d * (1 - TOL) for x, d in zip(vec, demand)):
            continue
        key = (round(cost + w * reconf, 9), reconf, cost)
        if best is None or key < best:
            best = key
    return None if best is None else (best[2], best[1])
