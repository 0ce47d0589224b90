"""Re-planning from a running plan (``solve(problem, current=plan, reconfig_cost=W)``, docs/replan.md):
unchanged demand changes nothing, a large W adds GPUs instead of changing any, the least (cost + W x
reconfigured, reconfigured) equals an independent brute force on tiny instances, the steps keep every model's
capacity (replayed by an independent step simulator) and every plan passes ``check_plan``."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace

import pytest
from hypothesis import assume, given, settings, strategies as st

from majula_model import load_instance, schema
from majula_model.errors import Infeasible, InputError
from majula_model.placer import solve
from reference.instances import build, synthetic
from reference.plan_check import check_plan
from reference.replan_brute import replan_brute


def default():
    """instances/default.json with smooth arrivals: what ``check_plan``'s reference capacity rule covers."""
    p = load_instance("instances/default.json")
    policy = p.instance.policy.model_copy(update={"arrivals": "smooth"})
    return replace(p, instance=p.instance.model_copy(update={"policy": policy}))


def with_demand(problem, factors: dict[str, float]):
    models = tuple(m.model_copy(update={"demand_rps": m.demand_rps * factors.get(m.name, 1.0)})
                   for m in problem.instance.models)
    return replace(problem, instance=problem.instance.model_copy(update={"models": models}))


def capacity(gpu) -> Counter:
    out: Counter = Counter()
    for inst in gpu.instances:
        for r in inst.models:
            out[r.name] += r.capacity_rps
    return out


def layout(gpu) -> tuple:
    return (gpu.type, tuple(sorted((i.profile, i.start, i.sharing, tuple((r.name, r.batch, r.processes)
                                                                         for r in i.models)) for i in gpu.instances)))


def replay_steps(current, new) -> None:
    """Independent step simulator: apply the steps to the running fleet; after each one every model has at least
    min(current, new) capacity unless the step says it cannot (ok false); every change is applied once, in a
    valid order, and the end state is the new plan."""
    cur = {g.id: g for g in current.gpus}
    nxt = {g.id: g for g in new.gpus}
    ch = new.changes
    assert set(ch.kept) | set(ch.reconfigured) | set(ch.released) == set(cur)
    assert not (set(ch.kept) & set(ch.reconfigured)) and not (set(ch.kept) & set(ch.released))
    assert set(ch.kept) | set(ch.reconfigured) | set(ch.added) == set(nxt)
    assert all(a > max(cur, default=-1) for a in ch.added)
    for i in ch.kept:
        assert layout(cur[i]) == layout(nxt[i])
    for i in ch.reconfigured:
        assert layout(cur[i]) != layout(nxt[i])
    running = {i: cur[i] for i in cur}
    total = lambda: sum((capacity(g) for g in running.values() if g is not None), Counter())  # noqa: E731
    names = set(total()) | set(sum((capacity(g) for g in nxt.values()), Counter()))
    final = sum((capacity(g) for g in nxt.values()), Counter())
    first = total()
    floor = {m: min(first[m], final[m]) for m in names}
    state = {i: "running" for i in cur}
    for s in ch.steps:
        if s.op == "start":
            assert state.get(s.gpu) in (None, "repartitioned") and s.gpu in nxt
            running[s.gpu] = nxt[s.gpu]
            state[s.gpu] = "done"
        elif s.op == "drain":
            assert state[s.gpu] == "running" and s.gpu not in ch.kept
            running[s.gpu] = None
            state[s.gpu] = "drained"
        elif s.op == "repartition":
            assert state[s.gpu] == "drained" and s.gpu in ch.reconfigured
            state[s.gpu] = "repartitioned"
        else:
            assert state[s.gpu] == "drained" and s.gpu in ch.released
            state[s.gpu] = "released"
        cap = total()
        met = all(cap[m] >= floor[m] * (1 - 1e-9) for m in names)
        assert met == s.ok, (s, dict(cap), floor)
        assert s.ok == (s.reason is None)
    assert {i: g for i, g in running.items() if g is not None} == nxt or \
        {i: layout(g) for i, g in running.items() if g is not None} == {i: layout(g) for i, g in nxt.items()}


def test_unchanged_instance_changes_nothing():
    p = default()
    cur = solve(p, "min_gpus")
    new = solve(p, current=cur)
    ch = new.changes
    assert ch.kept == tuple(g.id for g in cur.gpus)
    assert (ch.reconfigured, ch.added, ch.released, ch.steps) == ((), (), (), ())
    assert (ch.instances_created, ch.instances_destroyed) == (0, 0)
    assert [layout(g) for g in new.gpus] == [layout(g) for g in cur.gpus]
    check_plan(p, new, "min_gpus")


