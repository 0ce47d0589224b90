"""MPS instances (issue 12): several models run concurrently in one instance, each its own batch queue at the
plan's co-located latency; statistics stay per run, never per instance."""

from __future__ import annotations

import numpy as np
import pytest
from sim_support import plan, problem, record, shared_plan

from majula_model.errors import InputError
from majula_model.perf.queueing import poisson_capacity
from majula_model.simulator.plan_validation import validate_plan
from majula_model.simulator import SimOptions, simulate, simulate_queue
from majula_model.simulator.service import build_runs

SLO = {"a": 100.0, "b": 80.0}
SOLO = {"a": [(1, 5.0), (4, 10.0)], "b": [(2, 8.0)]}  # solo measurements: (batch, p99 ms)
COLOCATED = {"a": (4, 18.0), "b": (2, 14.0)}  # what the plan runs: (batch, co-located latency ms)


@pytest.fixture(scope="module")
def prob():
    return problem(SLO, [record(m, "7g.80gb", b, 1, lat) for m, pts in SOLO.items() for b, lat in pts],
                   arrivals="poisson")


def mps_plan(rates: dict[str, float], latency: dict[str, float] | None = None, solo: list[dict] = ()):
    lat = latency or {m: v[1] for m, v in COLOCATED.items()}
    return shared_plan("mps", [{"name": m, "batch": COLOCATED[m][0], "latency_ms": lat[m], "rate_rps": r}
                               for m, r in rates.items()], solo=solo)


def test_runs_use_the_colocated_latency(prob):
    """Full batches take the plan's co-located latency (above the solo measurement); a partial batch is scaled
    by the solo curve: batch 1 of a takes 18 x 5/10 = 9 ms; b has no curve, so any batch takes 14 ms."""
    runs = build_runs(prob, mps_plan({"a": 10.0, "b": 10.0}))
    assert [(r.model, r.sharing, r.instance) for r in runs] == [("a", "mps", (0, 0)), ("b", "mps", (0, 0))]
    assert runs[0].latency_ms == 18.0 and runs[0].service_ms[1] == pytest.approx(9.0)
    assert runs[1].service_ms.tolist() == [0.0, 14.0, 14.0]
    lower = build_runs(prob, mps_plan({"a": 10.0, "b": 10.0}, latency={"a": 7.0, "b": 14.0}))
    assert lower[0].latency_ms == 10.0  # a plan latency below the solo measurement: the measurement wins


def test_models_run_concurrently(prob, tmp_path):
    """Requests of a and b arriving together are served at once, each at its own latency (no turns)."""
    trace = tmp_path / "t.csv"
    trace.write_text("0.0,a\n0.0,b\n1.0,a\n1.0,a\n1.0,a\n1.0,a\n1.0,b\n1.0,b\n")
    res = simulate(prob, mps_plan({"a": 10.0, "b": 10.0}), SimOptions(trace=trace))
    assert res.model("a").latencies_ms.tolist() == [9.0, 18.0, 18.0, 18.0, 18.0]  # alone, then a full batch
    assert res.model("b").latencies_ms.tolist() == [14.0, 14.0, 14.0]
    for inst in res.instances:
        assert inst.sharing == "mps" and inst.cycle_ms is None and inst.mean_cycle_ms is None
        assert inst.instance_utilisation is None


def test_each_model_is_its_own_queue(prob):
    """Per-run figures: a's requests and busy time are those of a solo queue at the co-located latency, whatever
    b does, and both runs of the one instance are reported."""
    quiet = simulate(prob, mps_plan({"a": 150.0, "b": 10.0}), SimOptions(duration_s=60, seed=3))
    busy = simulate(prob, mps_plan({"a": 150.0, "b": 130.0}), SimOptions(duration_s=60, seed=3))
    assert np.array_equal(quiet.model("a").latencies_ms, busy.model("a").latencies_ms)
    assert [(i.gpu, i.start, i.model) for i in busy.instances] == [(0, 0, "a"), (0, 0, "b")]
    assert busy.instances[1].utilisation > quiet.instances[1].utilisation
    runs = build_runs(prob, mps_plan({"a": 150.0, "b": 10.0}))
    rng = np.random.default_rng(0)
    arr = np.cumsum(rng.exponential(1000.0 / 150.0, 9000))
    q = simulate_queue(arr, 4, 1, runs[0].service_ms, SLO["a"])
    assert float(np.percentile(q.done_ms - arr, 99)) == pytest.approx(busy.model("a").p99_ms, rel=0.1)


