"""Plan-level simulation: attainment of poisson-capacity plans, overload, reproducibility, routing, late policy,
traces, and the ``majula simulate`` command."""

from __future__ import annotations

import json

import pytest
from sim_support import GPU, plan, problem, record

from conftest import needs_matplotlib
from majula_model.cli import main
from majula_model.errors import InputError
from majula_model.perf.queueing import poisson_capacity
from majula_model.simulator import SimOptions, simulate

# Two models with a latency-vs-batch curve each (p50 known for jitter); SLOs of 3-5 full-batch latencies.
CURVE = {"a": [(1, 6.0), (4, 9.0), (8, 12.0), (16, 20.0)], "b": [(1, 10.0), (2, 12.0), (4, 16.0)]}
SLO = {"a": 70.0, "b": 50.0}
POINT = {"a": (16, 1), "b": (4, 2)}  # (batch, processes) the plans run


def records() -> list:
    out = []
    for m, pts in CURVE.items():
        k = POINT[m][1]
        out += [record(m, "7g.80gb", b, k, lat, p50_ms=0.8 * lat) for b, lat in pts]
    return out


def capacity_plan(rate_of=lambda m, cap: cap, copies: int = 2):
    """``copies`` instances per model, each routed ``rate_of(model, poisson capacity)``."""
    runs = []
    for m, (b, k) in POINT.items():
        lat = dict(CURVE[m])[b]
        cap = poisson_capacity(b, k, lat, SLO[m], 0.99)
        runs += [{"name": m, "batch": b, "processes": k, "latency_ms": lat, "rate_rps": rate_of(m, cap),
                  "capacity_rps": cap}] * copies
    return plan(runs)


@pytest.fixture(scope="module")
def prob():
    return problem(SLO, records(), arrivals="poisson")


@pytest.mark.parametrize("load", [0.9, 1.0])
def test_poisson_capacity_plan_holds_99_percent(prob, load):
    res = simulate(prob, capacity_plan(), SimOptions(load=load, duration_s=300, seed=4))
    for m in res.models:
        assert m.slo_attainment >= 0.99, (m.name, m.slo_attainment)
        assert m.dropped == 0 and m.completed_rps == pytest.approx(m.offered_rps)
        assert m.offered_rps == pytest.approx(load * m.planned_rps, rel=0.03)


def test_overload_collapses_attainment(prob):
    """Offered 1.3x the peak rate (batch x processes / latency) of every instance: queues grow without bound."""
    peak = capacity_plan(lambda m, cap: POINT[m][0] * POINT[m][1] * 1000.0 / dict(CURVE[m])[POINT[m][0]])
    res = simulate(prob, peak, SimOptions(load=1.3, duration_s=60, seed=4))
    for m in res.models:
        assert m.slo_attainment < 0.2, (m.name, m.slo_attainment)
    dropped = simulate(prob, peak, SimOptions(load=1.3, duration_s=60, seed=4, late="drop"))
    for m in dropped.models:
        assert m.dropped > 0.1 * m.requests
        assert m.completed_rps < m.offered_rps
        assert m.p99_ms <= 2 * SLO[m.name]  # served requests started before their deadline


def test_seeds_make_runs_reproducible(prob):
    opts = SimOptions(load=1.0, duration_s=20, seed=9, jitter=True)
    one, two = simulate(prob, capacity_plan(), opts), simulate(prob, capacity_plan(), opts)
    assert one.to_dict() == two.to_dict()
    other = simulate(prob, capacity_plan(), SimOptions(load=1.0, duration_s=20, seed=10, jitter=True))
    assert other.to_dict()["models"] != one.to_dict()["models"]


def test_jitter_draws_between_p50_and_tail(prob):
    """With p50 = 0.8 p99 measured, jitter makes batches faster on average: lower median latency."""
    base = simulate(prob, capacity_plan(), SimOptions(load=0.5, duration_s=60, seed=1))
    jit = simulate(prob, capacity_plan(), SimOptions(load=0.5, duration_s=60, seed=1, jitter=True))
    for m in base.models:
        assert jit.model(m.name).p50_ms < m.p50_ms


def test_proportional_routing_follows_planned_rates(prob):
    runs = [{"name": "a", "batch": 16, "processes": 1, "latency_ms": 20.0, "rate_rps": r} for r in (100.0, 300.0)]
    res = simulate(prob, plan(runs), SimOptions(duration_s=200, seed=2))
    offered = [i.offered_rps for i in res.instances]
    assert offered[0] == pytest.approx(100.0, rel=0.05) and offered[1] == pytest.approx(300.0, rel=0.05)
    assert 0 < res.instances[0].utilisation < res.instances[1].utilisation < 1


def test_jsq_with_one_instance_equals_proportional(prob):
    """One run per model: routing has no choice, so the event loop must reproduce the batch loop exactly."""
    one = capacity_plan(copies=1)
    for late in ("serve", "drop"):
        a = simulate(prob, one, SimOptions(load=1.2, duration_s=30, seed=3, late=late)).to_dict()
        b = simulate(prob, one, SimOptions(load=1.2, duration_s=30, seed=3, late=late, routing="jsq")).to_dict()
        for x, y in zip(a["models"] + a["instances"], b["models"] + b["instances"]):
            x.pop("routing", None), y.pop("routing", None)
            x_ci, y_ci = x.pop("slo_attainment_ci", None), y.pop("slo_attainment_ci", None)
            assert x == pytest.approx(y) and (x_ci == y_ci or x_ci == pytest.approx(y_ci))


