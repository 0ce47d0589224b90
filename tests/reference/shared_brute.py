"""Exhaustive optimum of tiny placement instances whose instances may be shared by several models (issue 12).

Limits (asserted): one GPU pool (one type, at most 4 GPUs), 1-3 models, measured points only
(``use_predictions`` off), no interference model (``interference_prior`` off). An MPS pair is offered only where
*both* directions of that exact co-location (batches included) were measured: the placer may also predict a
slowdown for pairs nobody measured, so compare the two only on instances that measure every pair at every batch
combination on every profile (``tiny_shared`` below does). Keep it to 1-3 batch sizes per model and profile: the
pattern count grows with the product of the batch counts. Emulated records are not told apart from real ones.

How, recomputed from the records alone (no placer, capacity or geometry code):

1. **Instance patterns** per profile p, each a vector of per-model capacities (rps):
   - ``none``: one model at any solo record (no ``colocated``) within ``max_processes`` whose memory fits p;
     smooth: usable when ``latency_ms <= latency_budget_fraction * slo``, capacity = the point's throughput;
     Poisson: capacity = ``min(poisson_capacity(b, k, service, slo, target), throughput)``, usable when > 0.
   - ``time`` (``"time"`` in ``sharing_modes``): 2..K distinct models (K = ``max_models_per_instance``), each
     at a solo record with processes 1; ``L_i = max(latency_ms, b_i * 1000 / throughput)``, ``cycle = sum L_i``;
     smooth: every ``cycle + L_i <= 2 * fraction * slo_i``, capacity ``b_i * 1000 / cycle``; Poisson: capacity
     ``min(b_i * 1000 / cycle, poisson_capacity(b_i, 1, cycle, slo_i, target))``, every one > 0.
   - ``mps`` (``"mps"`` in ``sharing_modes``, K >= 2): a pair at solo batches b_i, b_j with co-located records of
     i at b_i with [j at b_j] and of j at b_j with [i at b_i]; ``L'_i = max(L_i, every such record's latency)``
     with ``L_i`` the solo service time as above (the least the rules allow); smooth: ``L'_i <= fraction *
     slo_i``, capacity ``b_i * 1000 / L'_i``; Poisson: ``min(b_i * 1000 / L'_i, poisson_capacity(b_i, 1, L'_i,
     slo_i, target))`` > 0.
   Shared patterns need the models' solo ``memory_gb`` (unknown = 0) to add up within p's memory.
2. **GPU configurations**: every valid geometry (``placements_ref``; ``full`` alone where measured) with a
   pattern on each of its instances. An idle instance is the geometry without it (sub-geometries of valid
   geometries are valid and are enumerated too), so only busy instances are enumerated.
3. **Pools**: the Pareto-best capacity sums of 1..count GPUs, then each objective: min_gpus = least cost with
   every capacity >= demand (None when no count can), max_throughput = max sum min(demand, capacity),
   max_scale = max min capacity / demand.
Exactness: every objective is monotone in every model's capacity, so dropping a capacity vector that another
one with the same GPU count dominates (>= everywhere) never loses an optimum; ``naive`` (no pruning at all, 1-2
GPUs) checks this. ``min_gpus_plan`` turns the min_gpus optimum into a schema.Plan, so that ``shared_check`` can
audit it (the two code the rules separately). Models that no pattern serves are reported by ``unservable`` (the
placer raises Infeasible for them); the objectives here ignore them.

Also here: ``tiny_shared``, a hypothesis strategy of instances within these limits, and the hand-worked
instances T, M and K with their optima (``HAND_WORKED``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import combinations, combinations_with_replacement, product

from majula_model.hardware.catalog import FULL
from majula_model.perf.queueing import poisson_capacity
from majula_model.problem.loading import Problem
from majula_model.schema import MeasurementRecord

from .capacity_ref import point_rate
from .placements_ref import valid_geometries, valid_layouts

Vector = tuple[float, ...]
TOL = 1e-9


@dataclass(frozen=True)
class Pattern:
    """What one instance of ``profile`` runs: ``runs`` = ((model, batch, processes, latency_ms), ...) and the
    capacity vector over the instance's models (instance order)."""

    profile: str
    sharing: str
    runs: tuple[tuple[str, int, int, float], ...]
    capacity: Vector
    cycle_ms: float | None = None