def test_poisson_capacity_at_the_colocated_latency_holds(prob):
    """Each model at poisson_capacity(b, 1, co-located latency, slo): >= 99% within SLO."""
    rates = {m: poisson_capacity(b, 1, lat, SLO[m], 0.99) for m, (b, lat) in COLOCATED.items()}
    res = simulate(prob, mps_plan(rates), SimOptions(duration_s=600, seed=0))
    for m in res.models:
        assert m.slo_attainment >= 0.99, (m.name, m.slo_attainment)


def test_jsq_and_proportional_with_mps(prob):
    """MPS runs are independent queues, so JSQ works; with a solo instance of a too, both routings serve a."""
    solo = [{"name": "a", "batch": 4, "processes": 1, "latency_ms": 10.0, "rate_rps": 100.0}]
    p = mps_plan({"a": 50.0, "b": 50.0}, solo=solo)
    prop = simulate(prob, p, SimOptions(duration_s=100, seed=1))
    assert prop.instances[0].offered_rps == pytest.approx(50.0, rel=0.1)
    assert prop.instances[2].offered_rps == pytest.approx(100.0, rel=0.1)
    jsq = simulate(prob, p, SimOptions(duration_s=20, seed=1, routing="jsq"))
    assert jsq.model("a").requests > 0 and jsq.model("a").slo_attainment > 0.99
    one = mps_plan({"a": 80.0, "b": 50.0})
    x = simulate(prob, one, SimOptions(duration_s=20, seed=2, load=1.2)).to_dict()
    y = simulate(prob, one, SimOptions(duration_s=20, seed=2, load=1.2, routing="jsq")).to_dict()
    for u, v in zip(x["models"] + x["instances"], y["models"] + y["instances"]):
        u_ci, v_ci = u.pop("slo_attainment_ci", None), v.pop("slo_attainment_ci", None)  # a list: approx'd apart
        assert u == pytest.approx(v) and (u_ci == v_ci or u_ci == pytest.approx(v_ci))


def test_shared_runs_have_one_process(prob):
    """The schema refuses processes > 1 in a shared instance; the plan validator checks again (plans built in
    code), before the simulator builds its runs."""
    p = mps_plan({"a": 10.0, "b": 10.0})
    inst = p.gpus[0].instances[0]
    bad_run = inst.models[1].model_copy(update={"processes": 2})
    bad = p.model_copy(update={"gpus": (p.gpus[0].model_copy(update={"instances": (
        inst.model_copy(update={"models": (inst.models[0], bad_run)}),)}),)})
    with pytest.raises(InputError, match=r"gpus\[0\]\.instances\[0\]\.models\[1\]\.processes: a shared instance"):
        validate_plan(prob, bad)
    with pytest.raises(InputError, match=r"a shared instance runs one process"):
        simulate(prob, bad, SimOptions(duration_s=5))


def test_solo_plans_are_unchanged(prob):
    """A plan without sharing reports sharing 'none' and no cycle figures."""
    res = simulate(prob, plan([{"name": "a", "batch": 4, "processes": 1, "latency_ms": 10.0, "rate_rps": 50.0}]),
                   SimOptions(duration_s=5))
    d = res.to_dict()["instances"][0]
    assert d["sharing"] == "none" and d["cycle_ms"] is None and d["instance_utilisation"] is None
