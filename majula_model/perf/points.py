"""Measured points per (model, GPU type, profile) as numpy arrays: what capacity judges and predictions extend.

Why its own module: capacity (``capacity.py``) judges points and predictions (``prediction.py``) make new ones;
both need the type, and neither should import the other for it.

Which records make a key's points is ``sources``' rule: where a key has real points, emulated ones are ignored;
where it has only emulated ones, the points carry ``emulated=True``; records of prior calibration files are
labelled ``prior`` and kept only for a (model, GPU type) with no measurement at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..problem.problem import Problem
from ..schema import MeasurementRecord
from .sources import Known

Key = tuple[str, str, str]
"""(model, canonical GPU type, profile)."""


@dataclass(frozen=True)
class Points:
    """The points known for one key, as parallel numpy arrays (vectorised feasibility)."""

    batch: np.ndarray
    processes: np.ndarray
    latency_ms: np.ndarray
    throughput_rps: np.ndarray
    memory_gb: np.ndarray  # NaN = unknown (assumed to fit)
    source: tuple[str, ...]
    emulated: bool
    """True when every point rests on emulated measurements."""
    emulated_at: tuple[bool, ...] | None = None
    """Per point, whether it rests on emulated measurements (measured on an emulated slice, or from a curve
    fitted on such points); None: every point as ``emulated``. Why per point: with predictions, a key can hold
    emulated measurements next to values predicted from real ones (``sources``)."""

    def __len__(self) -> int:
        return len(self.batch)

    def point_emulated(self, i: int) -> bool:
        """Whether point ``i`` rests on emulated measurements."""
        return self.emulated if self.emulated_at is None else self.emulated_at[i]


def points_from_records(records: list[MeasurementRecord], source: str = "measured") -> Points:
    """Arrays for records of one key; emulated ones dropped where real ones exist."""
    real = [r for r in records if not r.emulated]
    use = real or records
    return Points(
        batch=np.array([r.batch for r in use], dtype=np.int64),
        processes=np.array([r.processes for r in use], dtype=np.int64),
        latency_ms=np.array([r.latency_ms for r in use], dtype=float),
        throughput_rps=np.array([r.rate_rps for r in use], dtype=float),
        memory_gb=np.array([np.nan if r.memory_gb is None else r.memory_gb for r in use], dtype=float),
        source=tuple(source for _ in use),
        emulated=not real and source != "prior",  # a prior file's records are predictions, of no slice
    )


def measured_points(problem: Problem) -> dict[Key, Points]:
    """Recorded points per key for GPU types in the catalog, as ``sources.Evidence`` selects them: real over
    emulated per key, prior-file records (labelled ``prior``) only where the model has no measurement on the GPU
    type. Colocated points are interference data, not solo capacity, and are left out. Keys in the order their
    first record appears (the placer's order, so its ties break as before)."""
    known = Known.of_problem(problem)
    keys: dict[Key, None] = {}
    for r in problem.measurements:
        gpu = problem.catalog.resolve(r.gpu)
        if gpu is not None and not r.colocated:
            keys.setdefault((r.model, gpu, r.profile), None)
    out = {}
    for model, gpu, profile in keys:
        ev = known.evidence(model, gpu)
        if recs := ev.on(profile):
            out[(model, gpu, profile)] = points_from_records(recs, ev.label)
    return out


def service_ms(pts: Points) -> np.ndarray:
    """Time one process takes per full batch, for queueing: the slower of the measured latency and what the
    measured throughput implies (``processes * batch * 1000 / throughput_rps``).

    Why both: published latencies are often rounded (ParvaGPU: to 1 ms) while throughput is not; a queue served
    at the rounded latency would promise more than the instance ever delivered. Where throughput was derived
    from latency the two agree.
    """
    return np.maximum(pts.latency_ms, pts.processes * pts.batch * 1000.0 / pts.throughput_rps)
