"""Issue 13, items 1 and 4: ``majula compare`` and ``majula_model.compare.compare``.

Every strategy answers from the same measurements and policy; the invariants are the containments between the
ILPs (mig_shared <= mig_mps <= mig, mig_shared <= every other MIG strategy) and exclusive never beating
mig_mps, on small instances built here, on instances/default.json and instances/lowrate.json, and (hypothesis)
on small random instances.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings

from majula_model.cli import main
from majula_model.cli import compare as compare_cli
from majula_model import compare as compare_mod
from majula_model.compare import STRATEGIES, compare, whole_gpu_problem
from majula_model.problem.loading import load_instance, problem_from_instance
from majula_model.schema import Instance
from reference.instances import synthetic

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"name", "description", "gpus", "cost", "served_rps", "mean_utilisation", "sim_worst_attainment",
        "solve_seconds", "status", "available", "reason"}
MIG = ("mig_homogeneous", "mig_greedy", "mig", "mig_mps", "mig_shared")
EPS = 1e-6


def _rec(model, profile, batch, latency, gpu="A100-SXM4-80GB", processes=1):
    return {"model": model, "gpu": gpu, "profile": profile, "batch": batch, "latency_ms": latency,
            "processes": processes}


def _small(**policy) -> dict:
    """Eight light models on 8 A100s, measured on 1g, 3g, 7g and full: unshared MIG needs 2 GPUs (7 instances
    per GPU), sharing an instance needs 1, one whole GPU per model needs 8."""
    recs, models = [], []
    for k in range(8):
        m, base = f"m{k}", 4.0 + k
        models.append({"name": m, "slo_ms": 250.0, "demand_rps": 5.0 + k})
        for prof, speed in (("1g.10gb", 7.0), ("3g.40gb", 2.5), ("7g.80gb", 1.0), ("full", 0.95)):
            for batch in (1, 4):
                recs.append(_rec(m, prof, batch, base * speed * (1 + batch / 8)))
                recs.append(_rec(m, prof, batch, base * speed * (1 + batch / 8) * 1.6, processes=2))
    return {"name": "small", "gpus": [{"type": "A100-SXM4-80GB", "count": 8, "cost": 1.0}], "models": models,
            "measurements": recs, "policy": {"max_processes": 2, **policy}, "objective": "min_gpus"}


def _problem(doc: dict):
    return problem_from_instance(Instance.model_validate(doc))


def _check_invariants(comp) -> None:
    s = {r.name: r for r in comp.strategies}
    assert [r.name for r in comp.strategies] == list(STRATEGIES)
    for r in comp.strategies:
        assert set(r.to_dict()) == KEYS
        assert r.available == (r.reason is None)
        assert r.available == (r.gpus is not None)
    if comp.objective != "min_gpus":
        return
    # the ILP that contains another is never worse (cost is the min_gpus objective; GPUs on unit costs)
    for small, big in (("mig_shared", "mig_mps"), ("mig_mps", "mig")):
        if s[big].available:
            assert s[small].available, small
            assert s[small].cost <= s[big].cost + EPS, (small, big)
    for name in MIG:
        if s[name].available:
            assert s["mig_shared"].available and s["mig_shared"].cost <= s[name].cost + EPS, name
    if s["exclusive"].available:
        assert s["mig_mps"].available and s["mig_mps"].cost <= s["exclusive"].cost + EPS


def _unit_gpus(comp) -> None:
    s = {r.name: r for r in comp.strategies}
    assert s["mig_shared"].gpus <= s["mig_mps"].gpus <= s["mig"].gpus
    assert all(s["mig_shared"].gpus <= s[n].gpus for n in MIG if s[n].available)
    assert not s["exclusive"].available or s["mig_mps"].gpus <= s["exclusive"].gpus


@pytest.fixture(scope="module", params=["default", "lowrate"])
def bundled(request):
    return compare(load_instance(ROOT / "instances" / f"{request.param}.json"), "min_gpus")


def test_bundled_instances_keep_the_invariants(bundled):
    _check_invariants(bundled)
    _unit_gpus(bundled)
    s = {r.name: r for r in bundled.strategies}
    assert not s["mps"].available and "interference_prior" in s["mps"].reason  # no co-located records
    for r in bundled.strategies:
        if r.available:
            assert 0 <= r.mean_utilisation <= 1 and 0 <= r.sim_worst_attainment <= 1
            assert r.served_rps == pytest.approx(sum(m.demand_rps for m in load_instance(
                ROOT / "instances" / f"{bundled.instance}.json").instance.models))


def test_small_instance_with_mps_offered():
    comp = compare(_problem(_small(interference_prior=True)), sim_seconds=2.0)
    _check_invariants(comp)
    _unit_gpus(comp)
    s = {r.name: r for r in comp.strategies}
    assert s["mps"].available and "'full'" in s["mps"].description
    assert "the policy says 1, so 4 is used here" in s["mig_shared"].description
    for name in ("temporal", "mps", "exclusive"):  # whole GPUs only
        assert {i.profile for g in s[name].plan.gpus for i in g.instances} == {"full"}, name
    assert s["mig_shared"].gpus < s["mig_mps"].gpus < s["exclusive"].gpus  # sharing saves a GPU here
    assert any(len(i.models) > 1 for g in s["mig_shared"].plan.gpus for i in g.instances)


def test_whole_gpu_falls_back_to_7g_without_full_records():
    doc = _small()
    doc["measurements"] = [r for r in doc["measurements"] if r["profile"] != "full"]
    problem = _problem(doc)
    restricted, profiles = whole_gpu_problem(problem)
    assert profiles == {"A100-SXM4-80GB": "7g.80gb"}
    assert {r.profile for r in restricted.measurements} == {"7g.80gb"}
    assert all(r in problem.measurements for r in restricted.measurements)  # same numbers, fewer of them
    comp = compare(problem, sim_seconds=2.0)
    s = {r.name: r for r in comp.strategies}
    assert "7g.80gb" in s["temporal"].description and "largest MIG profile" in s["temporal"].description
    assert not s["mps"].available
    _check_invariants(comp)


def test_beyond_the_pool_is_unavailable_with_reasons(tmp_path, capsys):
    doc = _small()
    doc["gpus"][0]["count"] = 1
    path = tmp_path / "tight.json"
    path.write_text(json.dumps(doc))
    assert main(["compare", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in out["strategies"]}
    assert not rows["exclusive"]["available"] and rows["exclusive"]["status"] == "infeasible"
    assert rows["exclusive"]["reason"] and rows["mig"]["reason"]
    assert all(set(r) == KEYS for r in out["strategies"])


def test_json_keys_and_max_throughput_baselines(tmp_path, capsys):
    path = tmp_path / "small.json"
    path.write_text(json.dumps(_small()))
    assert main(["compare", str(path), "--json", "--objective", "max_throughput", "--time-limit", "20"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"instance", "objective", "strategies"} and out["objective"] == "max_throughput"
    rows = {r["name"]: r for r in out["strategies"]}
    assert list(rows) == list(STRATEGIES) and all(set(r) == KEYS for r in rows.values())
    for name in ("exclusive", "mig_homogeneous", "mig_greedy"):
        assert not rows[name]["available"] and "min_gpus" in rows[name]["reason"]
    assert rows["mig_shared"]["available"] and rows["mig_shared"]["reason"] is None


def test_table_for_people(tmp_path, capsys):
    path = tmp_path / "small.json"
    path.write_text(json.dumps(_small()))
    assert main(["compare", str(path)]) == 0
    out = capsys.readouterr().out
    for name in STRATEGIES:
        assert f"  {name} " in out
    assert "reference" in out and "% GPUs" in out and "not available:" in out


@pytest.mark.parametrize("extra", [["--objective", "max_scale"], ["--time-limit", "0"], ["--time-limit", "x"],
                                   ["--no-such-flag"]])
def test_bad_flags_exit_2(tmp_path, capsys, extra):
    path = tmp_path / "small.json"
    path.write_text(json.dumps(_small()))
    try:
        code = main(["compare", str(path), *extra])
    except SystemExit as e:  # argparse's own usage errors
        code = e.code
    assert code == 2
    assert "error" in capsys.readouterr().err


def test_cli_objectives_are_the_librarys():
    assert compare_cli.OBJECTIVES == compare_mod.OBJECTIVES


@settings(max_examples=10, deadline=None)
@given(synthetic(max_gpus=4, with_full=True, objective="min_gpus"))
def test_random_small_instances_keep_the_ilp_containments(problem):
    problem = problem_from_instance(problem.instance.model_copy(update={
        "policy": problem.instance.policy.model_copy(update={"max_models_per_instance": 3})}))
    _check_invariants(compare(problem, "min_gpus", sim_seconds=0.5))
