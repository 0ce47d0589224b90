"""Baselines the ILP is compared against; each serves every demand (the min_gpus question) its own way.

- ``whole_gpu``: no MIG; each GPU serves one model, as ``full`` where measured, else the largest profile (7g).
- ``homogeneous``: every GPU takes the same MIG geometry (one type, the best geometry chosen); within that
  constraint the assignment is solved exactly (the ILP with a single geometry allowed).
- ``greedy``: ParvaGPU-style segments: per model the segment (profile, batch, processes) with the best
  throughput per compute slice (per unit cost across types) serves the bulk of the demand, the smallest
  segment that covers the remainder serves the rest; segments are packed largest first, each onto the open GPU
  it fits best (least compute left after it), a new GPU when none fits.

Why in the library: DESIGN.md section 7 says Majula must never need more GPUs than such heuristics, and say by
how much; ``majula solve --baseline`` and ``benchmarks/bench_placer.py`` report them side by side.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace
from functools import lru_cache

from ..capacity import Capacity, Key
from ..catalog import FULL, GpuType
from ..errors import Infeasible
from ..geometry import Geometry, canonical, geometries, place
from ..loading import Problem
from .decode import GpuAssignment
from .formulation import build, build_pools

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
    """One model per GPU, MIG disabled (``full``) where measured, else the largest profile."""
    pools = _pool_info(problem)
    out: list[GpuAssignment] = []
    used: dict[str, int] = defaultdict(int)
    for md in problem.instance.models:
        options = []
        for gpu, _, cost in pools:
            big = [FULL] + [p.name for p in gpu.plain_profiles if p.compute_slices == gpu.compute_slices]
            prof = next((p for p in big if (md.name, gpu.type, p) in table), None)
            if prof is not None:
                options.append((cost / table[(md.name, gpu.type, prof)].capacity_rps, gpu.type, prof))
        if not options:
            raise Infeasible([f"baseline whole_gpu: model '{md.name}' meets its SLO on no whole GPU"])
        _, t, prof = min(options)
        n = math.ceil(md.demand_rps / table[(md.name, t, prof)].capacity_rps - 1e-9)
        out += [GpuAssignment(t, ((prof, md.name),))] * n
        used[t] += n
    _check_pool("whole_gpu", used, pools)
    return out


def homogeneous(problem: Problem, table: dict[Key, Capacity], solver: str = "highs",
                time_limit: float | None = None) -> list[GpuAssignment]:
    """The cheapest plan in which all GPUs are of one type and share one geometry (each solved exactly)."""
    from .decode import assign
    from .solver import solve_formulation

    best: tuple[float, list[GpuAssignment]] | None = None
    for pool in build_pools(problem, table):
        for g in pool.geometries:
            single = [replace(pool, geometries=(g,))]
            out = solve_formulation(build(problem, "min_gpus", table, single), solver, time_limit, phase2=False)
            if out.status not in ("optimal", "feasible"):
                continue
            cost = sum(n for n in out.y.values()) * pool.cost
            if best is None or cost < best[0] - 1e-9:
                best = (cost, assign(single, out.y, out.x))
    if best is None:
        raise Infeasible(["baseline homogeneous: no single type and geometry serves every demand within the pool"])
    return best[1]


def _segments(problem: Problem, table: dict[Key, Capacity]) -> list[tuple[str, str, str]]:
    """(type, profile, model) of every segment the greedy configurator picks."""
    cost = {gpu.type: (gpu, c) for gpu, _, c in _pool_info(problem)}
    out = []
    for md in problem.instance.models:
        cands = [(k, c) for k, c in table.items() if k[0] == md.name and k[1] in cost]
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
    """ParvaGPU-style segments, best-fit packed, per GPU type."""
    pools = _pool_info(problem)
    by_type: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for t, p, m in _segments(problem, table):
        by_type[t].append((p, m))
    out: list[GpuAssignment] = []
    used = {gpu.type: _pack(gpu, by_type[gpu.type], out) for gpu, _, _ in pools if by_type[gpu.type]}
    _check_pool("greedy", used, pools)
    return out
