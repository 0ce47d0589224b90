"""Capacity under the SLO (issue 3): the rule at its boundary, memory and process limits, monotonicity in the
SLO, emulated points never mixed with real ones, and predicted points labelled when the policy asks for them."""

from __future__ import annotations

import numpy as np
from hypothesis import given, strategies as st

from majula_model.perf.capacity import best_capacity, capacity_table, points_from_records
from majula_model.problem.loading import problem_from_instance
from majula_model.schema import Instance, MeasurementRecord, Policy

KEY = ("m", "A100-SXM4-80GB", "3g.40gb")


def rec(batch=8, latency=20.0, processes=1, memory=None, emulated=False, tput=None, profile="3g.40gb"):
    return MeasurementRecord(model="m", gpu="A100-SXM4-80GB", profile=profile, batch=batch, processes=processes,
                             latency_ms=latency, memory_gb=memory, emulated=emulated, throughput_rps=tput)


def test_slo_rule_at_its_boundary():
    pts = points_from_records([rec(batch=8, latency=25.0)])
    pol = Policy(latency_budget_fraction=0.5)
    at = best_capacity(KEY, pts, 50.0, pol, 40.0)  # 25 ms == 0.5 * 50 ms: feasible
    assert at is not None and at.capacity_rps == 8 * 1000 / 25.0
    assert best_capacity(KEY, pts, 49.99, pol, 40.0) is None  # budget 24.995 ms < 25 ms


def test_budget_fraction_changes_the_boundary():
    pts = points_from_records([rec(batch=8, latency=25.0)])
    assert best_capacity(KEY, pts, 55.0, Policy(latency_budget_fraction=0.45), 40.0) is None
    assert best_capacity(KEY, pts, 56.0, Policy(latency_budget_fraction=0.45), 40.0) is not None


def test_memory_limit_and_unknown_memory():
    pts = points_from_records([rec(batch=64, latency=20.0, memory=41.0), rec(batch=8, latency=10.0, memory=None)])
    cap = best_capacity(KEY, pts, 100.0, Policy(), 40.0)
    assert cap.batch == 8  # the 41 GB point does not fit a 40 GB profile; unknown memory is assumed to fit
    cap = best_capacity(KEY, pts, 100.0, Policy(), 80.0)
    assert cap.batch == 64


def test_max_processes_and_measured_throughput_wins():
    pts = points_from_records([rec(batch=8, latency=20.0, processes=3, tput=900.0), rec(batch=8, latency=20.0)])
    assert best_capacity(KEY, pts, 100.0, Policy(), 40.0).capacity_rps == 900.0
    cap = best_capacity(KEY, pts, 100.0, Policy(max_processes=2), 40.0)
    assert (cap.processes, cap.capacity_rps) == (1, 400.0)


def test_emulated_points_are_not_mixed_with_real_ones():
    pts = points_from_records([rec(batch=8, latency=20.0), rec(batch=64, latency=20.0, emulated=True)])
    assert len(pts) == 1 and not pts.emulated
    only = points_from_records([rec(batch=64, latency=20.0, emulated=True)])
    assert only.emulated and best_capacity(KEY, only, 100.0, Policy(), 40.0).emulated


lat = st.floats(min_value=1.0, max_value=500.0, allow_nan=False)


@given(st.lists(st.tuples(st.sampled_from([1, 2, 4, 8, 16, 32]), lat), min_size=1, max_size=12),
       st.floats(1.0, 1000.0), st.floats(1.0, 1000.0))
def test_capacity_is_monotone_in_the_slo(points, slo_a, slo_b):
    pts = points_from_records([rec(batch=b, latency=lt) for b, lt in points])
    lo, hi = sorted((slo_a, slo_b))
    cap = lambda s: (c.capacity_rps if (c := best_capacity(KEY, pts, s, Policy(), 40.0)) else 0.0)  # noqa: E731
    assert cap(lo) <= cap(hi)
    # independent check: the best rate among points within the budget
    ok = [b * 1000 / lt for b, lt in points if lt <= 0.5 * hi]
    assert np.isclose(cap(hi), max(ok, default=0.0))


def _problem(use_predictions: bool):
    recs = [rec(batch=b, latency=5.0 + 2.0 * b * 42 / s, profile=p)
            for p, s in (("1g.10gb", 14), ("3g.40gb", 42), ("7g.80gb", 98)) for b in (1, 4, 16)]
    inst = Instance(name="t", gpus=[{"type": "A100-SXM4-80GB", "count": 1}],
                    models=[{"name": "m", "slo_ms": 200.0, "demand_rps": 10.0}], measurements=recs,
                    policy={"use_predictions": use_predictions})
    return problem_from_instance(inst)


def test_predictions_only_when_asked_and_labelled():
    plain = capacity_table(_problem(False))
    assert {k[2] for k in plain} == {"1g.10gb", "3g.40gb", "7g.80gb"}
    assert all(c.source == "measured" for c in plain.values())
    pred = capacity_table(_problem(True))
    assert {"2g.20gb", "4g.40gb", "1g.20gb"} <= {k[2] for k in pred}
    assert pred[("m", "A100-SXM4-80GB", "2g.20gb")].source == "predicted"
    for k, c in plain.items():  # measured capacity never shrinks when predictions are added
        assert pred[k].capacity_rps >= c.capacity_rps


def test_capacity_table_is_cached_by_value_and_copies():
    a, b = _problem(False), _problem(False)
    ta = capacity_table(a)
    ta.clear()  # a caller mutating its copy does not poison the cache
    assert capacity_table(b) == capacity_table(a) and len(capacity_table(a)) == 3
