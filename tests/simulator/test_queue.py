"""The batch queue against independent references: a discrete-event simulator written request by request,
the M/D/1 mean-wait formula, and the batch-1 closed form against the general loop."""

from __future__ import annotations

import heapq
import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from majula_model.simulator import simulate_queue
from majula_model.simulator.service import service_table


def event_reference(arr: list[float], batch: int, processes: int, svc: list[float], slo: float,
                    drop: bool) -> list[float]:
    """Discrete-event simulation with an event heap: at each event time, arrivals join the queue, finished
    servers free up, then every free server takes up to ``batch`` waiting requests (dropping expired ones)."""
    events = [(a, 0, i) for i, a in enumerate(arr)]  # (time, kind 0=arrival 1=completion, payload)
    heapq.heapify(events)
    waiting: list[int] = []
    free = processes
    done = [math.nan] * len(arr)
    while events:
        now = events[0][0]
        while events and events[0][0] == now:
            _, kind, payload = heapq.heappop(events)
            if kind == 0:
                waiting.append(payload)
            else:
                free += 1
        while free and waiting:
            if drop:
                waiting = [i for i in waiting if arr[i] + slo >= now]
                if not waiting:
                    break
            take, waiting = waiting[:batch], waiting[batch:]
            end = now + svc[len(take)]
            for i in take:
                done[i] = end
            free -= 1
            heapq.heappush(events, (end, 1, -1))
    return done


@given(st.integers(1, 6), st.integers(1, 3), st.floats(0.3, 3.0), st.booleans(), st.integers(0, 10**6))
def test_queue_matches_event_reference(batch, processes, load, drop, seed):
    rng = np.random.default_rng(seed)
    svc = np.concatenate([[0.0], np.sort(rng.uniform(2.0, 10.0, batch))])
    rate = load * batch * processes / svc[-1]  # per ms
    arr = np.cumsum(rng.exponential(1.0 / rate, 300))
    slo = 3.0 * svc[-1]
    got = simulate_queue(arr, batch, processes, svc, slo, drop=drop).done_ms
    want = np.array(event_reference(arr.tolist(), batch, processes, svc.tolist(), slo, drop))
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    assert np.allclose(got[ok], want[ok], rtol=0, atol=1e-9)


def test_md1_mean_wait_within_2_percent():
    """Batch 1, one process, Poisson arrivals, deterministic service: Pollaczek-Khinchine for M/D/1,
    mean wait = rho S / (2 (1 - rho))."""
    rng = np.random.default_rng(7)
    service, rho = 10.0, 0.8
    arr = np.cumsum(rng.exponential(service / rho, 2_000_000))
    res = simulate_queue(arr, 1, 1, np.array([0.0, service]), slo_ms=1e9)
    wait = float(np.mean(res.done_ms - arr - service))
    formula = rho * service / (2 * (1 - rho))
    assert abs(wait - formula) / formula < 0.02, (wait, formula)


def test_unit_batch_closed_form_matches_loop():
    """The running-maximum form for batch 1 (any number of processes) equals the general loop, which the drop
    policy with an unreachable deadline forces."""
    rng = np.random.default_rng(3)
    arr = np.cumsum(rng.exponential(2.0, 20_000))
    for processes in (1, 2, 5):
        fast = simulate_queue(arr, 1, processes, np.array([0.0, 3.0 * processes]), 1e12).done_ms
        loop = simulate_queue(arr, 1, processes, np.array([0.0, 3.0 * processes]), 1e12, drop=True).done_ms
        assert np.allclose(fast, loop)


def test_batches_never_wait_to_fill():
    """A lone request at an idle server starts at once, in a batch of one."""
    arr = np.array([0.0, 100.0, 100.5])
    res = simulate_queue(arr, 8, 1, np.array([0.0, 1.0] + [2.0] * 7), 1e9)
    assert res.done_ms.tolist() == [1.0, 101.0, 102.0]  # the third waits for the batch in flight (101), runs alone
    assert res.batches == 3


def test_drop_discards_only_expired_requests():
    arr = np.array([0.0, 1.0, 2.0, 50.0])
    svc = np.array([0.0, 30.0])
    res = simulate_queue(arr, 1, 1, svc, slo_ms=25.0, drop=True)
    # request 0 runs 0..30; at 30 requests 1, 2 have passed their 26, 27 ms deadlines; 3 runs at 50
    assert np.isnan(res.done_ms[1]) and np.isnan(res.done_ms[2])
    assert res.done_ms[0] == 30.0 and res.done_ms[3] == 80.0


def test_service_table_scales_partial_batches_by_the_measured_curve():
    table = service_table(40.0, 8, np.array([1, 4, 8, 16]), np.array([10.0, 16.0, 20.0, 30.0]))
    assert table[8] == 40.0
    assert table[1] == 20.0 and table[4] == 32.0  # 40 * 10/20 and 40 * 16/20
    assert table[2] == 40.0 * 12.0 / 20.0  # linear between batch 1 and 4
    assert np.all(np.diff(table[1:]) >= 0)
    alone = service_table(40.0, 8, np.array([8]), np.array([20.0]))
    assert np.all(alone[1:] == 40.0)  # no curve: partial batches take the full latency
