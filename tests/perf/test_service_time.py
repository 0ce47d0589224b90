"""Regression (review of issues 3/6): Poisson capacity never exceeds the measured throughput, and queueing uses
the slower of the rounded latency and what the throughput implies."""

from __future__ import annotations

import pytest

from majula_model.perf.capacity import capacity_table
from majula_model.problem.loading import problem_from_instance
from majula_model.schema import Instance, MeasurementRecord


def _problem(arrivals: str, throughput: float | None) -> object:
    rec = {"model": "m", "gpu": "A100-SXM4-80GB", "profile": "7g.80gb", "batch": 2, "latency_ms": 2.0}
    if throughput is not None:
        rec["throughput_rps"] = throughput
    return problem_from_instance(Instance.model_validate({
        "name": "t", "gpus": [{"type": "A100-SXM4-80GB", "count": 1}],
        "models": [{"name": "m", "slo_ms": 40.0, "demand_rps": 1e5}], "measurements": [rec],
        "policy": {"arrivals": arrivals}}))


@pytest.mark.parametrize("arrivals", ["smooth", "poisson"])
def test_capacity_never_exceeds_measured_throughput(arrivals):
    cap = capacity_table(_problem(arrivals, 805.53))[("m", "A100-SXM4-80GB", "7g.80gb")]
    assert cap.capacity_rps <= 805.53 + 1e-9


def test_service_time_is_the_slower_of_latency_and_throughput():
    rounded = MeasurementRecord(model="m", gpu="cpu", profile="full", batch=2, latency_ms=2.0, throughput_rps=805.53)
    assert rounded.service_ms == pytest.approx(2 * 1000 / 805.53)  # 2.48 ms, not the rounded 2 ms
    derived = MeasurementRecord(model="m", gpu="cpu", profile="full", batch=2, processes=3, latency_ms=2.0)
    assert derived.service_ms == pytest.approx(2.0)


def test_rounded_latency_lowers_poisson_capacity():
    slow = capacity_table(_problem("poisson", 805.53))[("m", "A100-SXM4-80GB", "7g.80gb")].capacity_rps
    exact = capacity_table(_problem("poisson", None))[("m", "A100-SXM4-80GB", "7g.80gb")].capacity_rps
    assert slow < exact
