"""``poisson_capacity`` against the exact M/D/1 waiting-time distribution and against the simulator."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from majula_model.perf.queueing import poisson_capacity
from majula_model.simulator import simulate_queue


def md1_wait_cdf(t: float, rho: float) -> float:
    """Exact M/D/1 waiting-time CDF, service time 1 (Erlang 1909 / Crommelin 1932):
    P(W <= t) = (1 - rho) * sum_{k=0}^{floor t} (rho (k - t))^k / k! * exp(-rho (k - t))."""
    return (1 - rho) * sum((rho * (k - t)) ** k / math.factorial(k) * math.exp(-rho * (k - t))
                           for k in range(int(math.floor(t)) + 1))


def md1_capacity(r: float, target: float) -> float:
    """Largest rho with P(sojourn <= r) = P(W <= r - 1) >= target, by bisection on the exact CDF."""
    lo, hi = 0.0, 0.9999
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if md1_wait_cdf(r - 1.0, mid) >= target else (lo, mid)
    return lo


def test_erlang_formula_matches_the_simulator():
    """The reference itself, checked once: simulated M/D/1 waits against the formula at rho 0.8."""
    rng = np.random.default_rng(11)
    arr = np.cumsum(rng.exponential(1.0 / 0.8, 400_000))
    wait = simulate_queue(arr, 1, 1, np.array([0.0, 1.0]), 1e9).done_ms - arr - 1.0
    for t in (0.5, 2.0, 5.0):
        assert abs(np.mean(wait <= t) - md1_wait_cdf(t, 0.8)) < 0.005


@pytest.mark.parametrize("r", [1.5, 2.0, 3.7, 6.0, 10.0, 20.0])
@pytest.mark.parametrize("target", [0.95, 0.99])
def test_md1_capacity_is_safe_and_close_to_exact(r, target):
    """Never above the exact M/D/1 capacity; within 15% of it from an SLO of 3.7 services up, within 2% from 10
    (the Kingman bound is loose when the SLO leaves room for only one or two requests ahead; see
    docs/simulator.md). The Erlang sum cancels badly beyond ~25 services, so r stays <= 20."""
    exact = md1_capacity(r, target) * 1000.0 / 10.0  # S = 10 ms
    got = poisson_capacity(1, 1, 10.0, 10.0 * r, target)
    assert got <= exact * (1 + 1e-6), (got, exact)
    if r >= 3.7:
        assert got >= 0.85 * exact, (got, exact)
    if r >= 10:
        assert got >= 0.98 * exact, (got, exact)


SIM_POINTS = [  # (batch, processes, latency_ms, slo_ms): SLO from 1.5 to 8 batch latencies
    (8, 1, 20.0, 60.0), (32, 1, 40.0, 100.0), (4, 3, 10.0, 25.0), (16, 2, 30.0, 45.0), (2, 1, 10.0, 80.0),
]


def simulated_attainment(batch, processes, latency_ms, slo_ms, rate_rps, curve: bool, seed=5, n=400_000):
    """Share of requests within the SLO in the simulator, with full-latency or curved partial batches."""
    rng = np.random.default_rng(seed)
    arr = np.cumsum(rng.exponential(1000.0 / rate_rps, n))
    svc = np.full(batch + 1, latency_ms)
    if curve:  # partial batches faster: latency grows linearly from 40% at batch 1
        svc = latency_ms * (0.4 + 0.6 * np.arange(batch + 1) / batch)
    done = simulate_queue(arr, batch, processes, svc, slo_ms).done_ms
    return float(np.mean(done - arr <= slo_ms))


@pytest.mark.parametrize("point", SIM_POINTS)
def test_capacity_holds_in_simulation(point):
    """At the computed capacity the simulated queue keeps 99% (statistical slack 0.2 points), with partial
    batches as slow as full ones (the model's assumption) and with faster partial batches."""
    cap = poisson_capacity(*point, 0.99)
    assert cap > 0
    for curve in (False, True):
        assert simulated_attainment(*point, cap, curve) >= 0.988


@pytest.mark.parametrize("point", [p for p in SIM_POINTS if p[1] == 1 and p[3] >= 2 * p[2]])
def test_capacity_is_not_far_below_the_break_point(point):
    """One process: 1.3x the capacity (or the peak rate, if lower) breaks the 99% target."""
    b, k, lat, slo = point
    rate = min(1.3 * poisson_capacity(*point, 0.99), 0.999 * b * k * 1000.0 / lat)
    assert simulated_attainment(*point, rate, curve=False) < 0.99


@given(st.sampled_from([1, 2, 4, 16, 64]), st.integers(1, 4), st.floats(1.0, 200.0), st.floats(0.5, 30.0),
       st.floats(1.5, 3.0))
def test_capacity_properties(batch, processes, latency, r, scale):
    slo = latency * r
    cap = poisson_capacity(batch, processes, latency, slo, 0.99)
    peak = batch * processes * 1000.0 / latency
    assert 0.0 <= cap < peak
    assert (cap == 0.0) == (r < 1.0)
    assert poisson_capacity(batch, processes, latency, slo * 1.25, 0.99) >= cap  # looser SLO
    assert poisson_capacity(batch, processes, latency, slo, 0.9) >= cap  # looser target
    scaled = poisson_capacity(batch, processes, latency * scale, slo * scale, 0.99)
    assert scaled == pytest.approx(cap / scale, rel=1e-6, abs=1e-9)  # only slo / latency matters


def test_bad_arguments_raise():
    with pytest.raises(ValueError):
        poisson_capacity(0, 1, 10.0, 100.0, 0.99)
    with pytest.raises(ValueError):
        poisson_capacity(1, 1, 10.0, 100.0, 1.0)
