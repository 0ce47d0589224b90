"""Capacity of a model on a profile, recomputed straight from the records (docs/domain.md (MIG and SLO rules), smooth arrivals).

Why a second copy: the placer's optimum is only as right as the capacities it packs, so the references compute
them from scratch: a point qualifies when its latency is within ``latency_budget_fraction * slo_ms``, its memory
fits the profile (unknown memory fits) and its process count is within ``max_processes``; the capacity is the
best qualifying throughput (measured ``throughput_rps``, else ``processes * batch * 1000 / latency_ms``).
Records measured while other models shared the instance (``colocated``) describe a different situation and are
left out.
"""

from __future__ import annotations

from dataclasses import dataclass

from majula_model.hardware.catalog import FULL, Catalog
from majula_model.problem.loading import Problem
from majula_model.schema import MeasurementRecord, Policy


@dataclass(frozen=True)
class Point:
    """One qualifying measured point of a model on a profile."""

    batch: int
    processes: int
    latency_ms: float
    rate_rps: float


def point_rate(rec: MeasurementRecord) -> float:
    """Throughput of a record: measured, else derived from batch, processes and latency."""
    if rec.throughput_rps is not None:
        return float(rec.throughput_rps)
    return rec.processes * rec.batch * 1000.0 / rec.latency_ms


def qualifies(rec: MeasurementRecord, slo_ms: float, policy: Policy, profile_memory_gb: float) -> bool:
    """True when the record meets the SLO rule, fits memory and respects the process limit."""
    if rec.colocated:
        return False
    if rec.latency_ms > policy.latency_budget_fraction * slo_ms:
        return False
    if rec.memory_gb is not None and rec.memory_gb > profile_memory_gb:
        return False
    return policy.max_processes is None or rec.processes <= policy.max_processes


def points(records: tuple[MeasurementRecord, ...], catalog: Catalog, policy: Policy, model: str,
           slo_ms: float, gpu_type: str, profile: str) -> list[Point]:
    """Qualifying points of ``model`` on ``profile`` of canonical ``gpu_type``."""
    mem = catalog.gpus[gpu_type].profile_memory_gb(profile)
    return [Point(r.batch, r.processes, r.latency_ms, point_rate(r)) for r in records
            if r.model == model and r.profile == profile and catalog.resolve(r.gpu) == gpu_type
            and qualifies(r, slo_ms, policy, mem)]


def capacity_table(problem: Problem) -> dict[tuple[str, str, str], float]:
    """``{(gpu_type, profile, model): capacity_rps}`` for every pool type, measured profile and model with a
    qualifying point (pairs without one are absent: that model cannot run there). ``+me`` profiles are left
    out: geometries are built without them (docs/cli.md (CLI contract)); ``full`` (MIG disabled) is kept."""
    inst, cat = problem.instance, problem.catalog
    recs = problem.measurements
    out: dict[tuple[str, str, str], float] = {}
    pool_types = [cat.resolve(p.type) for p in inst.gpus]
    for t in pool_types:
        plain = {p.name for p in cat.gpus[t].profiles if not p.media_extensions} | {FULL}
        profiles = sorted({r.profile for r in recs if cat.resolve(r.gpu) == t} & plain)
        for p in profiles:
            for m in inst.models:
                pts = points(recs, cat, inst.policy, m.name, m.slo_ms, t, p)
                if pts:
                    out[(t, p, m.name)] = max(pt.rate_rps for pt in pts)
    return out
