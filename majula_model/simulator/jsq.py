"""Join-the-shortest-queue routing: each request goes to the run of its model with the least expected delay.

"Shortest" is normalised by speed: requests in the run (waiting + in service) divided by the run's peak rate
``batch * processes / latency``, so a 7g instance is not treated like a 1g one. Ties go to the lower index.

Why a separate, slower loop: the choice depends on every run's state at each arrival, so the runs of a model are
simulated together, event by event (about a few microseconds per request in Python). The batching semantics are
those of ``queue.py``: a free server takes up to ``batch`` waiting requests at once; with ``drop`` it first
discards requests whose deadline has passed.
"""

from __future__ import annotations

import heapq
from collections import deque

import numpy as np

from .service import Z99, Run


class _State:
    """One run during the event loop: waiting requests, servers (free time, batch size), completions."""

    def __init__(self, run: Run, done: np.ndarray, jitter: np.random.Generator | None, horizon_ms: float) -> None:
        self.run = run
        self.horizon_ms = horizon_ms
        self.service = run.service_ms.tolist()
        self.speed = run.batch * run.processes / run.latency_ms
        self.waiting: deque[tuple[float, int]] = deque()
        self.servers = [(0.0, 0)] * run.processes  # heap of (free time, size of the batch in service)
        self.done = done
        self.jitter = jitter
        self.busy_ms = 0.0
        self.batches = 0
        self.routed = 0

    def advance(self, now: float, drop: bool) -> None:
        """Start every batch that begins at or before ``now``."""
        run, q = self.run, self.waiting
        while q and self.servers[0][0] <= now:
            t = max(self.servers[0][0], q[0][0])
            if drop:
                while q and q[0][0] + run.slo_ms < t:
                    q.popleft()
                if not q:
                    return
                t = max(self.servers[0][0], q[0][0])
                if t > now:
                    return
            n = 0
            s = self.service
            taken = []
            while q and n < run.batch and q[0][0] <= t:
                taken.append(q.popleft()[1])
                n += 1
            dur = s[n]
            if self.jitter is not None:
                dur *= float(np.exp(run.jitter_sigma * (self.jitter.standard_normal() - Z99)))
            heapq.heapreplace(self.servers, (t + dur, n))
            self.done[taken] = t + dur
            self.busy_ms += max(0.0, min(t + dur, self.horizon_ms) - min(t, self.horizon_ms))
            self.batches += 1

    def load(self, now: float) -> float:
        """Expected delay proxy: requests waiting or in service, over peak rate."""
        in_service = sum(n for f, n in self.servers if f > now)
        return (len(self.waiting) + in_service) / self.speed


def simulate_jsq(arrivals: dict[str, np.ndarray], runs: list[Run], drop: bool, jitter: bool,
                 seeds: list[np.random.SeedSequence], horizon_ms: float
                 ) -> tuple[dict[int, np.ndarray], dict[int, tuple]]:
    """Latencies per run (NaN = dropped) and (requests, busy ms within the horizon, batches) per run."""
    latency: dict[int, np.ndarray] = {}
    per_run: dict[int, tuple] = {}
    for name, arr in arrivals.items():
        idx = [i for i, r in enumerate(runs) if r.model == name]
        if not idx:
            continue
        done = np.full(len(arr), np.nan)
        states = [_State(runs[i], done, np.random.default_rng(seeds[i]) if jitter and runs[i].jitter_sigma
                         else None, horizon_ms) for i in idx]
        owner = np.empty(len(arr), dtype=np.int64)
        for k, a in enumerate(arr.tolist()):
            for st in states:
                st.advance(a, drop)
            best = min(range(len(states)), key=lambda j: states[j].load(a))
            states[best].waiting.append((a, k))
            states[best].routed += 1
            states[best].advance(a, drop)
            owner[k] = best
        for st in states:
            st.advance(float("inf"), drop)
        for j, (i, st) in enumerate(zip(idx, states)):
            mine = owner == j
            latency[i] = done[mine] - arr[mine]
            per_run[i] = (st.routed, st.busy_ms, st.batches)
    return latency, per_run