def _service(r: MeasurementRecord) -> float:
    return max(r.latency_ms, r.processes * r.batch * 1000.0 / point_rate(r))


def _mem(r: MeasurementRecord) -> float:
    return 0.0 if r.memory_gb is None else r.memory_gb


def _le(a: float, b: float) -> bool:
    return a <= b * (1 + TOL) + TOL


def _check_limits(problem: Problem) -> str:
    inst = problem.instance
    pol = inst.policy
    assert len(inst.gpus) == 1, "shared_brute: one GPU pool only"
    assert inst.gpus[0].count <= 4, "shared_brute: at most 4 GPUs"
    assert 1 <= len(inst.models) <= 3, "shared_brute: 1-3 models"
    assert not pol.use_predictions, "shared_brute: measured points only"
    assert not pol.interference_prior, "shared_brute: no interference model (MPS from co-located records only)"
    return problem.catalog.resolve(inst.gpus[0].type)


def patterns(problem: Problem) -> dict[str, list[Pattern]]:
    """Every instance pattern the rules allow, per profile measured on the pool's type (``+me`` left out)."""
    gpu_type = _check_limits(problem)
    inst, cat = problem.instance, problem.catalog
    pol = inst.policy
    gpu = cat.gpus[gpu_type]
    models = [m.name for m in inst.models]
    slo = {m.name: m.slo_ms for m in inst.models}
    index = {m: i for i, m in enumerate(models)}
    n = len(models)
    recs = [r for r in problem.measurements if cat.resolve(r.gpu) == gpu_type and r.model in slo]
    plain = {p.name for p in gpu.profiles if not p.media_extensions} | {FULL}
    out: dict[str, list[Pattern]] = {}

    def vec(caps: dict[str, float]) -> Vector:
        v = [0.0] * n
        for m, c in caps.items():
            v[index[m]] += c
        return tuple(v)

    for p in sorted({r.profile for r in recs} & plain):
        mem = gpu.profile_memory_gb(p)
        solo = [r for r in recs if r.profile == p and not r.colocated]
        pats: list[Pattern] = []
        for r in solo:  # unshared
            if _mem(r) > mem or (pol.max_processes is not None and r.processes > pol.max_processes):
                continue
            if pol.arrivals == "smooth":
                c = point_rate(r) if r.latency_ms <= pol.latency_budget_fraction * slo[r.model] else 0.0
            else:
                c = min(poisson_capacity(r.batch, r.processes, _service(r), slo[r.model], pol.target_attainment),
                        point_rate(r))
            if c > 0:
                pats.append(Pattern(p, "none", ((r.model, r.batch, r.processes, r.latency_ms),), vec({r.model: c})))
        one = {m: [r for r in solo if r.model == m and r.processes == 1] for m in models}
        k = pol.max_models_per_instance
        if k >= 2 and "time" in pol.sharing_modes:
            for size in range(2, min(k, n) + 1):
                for group in combinations(models, size):
                    for choice in product(*(one[m] for m in group)):
                        if sum(_mem(r) for r in choice) > mem:
                            continue
                        lat = [_service(r) for r in choice]
                        cycle = sum(lat)
                        if pol.arrivals == "smooth":
                            if not all(_le(cycle + L, 2 * pol.latency_budget_fraction * slo[r.model])
                                       for r, L in zip(choice, lat)):
                                continue
                            caps = {r.model: r.batch * 1000.0 / cycle for r in choice}
                        else:
                            caps = {r.model: min(r.batch * 1000.0 / cycle,
                                                 poisson_capacity(r.batch, 1, cycle, slo[r.model],
                                                                  pol.target_attainment)) for r in choice}
                            if not all(c > 0 for c in caps.values()):
                                continue
                        pats.append(Pattern(p, "time", tuple((r.model, r.batch, 1, L) for r, L in zip(choice, lat)),
                                            vec(caps), cycle))
        if k >= 2 and "mps" in pol.sharing_modes:
            for a, b in combinations(models, 2):
                for ra, rb in product(one[a], one[b]):
                    if _mem(ra) + _mem(rb) > mem:
                        continue
                    lat = {}
                    for r, o in ((ra, rb), (rb, ra)):
                        co = [c.latency_ms for c in recs if c.profile == p and c.model == r.model and c.batch == r.batch
                              and c.processes == 1 and len(c.colocated) == 1 and c.colocated[0].model == o.model
                              and c.colocated[0].batch == o.batch]
                        if co:
                            lat[r.model] = max([_service(r), *co])
                    if len(lat) < 2:
                        continue  # this co-location was not measured both ways: not on offer
                    caps = {}
                    for r in (ra, rb):
                        L = lat[r.model]
                        if pol.arrivals == "smooth":
                            ok = _le(L, pol.latency_budget_fraction * slo[r.model])
                            caps[r.model] = r.batch * 1000.0 / L if ok else 0.0
                        else:
                            caps[r.model] = min(r.batch * 1000.0 / L, poisson_capacity(r.batch, 1, L, slo[r.model],
                                                                                        pol.target_attainment))
                    if all(c > 0 for c in caps.values()):
                        pats.append(Pattern(p, "mps", tuple((r.model, r.batch, 1, lat[r.model]) for r in (ra, rb)),
                                            vec(caps)))
        if pats:
            out[p] = pats
    return out


