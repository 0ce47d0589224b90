"""The independent references of issue 4 (item 6) checked against each other and against hand-worked cases.

Runs without the placer: brute force (exhaustive, with exact reductions), a naive enumeration with no
reduction, and the per-GPU MILP (scipy.optimize.milp) must agree on random tiny instances, so that when the
placer disagrees with them the references are not the suspects.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from majula_model import schema
from majula_model.hardware.catalog import FULL, default_catalog
from reference.brute_force import brute_force, naive
from reference.capacity_ref import capacity_table
from reference.instances import build, parvagpu, synthetic
from reference.per_gpu_milp import solve_per_gpu
from reference.placements_ref import check_gpu, geometry_is_placeable, is_valid, starts_for, valid_geometries

CAT = default_catalog()
A100_40, A100_80, A30 = CAT.get("A100-SXM4-40GB"), CAT.get("A100-SXM4-80GB"), CAT.get("A30-24GB")
OBJECTIVES = ["max_throughput", "max_scale", "min_gpus"]


def rec(profile: str, latency: float, tput: float | None = None, model: str = "a", gpu: str = "A30-24GB",
        batch: int = 1, processes: int = 1, memory: float | None = None) -> schema.MeasurementRecord:
    return schema.MeasurementRecord(model=model, gpu=gpu, profile=profile, batch=batch, processes=processes,
                                    latency_ms=latency, throughput_rps=tput, memory_gb=memory)


def agree(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


# --- placements (docs/domain.md (MIG placements) "consequences worth a test") -------------------------------------------

def test_design_consequences():
    assert geometry_is_placeable(A100_80, ["4g.40gb", "3g.40gb"])
    assert is_valid(A100_80, [("4g.40gb", 0), ("3g.40gb", 4)])
    assert not is_valid(A100_80, [("3g.40gb", 0), ("4g.40gb", 0)])
    assert geometry_is_placeable(A100_80, ["3g.40gb", "3g.40gb"])
    assert geometry_is_placeable(A100_80, ["2g.20gb"] * 3 + ["1g.10gb"])
    assert not geometry_is_placeable(A100_80, ["4g.40gb", "4g.40gb"])
    assert not geometry_is_placeable(A100_80, ["1g.10gb"] * 8)
    blocked = [("1g.10gb", 6)] + [("1g.5gb", s) for s in range(6)]
    assert is_valid(A100_40, blocked)
    assert not is_valid(A100_40, blocked + [("1g.5gb", 6)])
    assert not is_valid(A100_40, [("1g.5gb", 7)]), "start 7 is not in the 1g table"
    assert starts_for(A100_80, ["1g.10gb", "2g.20gb", "2g.20gb", "2g.20gb"]) is not None


def test_a30_geometries_by_hand():
    got = {g for g in valid_geometries(A30) if g}
    one, two, four = "1g.6gb", "2g.12gb", "4g.24gb"
    assert got == {(one,), (one,) * 2, (one,) * 3, (one,) * 4, (two,), (two, two), (one, two), (one, one, two),
                   (four,)}


def test_check_gpu_rejects_geometry_mismatch():
    with pytest.raises(AssertionError):
        check_gpu(A30, ["2g.12gb"], [("2g.12gb", 0), ("2g.12gb", 2)])
    with pytest.raises(AssertionError):
        check_gpu(A30, ["2g.12gb", "2g.12gb"], [("2g.12gb", 0), ("2g.12gb", 1)])
    check_gpu(A30, ["2g.12gb", "2g.12gb"], [("2g.12gb", 2), ("2g.12gb", 0)])


# --- capacity ------------------------------------------------------------------------------------------------

def test_capacity_rules_by_hand():
    records = [
        rec("1g.6gb", 50.0, 900.0),                     # latency exactly 0.5 * 100: qualifies
        rec("1g.6gb", 50.5, 5000.0, batch=2),           # over the budget
        rec("2g.12gb", 10.0, None, batch=4, processes=2),  # derived: 2 * 4 * 1000 / 10 = 800
        rec("2g.12gb", 5.0, 3000.0, memory=12.5),        # does not fit 12 GB
        rec("2g.12gb", 5.0, 2000.0, processes=3),        # over max_processes
        rec("4g.24gb", 40.0, 700.0, memory=24.0),        # fits exactly
    ]
    p = build("cap", [("A30-24GB", 1, 1.0)], [("a", 100.0, 1.0)], records,
              schema.Policy(max_processes=2), "max_throughput")
    assert capacity_table(p) == {("A30-24GB", "1g.6gb", "a"): 900.0, ("A30-24GB", "2g.12gb", "a"): 800.0,
                                 ("A30-24GB", "4g.24gb", "a"): 700.0}


# --- hand-worked optima --------------------------------------------------------------------------------------

def test_hand_worked_a30():
    # 1g: 100, 2g: 250, 4g: 400 rps. One GPU: best split is 2g + 2g = 500.
    records = [rec("1g.6gb", 10, 100), rec("2g.12gb", 10, 250), rec("4g.24gb", 10, 400)]
    p = build("hand", [("A30-24GB", 2, 1.0)], [("a", 100.0, 700.0)], records, schema.Policy(), "min_gpus")
    want = {"max_throughput": 700.0, "max_scale": 1000.0 / 700.0, "min_gpus": 2.0}
    for fn in (brute_force, naive):
        got = fn(p)
        assert all(agree(got[k], v) for k, v in want.items()), got
    for k, v in want.items():
        assert agree(solve_per_gpu(p, k).value, v)


def test_hand_worked_two_models_share_a_gpu():
    # a: 1g 100, 2g 180; b: 2g 300 only. Demand a 200, b 300 on one A30: 2g(b) + 1g(a) + 1g(a) serves all.
    records = [rec("1g.6gb", 10, 100), rec("2g.12gb", 10, 180), rec("2g.12gb", 10, 300, model="b")]
    p = build("hand2", [("A30-24GB", 1, 2.5)], [("a", 100.0, 200.0), ("b", 100.0, 300.0)], records,
              schema.Policy(), "min_gpus")
    want = {"max_throughput": 500.0, "max_scale": 1.0, "min_gpus": 2.5}
    for k, v in want.items():
        assert agree(brute_force(p)[k], v) and agree(naive(p)[k], v) and agree(solve_per_gpu(p, k).value, v)


def test_full_profile_counts_as_one_whole_gpu():
    records = [rec("1g.6gb", 10, 100), rec(FULL, 10, 450)]
    p = build("full", [("A30-24GB", 1, 1.0)], [("a", 100.0, 1000.0)], records, schema.Policy(), "max_throughput")
    assert brute_force(p)["max_throughput"] == 450.0
    assert brute_force(p, allow_full=False)["max_throughput"] == 400.0
    assert solve_per_gpu(p, "max_throughput").value == pytest.approx(450.0)


def test_min_gpus_infeasible_is_none():
    p = build("inf", [("A30-24GB", 1, 1.0)], [("a", 100.0, 1000.0)], [rec("4g.24gb", 10, 400)], schema.Policy(),
              "min_gpus")
    assert brute_force(p)["min_gpus"] is None and solve_per_gpu(p, "min_gpus") is None


# --- random agreement ----------------------------------------------------------------------------------------

@settings(max_examples=30)
@given(synthetic(max_gpus=2, a30_only=True, with_full=True))
def test_brute_force_equals_naive(problem):
    assert all(agree(brute_force(problem)[k], naive(problem)[k]) for k in OBJECTIVES)


@settings(max_examples=25)
@given(st.one_of(synthetic(), synthetic(with_full=True)), st.sampled_from(OBJECTIVES))
def test_brute_force_equals_per_gpu_milp(problem, objective):
    got = solve_per_gpu(problem, objective)
    want = brute_force(problem)[objective]
    assert agree(got.value if got else None, want), (objective, got, want)
    if got:
        for t, runs in got.layout:
            check_gpu(CAT.gpus[t], [p for p, _, _ in runs], [(p, s) for p, s, _ in runs])


def test_brute_force_equals_per_gpu_milp_parvagpu(parvagpu_calibration):
    @settings(max_examples=15)
    @given(parvagpu(parvagpu_calibration), st.sampled_from(OBJECTIVES))
    def run(problem, objective):
        got = solve_per_gpu(problem, objective)
        assert agree(got.value if got else None, brute_force(problem)[objective])

    run()


# --- check_plan catches broken plans -------------------------------------------------------------------------

def _hand2(slo: float = 100.0, objective: str = "min_gpus", demand_a: float = 200.0):
    records = [rec("1g.6gb", 10, 100), rec("2g.12gb", 10, 180), rec("2g.12gb", 10, 300, model="b")]
    return build("hand2", [("A30-24GB", 1, 2.5)], [("a", slo, demand_a), ("b", slo, 300.0)], records,
                 schema.Policy(), objective)


def _run(name: str, rate: float, cap: float) -> dict:
    return {"name": name, "batch": 1, "processes": 1, "latency_ms": 10.0, "rate_rps": rate, "capacity_rps": cap}


def _good_plan() -> dict:
    return {"instance": "hand2", "objective": {"kind": "min_gpus", "value": 2.5, "bound": 2.5},
            "status": "optimal", "gap": 0.0, "solver": "test", "solve_seconds": 0.0,
            "gpus": [{"id": 0, "type": "A30-24GB", "geometry": ["2g.12gb", "1g.6gb", "1g.6gb"],
                      "instances": [{"profile": "2g.12gb", "start": 0, "models": [_run("b", 300.0, 300.0)]},
                                    {"profile": "1g.6gb", "start": 2, "models": [_run("a", 100.0, 100.0)]},
                                    {"profile": "1g.6gb", "start": 3, "models": [_run("a", 100.0, 100.0)]}]}],
            "models": [{"name": "a", "demand_rps": 200.0, "served_rps": 200.0, "capacity_rps": 200.0},
                       {"name": "b", "demand_rps": 300.0, "served_rps": 300.0, "capacity_rps": 300.0}]}


def _set(path: list, value):
    def mutate(plan: dict) -> None:
        node = plan
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return mutate


def _second_gpu(plan: dict) -> None:
    plan["gpus"].append({**plan["gpus"][0], "id": 1})


MUTATIONS = {
    "overlapping start": _set(["gpus", 0, "instances", 1, "start"], 1),
    "start not in table": _set(["gpus", 0, "instances", 0, "start"], 1),
    "geometry mismatch": _set(["gpus", 0, "geometry"], ["2g.12gb", "1g.6gb"]),
    "rate over capacity": _set(["gpus", 0, "instances", 0, "models", 0, "rate_rps"], 301.0),
    "latency not measured": _set(["gpus", 0, "instances", 0, "models", 0, "latency_ms"], 9.0),
    "capacity not the point's": _set(["gpus", 0, "instances", 1, "models", 0, "capacity_rps"], 180.0),
    "batch not measured": _set(["gpus", 0, "instances", 1, "models", 0, "batch"], 2),
    "model not on that profile": _set(["gpus", 0, "instances", 1, "models", 0, "name"], "b"),
    "served not the sum": _set(["models", 0, "served_rps"], 190.0),
    "capacity not the sum": _set(["models", 1, "capacity_rps"], 310.0),
    "wrong demand": _set(["models", 1, "demand_rps"], 310.0),
    "wrong objective value": _set(["objective", "value"], 1.0),
    "optimal with a gap": _set(["gap"], 0.1),
    "bound far from value": _set(["objective", "bound"], 1.0),
    "more GPUs than the pool": _second_gpu,
    "GPU type not in pool": _set(["gpus", 0, "type"], "A100-SXM4-80GB"),
}


def test_check_plan_accepts_a_good_plan():
    from reference.plan_check import check_plan

    check_plan(_hand2(), schema.Plan.model_validate(_good_plan()), "min_gpus")


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_check_plan_rejects(name):
    from reference.plan_check import check_plan

    plan = _good_plan()
    MUTATIONS[name](plan)
    with pytest.raises(AssertionError):
        check_plan(_hand2(), schema.Plan.model_validate(plan), "min_gpus")


def test_check_plan_rejects_slo_misses_and_under_service():
    from reference.plan_check import check_plan

    with pytest.raises(AssertionError, match="no record meets"):
        check_plan(_hand2(slo=19.0), schema.Plan.model_validate(_good_plan()), "min_gpus")
    short = _good_plan()
    short["gpus"][0]["instances"][2]["models"][0]["rate_rps"] = 50.0
    short["models"][0]["served_rps"] = 150.0
    with pytest.raises(AssertionError, match="under min_gpus"):
        check_plan(_hand2(), schema.Plan.model_validate(short), "min_gpus")
    over = _good_plan()
    over["objective"] = {"kind": "max_throughput", "value": 500.0, "bound": 500.0}
    over["models"][0]["demand_rps"] = 150.0
    check_plan(_hand2(objective="max_throughput"), schema.Plan.model_validate(_good_plan() | {
        "objective": over["objective"]}), "max_throughput")
    with pytest.raises(AssertionError, match="> demand"):
        check_plan(_hand2(objective="max_throughput", demand_a=150.0), schema.Plan.model_validate(over),
                   "max_throughput")
