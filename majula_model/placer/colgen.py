"""Column generation of shared-instance patterns, and the bound that says how far a shared plan can be from the
optimum over every pattern.

Why generated: the patterns of one profile are subsets of up to K models with a batch size each, hundreds of
thousands already for ten models (``docs/sharing.md``). The LP relaxation of the ILP (``formulation``, with the
rows (9), valid for min_gpus) is solved over the patterns found so far; its dual prices ask ``pricing`` for a
pattern that would improve it, on every (GPU type, profile) and sharing mode, exactly (a MILP for time-shared
patterns, an enumeration for MPS pairs); those found join the LP, until none exists. The LP's value is then the
LP bound of the *full* pattern set: every plan of the pattern model is at least that good (min_gpus: costs at
least that much). The ILP is solved over the generated patterns (price and branch), and the plan's gap is
reported against that bound, so ``optimal`` still means proven for the pattern model.

A fact that shapes the bound: a time-shared pattern's rates are a convex combination of its members' solo rates
(shares ``L_i / c``), so in the LP relaxation time sharing alone never beats fractional solo instances; what it
saves is integrality, which the rows (9) (a model is served only by instances it is in) make the LP see.

When generation stops early (time), the bound is the Lagrangian one: the restricted LP's value corrected by how
much any pattern could still improve it (``pricing`` gives an upper bound on every pattern's score), times the
most instances of that profile an optimal plan can run (``_lagrangian``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from ..errors import InputError
from ..hardware.catalog import FULL
from ..perf.capacity import Capacity, Key, all_points
from ..problem.problem import Problem
from .backends import backend
from .formulation import Pool, build, safe
from .patterns import Item, Pattern, items_by_instance, mps_pattern, time_pattern
from .pricing import Prices, price_mps, price_time

ENUMERATE_LIMIT = 2000
"""Instances with at most this many patterns get them all (no generation; the ILP's own proof covers them)."""
MAX_ROUNDS = 200
"""Most pricing rounds; the bound is claimed only when a round finds nothing (``Generated.complete``)."""


@dataclass
class Generated:
    """Patterns for the ILP, the LP bound of the full pattern set where proven, and what it took."""

    patterns: list[Pattern] = field(default_factory=list)
    bound: float | None = None
    """A proven bound on the LP over every pattern (min_gpus: a lower bound; else an upper one)."""
    complete: bool = False
    """True when pricing proved that no pattern improves the LP (then the bound is that LP's value)."""
    rounds: int = 0
    seconds: float = 0.0
    offered: dict[str, int] = field(default_factory=dict)
    """Patterns the ILP got per mode."""
    enumerated: bool = False
    """True when the patterns are all there are (few enough to list): the ILP's own proof then covers them."""


def sharing_on(problem: Problem) -> bool:
    """True when the policy lets models share instances (more than one model and at least one mode)."""
    pol = problem.instance.policy
    return pol.max_models_per_instance > 1 and bool(pol.sharing_modes) and len(problem.instance.models) > 1


def mps_offered(problem: Problem, gpu: str) -> bool:
    """MPS co-location is offered on a GPU type with co-located measurements, or with the stated prior."""
    pol = problem.instance.policy
    if "mps" not in pol.sharing_modes:
        return False
    if pol.interference_prior:
        return True
    from ..perf.interference import has_colocated

    return has_colocated(list(problem.measurements), problem.catalog, gpu)


def _colocated(problem: Problem, gpu: str, profile: str):
    """(lat a next to b, lat b next to a, source) on one profile: measured where exactly that pair was, else the
    interference fit, else (``policy.interference_prior``) the prior; None where MPS is not offered. Everything
    per type is built once, so a pair costs a dictionary lookup or two numpy scalars (pricing asks thousands)."""
    from ..perf import interference as itf

    gtype = problem.catalog.get(gpu)
    mine = itf.on_type(list(problem.measurements), gtype)
    fit = itf.fit_interference(mine, gtype)
    if fit is None and not problem.instance.policy.interference_prior:
        return lambda a, b: None
    measured: dict[tuple, list[float]] = {}
    for r in itf.colocated_records(mine):
        if r.profile == profile and len(r.colocated) == 1:
            measured.setdefault((r.model, r.batch, r.colocated[0].model, r.colocated[0].batch), []).append(
                r.latency_ms)
    table = itf.SoloTable(mine, gtype) if fit is not None else None
    cache: dict[tuple, tuple | None] = {}

    def one(a: Item, b: Item) -> float:
        if fit is None:
            return a.latency_ms * (1.0 + itf.PRIOR_SLOWDOWN_PER_CO_RUNNER)
        l_a, u_a = table.get(a.model, a.batch, profile)
        l_b, u_b = table.get(b.model, b.batch, profile)
        return float(l_a * fit.factor(l_a, u_a, l_b, u_b))

    def latency(a: Item, b: Item) -> tuple[float, float, str] | None:
        key = (a.model, a.batch, b.model, b.batch)
        if key not in cache:
            ma, mb = measured.get(key), measured.get((b.model, b.batch, a.model, a.batch))
            try:  # repeats of a measured pair: the slowest (the plan must hold at every measured latency)
                la = max(ma) if ma else one(a, b)
                lb = max(mb) if mb else one(b, a)
            except InputError:
                cache[key] = None
            else:
                cache[key] = (la, lb, "colocated-measured" if ma and mb else "colocated-predicted")
        return cache[key]

    return latency


def _prices(problem: Problem, f, objective: str) -> tuple[Prices, dict[tuple[str, str], float]]:
    """Dual prices of the LP just solved: per model alpha (capacity or scale row), beta (row 9); gamma per
    (type, profile) (supply row). Sign: a pattern improves when its score exceeds gamma (module ``pricing``).

    PuLP reports duals as for minimising (the negated objective of a maximisation), so a column improves the LP
    when sum_rows coefficient x pi > 0 under every objective. The rows are scaled (``formulation``, Scaling:
    a pattern's rate r enters model m's rows as r / R_m, unclipped in these masters), and alpha is per request/s:
    the capacity row ``s - cap <= 0`` gives alpha = -pi / R_m, the scale row ``cap - a >= 0`` alpha = pi / R_m,
    row (9) ``s - share (x + z) <= 0`` beta = -share pi (share = min(1, d_m / R_m): 1, or 0 when retired), the supply row gamma = -pi.
    Every price is in the scaled objective's units, as gamma is."""
    rows = {c.name: c for c in f.prob.constraints()}  # PuLP 4's list form (the mapping is deprecated)
    alpha, beta = {}, {}
    for m, lab in f.label.items():
        if objective == "max_scale":
            row = rows.get(f"scale_{lab}")  # none for a retired model
            alpha[m] = (row.pi or 0.0) / f.ref[m] if row is not None else 0.0
        else:
            alpha[m] = -(rows[f"capacity_{lab}"].pi or 0.0) / f.ref[m]
        pres = rows.get(f"present_{lab}")
        share = min(1.0, f.demand[m] / f.ref[m])  # row (9)'s coefficient, as ``formulation`` writes it
        beta[m] = -share * (pres.pi or 0.0) if pres is not None else 0.0
    gamma = {}
    for pool in f.pools:
        for name, row in rows.items():
            prefix = f"supply_{safe(pool.gpu.type)}_"
            if name.startswith(prefix):
                gamma[(pool.gpu.type, name[len(prefix):])] = -(row.pi or 0.0)
    return Prices({m: max(0.0, v) for m, v in alpha.items()}, {m: max(0.0, v) for m, v in beta.items()}), gamma


def _round(problem: Problem, f, objective: str, items: dict[tuple[str, str], list[Item]], bound: bool = False,
           modes: tuple[str, ...] = ("time", "mps")) -> tuple[list[Pattern], dict[tuple[str, str], float]]:
    """One pricing round over every (type, profile) and mode: the improving patterns found, and per (type,
    profile) how far the best pattern's score can exceed gamma (0 where proven not to; inf where columns were
    found and ``bound`` did not ask for the bound: the Lagrangian bound)."""
    prices, gamma = _prices(problem, f, objective)
    pol, cat = problem.instance.policy, problem.catalog
    new: list[Pattern] = []
    excess: dict[tuple[str, str], float] = {}
    for (t, p), its in items.items():
        g = gamma.get((t, safe(p)), 0.0)
        mem = cat.gpus[t].profile_memory_gb(p)
        over = 0.0
        if "time" in modes:
            pats, upper = price_time(t, p, its, prices, g, pol, mem, bound=bound)
            new += pats
            over = max(over, upper - g)
        if "mps" in modes and mps_offered(problem, t):
            pats, best = price_mps(t, p, its, prices, g, pol, mem, _colocated(problem, t, p))
            new += pats
            over = max(over, best - g)
        excess[(t, p)] = max(0.0, over)
    return new, excess


def _lagrangian(problem: Problem, f, value: float, excess: dict[tuple[str, str], float], objective: str) -> float:
    """A bound on the LP over every pattern from the restricted LP's value: no pattern's reduced cost is below
    -excess, and an optimal solution runs at most U instances of a profile: max_count x GPUs, with GPUs at most
    value / cost for min_gpus (it costs no more than the restricted LP) and the pool otherwise. ``value`` and
    ``excess`` are in the scaled objective's units (``f.cost_scale`` for costs); the bound is returned unscaled."""
    cat = problem.catalog
    total = 0.0
    for (t, p), over in excess.items():
        if over <= 0:
            continue
        pool = next(g for g in problem.instance.gpus if cat.resolve(g.type) == t)
        gpus = value / (pool.cost / f.cost_scale) if objective == "min_gpus" else pool.count
        per = 1 if p == FULL else cat.gpus[t].profile(p).max_count
        total += over * per * min(gpus, pool.count)
    return f.unscale(value - total if objective == "min_gpus" else value + total)


def generate(problem: Problem, table: dict[Key, Capacity], objective: str, pools: list[Pool],
             deadline: float | None = None) -> Generated:
    """Generate patterns until no pricing round improves the LP (or ``deadline``, a perf_counter time, passes).

    With both modes, each mode's patterns are generated alone first and their union starts the joint
    generation: the ILP then has every column either mode alone would give it, so allowing a second mode never
    loses a plan the first found (price and branch keeps only the columns the LP asked for)."""
    t0 = time.perf_counter()
    out = Generated()
    items = items_by_instance(problem, all_points(problem))
    listed = enumerate_patterns(problem, items, ENUMERATE_LIMIT)
    if listed is not None:
        out.patterns, out.enumerated, out.complete = listed, True, True
        for p in listed:
            out.offered[p.mode] = out.offered.get(p.mode, 0) + 1
        out.seconds = time.perf_counter() - t0
        return out
    modes = tuple(m for m in problem.instance.policy.sharing_modes if m == "time" or any(
        mps_offered(problem, t) for t, _ in items))
    lp_cols: dict[str, Pattern] = {p.name: p for p in _seed(problem, items)} if "time" in modes else {}
    if len(modes) > 1:
        for k, mode in enumerate(modes):
            share = None if deadline is None else t0 + (deadline - t0) * (k + 1) / (len(modes) + 1)
            lp_cols.update(_columns(problem, table, objective, pools, items, share, (mode,), {}, Generated()))
    out.patterns = list(_columns(problem, table, objective, pools, items, deadline, modes, lp_cols, out).values())
    for p in out.patterns:
        out.offered[p.mode] = out.offered.get(p.mode, 0) + 1
    out.seconds = time.perf_counter() - t0
    return out


def _seed(problem: Problem, items: dict[tuple[str, str], list[Item]]) -> list[Pattern]:
    """Integer-minded time-shared columns to start from: per (type, profile), models in order of demand (lowest
    first) join a duty cycle, each at its fastest batch, while every member keeps a rate that covers its whole
    demand; then the next cycle starts. The LP's prices favour patterns that are good per unit of instance,
    the ILP needs patterns that let a few low-rate models fill one instance: these are those."""
    pol, cat = problem.instance.policy, problem.catalog
    demand = {m.name: m.demand_rps for m in problem.instance.models}
    out: list[Pattern] = []
    for (t, p), its in items.items():
        mem = cat.gpus[t].profile_memory_gb(p)
        fastest: dict[str, Item] = {}
        for it in its:
            if it.model not in fastest or it.latency_ms < fastest[it.model].latency_ms:
                fastest[it.model] = it
        group: list[Item] = []
        for it in sorted(fastest.values(), key=lambda i: (demand[i.model], i.model)):
            trial = time_pattern(t, p, group + [it], pol, mem) if group else None
            if trial is not None and all(r.capacity_rps >= demand[r.model] for r in trial.runs):
                group.append(it)
                if len(group) == pol.max_models_per_instance:
                    out.append(trial)
                    group = []
            else:
                if len(group) >= 2:
                    out.append(time_pattern(t, p, group, pol, mem))
                group = [it]
        if len(group) >= 2:
            out.append(time_pattern(t, p, group, pol, mem))
    return [q for q in out if q is not None]


def _columns(problem: Problem, table: dict[Key, Capacity], objective: str, pools: list[Pool],
             items: dict[tuple[str, str], list[Item]], deadline: float | None, modes: tuple[str, ...],
             lp_cols: dict[str, Pattern], out: Generated) -> dict[str, Pattern]:
    """The generation loop over ``modes``, from the columns ``lp_cols``; records rounds, bound and completion
    in ``out``; returns every column."""
    lp_cols = dict(lp_cols)
    present = objective in ("min_gpus", "max_throughput")
    f = None
    while out.rounds < MAX_ROUNDS:
        left = None if deadline is None else deadline - time.perf_counter()
        if left is not None and left <= 0:
            break
        f = build(problem, objective, table, pools, patterns=list(lp_cols.values()), present=present,
                  elastic=True, clip_patterns=False)
        value = backend("highs").relax(f.prob, left)
        if value is None:
            f = None
            break
        out.rounds += 1
        found, excess = _round(problem, f, objective, items, modes=modes)
        new = [p for p in found if p.name not in lp_cols]
        if not new:
            if found:  # only columns the LP has (its tolerances): bound these prices properly
                _, excess = _round(problem, f, objective, items, bound=True, modes=modes)
            out.complete = not any(excess.values())
            out.bound = _lagrangian(problem, f, value, excess, objective)
            break
        lp_cols.update((p.name, p) for p in new)
    if not out.complete and f is not None and out.bound is None:  # stopped early: bound the last LP's prices
        _, excess = _round(problem, f, objective, items, bound=True, modes=modes)
        out.bound = _lagrangian(problem, f, value, excess, objective)
    if out.bound is not None and not math.isfinite(out.bound):
        out.bound = None
    return lp_cols


def enumerate_patterns(problem: Problem, items: dict[tuple[str, str], list[Item]], limit: int
                       ) -> list[Pattern] | None:
    """Every pattern of the policy when there are at most ``limit`` of them, else None: time-shared sets (2 to
    K models, one batch each, cycle rule; supersets of a set that breaks it break it too) and MPS pairs."""
    pol, cat = problem.instance.policy, problem.catalog
    out: list[Pattern] = []
    for (t, p), its in items.items():
        mem = cat.gpus[t].profile_memory_gb(p)
        if "time" in pol.sharing_modes and not _time_sets(t, p, its, pol, mem, out, limit):
            return None
        if mps_offered(problem, t):
            latency = _colocated(problem, t, p)
            for i, a in enumerate(its):
                for b in its[i + 1:]:
                    lat = latency(a, b) if a.model != b.model else None
                    pat = None if lat is None else mps_pattern(t, p, a, b, lat[0], lat[1], lat[2], pol, mem)
                    if pat is not None:
                        out.append(pat)
                        if len(out) > limit:
                            return None
    return out


def _time_sets(gpu: str, profile: str, items: list[Item], pol, memory_gb: float, out: list[Pattern],
               limit: int) -> bool:
    """Append every time-shared pattern of one profile to ``out``; False once more than ``limit`` exist."""
    k = pol.max_models_per_instance

    def grow(start: int, chosen: list[Item]) -> bool:
        for j in range(start, len(items)):
            if any(c.model == items[j].model for c in chosen):
                continue
            trial = chosen + [items[j]]
            if len(trial) == 1:
                if not grow(j + 1, trial):
                    return False
                continue
            pat = time_pattern(gpu, profile, trial, pol, memory_gb)
            if pat is None:
                continue  # a superset has a longer cycle and more memory: it fails as well
            out.append(pat)
            if len(out) > limit or (len(trial) < k and not grow(j + 1, trial)):
                return False
        return True

    return grow(0, [])