def _key(v: Vector) -> Vector:
    return tuple(round(x, 7) for x in v)


def pareto_items(items) -> list:
    """``(vector, witness)`` pairs whose vector no kept vector dominates (>= everywhere, within TOL); of equal
    vectors one is kept."""
    uniq = sorted({_key(v): (v, w) for v, w in items}.values(), key=lambda vw: -sum(vw[0]))
    kept: list = []
    for v, w in uniq:
        if not any(all(k >= x - TOL for k, x in zip(u, v)) for u, _ in kept):
            kept.append((v, w))
    return kept


def pareto(vectors) -> list[Vector]:
    """The vectors no other kept vector dominates, duplicates merged."""
    return [v for v, _ in pareto_items((v, None) for v in vectors)]


def _add(u: Vector, v: Vector) -> Vector:
    return tuple(x + y for x, y in zip(u, v))


Config = tuple[Pattern, ...]
"""One busy GPU: the pattern on each of its instances (their profiles make the geometry)."""


def _clip(v: Vector, cap: Vector | None) -> Vector:
    return v if cap is None else tuple(min(x, c) for x, c in zip(v, cap))


def gpu_configs(problem: Problem, cap: Vector | None = None) -> list[tuple[Vector, Config]]:
    """Pareto-best capacity vectors of one busy GPU of the pool's type (each entry clipped at ``cap``), each
    with a configuration giving it."""
    gpu_type = _check_limits(problem)
    gpu = problem.catalog.gpus[gpu_type]
    pats = {p: [x for _, x in pareto_items((_clip(x.capacity, cap), x) for x in ps)]
            for p, ps in patterns(problem).items()}
    geoms = [g for g in valid_geometries(gpu) if g and set(g) <= set(pats)]
    if FULL in pats:
        geoms.append((FULL,))
    n = len(problem.instance.models)
    out: list[tuple[Vector, Config]] = []
    for geom in geoms:
        counts = sorted(Counter(geom).items())
        groups = [list(combinations_with_replacement(pats[p], c)) for p, c in counts]
        for choice in product(*groups):
            config = tuple(x for chosen in choice for x in chosen)
            v = tuple([0.0] * n)
            for x in config:
                v = _add(v, x.capacity)
            out.append((_clip(v, cap), config))
    return pareto_items(out)


def gpu_vectors(problem: Problem) -> list[Vector]:
    """Pareto-best capacity vectors of one busy GPU of the pool's type."""
    return [v for v, _ in gpu_configs(problem)]


def unservable(problem: Problem) -> list[str]:
    """Models no pattern serves at all (the placer then raises Infeasible for every objective)."""
    served = {run[0] for ps in patterns(problem).values() for x in ps for run in x.runs}
    return [m.name for m in problem.instance.models if m.name not in served]


