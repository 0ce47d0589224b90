"""One batch queue: ``processes`` servers, batch cap, FIFO, dynamic batching (no waiting to fill a batch).

Semantics (as in Nexus or Triton's dynamic batcher without a queue delay): when a server is free and requests
wait, it takes up to ``batch`` of them at once and runs them for ``service_ms[n]`` (n = batch size taken). With
``drop``, a server first discards waiting requests whose deadline (arrival + SLO) has already passed.

Why this shape: the loop steps batch by batch, not request by request. Arrivals are a sorted array; the batch a
server takes is one ``bisect`` (C) over it, so a batch costs about a microsecond of Python whatever its size,
and the per-request work (completion times) is a few numpy calls at the end. Batch size 1 without jitter or drops
has a closed form (``_unit_batches``) and never enters the loop.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class QueueResult:
    """Per-request completion times (ms; NaN = dropped) and the servers' busy time."""

    done_ms: np.ndarray
    busy_ms: float  # server time spent in batches, counted within [0, horizon_ms]
    batches: int


def busy_within(end: np.ndarray, dur: np.ndarray, horizon_ms: float) -> float:
    """Server time of batches ending at ``end`` after ``dur``, clipped to ``[0, horizon_ms]`` (utilisation)."""
    return float(np.sum(np.minimum(end, horizon_ms) - np.minimum(end - dur, horizon_ms)))


def batch_completions(n: int, firsts: list[int] | np.ndarray, size: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Completion time of each of ``n`` requests from its batches (FIFO: a batch takes ``size`` consecutive
    requests from ``first``); requests in no batch (dropped) stay NaN. A few numpy calls, no Python loop."""
    done = np.full(n, np.nan)
    if len(size) == 0:
        return done
    first = np.asarray(firsts, dtype=np.int64)
    offsets = np.cumsum(size) - size
    idx = np.arange(int(size.sum())) - np.repeat(offsets - first, size)
    done[idx] = np.repeat(end, size)
    return done


def _unit_batches(arr: np.ndarray, processes: int, service_ms: float, horizon_ms: float) -> QueueResult:
    """Batch 1, deterministic service: request n starts at ``max(a_n, start_{n-c} + S)`` (FIFO, equal service
    times free the servers in start order), so each residue class mod c is a Lindley recursion, solved by a
    running maximum: ``start_k = k S + max_{j<=k}(a_j - j S)``."""
    start = np.empty_like(arr)
    for r in range(processes):
        a = arr[r::processes]
        ks = np.arange(len(a), dtype=float) * service_ms
        start[r::processes] = np.maximum.accumulate(a - ks) + ks
    done = start + service_ms
    return QueueResult(done, busy_within(done, np.full(len(done), service_ms), horizon_ms), len(arr))


def _batch_loop(arr: list[float], batch: int, processes: int, service: list[float], jitter: np.ndarray | None,
                slo_ms: float, drop: bool) -> tuple[list[int], list[int], list[float]]:
    """Step batch by batch; returns (first request, size, end time) of every batch."""
    firsts: list[int] = []
    sizes: list[int] = []
    ends: list[float] = []
    fa, sa, ea = firsts.append, sizes.append, ends.append
    jit = jitter.tolist() if jitter is not None else None
    free = [0.0] * processes  # a heap of the servers' free times
    n, i, k = len(arr), 0, 0
    while i < n:
        f = free[0]
        a = arr[i]
        t = a if a > f else f
        if drop and t - slo_ms > a:
            i = bisect_left(arr, t - slo_ms, i)
            if i >= n:
                break
            a = arr[i]
            t = a if a > f else f
        hi = i + batch
        j = bisect_right(arr, t, i, hi if hi < n else n)
        s = service[j - i] if jit is None else service[j - i] * jit[k]
        k += 1
        heapq.heapreplace(free, t + s)
        fa(i)
        sa(j - i)
        ea(t + s)
        i = j
    return firsts, sizes, ends


def simulate_queue(arr: np.ndarray, batch: int, processes: int, service_ms: np.ndarray, slo_ms: float,
                   drop: bool = False, jitter: np.ndarray | None = None,
                   horizon_ms: float = np.inf) -> QueueResult:
    """Simulate one queue over sorted arrival times ``arr`` (ms).

    ``service_ms[n]`` is the service time of a batch of n requests (index 0 unused); ``jitter`` (optional)
    holds one multiplicative factor per batch, at least ``len(arr)`` of them. Busy time counts only work done
    before ``horizon_ms`` (the end of the arrival window), so utilisation stays a share of that window.
    """
    n = len(arr)
    if n == 0:
        return QueueResult(np.empty(0), 0.0, 0)
    if batch == 1 and jitter is None and not drop:
        return _unit_batches(arr, processes, float(service_ms[1]), horizon_ms)
    firsts, sizes, ends = _batch_loop(arr.tolist(), batch, processes, service_ms.tolist(), jitter, slo_ms, drop)
    size = np.asarray(sizes, dtype=np.int64)
    end = np.asarray(ends, dtype=float)
    done = batch_completions(n, firsts, size, end)
    dur = service_ms[size] if jitter is None else service_ms[size] * jitter[: len(size)]
    return QueueResult(done, busy_within(end, dur, horizon_ms), len(size))