def test_growth_with_large_w_reconfigures_nothing():
    p = default()
    cur = solve(p, "min_gpus")
    grown = with_demand(p, {"resnet50": 1.4, "bert": 1.2})
    new = solve(grown, current=cur, reconfig_cost=1000.0)
    ch = new.changes
    check_plan(grown, new, "min_gpus")
    assert ch.reconfigured == () and ch.released == ()
    assert ch.kept == tuple(g.id for g in cur.gpus)
    assert ch.added and min(ch.added) == max(g.id for g in cur.gpus) + 1
    replay_steps(cur, new)
    fresh = solve(grown, "min_gpus")
    assert new.objective.value >= fresh.objective.value


def test_w0_is_the_plain_optimum():
    p = default()
    cur = solve(p, "min_gpus")
    moved = with_demand(p, {"resnet50": 0.8, "mobilenetv2": 1.2, "vgg16": 1.2})
    new = solve(moved, current=cur, reconfig_cost=0)
    check_plan(moved, new, "min_gpus")
    assert new.objective.value == solve(moved, "min_gpus").objective.value
    replay_steps(cur, new)
    assert json.loads(new.model_dump_json())["changes"]["kept"] == list(new.changes.kept)
    assert "changes" not in json.loads(cur.model_dump_json())


def rec(profile: str, tput: float, model: str = "a") -> schema.MeasurementRecord:
    return schema.MeasurementRecord(model=model, gpu="A30-24GB", profile=profile, batch=1, latency_ms=10.0,
                                    throughput_rps=tput)


def test_hand_worked_reconfiguration_against_w():
    # Two A30s, a on 4g (400) and b on 4g (300). b grows to 500: at W = 0 the one-GPU-cheaper answer re-partitions
    # a GPU (a on 2g 250 + b on 2g 250... not enough), so work it out: pool of 3 GPUs, cost 1 each.
    recs = [rec("2g.12gb", 250, "a"), rec("4g.24gb", 400, "a"), rec("2g.12gb", 260, "b"), rec("4g.24gb", 300, "b")]
    p = build("hand", [("A30-24GB", 3, 1.0)], [("a", 100.0, 400.0), ("b", 100.0, 300.0)], recs, schema.Policy(),
              "min_gpus")
    cur = solve(p)
    assert len(cur.gpus) == 2  # a: 4g (400); b: 4g (300)
    grown = with_demand(p, {"a": 500 / 400, "b": 520 / 300})
    # W = 0: 2g+2g for a (500) and 2g+2g for b (520): 2 GPUs, both reconfigured. Large W: keep both, add one
    # GPU with 2g a (250) + 2g b (260).
    w0 = solve(grown, current=cur, reconfig_cost=0)
    big = solve(grown, current=cur, reconfig_cost=10)
    assert (w0.objective.value, len(w0.changes.reconfigured), w0.changes.added) == (2.0, 2, ())
    assert (big.objective.value, big.changes.reconfigured, len(big.changes.added)) == (3.0, (), 1)
    for plan in (w0, big):
        check_plan(grown, plan, "min_gpus")
        replay_steps(cur, plan)
    # W = 0 must drain a GPU that serves all of a model: the step says so
    assert any(not s.ok for s in w0.changes.steps) and not any(not s.ok for s in big.changes.steps)
    assert brute(grown, cur, 0) == (2.0, 2) and brute(grown, cur, 10) == (3.0, 0)


def brute(problem, current, w):
    return replan_brute(problem, current, w)


@settings(max_examples=15, deadline=None)
@given(synthetic(max_gpus=3, objective="min_gpus"), st.lists(st.sampled_from([0.5, 0.8, 1.0, 1.25, 1.6]),
                                                              min_size=3, max_size=3),
       st.sampled_from([0.0, 0.5, 100.0]))
