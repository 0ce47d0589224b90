"""Baselines the ILP is compared against; each serves every demand (the min_gpus question) its own way.

- ``whole_gpu``: no MIG; each GPU serves one model, as ``full`` where measured, else the largest profile (7g).
- ``homogeneous``: every GPU takes the same MIG geometry (one type, the best geometry chosen); within that
  constraint the assignment is solved exactly (the ILP with a single geometry allowed).
- ``greedy``: ParvaGPU-style segments: per model the segment (profile, batch, processes) with the best
  throughput per compute slice (per unit cost across types) serves the bulk of the demand, the smallest
  segment that covers the remainder serves the rest; segments are packed largest first, each onto the open GPU
  it fits best (least compute left after it), a new GPU when none fits.

Why in the library: docs/domain.md (peers) says Majula must never need more GPUs than such heuristics, and say by
how much; ``majula solve --baseline`` and ``benchmarks/bench_placer.py`` report them side by side.
"""

from __future__ import annotations

import math
from collections import defaultdict
from functools import lru_cache

from ..perf.capacity import Capacity, Key
from ..hardware.catalog import FULL, GpuType
from ..errors import Infeasible
from ..hardware.geometry import Geometry, canonical, geometries, place
from ..problem.loading import Problem
from .decode import GpuAssignment
from .formulation import build, build_pools, safe

BASELINES = ("whole_gpu", "homogeneous", "greedy")


def _pool_info(problem: Problem) -> list[tuple[GpuType, int, float]]:
    return [(problem.catalog.get(g.type), g.count, g.cost) for g in problem.instance.gpus]


def _check_pool(name: str, used: dict[str, int], pools: list[tuple[GpuType, int, float]]) -> None:
    over = [f"{used[g.type]} x {g.type} (pool has {n})" for g, n, _ in pools if used.get(g.type, 0) > n]
    if over:
        raise Infeasible([f"baseline {name} needs more GPUs than the pool: {', '.join(over)}"])


def _slices(gpu: GpuType, profile: str) -> int:
    return gpu.profile_compute_slices(profile)


def whole_gpu(problem: Problem, table: dict[Key, Capacity]) -> list[GpuAssignment]:
    """One model per GPU, MIG disabled (``full``) where measured, else the largest profile. Each GPU goes to
    the type with the lowest cost per served request that still has GPUs left in its pool."""
    pools = _pool_info(problem)
    left = {gpu.type: n for gpu, n, _ in pools}
    out: list[GpuAssignment] = []
    for md in problem.instance.models:
        options = []
        for gpu, _, cost in pools:
            big = [FULL] + [p.name for p in gpu.plain_profiles if p.compute_slices == gpu.compute_slices]
            prof = next((p for p in big if (md.name, gpu.type, p) in table), None)
            if prof is not None:
                options.append((cost / table[(md.name, gpu.type, prof)].capacity_rps, gpu.type, prof))
        if not options:
            raise Infeasible([f"baseline whole_gpu: model '{md.name}' meets its SLO on no whole GPU"])
        need = md.demand_rps
        for _, t, prof in sorted(options):
            cap = table[(md.name, t, prof)].capacity_rps
            n = min(left[t], math.ceil(need / cap - 1e-9))
            out += [GpuAssignment(t, ((prof, md.name),))] * n
            left[t] -= n
            need -= n * cap
            if need <= 1e-9 * md.demand_rps:
                break
        else:
            raise Infeasible([f"baseline whole_gpu needs more GPUs than the pool for model '{md.name}'"])
    return out


def homogeneous(problem: Problem, table: dict[Key, Capacity], solver: str = "highs",
                time_limit: float | None = None) -> list[GpuAssignment]:
    """The cheapest plan in which every GPU of a type takes the same geometry (one geometry per type), solved
    exactly: the min_gpus ILP plus binaries u[t,g] with y[t,g] <= N_t u[t,g] and sum_g u[t,g] <= 1.

    On a one-type pool this is "the best single geometry for the whole fleet"; on a mixed pool each type keeps
    its own single geometry, so the baseline can use every pool instead of failing on the first.
    """
    import pulp

    from .decode import assign
    from .solver import solve_formulation

    pools = build_pools(problem, table)
    f = build(problem, "min_gpus", table, pools)
    for pool in pools:
        t = pool.gpu.type
        pick = {g: f.prob.add_variable(f"homog_{safe(t)}_{i}", 0, 1, cat="Binary")
                for i, g in enumerate(pool.geometries)}
        for g, u in pick.items():
            f.prob += f.y[(t, g)] <= pool.count * u, f"homog_{safe(t)}_{safe('_'.join(g))}"
        f.prob += pulp.lpSum(pick.values()) <= 1, f"homog_one_{safe(t)}"
    out = solve_formulation(f, solver, time_limit, phase2=False)
    if not out.has_solution():
        raise Infeasible(["baseline homogeneous: no single geometry per GPU type serves every demand within the "
                          "pool"])
    return assign(pools, out.y, out.x)


