"""A simple feasible plan for min_gpus, as an upper bound the placer must never exceed.

Each model gets GPUs of its own: for every pool type, the valid geometry that gives the model the most
capacity (its best qualifying profile capacities, ``capacity_ref``) is found; models take, in order, whole GPUs
from the type with the most capacity per unit cost still available, until their demand is covered. Sound
because every GPU it counts is a valid geometry running only qualifying points.
"""

from __future__ import annotations

from majula_model.hardware.catalog import FULL
from majula_model.problem.loading import Problem

from .capacity_ref import capacity_table
from .placements_ref import valid_geometries


def best_gpu_capacity(problem: Problem, gpu_type: str, model: str) -> float:
    """Most capacity one GPU of ``gpu_type`` gives ``model`` alone."""
    caps = capacity_table(problem)
    gpu = problem.catalog.gpus[gpu_type]
    best = caps.get((gpu_type, FULL, model), 0.0)
    for geom in valid_geometries(gpu):
        best = max(best, sum(caps.get((gpu_type, p, model), 0.0) for p in geom))
    return best


def greedy_cost(problem: Problem) -> float | None:
    """Total cost of the dedicated-GPU greedy plan, or None when it runs out of GPUs."""
    cat = problem.catalog
    left = {cat.resolve(p.type): p.count for p in problem.instance.gpus}
    cost = {cat.resolve(p.type): p.cost for p in problem.instance.gpus}
    total = 0.0
    for m in problem.instance.models:
        need = m.demand_rps
        per = {t: best_gpu_capacity(problem, t, m.name) for t in left}
        while need > 1e-9:
            options = [t for t in left if left[t] > 0 and per[t] > 0]
            if not options:
                return None
            t = max(options, key=lambda t: (per[t] / cost[t], t))
            left[t] -= 1
            total += cost[t]
            need -= per[t]
    return total
