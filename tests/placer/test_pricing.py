"""Pricing of shared patterns (placer/pricing.py) against brute force over every item set.

The exact search must find the best time-shared set, the dynamic-programming bound must never be below it
(smooth and Poisson), and the greedy's sets must be valid. Expected values come from enumerating every subset.
"""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings, strategies as st

from majula_model.perf.queueing import poisson_capacity
from majula_model.placer.patterns import Item
from majula_model.placer.pricing import Prices, _best_time, _bucket_share, _greedy_time, _shortest_cycle, \
    price_mps, time_upper_bound
from majula_model.schema import Policy


def _score(chosen, a, beta, lat, slack, mem, model, k, memory, share=None):
    """Score of one set by the definition (None when it breaks a rule): sum a/c + sum beta."""
    if not 2 <= len(chosen) <= k or len({model[j] for j in chosen}) != len(chosen):
        return None
    c = sum(lat[j] for j in chosen)
    if any(c > slack[j] * (1 + 1e-12) for j in chosen) or sum(mem[j] for j in chosen) > memory:
        return None
    return sum(a[j] * (share(j, c) if share else 1.0) / c + beta[j] for j in chosen)


def _brute(*args, share=None):
    n = len(args[0])
    best = -np.inf
    for r in range(2, args[6] + 1):
        for chosen in itertools.combinations(range(n), r):
            s = _score(chosen, *args, share=share)
            if s is not None:
                best = max(best, s)
    return best


items = st.lists(st.tuples(st.integers(0, 4), st.floats(0.05, 30.0), st.floats(0.0, 50.0), st.floats(0.0, 3.0),
                           st.floats(0.0, 4.0)), min_size=2, max_size=9)


@settings(max_examples=60, deadline=None)
@given(items, st.integers(2, 4), st.floats(40.0, 150.0))
def test_exact_search_finds_the_best_set_and_the_bound_holds(rows, k, deadline):
    model = np.array([r[0] for r in rows])
    lat = np.array([r[1] for r in rows])
    a = np.array([r[2] for r in rows]) * 1000
    beta = np.array([r[3] for r in rows])
    mem = np.array([r[4] for r in rows])
    slack = deadline - lat
    args = (a, beta, lat, slack, mem, model, k, 8.0)
    want = _brute(*args)
    got, chosen = _best_time(*args, floor=-1e18)
    if not np.isfinite(want):
        assert chosen is None
        return
    assert chosen is not None and abs(got - want) <= 1e-9 * max(1.0, abs(want))
    assert abs(_score(tuple(chosen), *args) - want) <= 1e-9 * max(1.0, abs(want))
    h = slack.max() / 160
    c0 = min(lat[model == m].min() + lat[model != m].min() for m in set(model)) if len(set(model)) > 1 else np.inf
    assert time_upper_bound(a, beta, lat, slack, model, k, h, c0) >= want * (1 - 1e-12)
    for s in _greedy_time(*args, floor=-1e18):  # valid sets, never above the best
        val = _score(tuple(s), *args)
        assert val is not None and val <= want * (1 + 1e-12)


def test_the_poisson_bound_holds_for_true_poisson_rates():
    rng = np.random.default_rng(3)
    pol = Policy(arrivals="poisson")
    for _ in range(15):
        n = int(rng.integers(3, 7))
        cand = [Item(f"m{i % 4}", int(rng.choice([1, 2, 4])), float(rng.uniform(2, 20)), 0.0, 100.0, "measured")
                for i in range(n)]
        cand = list({(it.model, it.batch): it for it in cand}.values())
        lat = np.array([it.latency_ms for it in cand])
        model = np.unique([it.model for it in cand], return_inverse=True)[1]
        a = rng.uniform(0, 5, len(cand)) * 1000 * np.array([it.batch for it in cand])
        beta = rng.uniform(0, 1, len(cand))
        slack = np.array([it.slo_ms for it in cand])  # Poisson: the cycle within the SLO
        true = lambda j, c: poisson_capacity(cand[j].batch, 1, c, cand[j].slo_ms, 0.99) * c / (cand[j].batch * 1000.0)  # noqa: E731
        args = (a, beta, lat, slack, np.zeros(len(cand)), model, 3, 1.0)
        want = _brute(*args, share=true)
        h = slack.max() / 160
        c0 = _shortest_cycle(cand)
        bound = time_upper_bound(a, beta, lat, slack, model, 3, h, c0, _bucket_share(cand, h, c0, pol))
        assert bound >= want * (1 - 1e-9) or not np.isfinite(want)


def test_mps_pricing_returns_the_best_pair():
    pol = Policy()
    its = [Item(m, b, 5.0 * b ** 0.7 + i, 0.0, 200.0, "measured") for i, m in enumerate("abcd") for b in (1, 4)]
    prices = Prices({"a": 1.0, "b": 0.5, "c": 2.0, "d": 0.1}, {"a": 3.0, "b": 0.0, "c": 1.0, "d": 5.0})

    def co(x, y):
        return x.latency_ms * 1.4, y.latency_ms * 1.7, "colocated-predicted"

    pats, best = price_mps("A100-SXM4-80GB", "1g.10gb", its, prices, -1e9, pol, 10.0, co, keep=100)
    want = max(prices.alpha[x.model] * x.batch * 1000 / (x.latency_ms * 1.4) + prices.beta[x.model]
               + prices.alpha[y.model] * y.batch * 1000 / (y.latency_ms * 1.7) + prices.beta[y.model]
               for x, y in itertools.combinations(its, 2) if x.model != y.model)
    assert abs(best - want) <= 1e-9 * want and abs(prices.score(pats[0]) - want) <= 1e-9 * want


def test_one_very_fast_item_does_not_shrink_the_grid_below_the_patterns():
    """Review finding: with the grid step capped by the fastest item, long cycles fell off the grid and the bound
    missed them. Here a 0.5 ms item sets the scale; the three slow items together (cycle 120 ms) score 3.0."""
    lat = np.array([0.5, 40.0, 40.0, 40.0])
    model = np.array([0, 1, 2, 3])
    a = np.array([0.0, 120.0, 120.0, 120.0])  # each slow item: 120 / 120 ms
    beta = np.zeros(4)
    slack = np.full(4, 200.0)
    want = _brute(a, beta, lat, slack, np.zeros(4), model, 3, 1.0)
    assert want >= 3.0 - 1e-9
    h = slack.max() / 160
    c0 = _shortest_cycle([Item(str(m), 1, float(x), 0.0, 100.0, "measured") for m, x in zip(model, lat)])
    assert time_upper_bound(a, beta, lat, slack, model, 3, h, c0) >= want * (1 - 1e-12)
