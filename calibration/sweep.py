"""Measuring a target's points in this process, as a stream of events (the same on CPU, GPU or MIG slice).

Why events: the runner appends each one to the JSON-lines sidecar as it arrives (so an interrupted run resumes),
whether the sweep runs here (CPU) or in a worker subprocess pinned to a MIG instance (``calibration.worker``).
An out-of-memory at a batch ends that model's sweep on the target: later points of the model with a batch and
process count at least as large are skipped, and the OOM is an event (it lands in ``meta``), never a crash.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator

from . import hostload
from .plan import Point, Settings, Target
from .timing import Job, OutOfMemory, Timing, run_concurrent, run_job

Measure = Callable[[list[Job]], list[Timing]]


def default_measure(jobs: list[Job]) -> list[Timing]:
    """One job runs in this process; several run concurrently in their own processes."""
    return [run_job(jobs[0])] if len(jobs) == 1 else run_concurrent(jobs)


def cpu_threads(copies: int, cores: int | None = None) -> int | None:
    """Threads per copy on the CPU: the cores shared out (None = torch's default, for one copy)."""
    return None if copies == 1 else max(1, (cores or os.cpu_count() or 1) // copies)


def _jobs(point: Point, target: Target, s: Settings) -> list[Job]:
    copies = 2 if point.pair else point.processes
    threads = cpu_threads(copies) if s.device == "cpu" else None

    def job(model: str, batch: int) -> Job:
        shape = s.sample_shapes.get(model)
        return Job(model, batch, "cuda" if s.device == "cuda" else "cpu", s.dtype,
                   tuple(shape) if shape else None, s.warmup, s.iters, target.green_sms, threads)

    base = job(point.model, point.batch)
    if point.pair:
        return [base, job(point.pair, point.co_batch)]
    return [base] * point.processes


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def records_for(point: Point, target: Target, timings: list[Timing]) -> list[dict[str, Any]]:
    """Measurement records of a point: one for k copies (worst copy's latency, summed throughput and memory);
    one per model for a pair, each at its own batch and naming the other, with the other's batch, in
    ``colocated``."""
    base = {"gpu": target.gpu, "profile": target.profile, "batch": point.batch, "emulated": target.emulated}
    if point.pair:
        a, b = timings
        sides = ((point.model, point.batch, point.pair, point.co_batch, a),
                 (point.pair, point.co_batch, point.model, point.batch, b))
        return [{**base, "model": m, "batch": mb, "processes": 1, "latency_ms": _r(t.p99_ms),
                 "p50_ms": _r(t.p50_ms), "p90_ms": _r(t.p90_ms), "throughput_rps": _r(t.throughput_rps),
                 "memory_gb": _r(t.memory_gb), "colocated": [{"model": other, "batch": ob}]}
                for m, mb, other, ob, t in sides]
    mems = [t.memory_gb for t in timings]
    return [{**base, "model": point.model, "processes": point.processes,
             "latency_ms": _r(max(t.p99_ms for t in timings)), "p50_ms": _r(max(t.p50_ms for t in timings)),
             "p90_ms": _r(max(t.p90_ms for t in timings)),
             "throughput_rps": _r(sum(t.throughput_rps for t in timings)),
             "memory_gb": None if None in mems else _r(sum(mems)), "colocated": []}]


def measure_quietly(measure: Measure, jobs: list[Job], s: Settings) -> tuple[list[Timing], dict[str, Any]]:
    """Measure, noting how long the timed loops waited for a CPU (``cpu_wait``, the largest over the copies);
    with ``s.max_cpu_wait``, measure again once the host is quiet while that was above it
    (``hostload.RETRIES`` times at most; the last measurement is kept either way)."""
    limit = s.max_cpu_wait
    for attempt in range(hostload.RETRIES + 1):
        timings = measure(jobs)
        waits = [t.cpu_wait for t in timings if t.cpu_wait is not None]
        wait = max(waits) if waits else None
        if limit is None or wait is None or wait <= limit or attempt == hostload.RETRIES:
            return timings, {"cpu_wait": wait, "remeasured": attempt}
        hostload.quiet(limit)
    raise AssertionError("unreachable")


def blocked_by(point: Point, ooms: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The earlier OOM that makes this point pointless (same model/pair; batch, the co-runner's batch and
    processes all >=), if any."""
    for o in ooms:
        if (o["model"], o.get("pair")) == (point.model, point.pair) and point.batch >= o["batch"] \
                and point.processes >= o["processes"] and point.co_batch >= (o.get("pair_batch") or o["batch"]):
            return o
    return None


def sweep(target: Target, points: list[Point], settings: Settings, *, done: set[str] | None = None,
          ooms: list[dict[str, Any]] | None = None, measure: Measure | None = None) -> Iterator[dict[str, Any]]:
    """Measure each point not in ``done``; yield 'point', 'oom' and 'skip' events in order."""
    measure = measure or default_measure   # looked up per call, so tests can replace the module's function
    done = done or set()
    ooms = list(ooms or [])
    for p in points:
        key = p.key(target)
        if key in done:
            continue
        cause = blocked_by(p, ooms)
        if cause is not None:
            yield {"kind": "skip", "key": key, "reason": f"out of memory at batch {cause['batch']}"}
            continue
        try:
            timings, load = measure_quietly(measure, _jobs(p, target, settings), settings)
        except OutOfMemory as e:
            oom = {"model": p.model, "pair": p.pair, "batch": p.batch, "processes": p.processes,
                   **({"pair_batch": p.co_batch} if p.pair else {})}
            ooms.append(oom)
            yield {"kind": "oom", "key": key, "target": target.label, **oom, "error": str(e)}
            continue
        yield {"kind": "point", "key": key, "records": records_for(p, target, timings),
               "copies_p99_ms": [_r(t.p99_ms) for t in timings], **load}
