"""Predictions for points that were not measured: what ``majula predict`` prints and what the planner may use.

Why a separate layer: capacity (``capacity.py``) only judges points; this module asks for new ones. Which number
answers a point (real measurement, emulated measurement, fitted curve, prior) is ``sources.answer``, called by
both ``predict`` and ``add_predictions``, so a plan never rests on a number ``majula predict`` would not show.
Every value is labelled ``measured``, ``interpolated``, ``predicted`` or ``prior``, and flagged where it rests on
emulated measurements, so a plan can say what it rests on.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from ..errors import InputError
from ..hardware.catalog import FULL, GpuType, Catalog, default_catalog
from ..problem.problem import Problem
from ..schema import CalibrationFile, MeasurementRecord
from .points import Key, Points
from .sources import Known, answer, prior_answers


def predict(source: CalibrationFile | Iterable[MeasurementRecord], model: str, gpu: str, profile: str,
            batches: list[int], processes: int = 1, catalog: Catalog | None = None) -> list[dict]:
    """Latency and throughput of ``model`` on ``profile`` of ``gpu`` at each batch size, with the source label.

    The values are ``sources.answer``'s: measured points as measured (their throughput too), others from the
    model's fitted curve on that GPU type, or from the analytic prior where the model has no measurements on it;
    a prior calibration file's values are all ``prior``. A row resting on emulated measurements also has
    ``"emulated": true`` (the key is absent otherwise, so rows of real data keep the four documented keys).
    InputError if the GPU type or profile is unknown, or if the model or the GPU type has no records at all:
    that is not a question to guess at.
    """
    cat = catalog or default_catalog()
    gtype = cat.get(gpu)
    if not gtype.has_profile(profile):
        raise InputError(f"GPU type {gtype.type} has no profile '{profile}'", field="profile")
    if not batches or min(batches) < 1 or processes < 1:
        raise InputError("batch sizes and processes must be positive integers", field="batch")
    known = Known.of(source, cat)
    if not any(r.model == model for r in known.records):
        raise InputError(f"no measurements of model '{model}'", field="model")
    if not any(cat.resolve(r.gpu) == gtype.type for r in known.records):
        raise InputError(f"no measurements on GPU type {gtype.type}", field="gpu")
    ans = answer(known, model, gtype, profile, list(batches), processes)
    rows = []
    for b, lat, tput, label, emulated in zip(ans.batch, ans.latency_ms, ans.throughput_rps, ans.source,
                                             ans.emulated):
        row = {"batch": b, "latency_ms": round(float(lat), 4), "throughput_rps": round(float(tput), 4),
               "source": label}
        rows.append({**row, "emulated": True} if emulated else row)
    return rows


def add_predictions(problem: Problem, points: dict[Key, Points]) -> dict[Key, Points]:
    """Points plus predicted ones for every profile and batch size the pool's GPU types offer but were not
    measured (``capacity.all_points`` calls this when ``policy.use_predictions`` is true); every value is
    ``sources.answer``'s, so it is what ``majula predict`` says at that point.

    Which points are asked about (``_questions``): for each model with records on a pool GPU type, batch sizes
    and process counts span those of the records its curve is fitted on (``sources.Evidence.fitted_on``: real,
    else emulated, else prior-file records), processes capped by ``policy.max_processes``; batch sizes other
    models were recorded at on that type are added where they fall strictly inside the model's range
    (interpolated, never extrapolated); and a point is only asked where b x k does not exceed what was recorded
    on a profile with no more memory (missing points in public data are often out-of-memory runs: never predict
    past them). For a pool GPU type the model has no record on: analytic-prior points (``source: "prior"``, with
    the prior's memory estimate) at the model's batch sizes elsewhere, where the model has published costs and
    the GPU type has spec figures. Points already in ``points`` stay as they are.
    """
    out = dict(points)
    known = Known.of_problem(problem)
    cat, inst = problem.catalog, problem.instance
    pool = sorted({g for g in (cat.resolve(p.type) for p in inst.gpus) if g})
    for m in inst.models:
        for gpu in pool:
            rows: dict[str, list[tuple]] = {}
            for profile, k, batches, memory in _questions(known, m.name, cat.gpus[gpu], inst.policy.max_processes):
                have = out.get((m.name, gpu, profile))
                done = set() if have is None else set(zip(have.batch.tolist(), have.processes.tolist()))
                todo = [b for b in batches if (b, k) not in done]
                if todo:
                    ans = answer(known, m.name, cat.gpus[gpu], profile, todo, k)
                    rows.setdefault(profile, []).extend(
                        (b, k, lat, tput, label, memory.get(b, np.nan), emulated) for b, lat, tput, label, emulated
                        in zip(ans.batch, ans.latency_ms, ans.throughput_rps, ans.source, ans.emulated))
            for profile, new in rows.items():
                out[(m.name, gpu, profile)] = _merge(out.get((m.name, gpu, profile)), new)
    return out


Question = tuple[str, int, list[int], dict[int, float]]
"""(profile, processes, batch sizes, memory estimate in GB by batch size where known) the planner asks about."""


def _questions(known: Known, model: str, gpu: GpuType, max_processes: int | None) -> list[Question]:
    """The points the planner asks about for ``model`` on ``gpu`` (``add_predictions``)."""
    ev = known.evidence(model, gpu.type)
    if ev.fitted_on:
        others = {r.batch for r in known.records if not r.colocated and known.catalog.resolve(r.gpu) == gpu.type}
        return _within_range(list(ev.fitted_on), gpu, max_processes, others)
    return _prior_questions(known, model, gpu, max_processes)


def _within_range(records: list[MeasurementRecord], gpu: GpuType, max_processes: int | None,
                  other_batches: set[int]) -> list[Question]:
    """Questions within what ``records`` span: their batch sizes (plus ``other_batches`` strictly inside their
    range), 1..their largest process count, every plain profile (and ``full`` where recorded), b x k capped by
    what ran on a profile with no more memory."""
    own = {r.batch for r in records}
    batches = sorted(own | {b for b in other_batches if min(own) < b < max(own)})
    kmax = max(r.processes for r in records)
    kmax = min(kmax, max_processes) if max_processes else kmax
    profiles = [p.name for p in gpu.plain_profiles] + ([FULL] if any(r.profile == FULL for r in records) else [])
    out = []
    for profile in profiles:
        mem = gpu.profile_memory_gb(profile)
        limit = max((r.batch * r.processes for r in records if gpu.profile_memory_gb(r.profile) <= mem + 1e-9),
                    default=0)
        for k in range(1, kmax + 1):
            if todo := [b for b in batches if b * k <= limit]:
                out.append((profile, k, todo, {}))
    return out


def _prior_questions(known: Known, model: str, gpu: GpuType, max_processes: int | None) -> list[Question]:
    """Analytic-prior questions on a GPU type the model has no record on: every plain profile, the batch sizes
    and process counts of the model's records elsewhere, with the prior's memory estimate; none where the prior
    cannot answer (no published costs, no spec figures)."""
    from .prior import load_costs, prior_memory_gb

    mine = [r for r in known.records if r.model == model and not r.colocated]
    if not mine or not prior_answers(model, gpu):
        return []
    batches = sorted({r.batch for r in mine})
    kmax = max(r.processes for r in mine)
    kmax = min(kmax, max_processes) if max_processes else kmax
    cost = load_costs()[0][model]
    out = []
    for k in range(1, kmax + 1):
        mem = prior_memory_gb(cost, np.array(batches, float), k)
        memory = {} if mem is None else {b: float(m) for b, m in zip(batches, mem)}
        out += [(p.name, k, batches, memory) for p in gpu.plain_profiles]
    return out


def _merge(existing: Points | None, rows: list[tuple]) -> Points:
    """``existing`` (recorded) points first, then the new rows (batch, processes, latency, throughput, label,
    memory, emulated)."""
    new = Points(np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.int64),
                 np.array([r[2] for r in rows], float), np.array([r[3] for r in rows], float),
                 np.array([r[5] for r in rows], float), tuple(r[4] for r in rows),
                 all(r[6] for r in rows), tuple(bool(r[6]) for r in rows))
    if existing is None or len(existing) == 0:
        return new
    flags = tuple(existing.point_emulated(i) for i in range(len(existing))) + new.emulated_at
    return Points(np.concatenate([existing.batch, new.batch]), np.concatenate([existing.processes, new.processes]),
                  np.concatenate([existing.latency_ms, new.latency_ms]),
                  np.concatenate([existing.throughput_rps, new.throughput_rps]),
                  np.concatenate([existing.memory_gb, new.memory_gb]), existing.source + new.source,
                  all(flags), flags)
