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

from .service import Z99, Run, runs_by_model


class _State:
    """One run during the event loop: waiting requests, servers (free time, batch size), completions."""

    def __init__(self, run: Run, done: np.ndarray, jitter: np.random.Generator | None, horizon_ms: float) -> None:
        self.run = run
        self.horizon_ms = horizon_ms
        self.service = run.service_ms.tolist()
        self.inv_speed = run.latency_ms / (run.batch * run.processes)
        self.waiting: deque[tuple[float, int]] = deque()
        self.servers = [(0.0, 0)] * run.processes  # heap of (free time, size of the batch in service)
        self.ends: list[tuple[float, int]] = []  # heap of (end, size) of batches not yet known to be finished
        self.in_system = 0  # waiting + in batches whose end is not yet passed
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
                    self.in_system -= 1
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
            heapq.heappush(self.ends, (t + dur, n))
            self.done[taken] = t + dur
            self.busy_ms += max(0.0, min(t + dur, self.horizon_ms) - min(t, self.horizon_ms))
            self.batches += 1

    def load(self, now: float, drop: bool) -> float:
        """Expected delay proxy at ``now``: requests waiting or in service, over peak rate."""
        if self.waiting and self.servers[0][0] <= now:
            self.advance(now, drop)
        ends = self.ends
        while ends and ends[0][0] <= now:
            self.in_system -= heapq.heappop(ends)[1]
        return self.in_system * self.inv_speed

    def join(self, now: float, k: int, drop: bool) -> None:
        """Request ``k`` arrives at ``now``; a free server takes it at once."""
        self.waiting.append((now, k))
        self.in_system += 1
        self.routed += 1
        if self.servers[0][0] <= now:
            self.advance(now, drop)


def _route(arr: np.ndarray, states: list[_State], drop: bool) -> np.ndarray:
    """Send each arrival to the state with the least load (first on ties); index of the chosen state."""
    owner: list[int] = []
    inf = float("inf")
    for k, a in enumerate(arr.tolist()):
        best, best_load = 0, inf
        for j, st in enumerate(states):
            load = st.load(a, drop)
            if load < best_load:
                best, best_load = j, load
        states[best].join(a, k, drop)
        owner.append(best)
    return np.asarray(owner, dtype=np.int64)


def simulate_jsq(arrivals: dict[str, np.ndarray], runs: list[Run], drop: bool, jitter: bool,
                 seeds: list[np.random.SeedSequence], horizon_ms: float
                 ) -> tuple[dict[int, np.ndarray], dict[int, tuple], dict[int, np.ndarray]]:
    """Latencies per run (NaN = dropped), (requests, busy ms within the horizon, batches) per run, and the
    arrival times of each run's requests (the statistics batch them by arrival time)."""
    latency: dict[int, np.ndarray] = {}
    per_run: dict[int, tuple] = {}
    arrived: dict[int, np.ndarray] = {}
    by_model = runs_by_model(runs)
    for name, arr in arrivals.items():
        idx = by_model.get(name)
        if not idx:
            continue
        done = np.full(len(arr), np.nan)
        states = [_State(runs[i], done, np.random.default_rng(seeds[i]) if jitter and runs[i].jitter_sigma
                         else None, horizon_ms) for i in idx]
        owner = _route(arr, states, drop)
        for st in states:
            st.advance(float("inf"), drop)
        for j, (i, st) in enumerate(zip(idx, states)):
            mine = owner == j
            arrived[i] = arr[mine]
            latency[i] = done[mine] - arrived[i]
            per_run[i] = (st.routed, st.busy_ms, st.batches)
    return latency, per_run, arrived
