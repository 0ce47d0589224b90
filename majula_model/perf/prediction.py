"""Predictions for points that were not measured: what ``majula predict`` prints and what the planner may use.

Why a separate layer: capacity (``capacity.py``) only judges points; this module makes new ones from fitted
curves (``curves.py``) or, where a model was never measured on a GPU type, from the analytic prior
(``prior.py``). Measured points always win; every other value is labelled ``interpolated``, ``predicted`` or
``prior`` so a plan can say what it rests on.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

import numpy as np

from ..hardware.catalog import FULL, Catalog, GpuType, default_catalog
from .curves import Grid, corrected_latency, fit_curve, profile_memory_share, profile_sms
from ..errors import InputError
from ..problem.loading import is_prior
from .points import Points
from .peers import Residuals, corrected_with_peers, peers_on, residuals
from ..schema import CalibrationFile, MeasurementRecord


def _records(source: CalibrationFile | Iterable[MeasurementRecord]) -> list[MeasurementRecord]:
    return list(source.measurements if isinstance(source, CalibrationFile) else source)


def _query_grid(gpu: GpuType, profile: str, batches: list[int], processes: int) -> Grid:
    n = len(batches)
    return Grid(np.array(batches, float), np.full(n, float(processes)), np.full(n, profile_sms(gpu, profile)),
                np.full(n, profile_memory_share(gpu, profile)), np.full(n, np.nan))


def _solo(records: list[MeasurementRecord], model: str, gpu: str, cat: Catalog) -> list[MeasurementRecord]:
    return [r for r in records if r.model == model and cat.resolve(r.gpu) == gpu and not r.colocated]


def predict(source: CalibrationFile | Iterable[MeasurementRecord], model: str, gpu: str, profile: str,
            batches: list[int], processes: int = 1, catalog: Catalog | None = None) -> list[dict]:
    """Latency and throughput of ``model`` on ``profile`` of ``gpu`` at each batch size, with the source label.

    Measured points are returned as measured (their throughput too); others come from the model's fitted
    curve on that GPU type, or from the analytic prior (scaled by the model's measured/prior ratio on other GPU
    types) where the model has no measurements on it. InputError if the GPU type or profile is unknown, or if the
    model or the GPU type has no measurements at all: that is not a question to guess at.
    """
    cat = catalog or default_catalog()
    gtype = cat.get(gpu)
    if not gtype.has_profile(profile):
        raise InputError(f"GPU type {gtype.type} has no profile '{profile}'", field="profile")
    if not batches or min(batches) < 1 or processes < 1:
        raise InputError("batch sizes and processes must be positive integers", field="batch")
    records = _records(source)
    if not any(r.model == model for r in records):
        raise InputError(f"no measurements of model '{model}'", field="model")
    if not any(cat.resolve(r.gpu) == gtype.type for r in records):
        raise InputError(f"no measurements on GPU type {gtype.type}", field="gpu")
    own = _solo(records, model, gtype.type, cat)
    if not own:
        lat = prior_transfer(records, model, gtype, profile, batches, processes, cat)
        labels = ["prior"] * len(batches)
    else:
        lat, labels = curve_points(own, gtype, profile, batches, processes, peers_on(records, model, gtype, cat))
    if isinstance(source, CalibrationFile) and is_prior(source):
        labels = ["prior"] * len(batches)  # a bundled prior file: its "measurements" are prior predictions
    measured_tput = _measured_throughput(own, profile, processes)
    out = []
    for b, l, s in zip(batches, lat, labels):
        tput = measured_tput.get(b) if s in ("measured", "prior") else None
        out.append({"batch": int(b), "latency_ms": round(float(l), 4),
                    "throughput_rps": round(float(tput if tput else processes * b * 1000.0 / l), 4), "source": s})
    return out


def curve_points(records: list[MeasurementRecord], gpu: GpuType, profile: str, batches: list[int],
                 processes: int, peers: list[Residuals] = ()) -> tuple[np.ndarray, list[str]]:
    """Latencies and labels from the fitted (and residual-corrected) curve of one model's records on ``gpu``,
    corrected by what other models measured at the same points (``peers``: see ``peers.py``)."""
    real = [r for r in records if not r.emulated] or records
    fit = fit_curve(real, gpu)
    query = _query_grid(gpu, profile, batches, processes)
    if not peers:
        return corrected_latency(fit, Grid.of(real, gpu), query)
    return corrected_with_peers(fit, Grid.of(real, gpu), query, list(peers), residuals(real, gpu))


def _measured_throughput(records: list[MeasurementRecord], profile: str, processes: int) -> dict[int, float]:
    by_batch: dict[int, list[float]] = defaultdict(list)
    for r in records:
        if r.profile == profile and r.processes == processes and not r.emulated:
            by_batch[r.batch].append(r.rate_rps)
    return {b: float(np.mean(v)) for b, v in by_batch.items()}


def prior_transfer(records: list[MeasurementRecord], model: str, gpu: GpuType, profile: str, batches: list[int],
                   processes: int, cat: Catalog) -> np.ndarray:
    """Prior latency on an unmeasured GPU type, scaled by the model's median measured/prior ratio elsewhere.

    InputError if the model has no published cost figures (``perf/model_costs.json``) or the prior has no fitted
    constants: then there is nothing honest to say.
    """
    from .prior import has_specs, load_costs, prior_latency

    costs, constants = load_costs()
    if model not in costs or not constants or not has_specs(gpu):
        raise InputError(f"model '{model}' has no measurements on {gpu.type} and no analytic prior "
                         "(the prior needs the model in majula_model/perf/model_costs.json and the GPU type's spec "
                         "figures sms, fp32_tflops, memory_bandwidth_gbps)", field="model")
    cost = costs[model]
    ratios = []
    for r in records:
        other = cat.resolve(r.gpu)
        if r.model == model and other is not None and not r.colocated and not r.emulated \
                and has_specs(cat.gpus[other]):
            ratios.append(r.latency_ms / float(prior_latency(cost, constants, cat.gpus[other], r.profile,
                                                              r.batch, r.processes)))
    scale = float(np.median(ratios)) if ratios else 1.0
    return scale * prior_latency(cost, constants, gpu, profile, np.array(batches, float), processes)


def add_predictions(problem, points: dict) -> dict:
    """Points plus predicted ones for every profile and batch size the pool's GPU types offer but were not
    measured (``capacity.all_points`` calls this when ``policy.use_predictions`` is true).

    For each model with measurements on a pool GPU type: batch sizes and process counts span what was measured
    for the model there (processes capped by ``policy.max_processes``; batch sizes other models were measured at
    on that type are added where they fall inside the model's range), and a predicted point is only offered
    where b x k does not exceed what was measured on a profile with no more memory (missing points in public
    data are often out-of-memory runs: never predict past them). For a pool GPU type the model was never
    measured on, analytic-prior points (``source: "prior"``, with the prior's memory estimate) where the model
    has published costs and the GPU type has spec figures.
    """
    out = dict(points)
    cat, inst = problem.catalog, problem.instance
    pool = {cat.resolve(g.type) for g in inst.gpus}
    records = list(problem.measurements)
    batches_on = {gpu: {r.batch for r in records if cat.resolve(r.gpu) == gpu and not r.colocated}
                  for gpu in pool if gpu}  # every batch size measured on a type, by any model (once, not per model)
    for m in inst.models:
        for gpu in sorted(g for g in pool if g):
            own = [r for r in _solo(records, m.name, gpu, cat) if not r.emulated]
            if own:
                rows = _predicted_for(own, cat.gpus[gpu], inst.policy.max_processes,
                                      peers_on(records, m.name, cat.gpus[gpu], cat), batches_on[gpu])
            else:
                rows = _prior_for(records, m.name, cat.gpus[gpu], cat, inst.policy.max_processes)
            for profile, pts in rows.items():
                key = (m.name, gpu, profile)
                out[key] = _merge(out.get(key), pts)
    return out


def _predicted_for(records: list[MeasurementRecord], gpu: GpuType, max_processes: int | None,
                   peers: list[Residuals] = (), other_batches: set[int] = frozenset()) -> dict:
    """Predicted (batch, processes, latency, label) per profile of ``gpu``, unmeasured points only.

    Batch sizes: the model's own, plus those other models were measured at on ``gpu`` that lie within the
    model's measured range (interpolated, never extrapolated; the peers say most there)."""
    own = {r.batch for r in records}
    batches = sorted(own | {b for b in other_batches if min(own) < b < max(own)})
    kmax = max(r.processes for r in records)
    kmax = min(kmax, max_processes) if max_processes else kmax
    measured = {(r.profile, r.batch, r.processes) for r in records}
    fitted_profiles = [p.name for p in gpu.plain_profiles] + ([FULL] if any(r.profile == FULL for r in records) else [])
    out = {}
    for profile in fitted_profiles:
        mem = gpu.profile_memory_gb(profile)
        limit = max((r.batch * r.processes for r in records if gpu.profile_memory_gb(r.profile) <= mem + 1e-9),
                    default=0)
        rows = []
        for k in range(1, kmax + 1):
            todo = [b for b in batches if (profile, b, k) not in measured and b * k <= limit]
            if todo:
                lat, labels = curve_points(records, gpu, profile, todo, k, peers)
                rows += [(b, k, lt, lb) for b, lt, lb in zip(todo, lat, labels)]
        if rows:
            out[profile] = rows
    return out


def _prior_for(records: list[MeasurementRecord], model: str, gpu: GpuType, cat: Catalog,
               max_processes: int | None) -> dict:
    """Prior (batch, processes, latency, "prior", memory) per plain profile of a GPU type the model never ran on;
    empty where the prior cannot answer (no published costs, no spec figures)."""
    from .prior import has_specs, load_costs, prior_memory_gb

    costs, constants = load_costs()
    mine = [r for r in records if r.model == model and not r.colocated]
    if model not in costs or not constants or not has_specs(gpu) or not mine:
        return {}
    batches = sorted({r.batch for r in mine})
    kmax = max(r.processes for r in mine)
    kmax = min(kmax, max_processes) if max_processes else kmax
    out = {}
    for profile in (p.name for p in gpu.plain_profiles):
        rows = []
        for k in range(1, kmax + 1):
            lat = prior_transfer(records, model, gpu, profile, batches, k, cat)
            mem = prior_memory_gb(costs[model], np.array(batches, float), k)
            rows += [(b, k, float(lt), "prior", np.nan if mem is None else float(mem[i]))
                     for i, (b, lt) in enumerate(zip(batches, lat))]
        out[profile] = rows
    return out


def _merge(existing: Points | None, rows: list[tuple]) -> Points:
    """A Points with ``existing`` (measured) first, then the new rows (batch, processes, latency, label[, memory])."""
    b = np.array([r[0] for r in rows], np.int64)
    k = np.array([r[1] for r in rows], np.int64)
    lat = np.array([r[2] for r in rows], float)
    mem = np.array([r[4] if len(r) > 4 else np.nan for r in rows], float)
    new = Points(b, k, lat, k * b * 1000.0 / lat, mem, tuple(r[3] for r in rows), False)
    if existing is None or len(existing) == 0:
        return new
    return Points(np.concatenate([existing.batch, new.batch]), np.concatenate([existing.processes, new.processes]),
                      np.concatenate([existing.latency_ms, new.latency_ms]),
                      np.concatenate([existing.throughput_rps, new.throughput_rps]),
                      np.concatenate([existing.memory_gb, new.memory_gb]), existing.source + new.source,
                      existing.emulated)
