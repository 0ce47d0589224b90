"""Service times of each (instance, model) run of a plan, from the measurements.

Why here: the plan says which point runs (model, GPU type, profile, batch, processes) and the latency the placer
assumed; the measurements say how long batches really take. A full batch takes the point's measured p99
``latency_ms``, or what its measured throughput implies if that is slower (``MeasurementRecord.service_ms``:
published latencies are often rounded), or the plan's latency, if larger: the placer may have added interference for a shared instance, and
points it predicted have no measurement). A partial batch of n takes ``latency * L(n) / L(batch)``, where L
interpolates the measured latency-vs-batch points of the same (model, GPU, profile, processes), made
non-decreasing; with no other points, partial batches take the full latency (pessimistic).
Optional jitter: lognormal per-batch factor with median p50/p99 and 99th percentile 1, when p50 is measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..perf.capacity import measured_points
from ..hardware.catalog import FULL, GpuType
from ..hardware.geometry import layout_problem
from ..errors import InputError
from ..problem.loading import Problem
from ..schema import MeasurementRecord, Plan, PlanGpu

Z99 = 2.3263478740408408
"""Standard normal 99th percentile (lognormal jitter: p99 / p50 = exp(sigma * Z99))."""


@dataclass(frozen=True)
class Run:
    """One model served by one instance of the plan, ready to simulate."""

    gpu_id: int
    gpu_type: str
    profile: str
    start: int
    model: str
    batch: int
    processes: int
    rate_rps: float
    slo_ms: float
    service_ms: np.ndarray  # index n = service time of a batch of n (index 0 unused)
    jitter_sigma: float | None  # lognormal sigma, None = no p50 known

    @property
    def latency_ms(self) -> float:
        return float(self.service_ms[self.batch])


def runs_by_model(runs: list[Run]) -> dict[str, list[int]]:
    """Indices of each model's runs, in plan order (the routing and the statistics both group by model)."""
    out: dict[str, list[int]] = {}
    for i, r in enumerate(runs):
        out.setdefault(r.model, []).append(i)
    return out


def _exact_points(problem: Problem) -> dict[tuple, MeasurementRecord]:
    """Solo records by (model, canonical GPU, profile, batch, processes); real ones win over emulated."""
    out: dict[tuple, MeasurementRecord] = {}
    for r in problem.measurements:
        gpu = problem.catalog.resolve(r.gpu)
        if gpu is None or r.colocated:
            continue
        key = (r.model, gpu, r.profile, r.batch, r.processes)
        if key not in out or (out[key].emulated and not r.emulated):
            out[key] = r
    return out


def service_table(latency_ms: float, batch: int, curve_batch: np.ndarray, curve_ms: np.ndarray) -> np.ndarray:
    """Service time for 0..batch requests: full batch = ``latency_ms``, partial batches scaled by the curve."""
    table = np.full(batch + 1, latency_ms, dtype=float)
    if len(curve_batch) >= 2:
        order = np.argsort(curve_batch)
        xs, ys = curve_batch[order].astype(float), np.maximum.accumulate(curve_ms[order])
        n = np.arange(1, batch + 1, dtype=float)
        shape = np.interp(n, xs, ys)
        table[1:] = latency_ms * np.minimum(1.0, shape / shape[-1])
    table[0] = 0.0
    return table


def _check_gpu(gtype: GpuType, g: PlanGpu, gi: int, plan_file: str | None) -> None:
    """A plan the simulator replays must be one the hardware can hold: a valid MIG layout.

    Why here: ``majula simulate`` reads plans written by hand or by other tools, not only by the placer. Rates
    above ``capacity_rps`` are allowed: a hand-written plan may mean to overload an instance.
    """
    if [i.profile for i in g.instances] == [FULL]:
        return
    problem = layout_problem(gtype, [(i.profile, i.start) for i in g.instances])
    if problem is not None:
        raise InputError(f"invalid MIG layout on {gtype.type}: {problem}", file=plan_file,
                         field=f"gpus[{gi}].instances")


def build_runs(problem: Problem, plan: Plan, plan_file: str | None = None) -> list[Run]:
    """Every (instance, model) run of the plan with its service-time table."""
    cat, slo = problem.catalog, {m.name: m.slo_ms for m in problem.instance.models}
    exact, curves = _exact_points(problem), measured_points(problem)
    runs: list[Run] = []
    for gi, g in enumerate(plan.gpus):
        gpu = cat.resolve(g.type)
        if gpu is None:
            raise InputError(f"unknown GPU type '{g.type}'", file=plan_file, field=f"gpus[{gi}].type")
        _check_gpu(cat.gpus[gpu], g, gi, plan_file)
        for ii, inst in enumerate(g.instances):
            for mi, m in enumerate(inst.models):
                if m.name not in slo:
                    raise InputError(f"model '{m.name}' is not in the instance", file=plan_file,
                                     field=f"gpus[{gi}].instances[{ii}].models[{mi}].name")
                rec = exact.get((m.name, gpu, inst.profile, m.batch, m.processes))
                lat = max(m.latency_ms, rec.service_ms) if rec else m.latency_ms
                pts = curves.get((m.name, gpu, inst.profile))
                sel = pts.processes == m.processes if pts is not None else None
                xs = pts.batch[sel] if pts is not None else np.empty(0)
                ys = pts.latency_ms[sel] if pts is not None else np.empty(0)
                sigma = None
                if rec is not None and rec.p50_ms is not None and rec.p50_ms < rec.latency_ms:
                    sigma = float(np.log(rec.latency_ms / rec.p50_ms) / Z99)
                runs.append(Run(g.id, gpu, inst.profile, inst.start, m.name, m.batch, m.processes, m.rate_rps,
                                slo[m.name], service_table(lat, m.batch, xs, ys), sigma))
    return runs