def test_tiny_replan_equals_brute_force(problem, factors, w):
    try:
        cur = solve(problem, "min_gpus")
    except Infeasible:
        assume(False)
    moved = with_demand(problem, dict(zip(["m0", "m1", "m2"], factors)))
    expected = brute(moved, cur, w)
    if expected is None:
        with pytest.raises(Infeasible):
            solve(moved, "min_gpus", current=cur, reconfig_cost=w)
        return
    new = solve(moved, "min_gpus", current=cur, reconfig_cost=w)
    assert new.status == "optimal"
    check_plan(moved, new, "min_gpus")
    replay_steps(cur, new)
    got = (new.objective.value, len(new.changes.reconfigured))
    assert got[1] == expected[1] and abs(got[0] - expected[0]) <= 1e-9 * max(1.0, expected[0]), (got, expected)


def test_current_plan_is_checked_against_the_instance():
    p = default()
    cur = solve(p, "min_gpus")
    bad = cur.model_copy(update={"gpus": (cur.gpus[0].model_copy(update={"type": "H100-SXM5-80GB"}),)})
    with pytest.raises(InputError, match=r"plan\.json: gpus\[0\]\.type: .*not in the instance's pools"):
        solve(p, current=bad, current_file="plan.json")
    geo = cur.model_copy(update={"gpus": (cur.gpus[0].model_copy(update={"geometry": ("1g.10gb",)}),)})
    with pytest.raises(InputError, match=r"gpus\[0\]\.geometry"):
        solve(p, current=geo, current_file="plan.json")
    with pytest.raises(InputError, match="min_gpus"):
        solve(p, "max_throughput", current=cur)
    with pytest.raises(InputError, match="reconfig-cost"):
        solve(p, current=cur, reconfig_cost=-1)


def test_shared_gpus_of_the_current_plan_can_be_kept():
    """instances/lowrate.json plans time-shared instances. Re-planned from itself with a small demand change
    and a large W, every GPU is kept, shared ones included: the current plan's patterns are columns of the
    re-plan (``replan.current_patterns``), whether or not generation finds them again."""
    from reference.shared_check import check_shared_plan

    p = load_instance("instances/lowrate.json")
    cur = solve(p, "min_gpus", time_limit=30)
    assert any(i.sharing != "none" for g in cur.gpus for i in g.instances)
    grown = with_demand(p, {p.instance.models[0].name: 1.05})
    new = solve(grown, current=cur, reconfig_cost=1000.0, time_limit=30)
    assert new.changes.reconfigured == () and new.changes.kept == tuple(g.id for g in cur.gpus)
    check_shared_plan(grown, new, "min_gpus")


@pytest.mark.parametrize("w", [0.0, 100.0])
def test_kept_gpus_count_towards_min_instances(w):
    """Found in review: kept GPUs were left out of the min_instances row, so an unchanged instance with
    min_instances 2 was reconfigured (W = 0) or grown by a GPU (large W)."""
    recs = [schema.MeasurementRecord(model="a", gpu="A30-24GB", profile=p, batch=1, latency_ms=10.0,
                                     throughput_rps=r) for p, r in [("4g.24gb", 400), ("1g.6gb", 80)]]
    p = build("mi", [("A30-24GB", 6, 1.0)], [("a", 100.0, 700.0)], recs, schema.Policy(), "min_gpus")
    model = p.instance.models[0].model_copy(update={"min_instances": 2})
    p = replace(p, instance=p.instance.model_copy(update={"models": (model,)}))
    cur = solve(p)
    new = solve(p, current=cur, reconfig_cost=w)
    assert new.objective.value == cur.objective.value
    assert new.changes.reconfigured == () and new.changes.added == ()
    assert new.changes.kept == tuple(g.id for g in cur.gpus)


def test_a_time_limit_without_a_replan_is_a_plan_without_a_solution(monkeypatch):
    """Found in review: the re-plan raised Infeasible where solve returns a no_solution plan."""
    from majula_model.placer import backends
    from majula_model.placer.backends import RunResult

    p = default()
    cur = solve(p, "min_gpus")
    monkeypatch.setattr(backends.Highs, "run", lambda self, prob, limit, options=None:
                        RunResult("no_solution", None, 3.5))
    new = solve(p, current=cur, time_limit=1.0)
    assert new.status == "no_solution" and new.gpus == () and new.objective.bound == 3.5


def test_a_huge_reconfiguration_cost_keeps_everything():
    """Found in review: W = 1e9 made the fewest-changes phase numerically infeasible; W beyond the pool's cost
    orders plans as the pool's cost does."""
    p = default()
    cur = solve(p, "min_gpus")
    grown = with_demand(p, {"resnet50": 1.4})
    new = solve(grown, current=cur, reconfig_cost=1e9)
    assert new.changes.reconfigured == () and not any("not applied" in n for n in new.notes)
