"""Independent references for failure-tolerant plans (``policy.tolerate_failures``), written without the
placer's code.

``losses(plan, ...)``: from the plan's JSON alone, remove every j-subset (j = 1..k) of its GPUs, or of its nodes
(per GPU type, ``gpus_per_node`` consecutive plan GPUs in id order: docs/ecosystem.md), and list every model
whose remaining capacity falls below (1 + headroom) x demand.

``brute_min_cost(problem)``: the least cost of any plan (1-3 GPUs) that keeps every demand after any k losses
and gives every model its ``min_instances``: every placeable geometry (``placements_ref``) with every slot idle
or given to a model that qualifies there (``capacity_ref``), every ordered sequence of such GPUs per type (the
order decides the nodes), every subset removed. Nothing is pruned; GPUs with the same capacity and instance
vectors are merged (the rule reads nothing else).
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations, product

from majula_model.hardware.catalog import FULL
from majula_model.problem.loading import Problem

from .capacity_ref import capacity_table
from .placements_ref import valid_geometries

TOL = 1e-9


def plan_units(plan: dict, gpus_per_node: int, domain: str) -> list[list[dict]]:
    """The plan's failure units, from its JSON: one GPU each, or nodes of one type in id order."""
    gpus = sorted(plan["gpus"], key=lambda g: g["id"])
    if domain == "gpu":
        return [[g] for g in gpus]
    by_type: dict[str, list[dict]] = {}
    for g in gpus:
        by_type.setdefault(g["type"], []).append(g)
    return [gs[i:i + gpus_per_node] for gs in by_type.values() for i in range(0, len(gs), gpus_per_node)]


def losses(plan: dict, demand: dict[str, float], headroom: float, gpus_per_node: int, domain: str, k: int
           ) -> list[tuple[str, tuple[int, ...], float]]:
    """(model, removed unit indices, remaining capacity) for every loss of up to k units leaving a model short."""
    units = plan_units(plan, gpus_per_node, domain)
    cap = [Counter() for _ in units]
    for c, unit in zip(cap, units):
        for g in unit:
            for inst in g["instances"]:
                for run in inst["models"]:
                    c[run["name"]] += run["capacity_rps"]
    bad = []
    for j in range(1, k + 1):
        for gone in combinations(range(len(units)), min(j, len(units))):
            for m, d in demand.items():
                left = sum(c[m] for i, c in enumerate(cap) if i not in gone)
                if d > 0 and left < d * (1 + headroom) * (1 - TOL):
                    bad.append((m, gone, left))
    return bad


def gpu_options(problem: Problem, gpu_type: str) -> list[tuple[tuple[float, ...], tuple[int, ...]]]:
    """Distinct (capacity per model, instances per model) of every configuration of one GPU, idle slots too."""
    caps = capacity_table(problem)
    models = [m.name for m in problem.instance.models]
    geoms = [g for g in valid_geometries(problem.catalog.gpus[gpu_type])]
    if any(t == gpu_type and p == FULL for (t, p, _) in caps):
        geoms.append((FULL,))
    out = set()
    for geom in geoms:
        per_slot = [[None] + [m for m in models if (gpu_type, p, m) in caps] for p in geom]
        for pick in product(*per_slot):
            cap = [0.0] * len(models)
            inst = [0] * len(models)
            for p, m in zip(geom, pick):
                if m is not None:
                    cap[models.index(m)] += caps[(gpu_type, p, m)]
                    inst[models.index(m)] += 1
            out.add((tuple(cap), tuple(inst)))
    return sorted(out)


def _survives(problem: Problem, seqs: list[list[tuple]], need: list[float], floor: list[int], k: int,
              domain: str) -> bool:
    size = 1 if domain == "gpu" else problem.instance.gpus_per_node
    units = []
    for seq in seqs:
        for i in range(0, len(seq), size):
            block = seq[i:i + size]
            units.append([sum(c[0][m] for c in block) for m in range(len(need))])
    total_inst = [sum(c[1][m] for seq in seqs for c in seq) for m in range(len(need))]
    if any(n < f for n, f in zip(total_inst, floor)):
        return False
    for gone in combinations(range(len(units)), min(k, len(units))):
        for m, d in enumerate(need):
            left = sum(u[m] for i, u in enumerate(units) if i not in gone)
            if d > 0 and left < d * (1 - TOL):
                return False
    return True


def brute_min_cost(problem: Problem) -> float | None:
    """Least cost of a plan surviving any k losses (module docstring); None when none exists."""
    inst = problem.instance
    tol = inst.policy.tolerate_failures
    need = [m.demand_rps * (1 + inst.policy.headroom) for m in inst.models]
    floor = [m.min_instances if m.demand_rps > 0 else 0 for m in inst.models]
    pools = [(problem.catalog.resolve(g.type), g.count, g.cost) for g in inst.gpus]
    options = {t: gpu_options(problem, t) for t, _, _ in pools}
    best = None
    for counts in product(*[range(n + 1) for _, n, _ in pools]):
        cost = sum(n * c for n, (_, _, c) in zip(counts, pools))
        if best is not None and cost >= best - TOL:
            continue
        per_type = [list(product(options[t], repeat=n)) for n, (t, _, _) in zip(counts, pools)]
        if any(_survives(problem, [list(s) for s in seqs], need, floor, tol.count, tol.domain)
               for seqs in product(*per_type)):
            best = cost
    return best


def brute_min_cost_shared(problem: Problem) -> float | None:
    """Least cost of a plan surviving any k losses when models may share instances: the same search as
    ``brute_min_cost`` over the one-GPU capacity vectors of ``shared_brute.gpu_configs`` (the sharing
    reference's own pattern rules, written without the placer's). One pool type; instance floors are not read
    (every model's ``min_instances`` must be 1). Pareto-dominated GPUs are dropped: what survives a loss only
    grows with any GPU's capacity."""
    from .shared_brute import gpu_vectors

    inst = problem.instance
    assert all(m.min_instances == 1 for m in inst.models), "floors are not modelled here"
    assert len(inst.gpus) == 1, "one pool type"
    tol = inst.policy.tolerate_failures
    need = [m.demand_rps * (1 + inst.policy.headroom) for m in inst.models]
    vectors = gpu_vectors(problem)
    pool = inst.gpus[0]
    for n in range(1, pool.count + 1):
        for seq in product(vectors, repeat=n):
            if _survives(problem, [[(v, (1,) * len(need)) for v in seq]], need, [0] * len(need), tol.count,
                         tol.domain):
                return n * pool.cost
    return None
