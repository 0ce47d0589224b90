"""Shared-instance patterns: one MIG instance (or a whole GPU) serving several models, with each model's rate.

Why patterns: an instance's throughput for a model depends on what else runs in it, so a shared instance is a
column of its own: (GPU type, profile, mode, models with batch sizes), yielding a fixed capacity for each of its
models. The ILP counts patterns as it counts geometries (``formulation``), so its size never depends on the
number of GPUs. Patterns are many (hundreds of thousands for ten models), so they are generated, not listed
(``colgen``); this module says which patterns exist and what they yield, and prices them.

The rules (docs/sharing.md), for model i at batch b_i with one process, solo service time L_i (the point's
``points.service_ms``: the slower of its latency and what its throughput implies):

- ``time`` (Nexus's duty cycle): the models take turns; cycle ``c = sum_i L_i``. Smooth arrivals: a request may
  wait a whole cycle and then run, so ``c + L_i <= 2 * latency_budget_fraction * slo_i``; capacity
  ``b_i * 1000 / c``. Poisson arrivals: ``min(b_i * 1000 / c, poisson_capacity(b_i, 1, c, slo_i, target))``: model
  i's batches start at most ``c`` apart when it has a backlog, and an arrival to its empty queue waits at most
  ``c - L_i`` for its turn, so the batch queue of ``queueing.py`` with service time ``c`` bounds its sojourn.
  Alone, this is exactly the solo rule (the cycle is the model's own latency).
- ``mps`` (pairs): both models run concurrently, each at its co-located latency ``L'_i >= L_i``
  (``perf.interference``; a measured co-location wins over the fitted model; never faster than solo). The solo
  rule applies at ``L'_i``.
- The models' memory adds up within the profile (unknown memory counts as 0, as for one model).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..hardware.catalog import FULL
from ..perf.points import Key, Points, service_ms
from ..problem.problem import Problem
from ..schema import Policy

Mode = Literal["time", "mps"]


@dataclass(frozen=True)
class Item:
    """One model at one batch size with one process on one profile: the building block of a pattern."""

    model: str
    batch: int
    latency_ms: float  # solo service time of a full batch (``points.service_ms``)
    memory_gb: float  # 0 where unknown
    slo_ms: float
    source: str  # the point's source label (measured, interpolated, predicted, prior)


@dataclass(frozen=True)
class PatternRun:
    """One model in a pattern: its batch, the latency it runs at (co-located for MPS), its capacity."""

    model: str
    batch: int
    latency_ms: float
    capacity_rps: float
    source: str


@dataclass(frozen=True)
class Pattern:
    """A shared instance: ``runs`` in duty-cycle order (time) or side by side (mps)."""

    gpu: str
    profile: str
    mode: Mode
    runs: tuple[PatternRun, ...]
    cycle_ms: float | None = None

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(r.model for r in self.runs)

    @property
    def name(self) -> str:
        """A deterministic name (the ILP variable's), unique per pattern: readable, with a digest of the exact
        runs (model names may contain anything, and one (model, batch) can come as two points)."""
        runs = tuple(sorted((r.model, r.batch, r.latency_ms) for r in self.runs))
        digest = hashlib.sha1(repr((self.mode, self.gpu, self.profile, runs)).encode()).hexdigest()[:10]
        body = "_".join(f"{m}_b{b}" for m, b, _ in runs)
        return f"{self.mode}_{self.gpu}_{self.profile}_{body}_{digest}"

    def rate(self, model: str) -> float:
        return next((r.capacity_rps for r in self.runs if r.model == model), 0.0)


def _poisson(batch: int, service_ms: float, slo_ms: float, policy: Policy) -> float:
    from ..perf.queueing import poisson_capacity

    return poisson_capacity(batch, 1, service_ms, slo_ms, policy.target_attainment)


def items_by_instance(problem: Problem, points: dict[Key, Points]) -> dict[tuple[str, str], list[Item]]:
    """Per (GPU type, profile) of the pool: every one-process point a model could run at in a shared instance
    (solo-feasible under the policy and within memory; media-extension profiles are left out)."""
    inst, cat = problem.instance, problem.catalog
    slo = {m.name: m.slo_ms for m in inst.models}
    pool = {cat.resolve(g.type) for g in inst.gpus}
    pol = inst.policy
    out: dict[tuple[str, str], list[Item]] = {}
    for (m, t, p), pts in sorted(points.items()):
        if m not in slo or t not in pool or len(pts) == 0:
            continue
        gpu = cat.gpus[t]
        if p != FULL and gpu.profile(p).media_extensions:
            continue
        mem_cap = gpu.profile_memory_gb(p)
        svc = service_ms(pts)
        found: list[Item] = []
        for i in np.flatnonzero(pts.processes == 1):
            b, L = int(pts.batch[i]), float(svc[i])
            mem = 0.0 if np.isnan(pts.memory_gb[i]) else float(pts.memory_gb[i])
            if mem <= mem_cap and _solo_ok(b, L, slo[m], pol):
                found.append(Item(m, b, L, mem, slo[m], pts.source[i]))
        kept = _pareto(found)
        if kept:
            out.setdefault((t, p), []).extend(kept)
    return out


def _pareto(items: list[Item]) -> list[Item]:
    """Per batch, the points no other point beats in both latency and memory (a slower point that needs less
    memory can be the one that lets a pattern fit), in batch then latency order."""
    out = []
    for it in sorted(items, key=lambda i: (i.batch, i.latency_ms, i.memory_gb)):
        if not any(o.batch == it.batch and o.latency_ms <= it.latency_ms and o.memory_gb <= it.memory_gb
                   for o in out):
            out.append(it)
    return out


def _solo_ok(batch: int, latency_ms: float, slo_ms: float, policy: Policy) -> bool:
    if policy.arrivals == "poisson":
        return _poisson(batch, latency_ms, slo_ms, policy) > 0
    return latency_ms <= policy.latency_budget_fraction * slo_ms * (1 + 1e-12)


def time_pattern(gpu: str, profile: str, items: list[Item], policy: Policy, memory_gb: float) -> Pattern | None:
    """The time-shared pattern of ``items`` (distinct models, in duty-cycle order), or None if it breaks a rule."""
    if len(items) < 2 or len({i.model for i in items}) != len(items):
        return None
    if sum(i.memory_gb for i in items) > memory_gb * (1 + 1e-12):
        return None
    c = math.fsum(i.latency_ms for i in items)
    runs = []
    for it in items:
        peak = it.batch * 1000.0 / c
        if policy.arrivals == "smooth":
            if c + it.latency_ms > 2 * policy.latency_budget_fraction * it.slo_ms * (1 + 1e-12):
                return None
            rate = peak
        else:
            rate = min(peak, _poisson(it.batch, c, it.slo_ms, policy))
        if rate <= 0:
            return None
        runs.append(PatternRun(it.model, it.batch, it.latency_ms, rate, it.source))
    return Pattern(gpu, profile, "time", tuple(runs), c)


def mps_pattern(gpu: str, profile: str, a: Item, b: Item, lat_a: float, lat_b: float, source: str,
                policy: Policy, memory_gb: float) -> Pattern | None:
    """The MPS pair of ``a`` and ``b`` at co-located latencies ``lat_a``, ``lat_b`` (never below solo), or None."""
    if a.model == b.model or a.memory_gb + b.memory_gb > memory_gb * (1 + 1e-12):
        return None
    runs = []
    for it, lat in ((a, max(lat_a, a.latency_ms)), (b, max(lat_b, b.latency_ms))):
        peak = it.batch * 1000.0 / lat
        if policy.arrivals == "smooth":
            rate = peak if lat <= policy.latency_budget_fraction * it.slo_ms * (1 + 1e-12) else 0.0
        else:
            rate = min(peak, _poisson(it.batch, lat, it.slo_ms, policy))
        if rate <= 0:
            return None
        runs.append(PatternRun(it.model, it.batch, lat, rate, source))
    return Pattern(gpu, profile, "mps", tuple(runs))