def _levels(problem: Problem, cap: Vector | None) -> list[tuple[float, list[tuple[Vector, tuple[Config, ...]]]]]:
    """Per number of GPUs used (as its cost): the Pareto-best capacity sums (clipped at ``cap``), each with the
    GPUs giving it."""
    pool = problem.instance.gpus[0]
    n = len(problem.instance.models)
    cur: list[tuple[Vector, tuple[Config, ...]]] = [(tuple([0.0] * n), ())]
    levels = [(0.0, cur)]
    configs = gpu_configs(problem, cap)
    for k in range(1, pool.count + 1):
        if not configs:
            break
        cur = pareto_items((_clip(_add(u, v), cap), gpus + (c,)) for u, gpus in cur for v, c in configs)
        levels.append((k * pool.cost, cur))
    return levels


def _objectives(problem: Problem, levels: list[tuple[float, list[Vector]]],
                which: tuple[str, ...]) -> dict[str, float | None]:
    demand = [m.demand_rps for m in problem.instance.models]
    every = [v for _, vs in levels for v in vs]
    out: dict[str, float | None] = {}
    if "min_gpus" in which:
        ok = [c for c, vs in levels if any(all(x >= d * (1 - TOL) for d, x in zip(demand, v)) for v in vs)]
        out["min_gpus"] = min(ok) if ok else None
    if "max_throughput" in which:
        out["max_throughput"] = max(sum(min(d, x) for d, x in zip(demand, v)) for v in every)
    if "max_scale" in which:
        out["max_scale"] = max(min(x / d for d, x in zip(demand, v)) for v in every)
    return out


OBJECTIVES = ("min_gpus", "max_throughput", "max_scale")


def shared_brute(problem: Problem, objectives: tuple[str, ...] = OBJECTIVES) -> dict[str, float | None]:
    """Optimal value of each objective (``"min_gpus"`` None when no number of GPUs of the pool serves every
    demand), with the sharing the policy allows. Models that no pattern serves are ignored here: see
    ``unservable``.

    Why clipped sums: min_gpus and max_throughput only see ``min(capacity_m, demand_m)``, and ``min(u + v, d) =
    min(min(u, d) + min(v, d), d)``, so sums are clipped at the demand, which collapses the Pareto sets (three
    models of 1g instances gave fronts of thousands of vectors). max_scale sees ``min_m capacity_m / d_m``, so
    its sums are clipped at ``A x demand`` with ``A`` at least the optimum (the pool's GPUs all giving each
    model the most one GPU can): the objective of a clipped vector is ``min(a, A)``, the same at the optimum.
    """
    _check_limits(problem)
    demand = tuple(m.demand_rps for m in problem.instance.models)
    out: dict[str, float | None] = {}
    which = tuple(o for o in objectives if o != "max_scale")
    if which:
        out |= _objectives(problem, [(c, [v for v, _ in items]) for c, items in _levels(problem, demand)], which)
    if "max_scale" in objectives:
        one = gpu_vectors(problem)
        count = problem.instance.gpus[0].count
        a = min((count * max((v[i] for v in one), default=0.0) / d for i, d in enumerate(demand)), default=0.0)
        cap = tuple(a * (1 + 1e-6) * d + TOL for d in demand)
        out |= _objectives(problem, [(c, [v for v, _ in items]) for c, items in _levels(problem, cap)],
                           ("max_scale",))
    return out


