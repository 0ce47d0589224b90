"""Measured points per (model, GPU type, profile) as numpy arrays: what capacity judges and predictions extend.

Why its own module: capacity (``capacity.py``) judges points and predictions (``prediction.py``) make new ones;
both need the type, and neither should import the other for it.

Real MIG points and emulated ones are never mixed silently: where a key has real points, emulated ones are
ignored; where it has only emulated ones, the points carry ``emulated=True``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from ..problem.problem import Problem
from ..schema import MeasurementRecord

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

    def __len__(self) -> int:
        return len(self.batch)


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
        emulated=not real,
    )


def measured_points(problem: Problem) -> dict[Key, Points]:
    """Measured points per key for GPU types in the catalog (colocated points are interference data, not
    solo capacity, and are left out)."""
    groups: dict[Key, list[MeasurementRecord]] = defaultdict(list)
    for r in problem.measurements:
        gpu = problem.catalog.resolve(r.gpu)
        if gpu is None or r.colocated:
            continue
        groups[(r.model, gpu, r.profile)].append(r)
    return {k: points_from_records(v) for k, v in groups.items()}


def service_ms(pts: Points) -> np.ndarray:
    """Time one process takes per full batch, for queueing: the slower of the measured latency and what the
    measured throughput implies (``processes * batch * 1000 / throughput_rps``).

    Why both: published latencies are often rounded (ParvaGPU: to 1 ms) while throughput is not; a queue served
    at the rounded latency would promise more than the instance ever delivered. Where throughput was derived
    from latency the two agree.
    """
    return np.maximum(pts.latency_ms, pts.processes * pts.batch * 1000.0 / pts.throughput_rps)
