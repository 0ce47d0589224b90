"""Capacity under the SLO: the most throughput a model sustains on one profile of one GPU type.

docs/domain.md (MIG and SLO rules): a point is feasible when its latency meets the SLO rule and its memory fits the profile
(and its process count is within ``policy.max_processes``); capacity is the best throughput among feasible points,
with the point that gives it. Under ``arrivals: "smooth"`` the rule is ``latency_ms <= latency_budget_fraction *
slo_ms``; under ``"poisson"`` a point's usable rate comes from ``queueing.poisson_capacity``.

Which number a point carries (real over emulated measurements, over fitted curves, over the prior) is decided
in one place, ``sources``, for the planner and ``majula predict`` alike; here every point keeps its label, and a
capacity carries its point's label in ``source`` and ``emulated=True`` where the point rests on emulated
measurements.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..hardware.catalog import FULL
from ..problem.problem import Problem
from ..schema import ModelDemand, Policy
from .points import Key, Points, measured_points, points_from_records, service_ms  # noqa: F401 - re-exported


@dataclass(frozen=True)
class Capacity:
    """The best SLO-feasible point of a model on a profile: ``source`` is its label (``measured``,
    ``interpolated``, ``predicted``, ``prior``), ``emulated`` whether it rests on emulated measurements."""

    model: str
    gpu: str
    profile: str
    batch: int
    processes: int
    latency_ms: float
    capacity_rps: float
    source: str
    emulated: bool


def usable_rates(pts: Points, slo_ms: float, policy: Policy) -> np.ndarray:
    """Rate each point can carry within the SLO (0 where it cannot), before memory and process limits.

    Never more than the point's measured throughput, under either arrival policy.
    """
    if policy.arrivals == "poisson":
        from .queueing import poisson_capacity

        rate = np.array([
            poisson_capacity(int(b), int(k), float(svc), slo_ms, policy.target_attainment)
            for b, k, svc in zip(pts.batch, pts.processes, service_ms(pts))
        ], dtype=float)
        return np.minimum(rate, pts.throughput_rps)
    ok = pts.latency_ms <= policy.latency_budget_fraction * slo_ms * (1 + 1e-12)
    return np.where(ok, pts.throughput_rps, 0.0)


def best_capacity(key: Key, pts: Points, slo_ms: float, policy: Policy, memory_gb: float) -> Capacity | None:
    """The best feasible point of ``pts`` (ties: smaller batch, then fewer processes), or None."""
    if len(pts) == 0:
        return None
    rate = usable_rates(pts, slo_ms, policy)
    fits = np.isnan(pts.memory_gb) | (pts.memory_gb <= memory_gb)
    if policy.max_processes is not None:
        fits &= pts.processes <= policy.max_processes
    rate = np.where(fits, rate, 0.0)
    if not np.any(rate > 0):
        return None
    order = np.lexsort((pts.processes, pts.batch, -rate))
    i = int(order[0])
    return Capacity(key[0], key[1], key[2], int(pts.batch[i]), int(pts.processes[i]), float(pts.latency_ms[i]),
                    float(rate[i]), pts.source[i], pts.point_emulated(i))


def all_points(problem: Problem) -> dict[Key, Points]:
    """Recorded points, plus predictions where the policy asks for them (both chosen by ``sources``' rule)."""
    pts = measured_points(problem)
    if problem.instance.policy.use_predictions:
        from .prediction import add_predictions

        pts = add_predictions(problem, pts)
    return pts


def capacity_table(problem: Problem) -> dict[Key, Capacity]:
    """Capacity of every (model, GPU type in the pool, profile) with a feasible point.

    Cached by the problem's value (instance, records, catalog identity): the placer, the validator and the
    reports all ask for the same table; a changed record or policy is a different key.
    """
    fingerprint = tuple(id(g) for g in problem.catalog.gpus.values())  # a catalog changed in place is a new key
    try:
        return dict(_cached_table(problem, fingerprint))
    except TypeError:  # an unhashable problem (should not happen with frozen models): compute directly
        return _capacity_table(problem)


@lru_cache(maxsize=16)
def _cached_table(problem: Problem, catalog_fingerprint: tuple[int, ...]) -> dict[Key, Capacity]:
    return _capacity_table(problem)


def _capacity_table(problem: Problem) -> dict[Key, Capacity]:
    inst, cat = problem.instance, problem.catalog
    slo = {m.name: m for m in inst.models}
    pool = {cat.resolve(g.type) for g in inst.gpus}
    out: dict[Key, Capacity] = {}
    for key, pts in all_points(problem).items():
        model, gpu, profile = key
        if model not in slo or gpu not in pool:
            continue
        gtype = cat.gpus[gpu]
        if profile != FULL and gtype.profile(profile).media_extensions:
            continue
        cap = best_capacity(key, pts, slo[model].slo_ms, inst.policy, gtype.profile_memory_gb(profile))
        if cap is not None:
            out[key] = cap
    return out


def best_latency(problem: Problem, model: ModelDemand) -> tuple[float, str] | None:
    """Lowest measured latency of a model on any GPU of the pool, with where (for infeasibility reports)."""
    pool = {problem.catalog.resolve(g.type) for g in problem.instance.gpus}
    best: tuple[float, str] | None = None
    for (m, gpu, prof), pts in measured_points(problem).items():
        if m == model.name and gpu in pool and len(pts):
            i = int(np.argmin(pts.latency_ms))
            cand = (float(pts.latency_ms[i]), f"{gpu} {prof} batch {int(pts.batch[i])}")
            best = cand if best is None or cand[0] < best[0] else best
    return best


def slo_problems(problem: Problem, table: dict[Key, Capacity] | None = None) -> list[str]:
    """One line per model that meets its SLO on no profile of the pool, with its best latency."""
    table = capacity_table(problem) if table is None else table
    served = {k[0] for k in table}
    pol = problem.instance.policy
    out = []
    for m in problem.instance.models:
        if m.name in served or m.demand_rps == 0:  # a retired model (demand 0) needs no instance
            continue
        best = best_latency(problem, m)
        mine = [s.file for s in problem.records if s.record.model == m.name]
        prior = bool(mine) and set(mine) <= set(problem.prior_files)
        where = ("no measurements" if not best else
                 f"best latency {best[0]:g} ms ({best[1]}), predicted by the analytic prior, not measured" if prior
                 else f"best measured latency {best[0]:g} ms ({best[1]})")
        if pol.arrivals == "smooth":
            rule = f"budget {pol.latency_budget_fraction:g} x {m.slo_ms:g} ms = {pol.latency_budget_fraction * m.slo_ms:g} ms"
        else:
            rule = f"poisson arrivals at {pol.target_attainment:g} attainment within {m.slo_ms:g} ms"
        out.append(f"model '{m.name}' cannot meet its SLO on any profile: {where}; {rule}")
    return out


def feasible_table(problem: Problem) -> dict[Key, Capacity]:
    """``capacity_table``, or ``Infeasible`` naming every model that meets its SLO nowhere (with its best latency):
    what every placer entry point (solve, re-plan) starts from."""
    from ..errors import Infeasible

    table = capacity_table(problem)
    problems = slo_problems(problem, table)
    if problems:
        raise Infeasible(problems)
    return table