def min_gpus_plan(problem: Problem):
    """A schema.Plan reaching the min_gpus optimum (None when there is none), for auditing the brute force with
    ``check_shared_plan``: starts from ``placements_ref.starts_for``, each model's demand split over its
    instances in proportion to their capacities."""
    from majula_model import schema

    from .placements_ref import starts_for

    gpu_type = _check_limits(problem)
    inst = problem.instance
    gpu = problem.catalog.gpus[gpu_type]
    models = [m.name for m in inst.models]
    demand = [m.demand_rps for m in inst.models]
    for cost, items in _levels(problem, tuple(demand)):
        found = [gpus for v, gpus in items if all(x >= d * (1 - TOL) for d, x in zip(demand, v))]
        if found:
            break
    else:
        return None
    gpus = found[0]
    total = [sum(x.capacity[i] for c in gpus for x in c) for i in range(len(models))]
    share = [min(1.0, d / t) if t > 0 else 0.0 for d, t in zip(demand, total)]
    plan_gpus = []
    for g, config in enumerate(gpus):
        profiles = [x.profile for x in config]
        starts = [(FULL, 0)] if profiles == [FULL] else starts_for(gpu, profiles)
        assert starts is not None, f"no layout for {profiles}"
        instances = []
        for x, (p, s) in zip(config, starts):
            runs = []
            for m, b, k, lat in x.runs:
                c = x.capacity[models.index(m)]
                runs.append(schema.PlanModelRun(name=m, batch=b, processes=k, latency_ms=lat,
                                                rate_rps=c * share[models.index(m)], capacity_rps=c))
            instances.append(schema.PlanInstance(profile=p, start=s, sharing=x.sharing, cycle_ms=x.cycle_ms,
                                                 models=tuple(runs)))
        plan_gpus.append(schema.PlanGpu(id=g, type=gpu_type, geometry=tuple(profiles), instances=tuple(instances)))
    totals = tuple(schema.PlanModel(name=m, demand_rps=d, served_rps=t * r, capacity_rps=t)
                   for m, d, t, r in zip(models, demand, total, share))
    return schema.Plan(instance=inst.name, objective=schema.PlanObjective(kind="min_gpus", value=cost, bound=cost),
                       status="optimal", gap=0.0, solver="shared_brute", solve_seconds=0.0, gpus=tuple(plan_gpus),
                       models=totals)


def naive(problem: Problem) -> dict[str, float | None]:
    """The same optimum with no reduction, for 1-2 GPUs: every valid layout (useless profiles and idle
    instances included), every pattern or nothing on each instance, every pair of GPU configurations."""
    gpu_type = _check_limits(problem)
    pool = problem.instance.gpus[0]
    assert pool.count <= 2, "naive enumeration is for 1-2 GPUs"
    gpu = problem.catalog.gpus[gpu_type]
    pats = patterns(problem)
    n = len(problem.instance.models)
    layouts = list(valid_layouts(gpu)) + ([((FULL, 0),)] if FULL in pats else [])
    configs: set[tuple[bool, Vector]] = set()
    for lay in layouts:
        options = [[None, *pats.get(p, [])] for p, _ in lay]
        for choice in product(*options):
            v = tuple([0.0] * n)
            for x in choice:
                if x is not None:
                    v = _add(v, x.capacity)
            configs.add((bool(lay), v))
    levels: dict[float, list[Vector]] = {}
    for combo in product(configs, repeat=pool.count):
        cost = pool.cost * sum(used for used, _ in combo)
        v = tuple([0.0] * n)
        for _, x in combo:
            v = _add(v, x)
        levels.setdefault(cost, []).append(v)
    return _objectives(problem, sorted(levels.items()), OBJECTIVES)


# --- tiny instances for these references and the placer tests ------------------------------------------------

A30 = "A30-24GB"
A30_PROFILES = ("1g.6gb", "2g.12gb", "4g.24gb")


