"""Time-shared instances (issue 12): the round-robin duty cycle against hand-computed completions, an independent
request-by-request reference, the solo queue, saturation and skipping, and the placer's Poisson capacity."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sim_support import plan, problem, record, shared_plan

from majula_model.cli import main
from majula_model.errors import InputError
from majula_model.perf.queueing import poisson_capacity
from majula_model.simulator import SimOptions, simulate, simulate_duty_cycle, simulate_queue
from majula_model.simulator.service import service_table

INF = 1e12


def flat(batch: int, latency: float) -> np.ndarray:
    """Service table where partial batches take the full latency."""
    return np.r_[0.0, np.full(batch, latency)]


def reference(arrs: list[list[float]], batches: list[int], svc: list[list[float]], slos: list[float],
              drop: bool) -> list[list[float]]:
    """The duty cycle request by request, with lists: at time t, arrivals up to t join their queues; the pointer
    scans the models from where it stood; the first non-empty queue (after dropping expired requests) serves up
    to its batch; if all are empty, time jumps to the next arrival."""
    events = sorted((a, i, k) for i, arr in enumerate(arrs) for k, a in enumerate(arr))
    queues: list[list[tuple[float, int]]] = [[] for _ in arrs]
    done = [[math.nan] * len(a) for a in arrs]
    t, p, pos, m = 0.0, 0, 0, len(arrs)
    while True:
        while pos < len(events) and events[pos][0] <= t:
            a, i, k = events[pos]
            queues[i].append((a, k))
            pos += 1
        for step in range(m):
            i = (p + step) % m
            if drop:
                queues[i] = [(a, k) for a, k in queues[i] if a + slos[i] >= t]
            if queues[i]:
                take, queues[i] = queues[i][:batches[i]], queues[i][batches[i]:]
                t += svc[i][len(take)]
                for _, k in take:
                    done[i][k] = t
                p = (i + 1) % m
                break
        else:
            if pos == len(events):
                return done
            t = events[pos][0]


def test_hand_computed_completions_batch_1():
    """Batch 1, latencies 4 and 6 ms. Turns: A[0] 0-4, B[0] 4-10, A[1] 10-14, B[1] 14-20, A[2] 20-24; idle;
    at 100 A arrives (B's turn is skipped) 100-104, B[2] (arrived 101) 104-110; idle; at 200 B arrives while
    the pointer is at A: A is skipped at once, B 200-206; at 300 both arrive: A (the pointer's) 300-304, B 304-310."""
    a, b = [0.0, 1.0, 2.0, 100.0, 300.0], [0.5, 1.0, 101.0, 200.0, 300.0]
    res = simulate_duty_cycle([np.array(a), np.array(b)], [1, 1], [flat(1, 4.0), flat(1, 6.0)], [INF, INF])
    assert res.done_ms[0].tolist() == [4.0, 14.0, 24.0, 104.0, 304.0]
    assert res.done_ms[1].tolist() == [10.0, 20.0, 110.0, 206.0, 310.0]
    assert res.batches == [5, 5] and res.busy_ms == [20.0, 30.0]
    # rounds start at A@0, A@10, A@20, A@100, B@200 (after B@104: the pointer wrapped), A@300
    assert res.rounds == 6 and res.mean_cycle_ms == pytest.approx(50.0 / 6)


def test_hand_computed_completions_partial_batches():
    """A: batch 2, service 3 / 4 ms for 1 / 2 requests; B: batch 3, service 5 / 6 / 8 ms. A takes both requests
    of t=0 (0-4); B takes three of its four (4-12); A takes 1 and 2 (12-16); B the last (16-21); A alone 21-24."""
    a, b = np.array([0.0, 0.0, 1.0, 2.0, 3.0]), np.array([0.0, 1.0, 1.0, 1.5])
    res = simulate_duty_cycle([a, b], [2, 3], [np.array([0.0, 3.0, 4.0]), np.array([0.0, 5.0, 6.0, 8.0])],
                              [INF, INF])
    assert res.done_ms[0].tolist() == [4.0, 4.0, 16.0, 16.0, 24.0]
    assert res.done_ms[1].tolist() == [12.0, 12.0, 12.0, 21.0]
    assert res.batches == [3, 2] and res.rounds == 3


def test_hand_computed_drop():
    """With drop, A's expired requests are discarded at A's turn: SLO 5 ms, A at 0, 1, B at 0 (6 ms). A[0] 0-4,
    B 4-10; at 10 A[1]'s deadline (6) has passed: dropped, and the server idles."""
    res = simulate_duty_cycle([np.array([0.0, 1.0]), np.array([0.0])], [1, 1], [flat(1, 4.0), flat(1, 6.0)],
                              [5.0, 100.0], drop=True)
    assert res.done_ms[0][0] == 4.0 and math.isnan(res.done_ms[0][1]) and res.done_ms[1].tolist() == [10.0]


@given(st.lists(st.integers(1, 5), min_size=2, max_size=3), st.floats(0.2, 2.5), st.booleans(),
       st.integers(0, 10**6))
def test_matches_request_by_request_reference(batches, load, drop, seed):
    rng = np.random.default_rng(seed)
    svc = [np.r_[0.0, np.sort(rng.uniform(1.0, 8.0, b))] for b in batches]
    cycle = sum(s[-1] for s in svc)
    arrs = [np.cumsum(rng.exponential(cycle / (load * b), int(rng.integers(0, 150)))) for b in batches]
    slos = [2.0 * cycle] * len(batches)
    got = simulate_duty_cycle(arrs, batches, svc, slos, drop=drop).done_ms
    want = reference([a.tolist() for a in arrs], batches, [s.tolist() for s in svc], slos, drop)
    for g, w in zip(got, want):
        w = np.array(w)
        assert np.array_equal(np.isnan(g), np.isnan(w))
        assert np.allclose(g[~np.isnan(w)], w[~np.isnan(w)], rtol=0, atol=1e-9)


@pytest.mark.parametrize("batch,drop", [(1, False), (1, True), (6, False), (6, True)])
def test_idle_partner_is_a_solo_queue(batch, drop):
    """B gets no requests: A's completions are exactly those of a one-process batch queue."""
    rng = np.random.default_rng(batch)
    svc = service_table(12.0, batch, np.array([1, batch]), np.array([5.0, 12.0]))
    arr = np.cumsum(rng.exponential(12.0 / (0.9 * batch), 50_000))
    res = simulate_duty_cycle([arr, np.empty(0)], [batch, 4], [svc, flat(4, 30.0)], [40.0, 40.0], drop=drop,
                              horizon_ms=float(arr[-1]))
    solo = simulate_queue(arr, batch, 1, svc, 40.0, drop=drop, horizon_ms=float(arr[-1]))
    assert np.array_equal(np.isnan(res.done_ms[0]), np.isnan(solo.done_ms))
    ok = ~np.isnan(solo.done_ms)
    assert np.allclose(res.done_ms[0][ok], solo.done_ms[ok], rtol=0, atol=1e-9)
    assert res.busy_ms[0] == pytest.approx(solo.busy_ms) and res.batches[0] == solo.batches


SLO = {"a": 200.0, "b": 300.0, "c": 250.0}
POINTS = {"a": (8, 20.0), "b": (4, 10.0), "c": (2, 6.0)}  # (batch, latency) each model runs at


@pytest.fixture(scope="module")
def prob():
    recs = [record(m, "7g.80gb", b, 1, lat, p50_ms=0.8 * lat) for m, (b, lat) in POINTS.items()]
    recs += [record(m, "7g.80gb", 1, 1, 0.5 * lat) for m, (b, lat) in POINTS.items() if b > 1]
    return problem(SLO, recs, arrivals="poisson")


def time_plan(rates: dict[str, float], solo: list[dict] = ()):
    return shared_plan("time", [{"name": m, "batch": POINTS[m][0], "latency_ms": POINTS[m][1], "rate_rps": r}
                                for m, r in rates.items()], solo=solo)


def test_idle_partner_equals_solo_plan(prob):
    """Through ``simulate``: a time-shared instance whose partner is planned no traffic gives model a the same
    latencies as a solo instance, also with jitter and drops (the seeds follow the run, not the instance)."""
    shared = time_plan({"a": 300.0, "b": 0.0})
    alone = plan([{"name": "a", "batch": 8, "processes": 1, "latency_ms": 20.0, "rate_rps": 300.0}])
    for opts in (SimOptions(duration_s=30, seed=5), SimOptions(duration_s=30, seed=5, late="drop", jitter=True)):
        x, y = simulate(prob, shared, opts).model("a"), simulate(prob, alone, opts).model("a")
        assert np.array_equal(x.latencies_ms, y.latencies_ms) and x.slo_attainment == y.slo_attainment


def test_saturated_cycle_is_the_sum_of_latencies(prob):
    """Every queue always full (3x the planned share): measured cycle = 20 + 10 + 6 ms, model i completes
    b_i * 1000 / cycle requests/s, and its share of the server is L_i / cycle."""
    cycle = sum(lat for _, lat in POINTS.values())
    peak = {m: b * 1000.0 / cycle for m, (b, _) in POINTS.items()}
    res = simulate(prob, time_plan(peak), SimOptions(load=3.0, duration_s=60, seed=1))
    for inst in res.instances:
        assert inst.sharing == "time" and inst.cycle_ms == cycle
        assert inst.mean_cycle_ms == pytest.approx(cycle, rel=0.01)
        assert inst.utilisation == pytest.approx(POINTS[inst.model][1] / cycle, rel=0.01)
        assert inst.instance_utilisation == pytest.approx(1.0, rel=1e-3)
        assert inst.mean_batch == pytest.approx(POINTS[inst.model][0], rel=0.01)
    rng = np.random.default_rng(2)
    arrs = [np.cumsum(rng.exponential(1000.0 / (3 * peak[m]), int(3 * peak[m] * 61))) for m in POINTS]
    direct = simulate_duty_cycle(arrs, [b for b, _ in POINTS.values()], [flat(b, lat) for b, lat in POINTS.values()],
                                 [INF] * 3, horizon_ms=60_000.0)
    for m, done in zip(POINTS, direct.done_ms):
        assert np.count_nonzero(done <= 60_000.0) / 60.0 == pytest.approx(peak[m], rel=0.01)


def test_skipping_an_idle_model_shortens_the_cycle(prob):
    """b idle: a, saturated, runs back to back at b_a * 1000 / L_a (the planned cycle would allow 8000/36);
    b lightly loaded: a still gets more than its planned share of the cycle."""
    cycle = 36.0
    planned = 8 * 1000.0 / cycle
    alone = simulate(prob, time_plan({"a": 3 * planned, "b": 0.0, "c": 0.0}), SimOptions(duration_s=60, seed=1))
    a = next(i for i in alone.instances if i.model == "a")
    assert a.utilisation == pytest.approx(1.0, rel=1e-3) and a.mean_cycle_ms == pytest.approx(20.0, rel=1e-3)
    rng = np.random.default_rng(3)
    arrs = [np.cumsum(rng.exponential(1000.0 / (3 * planned), 3 * int(planned) * 61)),
            np.cumsum(rng.exponential(1000.0 / 10.0, 700)), np.empty(0)]
    res = simulate_duty_cycle(arrs, [8, 4, 2], [flat(8, 20.0), flat(4, 10.0), flat(2, 6.0)], [INF] * 3,
                              horizon_ms=60_000.0)
    throughput = np.count_nonzero(res.done_ms[0] <= 60_000.0) / 60.0
    assert throughput > 1.5 * planned, (throughput, planned)
    assert res.mean_cycle_ms < 0.8 * cycle


# (model, batch, latency ms, SLO ms) per model of one time-shared instance; SLO / cycle from about 1 to 22.
CONFIGS = [
    [("a", 1, 4.0, 40.0), ("b", 1, 6.0, 30.0)],
    [("a", 8, 20.0, 100.0), ("b", 4, 10.0, 90.0)],
    [("a", 16, 20.0, 150.0), ("b", 8, 15.0, 120.0)],
    [("a", 4, 10.0, 60.0), ("b", 4, 10.0, 80.0), ("c", 2, 5.0, 100.0)],
    [("a", 2, 3.0, 50.0), ("b", 32, 40.0, 900.0)],
    [("a", 4, 5.0, 100.0), ("b", 4, 5.0, 100.0)],
]


def placed(cfg: list[tuple], curve: bool):
    """The problem and the plan the placer would make under ``arrivals: "poisson"``: each model at
    min(b * 1000 / cycle, poisson_capacity(b, 1, cycle, slo, 0.99)); with ``curve``, batch 1 takes 40% of the
    full latency, else partial batches are as slow as full ones (what the capacity model assumes)."""
    cycle = sum(c[2] for c in cfg)
    recs, runs = [], []
    for m, b, lat, slo in cfg:
        recs.append(record(m, "7g.80gb", b, 1, lat))
        if curve and b > 1:
            recs.append(record(m, "7g.80gb", 1, 1, 0.4 * lat))
        rate = min(b * 1000.0 / cycle, poisson_capacity(b, 1, cycle, slo, 0.99))
        runs.append({"name": m, "batch": b, "latency_ms": lat, "rate_rps": rate})
    return problem({c[0]: c[3] for c in cfg}, recs, arrivals="poisson"), shared_plan("time", runs)


@pytest.mark.parametrize("curve", [False, True])
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "+".join(f"{b}x{lat:g}/{slo:g}" for _, b, lat, slo in c))
def test_poisson_capacity_of_the_cycle_holds_99_percent(cfg, curve):
    """The placer's safety claim for time-shared instances. 3000 s simulated (up to 2 million requests per model):
    at high utilisation a minute-long window's attainment scatters by about a percent around its mean
    (docs/simulator.md, "Short windows scatter"), so a short run cannot tell a safe plan from an unsafe one."""
    prob, p = placed(cfg, curve)
    res = simulate(prob, p, SimOptions(duration_s=3000, seed=0))
    for m in res.models:
        assert m.slo_attainment >= 0.99, (m.name, m.slo_attainment, m.requests)


def test_late_drop_and_jitter(prob):
    """Overload with drop: requests are dropped, and a request served was still within its deadline at its
    turn, so it finishes within SLO + its batch latency; jitter runs and is reproducible."""
    cycle = 36.0
    peak = {m: b * 1000.0 / cycle for m, (b, _) in POINTS.items()}
    res = simulate(prob, time_plan(peak), SimOptions(load=1.5, duration_s=30, seed=1, late="drop"))
    for m in res.models:
        assert m.dropped > 0.1 * m.requests
        assert float(np.max(m.latencies_ms)) <= SLO[m.name] + POINTS[m.name][1] + 1e-9
    opts = SimOptions(load=0.5, duration_s=30, seed=1, jitter=True)
    one, two = simulate(prob, time_plan(peak), opts), simulate(prob, time_plan(peak), opts)
    assert one.to_dict() == two.to_dict()
    base = simulate(prob, time_plan(peak), SimOptions(load=0.5, duration_s=30, seed=1))
    assert one.model("a").p50_ms < base.model("a").p50_ms  # p50 = 0.8 p99 measured: faster batches


def test_proportional_routing_with_a_solo_instance(prob):
    """Model a on the shared instance and on a solo one: its stream splits by planned rate."""
    solo = [{"name": "a", "batch": 8, "processes": 1, "latency_ms": 20.0, "rate_rps": 150.0}]
    res = simulate(prob, time_plan({"a": 50.0, "b": 100.0}, solo=solo), SimOptions(duration_s=200, seed=2))
    offered = {(i.gpu, i.model): i.offered_rps for i in res.instances}
    assert offered[(0, "a")] == pytest.approx(50.0, rel=0.05) and offered[(1, "a")] == pytest.approx(150.0, rel=0.05)
    assert res.instances[2].sharing == "none" and res.instances[2].mean_cycle_ms is None


def test_bad_cycle_ms_is_an_input_error(prob):
    with pytest.raises(InputError, match=r"gpus\[0\]\.instances\[0\]\.cycle_ms: must equal the sum of the models' "
                                         r"latency_ms \(30 ms\), got 25 ms"):
        simulate(prob, shared_plan("time", [{"name": "a", "batch": 8, "latency_ms": 20.0, "rate_rps": 1.0},
                                            {"name": "b", "batch": 4, "latency_ms": 10.0, "rate_rps": 1.0}],
                                   cycle_ms=25.0))


def test_jsq_refuses_time_shared_instances(prob):
    with pytest.raises(InputError, match=r"--routing: jsq does not support time-shared instances \(the plan's "
                                         r"gpus\[0\]\.instances\[0\]\)"):
        simulate(prob, time_plan({"a": 10.0, "b": 10.0}), SimOptions(routing="jsq", duration_s=1))


def test_cli_reports_shared_instances(prob, tmp_path, capsys):
    ipath, ppath = tmp_path / "inst.json", tmp_path / "plan.json"
    ipath.write_text(prob.instance.model_dump_json())
    ppath.write_text(time_plan({"a": 100.0, "b": 100.0}).model_dump_json())
    assert main(["simulate", str(ipath), "--plan", str(ppath), "--duration", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(i["model"], i["sharing"], i["cycle_ms"]) for i in out["instances"]] == [("a", "time", 30.0),
                                                                                   ("b", "time", 30.0)]
    assert 0 < out["instances"][0]["instance_utilisation"] <= 1 and out["instances"][0]["mean_cycle_ms"] > 0
    assert main(["simulate", str(ipath), "--plan", str(ppath), "--duration", "5"]) == 0
    assert "attain" in capsys.readouterr().out
    doc = json.loads(ppath.read_text())
    doc["gpus"][0]["instances"][0]["cycle_ms"] = 31.0
    ppath.write_text(json.dumps(doc))
    assert main(["simulate", str(ipath), "--plan", str(ppath)]) == 2
    assert "plan.json: gpus[0].instances[0].cycle_ms: must equal" in capsys.readouterr().err
    ppath.write_text(time_plan({"a": 100.0, "b": 100.0}).model_dump_json())
    assert main(["simulate", str(ipath), "--plan", str(ppath), "--routing", "jsq"]) == 2
    assert "--routing: jsq does not support time-shared instances" in capsys.readouterr().err
