"""Demands, latencies, throughputs and costs far from 1 give right plans or an exit 2 naming the field (issue 11).

The reproducers of the issue first, each as it was reported; then a hypothesis test that rescales tiny instances
across 1e-9..1e9 and compares the placer with the brute force (``reference.brute_force``: enumeration in plain
floats, no solver tolerances) and the plan checker, both relative to the numbers' own size.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st
from pydantic import ValidationError

from majula_model import schema
from majula_model.cli import main
from majula_model.errors import Infeasible
from majula_model.placer import solve
from majula_model.problem import loading
from reference.brute_force import brute_force
from reference.instances import synthetic
from reference.plan_check import check_plan

ROOT = Path(__file__).resolve().parents[2]
PRIOR = str(ROOT / "calibration" / "prior-a100-sxm4-80gb.json")


def _default(tmp_path: Path, edit) -> Path:
    inst = json.loads((ROOT / "instances" / "default.json").read_text())
    inst["calibration"] = [PRIOR]
    edit(inst)
    path = tmp_path / "inst.json"
    path.write_text(json.dumps(inst))
    return path


def _solve(path: Path, capsys, *extra: str) -> tuple[int, dict | None, str]:
    code = main(["solve", str(path), "--json", *extra])
    out = capsys.readouterr()
    return code, (json.loads(out.out) if code == 0 else None), out.err


def _served(plan: dict) -> dict[str, float]:
    return {m["name"]: m["served_rps"] for m in plan["models"]}


@pytest.mark.parametrize("demand", [1e-4, 1e-5, 1e-7, 1e-9])
def test_small_demand_on_one_gpu_is_served_by_it(tmp_path, capsys, demand):
    def edit(inst):
        inst["models"] = [dict(inst["models"][0], demand_rps=demand)]
        inst["gpus"][0]["count"] = 1
    code, plan, err = _solve(_default(tmp_path, edit), capsys)
    assert code == 0, err
    assert plan["status"] == "optimal" and len(plan["gpus"]) == 1
    assert _served(plan)["resnet50"] == pytest.approx(demand, rel=1e-9)


def test_vgg16_at_a_millionth_of_a_request_is_served(tmp_path, capsys):
    code, plan, err = _solve(_default(tmp_path, lambda i: i["models"][2].update(demand_rps=1e-6)), capsys)
    assert code == 0, err
    assert _served(plan)["vgg16"] == pytest.approx(1e-6, rel=1e-9)


def test_low_rate_model_next_to_a_busy_one_is_served(tmp_path, capsys):
    def edit(inst):
        inst["models"][0]["demand_rps"] = 1000.0
        inst["models"][3]["demand_rps"] = 0.001
    code, plan, err = _solve(_default(tmp_path, edit), capsys)
    assert code == 0, err
    assert _served(plan)["mobilenetv2"] == pytest.approx(0.001, rel=1e-9)
    assert all(s == pytest.approx(m["demand_rps"], rel=1e-9) for s, m in zip(_served(plan).values(), plan["models"]))


@pytest.mark.parametrize("cost", [1e-7, 1.0, 1e12])
def test_gpu_cost_scale_does_not_change_the_plan(tmp_path, capsys, cost):
    code, plan, err = _solve(_default(tmp_path, lambda i: i["gpus"][0].update(cost=cost)), capsys)
    assert code == 0, err
    assert plan["status"] == "optimal" and len(plan["gpus"]) == 5  # 5 at cost 1 (the default instance)
    assert plan["objective"]["value"] == pytest.approx(5 * cost, rel=1e-9)
    assert plan["objective"]["bound"] <= plan["objective"]["value"] * (1 + 1e-9) and plan["gap"] == 0.0


def test_gpu_cost_out_of_range_is_named(tmp_path, capsys):
    code, _, err = _solve(_default(tmp_path, lambda i: i["gpus"][0].update(cost=1e20)), capsys)
    assert code == 2 and "gpus[0].cost" in err


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_max_throughput_with_a_tiny_latency_serves_the_demand(tmp_path, capsys, solver):
    inst = {"name": "fast", "gpus": [{"type": "A100-SXM4-80GB", "count": 1}],
            "models": [{"name": "m", "slo_ms": 10.0, "demand_rps": 10.0}],
            "measurements": [{"model": "m", "gpu": "A100-SXM4-80GB", "profile": "1g.10gb", "batch": 1,
                              "latency_ms": 1e-4}], "objective": "max_throughput"}
    path = tmp_path / "fast.json"
    path.write_text(json.dumps(inst))
    code, plan, err = _solve(path, capsys, "--solver", solver)
    assert code == 0, err
    assert plan["objective"]["value"] == pytest.approx(10.0, rel=1e-9) and plan["status"] == "optimal"


@pytest.mark.parametrize("field,value", [("latency_ms", 1e-320), ("latency_ms", 1e9), ("throughput_rps", 1e300)])
def test_meaningless_measurements_are_refused_with_the_field(tmp_path, capsys, field, value):
    rec = {"model": "m", "gpu": "A100-SXM4-80GB", "profile": "1g.10gb", "batch": 1, "latency_ms": 5.0, field: value}
    inst = {"name": "x", "gpus": [{"type": "A100-SXM4-80GB", "count": 1}],
            "models": [{"name": "m", "slo_ms": 10.0, "demand_rps": 10.0}], "measurements": [rec]}
    path = tmp_path / "x.json"
    path.write_text(json.dumps(inst))
    code, _, err = _solve(path, capsys)
    assert code == 2 and f"measurements[0].{field}" in err, err


def test_demand_between_zero_and_the_floor_is_refused(tmp_path, capsys):
    code, _, err = _solve(_default(tmp_path, lambda i: i["models"][0].update(demand_rps=1e-12)), capsys)
    assert code == 2 and "models[0].demand_rps" in err


# ---- hypothesis: rescaled tiny instances against the brute force ----------------------------------------------

def _rescale(problem, demand_exp: list[int], time_exp: int, cost_exp: int):
    """The same question in other units: latencies and SLOs x 10^time_exp (throughputs / it), each model's demand
    x 10^its exponent, costs x 10^cost_exp. Raises ValidationError where a number leaves the schema's range."""
    t, c = 10.0 ** time_exp, 10.0 ** cost_exp
    inst = problem.instance
    recs = []
    for r in inst.measurements:
        recs.append(r.model_copy(update={
            "latency_ms": r.latency_ms * t,
            "throughput_rps": None if r.throughput_rps is None else r.throughput_rps / t}))
    models = [m.model_copy(update={"slo_ms": m.slo_ms * t, "demand_rps": m.demand_rps * 10.0 ** e})
              for m, e in zip(inst.models, demand_exp)]
    gpus = [g.model_copy(update={"cost": g.cost * c}) for g in inst.gpus]
    data = inst.model_dump()
    data.update(measurements=[r.model_dump() for r in recs], models=[m.model_dump() for m in models],
                gpus=[g.model_dump() for g in gpus])
    return loading.problem_from_instance(schema.Instance.model_validate(data))