def tiny_shared(arrivals: str = "smooth", modes: tuple[str, ...] = ("time", "mps"), k: tuple[int, int] = (2, 3),
                gpus: tuple[int, int] = (1, 3), models: tuple[int, int] = (2, 3), batches: tuple[int, int] = (1, 3),
                profiles: tuple[str, ...] = A30_PROFILES, n_profiles: tuple[int, int] = (1, 2),
                objective: str = "min_gpus"):
    """Hypothesis strategy: one A30 pool of ``gpus`` GPUs, ``models`` models with ``batches`` batch sizes each
    (the same on every measured profile), solo records at processes 1 (sometimes also one at processes 2),
    and co-located records of every pair, both ways, at every batch combination on every profile both
    measured (latency = solo latency x 1-3, rounded up), so MPS never needs an interference model. Every model
    has a point within the budget ``latency_budget_fraction * slo`` with neither throughput nor memory given, so
    it qualifies somewhere under both arrival policies; latencies are whole ms."""
    from hypothesis import strategies as st

    from majula_model import schema

    from .instances import build

    @st.composite
    def draw_instance(draw):
        import math

        profs = draw(st.lists(st.sampled_from(profiles), min_size=n_profiles[0],
                              max_size=min(n_profiles[1], len(profiles)), unique=True))
        fraction = draw(st.sampled_from([0.5, 0.45]))
        names = [f"m{i}" for i in range(draw(st.integers(*models)))]
        demands, recs = [], []
        solo: dict[tuple[str, str, int], float] = {}
        for name in names:
            slo = draw(st.integers(20, 120)) + (0.1 if fraction == 0.45 else 0.0)
            demands.append((name, slo, float(draw(st.integers(5, 250)))))
            bs = sorted(draw(st.lists(st.sampled_from([1, 2, 4, 8]), min_size=batches[0], max_size=batches[1],
                                      unique=True)))
            for j, p in enumerate(profs):
                if j > 0 and not draw(st.booleans()):
                    continue
                base = draw(st.integers(1, max(1, math.floor(fraction * slo)))) if j == 0 else \
                    draw(st.integers(1, 60))
                slope = draw(st.integers(0, 6))
                for i, b in enumerate(bs):
                    lat = float(base + slope * (b - bs[0]))
                    solo[(name, p, b)] = lat
                    guaranteed = j == 0 and i == 0
                    tput = None if guaranteed else draw(st.sampled_from([None, 0.8, 1.25]))
                    mem = None if guaranteed else draw(st.sampled_from([None, 2.0, 5.0, 8.0, 13.0]))
                    recs.append(schema.MeasurementRecord(
                        model=name, gpu=A30, profile=p, batch=b, latency_ms=lat, memory_gb=mem,
                        throughput_rps=None if tput is None else float(math.floor(b * 1000.0 / lat * tput))))
                    if draw(st.integers(0, 5)) == 0:
                        recs.append(schema.MeasurementRecord(model=name, gpu=A30, profile=p, batch=b, processes=2,
                                                             latency_ms=math.ceil(lat * 1.5)))
        for a, b in combinations(names, 2):
            for p in profs:
                ba = [x for (m, q, x) in solo if m == a and q == p]
                bb = [x for (m, q, x) in solo if m == b and q == p]
                if not ba or not bb:
                    continue
                fa, fb = (draw(st.sampled_from([1.0, 1.2, 1.5, 2.0, 3.0])) for _ in "ab")
                for xa, xb in product(ba, bb):
                    for m, x, f, o, y in ((a, xa, fa, b, xb), (b, xb, fb, a, xa)):
                        recs.append(schema.MeasurementRecord(
                            model=m, gpu=A30, profile=p, batch=x, latency_ms=float(math.ceil(solo[(m, p, x)] * f)),
                            colocated=[schema.Colocated(model=o, batch=y)]))
        policy = schema.Policy(arrivals=arrivals, latency_budget_fraction=fraction,
                               max_models_per_instance=draw(st.integers(*k)), sharing_modes=modes)
        return build("tiny-shared", [(A30, draw(st.integers(*gpus)), 1.0)], demands, recs, policy, objective)

    return draw_instance()


# --- Hand-worked instances (their optima are asserted in tests/placer/test_shared_reference_checkers.py) -------

def solo(model: str, profile: str, batch: int, latency: float, tput: float | None = None,
         memory: float | None = None, processes: int = 1):
    """A solo A30 record."""
    from majula_model import schema

    return schema.MeasurementRecord(model=model, gpu=A30, profile=profile, batch=batch, processes=processes,
                                    latency_ms=latency, throughput_rps=tput, memory_gb=memory)


def co(model: str, batch: int, other: str, other_batch: int, profile: str, latency: float):
    """An A30 record of ``model`` measured with ``other`` at ``other_batch`` in the same instance."""
    from majula_model import schema

    return schema.MeasurementRecord(model=model, gpu=A30, profile=profile, batch=batch, latency_ms=latency,
                                    colocated=[schema.Colocated(model=other, batch=other_batch)])


