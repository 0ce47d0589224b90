"""Predictions for points that were not measured: what ``majula predict`` prints and what the planner may use.

Why a separate layer: capacity (``capacity.py``) only judges points; this module asks for new ones. Which number
answers a point (real measurement, emulated measurement, fitted curve, prior) is ``sources.answer``, called by
both ``predict`` and ``add_predictions``, so a plan never rests on a number ``majula predict`` would not show.
Every value is labelled ``measured``, ``interpolated``, ``predicted``, ``transferred`` or ``prior``, and flagged
where it rests on emulated measurements, so a plan can say what it rests on; ``unmeasured_notes`` says it in words
for every pool GPU type a model was never measured on, with how far such predictions were off where they could
be checked.
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
    model's fitted curve on that GPU type; where the model has no record on it, its curve on a measured GPU type
    transferred by the catalog's specifications (``transferred``), else the analytic prior; a prior calibration
    file's values are all ``prior``. A row resting on emulated measurements also has ``"emulated": true`` (the
    key is absent otherwise, so rows of real data keep the four documented keys). InputError if the GPU type or
    profile is unknown, if the model has no records at all (that is not a question to guess at), or if nothing
    can speak for an unmeasured GPU type (``sources.prior_transfer``).
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
    past them). For a pool GPU type the model has no record on: the same questions as on the GPU type its
    measurements are transferred from (``sources.Known.transfer_source``), on every plain profile of the pool type,
    b x k capped by what ran there on a profile with no more memory, with the recorded memory where known
    (``source: "transferred"``); with nothing to transfer, analytic-prior points (``source: "prior"``, with the
    prior's memory estimate) at the model's batch sizes elsewhere, where the model has published costs and the
    GPU type has spec figures. Points already in ``points`` stay as they are.
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
    if source := known.transfer_source(model, gpu):
        recs = list(known.evidence(model, source).fitted_on)
        return _within_range(recs, gpu, max_processes, set(), known.catalog.gpus[source])
    return _prior_questions(known, model, gpu, max_processes)


def _within_range(records: list[MeasurementRecord], gpu: GpuType, max_processes: int | None,
                  other_batches: set[int], measured_on: GpuType | None = None) -> list[Question]:
    """Questions within what ``records`` span: their batch sizes (plus ``other_batches`` strictly inside their
    range), 1..their largest process count, every plain profile (and ``full`` where recorded), b x k capped by
    what ran on a profile with no more memory. ``measured_on``: the GPU type the records are on when it is not
    ``gpu`` (a transfer); then the recorded memory at a (batch, processes), where known, goes with the question:
    the same model at the same batch needs the same memory on another GPU."""
    src = measured_on or gpu
    own = {r.batch for r in records}
    batches = sorted(own | {b for b in other_batches if min(own) < b < max(own)})
    kmax = max(r.processes for r in records)
    kmax = min(kmax, max_processes) if max_processes else kmax
    whole = any(r.profile == FULL for r in records) or not gpu.mig  # a type used whole has no other profile
    profiles = [p.name for p in gpu.plain_profiles] + ([FULL] if whole else [])
    recorded: dict[tuple[int, int], float] = {}
    if measured_on is not None:
        for r in records:
            if r.memory_gb is not None:
                recorded[(r.batch, r.processes)] = max(r.memory_gb, recorded.get((r.batch, r.processes), 0.0))
    out = []
    for profile in profiles:
        mem = gpu.profile_memory_gb(profile)
        limit = max((r.batch * r.processes for r in records if src.profile_memory_gb(r.profile) <= mem + 1e-9),
                    default=0)
        for k in range(1, kmax + 1):
            if todo := [b for b in batches if b * k <= limit]:
                out.append((profile, k, todo, {b: recorded[(b, k)] for b in todo if (b, k) in recorded}))
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


def unmeasured_notes(problem: Problem) -> list[str]:
    """One line per pool GPU type where some served model has no record: what its numbers there rest on, and how
    far such predictions were off where they could be checked (printed by ``majula validate`` and ``solve``).

    With ``policy.use_predictions``: models transferred from a measured GPU type (grouped by that type), with
    the spec ratios used and the held-out error of their curves carried to the other half of the measured type's
    profile sizes (``fit_report.across_sizes``, on these very measurements); models on the scaled analytic
    prior, with its error on the same split; models nothing can predict. Without it: that the pool type is not
    planned for them, and that ``use_predictions`` would plan it from predictions.
    """
    inst, cat = problem.instance, problem.catalog
    known = Known.of_problem(problem)
    served = [m.name for m in inst.models if m.demand_rps > 0]
    covered = {cat.resolve(r.gpu) for r in problem.measurements}
    out = []
    for g in inst.gpus:
        gpu = cat.resolve(g.type)
        if gpu is None:
            continue
        gtype = cat.gpus[gpu]
        missing = [m for m in served if not known.evidence(m, gpu).fitted_on]
        if not missing:
            continue
        if not inst.policy.use_predictions:
            if gpu in covered:  # a pool nothing covers is said by ``loading.notes``
                out.append(f"{gpu}: no measurements of {', '.join(missing)}: plans will not place them there; "
                           f"policy.use_predictions: true would plan them there from predictions")
            continue
        transferred: dict[str, list[str]] = {}
        prior, none = [], []
        for m in missing:
            if source := known.transfer_source(m, gtype):
                transferred.setdefault(source, []).append(m)
            elif prior_answers(m, gtype) and any(r.model == m and not r.colocated for r in known.records):
                prior.append(m)
            else:
                none.append(m)
        for source, models in transferred.items():
            out.append(_transfer_note(known, gtype, cat.gpus[source], models))
        if prior:
            out.append(_prior_note(known, gtype, prior))
        if none:
            out.append(f"{gpu}: {', '.join(none)} cannot be predicted there (no measurements on a GPU type with "
                       f"spec figures to transfer from, and no analytic prior for them): plans leave {gpu} out "
                       f"for them")
    return out


def _checked(held: list, what: str) -> str:
    """'off by X% MAPE (median, n)' over the pooled held-out errors ``held`` (``fit_report.HeldOut`` or None)."""
    from .fit_report import ErrorStats

    errs = np.concatenate([h.errors[~np.isnan(h.errors)] for h in held if h is not None] or [np.array([])])
    if not len(errs):
        return f"{what}: not checkable from these measurements (one profile size per model)"
    s = ErrorStats.of(errs)
    return f"{what} are off by {s.mape:g}% MAPE (median {s.median:g}%, n = {s.n} held-out points)"


def _transfer_note(known: Known, target: GpuType, source: GpuType, models: list[str]) -> str:
    from .fit_report import across_sizes
    from .sources import spec_ratios

    speed, bandwidth = spec_ratios(source, target)
    emulated = [m for m in models if known.evidence(m, source.type).curve_emulated]
    held = [across_sizes(list(known.evidence(m, source.type).fitted_on), source) for m in models]
    kind = "emulated-slice measurements" if emulated and len(emulated) == len(models) else "measurements"
    return (f"{target.type}: no measurements of {', '.join(models)}: every point of theirs there is PREDICTED, "
            f"transferred from their {source.type} {kind} by the catalog's specifications (source 'transferred'; "
            f"per-SM FP32 x{speed:.2f}, memory bandwidth x{bandwidth:.2f}); "
            + _checked(held, f"checked where it can be: the same curves carried to the other half of the "
                             f"{source.type} profile sizes")
            + "; between GPU architectures it is not checked (docs/performance-model.md, "
              "\"GPU types not yet measured\")")


def _prior_note(known: Known, target: GpuType, models: list[str]) -> str:
    from .fit_report import groups, prior_across_sizes
    from .prior import has_specs

    measured = {key: recs for key, recs in groups(known.measured, known.catalog).items()
                if key[0] in models and has_specs(known.catalog.gpus[key[1]])}  # what sources.prior_transfer scales by
    head = f"{target.type}: no measurements of {', '.join(models)}: every point of theirs there is the analytic PRIOR"
    if not measured:
        return (head + " (source 'prior'), unscaled: they were measured on no GPU type with spec figures (only in "
                "prior files, or on a device such as the CPU); on the ParvaGPU A100 data the prior is off by 29.8% MAPE on points >= 10 ms "
                "(docs/performance-model.md, section 3)")
    held = [prior_across_sizes(recs, known.catalog.gpus[g]) for (m, g), recs in measured.items()]
    return (head + ", scaled by their measured/prior ratio on " + ", ".join(sorted({g for _, g in measured}))
            + " (source 'prior'); "
            + _checked(held, "scaled on one half of the measured profile sizes, its predictions of the other half")
            + " (docs/performance-model.md, section 4)")


def unmeasured_note(source: CalibrationFile | Iterable[MeasurementRecord], model: str, gpu: str,
                    catalog: Catalog | None = None) -> str | None:
    """What ``majula predict`` says about ``model`` on a GPU type it has no record on (the same words as
    ``unmeasured_notes``, for one model), or None where it has records there."""
    cat = catalog or default_catalog()
    known, gtype = Known.of(source, cat), cat.get(gpu)
    if known.evidence(model, gtype.type).fitted_on:
        return None
    if src := known.transfer_source(model, gtype):
        return _transfer_note(known, gtype, cat.gpus[src], [model])
    return _prior_note(known, gtype, [model])
