"""A time-shared instance: one server takes turns over several models in a round-robin duty cycle (Nexus).

Why its own loop: the models of a time-shared instance (``sharing: "time"`` in the plan) do not have servers of
their own; they take turns on one, so their queues are coupled and must be simulated together.

Semantics. The server cycles over the instance's models in plan order. At model i's turn, if requests of i are
waiting (arrived at or before now) it takes up to ``b_i`` of them, FIFO, and runs them for ``service_ms_i[n]``
(n = batch size taken: the run's service-time table, as for any run, so partial batches are scaled by the
measured curve); the turn then passes to the next model. If none of i's requests are waiting, the turn passes
to the next model at once: **skipping an empty model takes no time, so the cycle is shorter than the planned
``cycle_ms`` (the sum of the full-batch latencies) whenever a model has nothing to do**. When every queue is
empty the server idles; when a request arrives, the pointer moves on from where it stood (skipping empty queues
instantly) and serves it at once. Requests that arrive at the same instant as a turn begins are waiting. With
``drop``, at model i's turn the server first discards i's waiting requests whose deadline (arrival + SLO) has
passed (as ``queue.py`` does). With jitter, each batch's time is multiplied by its model's next factor.

This is what the placer's SLO rules assume: a backlogged model's batches start at most ``cycle_ms`` apart,
and a request that finds its queue empty waits at most ``cycle_ms - L_i`` (plus the rest of its own model's
batch in flight) for its turn.

Statistics: per model, the server time spent on its batches (within the horizon) and its batch count; for the
instance, the number of **rounds** (a round starts whenever the server serves a model at or before, in plan
order, the one it served last: the pointer has wrapped) and the **measured mean cycle** = server time in
batches / rounds (idle time is not counted). With every queue always backlogged it equals ``cycle_ms``.

Why this shape (speed): as in ``queue.py`` the loop steps batch by batch; the batch a turn takes is one
``bisect`` (C) over the model's sorted arrival array, a skipped turn is two list lookups, and the per-request
work (completion times) is a few numpy calls per model at the end.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass

import numpy as np

from .queue import batch_completions, busy_within


@dataclass(frozen=True)
class CycleResult:
    """Per model (plan order): completion times (ms; NaN = dropped), busy ms within the horizon, batches; for
    the instance: rounds of the pointer and the server time of all batches (not clipped to the horizon)."""

    done_ms: list[np.ndarray]
    busy_ms: list[float]
    batches: list[int]
    rounds: int
    served_ms: float

    @property
    def mean_cycle_ms(self) -> float | None:
        """Server time in batches per round (None before the first batch)."""
        return self.served_ms / self.rounds if self.rounds else None


def _cycle_loop(arrs: list[list[float]], batches: list[int], services: list[list[float]], slos: list[float],
                drop: bool, jits: list[list[float]] | None) -> tuple[list[int], list[int], list[int], list[float], int]:
    """Step turn by turn (a skipped turn costs no time); see the module docstring for the semantics. Returns
    (model, first request, size, end) of every batch in time order, and the rounds.

    Each arrival list is padded with ``batch`` infinite sentinels: an exhausted queue then looks empty forever and
    ``bisect`` needs no bound check; the hot path is a few list lookups, one ``bisect`` and four appends.
    """
    m, inf = len(arrs), float("inf")
    arrs = [a + [inf] * b for a, b in zip(arrs, batches)]
    idx, used = [0] * m, [0] * m  # next request of each model; jitter factors it has used
    owner, firsts, sizes, ends = [], [], [], []  # per batch: model, first request, size, end time
    oa, fa, sa, ea = owner.append, firsts.append, sizes.append, ends.append
    scan = [list(range(p, m)) + list(range(p)) for p in range(m)]  # turn order from pointer p
    after = [(i + 1) % m for i in range(m)]
    t, p, last, rounds = 0.0, 0, m, 0
    while True:
        for i in scan[p]:
            k, a = idx[i], arrs[i]
            if a[k] > t:
                continue
            if drop and a[k] < t - slos[i]:
                k = idx[i] = bisect_left(a, t - slos[i], k)
                if a[k] > t:
                    continue
            j = bisect_right(a, t, k, k + batches[i])
            if jits is None:
                t += services[i][j - k]
            else:
                t += services[i][j - k] * jits[i][used[i]]
                used[i] += 1
            oa(i)
            fa(k)
            sa(j - k)
            ea(t)
            idx[i] = j
            if i <= last:
                rounds += 1
            last, p = i, after[i]
            break
        else:  # every queue is empty at t: idle until the next arrival
            t = min([arrs[i][idx[i]] for i in range(m)])
            if t == inf:
                return owner, firsts, sizes, ends, rounds


def simulate_duty_cycle(arrs: list[np.ndarray], batches: list[int], service_ms: list[np.ndarray],
                        slo_ms: list[float], drop: bool = False, jitter: list[np.ndarray | None] | None = None,
                        horizon_ms: float = np.inf) -> CycleResult:
    """Simulate one time-shared instance over each model's sorted arrival times ``arrs[i]`` (ms), models in
    turn order.

    ``service_ms[i][n]`` is model i's service time for a batch of n (index 0 unused); ``jitter[i]`` (optional)
    holds at least ``len(arrs[i])`` per-batch factors. Busy time counts only work done before ``horizon_ms``.
    """
    if not (len(arrs) == len(batches) == len(service_ms) == len(slo_ms)) or not arrs:
        raise ValueError("simulate_duty_cycle: one arrival array, batch, service table and SLO per model")
    factors = None
    if jitter is not None and any(j is not None for j in jitter):
        factors = [np.ones(len(a)) if j is None else j for a, j in zip(arrs, jitter)]
    owner, firsts, sizes, ends, rounds = _cycle_loop(
        [a.tolist() for a in arrs], list(batches), [s.tolist() for s in service_ms], list(slo_ms), drop,
        None if factors is None else [f.tolist() for f in factors])
    owner_a, first_a = np.asarray(owner, dtype=np.int64), np.asarray(firsts, dtype=np.int64)
    size_a, end_a = np.asarray(sizes, dtype=np.int64), np.asarray(ends, dtype=float)
    done, busy, batches_of, served = [], [], [], 0.0
    for i, arr in enumerate(arrs):
        mine = owner_a == i
        size, end = size_a[mine], end_a[mine]
        dur = service_ms[i][size] if factors is None else service_ms[i][size] * factors[i][: len(size)]
        done.append(batch_completions(len(arr), first_a[mine], size, end))
        busy.append(busy_within(end, dur, horizon_ms))
        batches_of.append(len(size))
        served += float(np.sum(dur))
    return CycleResult(done, busy, batches_of, rounds, served)