# T (time sharing, smooth): a and b are measured on 4g.24gb only (one per A30). a: batch 8 in 30 ms (266.7 rps
#   alone), b: batch 2 in 30 ms (66.7 rps alone); slo 100 ms, fraction 0.5 (budget 50 ms alone, 100 ms for
#   cycle + own latency). Time-shared: cycle 30 + 30 = 60 ms; 60 + 30 = 90 <= 100 for both; capacities
#   a 8 x 1000 / 60 = 133.3, b 2 x 1000 / 60 = 33.3. Demand a 100, b 30.
#   min_gpus (pool 2, or 1): shared, 1 GPU; alone, a and b need a 4g each: 2 GPUs. Only "mps" allowed: no
#   co-located record, so nothing shares: 2. With b's slo 85 ms the cycle rule fails (60 + 30 = 90 > 85): 2.
#   With 13 GB each the pair needs 26 GB > 24: 2.
#   max_throughput (pool 1): shared min(100, 133.3) + min(30, 33.3) = 130; alone the best is a: 100.

def hand_t(count: int = 2, objective: str = "min_gpus", slo_b: float = 100.0, memory: float | None = None,
           **policy):
    """Instance T (above); ``policy`` overrides Policy fields (max_models_per_instance 2 by default)."""
    from majula_model import schema

    from .instances import build

    pol = schema.Policy(**{"max_models_per_instance": 2, **policy})
    return build("T", [(A30, count, 1.0)], [("a", 100.0, 100.0), ("b", slo_b, 30.0)],
                 [solo("a", "4g.24gb", 8, 30.0, memory=memory), solo("b", "4g.24gb", 2, 30.0, memory=memory)],
                 pol, objective)


# M (MPS against time, smooth): a and b on 2g.12gb only (two per A30), batch 1 in 10 ms alone (100 rps each);
#   measured together: a 15 ms (66.7 rps), b 20 ms (50 rps); time-shared: cycle 20 ms, 50 rps each.
#   slo 100 ms (budget 50). Demand a 160, b 50. Per GPU (two 2g instances, or one), p = the MPS pair,
#   t = the time pair: {a, a} 200/0, {a, b} 100/100, {a, p} 166.7/50, {p, p} 133.3/100, {a, t} 150/50,
#   {t, t} 100/100, {b, p} 66.7/150, {p, t} 116.7/100.
#   min_gpus (pool 2): MPS allowed: {a, p} serves both: 1 GPU; time only or no sharing: nothing on one GPU
#   gives a >= 160 and b >= 50: 2 GPUs (with a pool of 1, no plan).
#   max_throughput (pool 1): MPS allowed: 160 + 50 = 210 ({a, p}); time only 150 + 50 = 200 ({a, t});
#   no sharing 160 ({a, a}).

def hand_m(count: int = 2, objective: str = "min_gpus", co_a: float = 15.0, **policy):
    """Instance M (above); ``co_a`` is a's latency measured with b."""
    from majula_model import schema

    from .instances import build

    pol = schema.Policy(**{"max_models_per_instance": 2, **policy})
    recs = [solo("a", "2g.12gb", 1, 10.0), solo("b", "2g.12gb", 1, 10.0),
            co("a", 1, "b", 1, "2g.12gb", co_a), co("b", 1, "a", 1, "2g.12gb", 20.0)]
    return build("M", [(A30, count, 1.0)], [("a", 100.0, 160.0), ("b", 100.0, 50.0)], recs, pol, objective)


# K (how many models, memory, Poisson): a, b, c on 4g.24gb only, batch 1 in 10 ms, `mem` GB each, slo 100 ms,
#   demand `d` each, pool 3, no co-located records. Smooth, d = 30: a pair cycles in 20 ms (50 rps each;
#   20 + 10 <= 100), the triple in 30 ms (33.3 rps each; 30 + 10 <= 100). K = 1: 3 GPUs; K = 2: a pair and
#   one alone: 2; K = 3, mem 8: the triple fits 24 GB exactly: 1 GPU (also with a pool of 1); K = 3, mem 9:
#   27 GB > 24: 2 GPUs.
#   Poisson (target 0.99), mem 8, K = 3: poisson_capacity(1, 1, service, 100 ms) is 76.6 alone (10 ms),
#   26.6 per model of a pair (20 ms cycle), 10.6 per model of the triple (30 ms cycle); a model may run on
#   several instances. d = 10: the triple serves all: 1 GPU. d = 20: one GPU serves at most two models
#   (a pair, 26.6 each); two GPUs do (a pair and one alone, or the triple twice, 21.2 each): 2. d = 30, two
#   GPUs: a model alone leaves one GPU to the other two (26.6 each at most); two pairs leave a model in one
#   pair only (26.6), a pair and the triple leave one in the triple only (10.6), two triples give 21.2; so 3
#   GPUs (one model each, or the triple three times, 31.8).