def test_jsq_balances_unequal_instances(prob):
    """Planned rates skewed 1:3 on equal instances: JSQ evens the load, proportional follows the plan."""
    runs = [{"name": "a", "batch": 16, "processes": 1, "latency_ms": 20.0, "rate_rps": r} for r in (100.0, 300.0)]
    res = simulate(prob, plan(runs), SimOptions(load=1.0, duration_s=60, seed=2, routing="jsq"))
    offered = [i.offered_rps for i in res.instances]
    assert abs(offered[0] - offered[1]) < 0.1 * sum(offered)


def test_trace_replay(prob, tmp_path):
    trace = tmp_path / "t.csv"
    trace.write_text("timestamp,model\n10.0,a\n10.001,b\n10.5,a\n12.0,a\n")
    res = simulate(prob, capacity_plan(), SimOptions(trace=trace, seed=0))
    assert res.duration_s == pytest.approx(2.0)
    assert res.model("a").requests == 3 and res.model("b").requests == 1
    assert res.model("a").p50_ms == pytest.approx(6.0)  # each alone in a batch of 1
    bad = tmp_path / "bad.csv"
    bad.write_text("1.0,a\n2.0,zzz\n")
    with pytest.raises(InputError, match=r"bad.csv: line 2: unknown model 'zzz'"):
        simulate(prob, capacity_plan(), SimOptions(trace=bad))


def test_unserved_model_counts_as_dropped(prob, tmp_path):
    only_a = plan([{"name": "a", "batch": 16, "processes": 1, "latency_ms": 20.0, "rate_rps": 10.0}])
    trace = tmp_path / "t.csv"
    trace.write_text("0.0,a\n0.5,b\n")
    res = simulate(prob, only_a, SimOptions(trace=trace))
    b = res.model("b")
    assert b.dropped == 1 and b.slo_attainment == 0.0 and b.p99_ms is None


@pytest.fixture()
def files(tmp_path, prob):
    inst = prob.instance.model_copy(update={"policy": prob.instance.policy})
    ipath, ppath = tmp_path / "inst.json", tmp_path / "plan.json"
    ipath.write_text(inst.model_dump_json())
    ppath.write_text(capacity_plan().model_dump_json())
    return ipath, ppath


@needs_matplotlib
def test_cli_json_table_and_plot(files, tmp_path, capsys):
    ipath, ppath = files
    png = tmp_path / "cdf.png"
    assert main(["simulate", str(ipath), "--plan", str(ppath), "--duration", "20", "--json", "--plot", str(png)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {m["name"] for m in out["models"]} == {"a", "b"}
    for m in out["models"]:
        assert set(m) >= {"name", "offered_rps", "completed_rps", "dropped", "slo_attainment", "p50_ms", "p99_ms"}
    assert len(out["instances"]) == 4 and all(0 < i["utilisation"] < 1 for i in out["instances"])
    assert png.stat().st_size > 1000
    assert main(["simulate", str(ipath), "--plan", str(ppath), "--duration", "5", "--routing", "jsq"]) == 0
    assert "attain" in capsys.readouterr().out


def test_cli_bad_input_exits_2(files, tmp_path, capsys):
    ipath, ppath = files
    assert main(["simulate", str(ipath), "--plan", str(tmp_path / "none.json")]) == 2
    assert "none.json: file not found" in capsys.readouterr().err
    assert main(["simulate", str(ipath), "--plan", str(ppath), "--duration", "0"]) == 2
    assert "--duration: must be > 0" in capsys.readouterr().err
    wrong = json.loads(ppath.read_text())
    wrong["gpus"][0]["instances"][0]["models"][0]["name"] = "zzz"
    ppath.write_text(json.dumps(wrong))
    assert main(["simulate", str(ipath), "--plan", str(ppath)]) == 2
    assert "gpus[0].instances[0].models[0].name: model 'zzz' is not in the instance" in capsys.readouterr().err


def test_gpu_type_alias_resolves(prob):
    assert GPU in {g.type for g in capacity_plan().gpus}


def test_trace_warmup_leaves_out_the_first_requests(prob, tmp_path):
    """A trace has no warm-up unless asked; with one, requests arriving before it leave every per-model figure
    and the window is the rest of the span; a warm-up as long as the trace is an input error."""
    trace = tmp_path / "t.csv"
    trace.write_text("0.0,a\n0.2,a\n1.0,a\n1.5,a\n2.0,b\n")
    whole = simulate(prob, capacity_plan(), SimOptions(trace=trace))
    assert whole.warmup_s == 0 and whole.model("a").requests == 4
    late = simulate(prob, capacity_plan(), SimOptions(trace=trace, warmup_s=0.5))
    assert late.duration_s == pytest.approx(1.5) and late.model("a").requests == 2
    assert late.model("a").offered_rps == pytest.approx(2 / 1.5) and late.model("b").requests == 1
    with pytest.raises(InputError, match="--warmup: must be shorter than the trace"):
        simulate(prob, capacity_plan(), SimOptions(trace=trace, warmup_s=2.0))
