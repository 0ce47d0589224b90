"""Service times of each (instance, model) run of a plan, from the measurements.

Why here: the plan says which point runs (model, GPU type, profile, batch, processes) and the latency the placer
assumed; the measurements say how long batches really take. A full batch takes the point's measured p99
``latency_ms``, or what its measured throughput implies if that is slower (``MeasurementRecord.service_ms``:
published latencies are often rounded), or the plan's latency, if larger (the placer adds interference for an
MPS instance, and points it predicted have no measurement). A partial batch of n takes
``latency * L(n) / L(batch)``, where L interpolates the measured latency-vs-batch points of the same (model,
GPU, profile, processes), made non-decreasing; with no other points, partial batches take the full latency
(pessimistic).
Optional jitter: lognormal per-batch factor with median p50/p99 and 99th percentile 1, when p50 is measured.

Shared instances: every (instance, model) pair is its own ``Run``, with the instance's ``sharing`` and its place
in the plan (``instance`` = (GPU index, instance index)) so the router can group the runs of a time-shared
instance into one duty cycle (``duty_cycle.py``). An MPS run keeps the rule above: its plan ``latency_ms`` is
the co-located latency, larger than the solo measurement, so it wins; partial batches follow the solo curve's
shape and jitter the solo record's p50/p99. A time-shared run's latency is its solo latency, and the plan's
``cycle_ms`` must be the sum of its runs' ``latency_ms`` (a hand-written plan is checked here).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..perf.capacity import measured_points
from ..errors import InputError
from ..problem.loading import Problem
from ..schema import MeasurementRecord, Plan, PlanInstance, PlanModelRun

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
    sharing: str = "none"  # the instance's: "none", "time" (duty cycle with its other runs) or "mps"
    instance: tuple[int, int] = (0, 0)  # (index in plan.gpus, index in its instances): runs of one instance share it
    cycle_ms: float | None = None  # the plan's duty cycle (time-shared instances)

    @property
    def where(self) -> str:
        """The instance's place in the plan file, for messages."""
        return f"gpus[{self.instance[0]}].instances[{self.instance[1]}]"

    @property
    def latency_ms(self) -> float:
        return float(self.service_ms[self.batch])


def runs_by_model(runs: list[Run]) -> dict[str, list[int]]:
    """Indices of each model's runs, in plan order (the routing and the statistics both group by model)."""
    out: dict[str, list[int]] = {}
    for i, r in enumerate(runs):
        out.setdefault(r.model, []).append(i)
    return out


def runs_by_instance(runs: list[Run]) -> list[list[int]]:
    """Indices of the runs of each instance, in plan order (a time-shared instance's runs are simulated
    together; every other run is a group of one, also when an MPS instance has several)."""
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(runs):
        key = r.instance if r.sharing == "time" else (r.instance, i)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


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


def _service(tables: tuple[dict, dict], gpu: str, inst: PlanInstance,
             m: PlanModelRun) -> tuple[np.ndarray, float | None]:
    """Service-time table and jitter sigma of one run (module docstring: the slower of plan and measurement)."""
    exact, curves = tables
    rec = exact.get((m.name, gpu, inst.profile, m.batch, m.processes))
    lat = max(m.latency_ms, rec.service_ms) if rec else m.latency_ms
    pts = curves.get((m.name, gpu, inst.profile))
    sel = pts.processes == m.processes if pts is not None else None
    xs = pts.batch[sel] if pts is not None else np.empty(0)
    ys = pts.latency_ms[sel] if pts is not None else np.empty(0)
    sigma = None
    if rec is not None and rec.p50_ms is not None and rec.p50_ms < rec.latency_ms:
        sigma = float(np.log(rec.latency_ms / rec.p50_ms) / Z99)
    return service_table(lat, m.batch, xs, ys), sigma


def build_runs(problem: Problem, plan: Plan, plan_file: str | None = None) -> list[Run]:
    """Every (instance, model) run of the plan with its service-time table. The plan's layout, sharing and
    cycles are checked by ``plan_validation.validate_plan`` (``simulate`` calls it first); only what indexing
    needs is checked here."""
    cat, slo = problem.catalog, {m.name: m.slo_ms for m in problem.instance.models}
    tables = (_exact_points(problem), measured_points(problem))
    runs: list[Run] = []
    for gi, g in enumerate(plan.gpus):
        gpu = cat.resolve(g.type)
        if gpu is None:
            raise InputError(f"unknown GPU type '{g.type}'", file=plan_file, field=f"gpus[{gi}].type")
        for ii, inst in enumerate(g.instances):
            for mi, m in enumerate(inst.models):
                if m.name not in slo:
                    raise InputError(f"model '{m.name}' is not in the instance", file=plan_file,
                                     field=f"gpus[{gi}].instances[{ii}].models[{mi}].name")
                table, sigma = _service(tables, gpu, inst, m)
                runs.append(Run(g.id, gpu, inst.profile, inst.start, m.name, m.batch, m.processes, m.rate_rps,
                                slo[m.name], table, sigma, inst.sharing, (gi, ii), inst.cycle_ms))
    return runs