def _segments(problem: Problem, table: dict[Key, Capacity],
              banned: dict[str, set[str]] | None = None) -> list[tuple[str, str, str]]:
    """(type, profile, model) of every segment the greedy configurator picks (a model avoids its banned types)."""
    cost = {gpu.type: (gpu, c) for gpu, _, c in _pool_info(problem)}
    banned = banned or {}
    out = []
    for md in problem.instance.models:
        cands = [(k, c) for k, c in table.items()
                 if k[0] == md.name and k[1] in cost and k[1] not in banned.get(md.name, ())]
        if not cands:
            raise Infeasible([f"baseline greedy: model '{md.name}' meets its SLO on no profile"])

        def score(kc: tuple[Key, Capacity]) -> tuple[float, int, str]:
            (_, t, p), c = kc
            gpu, w = cost[t]
            return (-c.capacity_rps * gpu.compute_slices / (_slices(gpu, p) * w), _slices(gpu, p), p)

        (_, t, p), best = min(cands, key=score)
        bulk = math.floor(md.demand_rps / best.capacity_rps + 1e-9)
        rest = md.demand_rps - bulk * best.capacity_rps
        out += [(t, p, md.name)] * bulk
        if rest > 1e-9 * md.demand_rps:
            cover = [kc for kc in cands if kc[0][1] == t and kc[1].capacity_rps >= rest]
            gpu = cost[t][0]
            (_, _, p2), _ = min(cover, key=lambda kc: (_slices(gpu, kc[0][2]), score(kc)))
            out.append((t, p2, md.name))
    return out


@lru_cache(maxsize=None)
def _ranking(gpu: GpuType, profile: str) -> tuple[tuple[Geometry, Geometry], ...]:
    """(state, state + profile) for every state that can take ``profile``, best fit first."""
    states = [g.profiles for g in geometries(gpu)]
    pairs = []
    for s in states:
        new = canonical([*s, profile], gpu)
        if place(gpu, new) is not None:
            free = gpu.compute_slices - sum(_slices(gpu, p) for p in new)
            pairs.append((free, s, new))
    return tuple((s, new) for _, s, new in sorted(pairs))


def _pack(gpu: GpuType, segs: list[tuple[str, str]], out: list[GpuAssignment]) -> int:
    """Best-fit packing of (profile, model) segments onto GPUs of one type; returns GPUs opened."""
    open_by_state: dict[Geometry, list[list[tuple[str, str]]]] = defaultdict(list)
    closed: list[list[tuple[str, str]]] = []
    for p, m in sorted(segs, key=lambda s: (-_slices(gpu, s[0]), s[0], s[1])):
        if p == FULL:
            closed.append([(p, m)])
            continue
        target = next(((s, new) for s, new in _ranking(gpu, p) if open_by_state.get(s)), None)
        slots = open_by_state[target[0]].pop() if target else []
        slots.append((p, m))
        open_by_state[target[1] if target else (p,)].append(slots)
    gpus = closed + [slots for state in sorted(open_by_state) for slots in open_by_state[state]]
    out += [GpuAssignment(gpu.type, tuple(s)) for s in gpus]
    return len(gpus)


def greedy(problem: Problem, table: dict[Key, Capacity]) -> list[GpuAssignment]:
    """ParvaGPU-style segments, best-fit packed, per GPU type. When a type's pool overflows, the model with the
    fewest compute slices there moves to its next best type, and the packing is redone (a model never returns
    to a type it left, so this ends)."""
    pools = _pool_info(problem)
    count = {gpu.type: n for gpu, n, _ in pools}
    banned: dict[str, set[str]] = defaultdict(set)
    while True:
        segments = _segments(problem, table, banned)
        by_type: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for t, p, m in segments:
            by_type[t].append((p, m))
        out: list[GpuAssignment] = []
        used = {gpu.type: _pack(gpu, by_type[gpu.type], out) for gpu, _, _ in pools if by_type[gpu.type]}
        over = next((t for t, n in used.items() if n > count[t]), None)
        if over is None:
            return out
        gpu = problem.catalog.get(over)
        load: dict[str, int] = defaultdict(int)
        for p, m in by_type[over]:
            load[m] += _slices(gpu, p)
        movable = [m for m in sorted(load, key=lambda m: (load[m], m))
                   if any(k[0] == m and k[1] in count and k[1] != over and k[1] not in banned[m] for k in table)]
        if not movable:
            _check_pool("greedy", used, pools)
        banned[movable[0]].add(over)