def _rel_close(a: float, b: float, rel: float = 1e-6) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(synthetic(max_gpus=2), st.lists(st.integers(-9, 6), min_size=3, max_size=3), st.integers(-5, 4),
       st.integers(-9, 12), st.sampled_from(["min_gpus", "max_throughput", "max_scale"]))
def test_rescaled_instances_match_the_brute_force(problem, demand_exp, time_exp, cost_exp, objective):
    try:
        scaled = _rescale(problem, demand_exp, time_exp, cost_exp)
    except ValidationError as e:  # out of the schema's range: refused, naming the field
        assert all(err["loc"] for err in e.errors())
        event("refused by the schema")
        return
    expected = brute_force(scaled)[objective]
    if expected is None:
        with pytest.raises(Infeasible):
            solve(scaled, objective)
        return
    event(f"solved {objective}")
    plan = solve(scaled, objective)
    check_plan(scaled, plan, objective)
    assert plan.status == "optimal"
    assert _rel_close(plan.objective.value, expected), (plan.objective.value, expected)


def test_time_limit_reserves_decoding_for_a_plan_as_large_as_the_pool(tmp_path):
    """--time-limit bounds the whole solve: the solver's share is the limit less 3 us per pool GPU, at least a
    tenth of the limit (issue 11: max_scale --time-limit 5 on 1,000,000 GPUs took 33 s)."""
    from majula_model.placer.api import DECODE_SECONDS_PER_GPU, solver_share

    inst = json.loads((ROOT / "instances" / "default.json").read_text())
    inst["calibration"] = [PRIOR]
    for count, limit, expect in ((8, 5.0, 5.0 - 8 * DECODE_SECONDS_PER_GPU),
                                 (1_000_000, 5.0, 5.0 - 1_000_000 * DECODE_SECONDS_PER_GPU),
                                 (1_000_000, 1.0, 0.1)):
        inst["gpus"] = [{"type": "A100-SXM4-80GB", "count": count}]
        problem = loading.problem_from_instance(schema.Instance.model_validate(inst))
        assert solver_share(problem, limit) == pytest.approx(expect)
        assert solver_share(problem, None) is None