def hand_k(k: int = 3, mem: float | None = 8.0, demand: float = 30.0, arrivals: str = "smooth",
           objective: str = "min_gpus", count: int = 3, **policy):
    """Instance K (above)."""
    from majula_model import schema

    from .instances import build

    pol = schema.Policy(max_models_per_instance=k, arrivals=arrivals, **policy)
    return build("K", [(A30, count, 1.0)], [(m, 100.0, demand) for m in "abc"],
                 [solo(m, "4g.24gb", 1, 10.0, memory=mem) for m in "abc"], pol, objective)


HAND_WORKED = {  # name: (instance, objective, optimum worked out above; None: no plan serves every demand)
    "T time": (lambda: hand_t(), "min_gpus", 1.0),
    "T time pool 1": (lambda: hand_t(count=1), "min_gpus", 1.0),
    "T no sharing": (lambda: hand_t(max_models_per_instance=1), "min_gpus", 2.0),
    "T mps only": (lambda: hand_t(sharing_modes=("mps",)), "min_gpus", 2.0),
    "T cycle rule fails": (lambda: hand_t(slo_b=85.0), "min_gpus", 2.0),
    "T memory": (lambda: hand_t(memory=13.0), "min_gpus", 2.0),
    "T max_throughput": (lambda: hand_t(count=1, objective="max_throughput"), "max_throughput", 130.0),
    "T max_throughput no sharing": (lambda: hand_t(count=1, objective="max_throughput", max_models_per_instance=1),
                                    "max_throughput", 100.0),
    "M both": (lambda: hand_m(), "min_gpus", 1.0),
    "M mps": (lambda: hand_m(sharing_modes=("mps",)), "min_gpus", 1.0),
    "M mps pool 1": (lambda: hand_m(count=1, sharing_modes=("mps",)), "min_gpus", 1.0),
    "M time pool 1": (lambda: hand_m(count=1, sharing_modes=("time",)), "min_gpus", None),
    "M time": (lambda: hand_m(sharing_modes=("time",)), "min_gpus", 2.0),
    "M no sharing": (lambda: hand_m(max_models_per_instance=1), "min_gpus", 2.0),
    "M max_throughput both": (lambda: hand_m(count=1, objective="max_throughput"), "max_throughput", 210.0),
    "M max_throughput mps": (lambda: hand_m(count=1, objective="max_throughput", sharing_modes=("mps",)),
                             "max_throughput", 210.0),
    "M max_throughput time": (lambda: hand_m(count=1, objective="max_throughput", sharing_modes=("time",)),
                              "max_throughput", 200.0),
    "M max_throughput no sharing": (lambda: hand_m(count=1, objective="max_throughput", max_models_per_instance=1),
                                    "max_throughput", 160.0),
    "K k1": (lambda: hand_k(k=1), "min_gpus", 3.0),
    "K k2": (lambda: hand_k(k=2), "min_gpus", 2.0),
    "K k3": (lambda: hand_k(k=3, mem=8.0), "min_gpus", 1.0),
    "K k3 pool 1": (lambda: hand_k(k=3, mem=8.0, count=1), "min_gpus", 1.0),
    "K k3 memory": (lambda: hand_k(k=3, mem=9.0), "min_gpus", 2.0),
    "K poisson d10": (lambda: hand_k(demand=10.0, arrivals="poisson"), "min_gpus", 1.0),
    "K poisson d20": (lambda: hand_k(demand=20.0, arrivals="poisson"), "min_gpus", 2.0),
    "K poisson d30": (lambda: hand_k(demand=30.0, arrivals="poisson"), "min_gpus", 3.0),
}
