"""Issue 13: ``majula compare``, ``majula_model.compare.compare`` and ``demand_sweep``.

Every strategy answers from the same measurements and policy; the invariants are the containments between the
ILPs (mig_shared <= mig_mps <= mig, mig_shared <= every other MIG strategy) and exclusive never beating
mig_mps, on small instances built here, on instances/default.json and instances/lowrate.json, and (hypothesis)
on small random instances. Predictability rows are checked against the policy's own numbers (its target
attainment), a fresh simulation of the same plan, and the plan's own instances (which ones are MPS-shared).
``demand_sweep``: hand-derived GPU counts on the small instance, and (hypothesis) monotone in the factor and
ordered mig_shared <= mig_mps <= mig wherever proven optimal.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings

from majula_model.cli import main
from majula_model.cli import compare as compare_cli
from majula_model import compare as compare_mod
from majula_model.compare import (ILP_STRATEGIES, INTERFERENCE_SOURCES, PEER_RULE, POLICY_RULE, STRATEGIES, compare,
                                  demand_sweep, interference_source, whole_gpu_problem)
from majula_model.errors import InputError
from majula_model.schema import Plan
from majula_model.simulator import verify
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


SIM_SECONDS = {"default": 10.0, "lowrate": 3.0}
"""Simulated seconds of the bundled comparisons (lowrate has eleven models and twice the solves: keep it short)."""


@functools.lru_cache(maxsize=None)
def _bundled(name: str):
    return compare(load_instance(ROOT / "instances" / f"{name}.json"), "min_gpus", sim_seconds=SIM_SECONDS[name])


@pytest.fixture(scope="module", params=["default", "lowrate"])
def bundled(request):
    return _bundled(request.param)


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
    assert set(out) == {"instance", "objective", "strategies", "rules", "predictability"}
    assert out["objective"] == "max_throughput"
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
    _check_invariants(compare(problem, "min_gpus", sim_seconds=0.5, peer_rule=False))


# --- predictability --------------------------------------------------------------------------------------------

ROW_KEYS = {"strategy", "model", "rule", "gpus", "promised", "simulated", "interference_source"}


def test_predictability_rows_promise_and_simulation(bundled):
    problem = load_instance(ROOT / "instances" / f"{bundled.instance}.json")
    pol = problem.instance.policy
    assert pol.arrivals == "poisson"  # both bundled instances of the fixture: the two rules differ
    names = [m.name for m in problem.instance.models]
    for rule, results, promised in ((POLICY_RULE, bundled.strategies, pol.target_attainment),
                                    (PEER_RULE, bundled.peer_strategies, 1.0)):
        for s in results:
            rows = bundled.rows(s.name, rule)
            if not s.available:
                assert rows == []
                continue
            assert [r.model for r in rows] == names
            assert all(r.promised == promised and r.gpus == s.gpus for r in rows)
            assert all(r.interference_source == "none" for r in rows)  # no MPS co-location offered
    # a fresh simulation of the same plan with the same seed gives the same attainment
    s = bundled.strategy("mig")
    again = verify(problem, s.plan, load=1.0, duration_s=SIM_SECONDS[bundled.instance], seed=0)
    assert [r.simulated for r in bundled.rows("mig", POLICY_RULE)] == [m.slo_attainment for m in again.models]
    # the SLO/2 plans need no more GPUs (the smooth rule is looser at these SLOs) and do not all keep their promise
    for s in bundled.strategies:
        peer = bundled.strategy(s.name, PEER_RULE)
        if s.available and peer.available and s.name != "mig_greedy":
            assert peer.gpus <= s.gpus, s.name
    assert set(bundled.to_dict()["rules"]) == {POLICY_RULE, PEER_RULE}
    assert all(set(r) == ROW_KEYS and r["interference_source"] in INTERFERENCE_SOURCES
               for r in bundled.to_dict()["predictability"])


def test_slo_half_rule_breaks_under_poisson_on_default():
    """docs/simulator.md ("Smooth vs Poisson plans"): the smooth SLO/2 plans run instances at their full-batch
    throughput, so under Poisson arrivals at the served rate the tail breaks the SLO; the Poisson plans hold."""
    comp = _bundled("default")
    assert any(r.simulated < 0.95 for r in comp.rows("mig_shared", PEER_RULE))
    assert all(r.simulated >= 0.99 for r in comp.rows("mig_shared", POLICY_RULE))


def test_policy_that_is_the_peer_rule_reuses_its_plans():
    comp = compare(_problem(_small()), sim_seconds=1.0)  # default policy: smooth, fraction 0.5
    assert comp.peer_strategies is comp.strategies
    assert "the same plans" in comp.rules[PEER_RULE]
    pol, peer = comp.rows(rule=POLICY_RULE), comp.rows(rule=PEER_RULE)
    assert [(r.strategy, r.model, r.simulated) for r in pol] == [(r.strategy, r.model, r.simulated) for r in peer]
    assert all(r.promised == 1.0 for r in pol)  # the smooth rule promises every request


def test_mps_shared_models_are_labelled_predicted():
    comp = compare(_problem(_small(interference_prior=True)), sim_seconds=1.0, peer_rule=False)
    for s in comp.strategies:
        if not s.available:
            continue
        in_mps = {m.name for g in s.plan.gpus for i in g.instances if i.sharing == "mps" for m in i.models}
        for r in comp.rows(s.name):
            assert r.interference_source == ("predicted" if r.model in in_mps else "none"), (s.name, r.model)
    assert any(r.interference_source == "predicted" for r in comp.rows("mps"))  # mps shares here


def _plan(instances) -> Plan:
    return Plan.model_validate({
        "instance": "small", "objective": {"kind": "min_gpus", "value": 1.0, "bound": 1.0}, "status": "optimal",
        "gap": 0.0, "solver": "hand", "solve_seconds": 0.0,
        "gpus": [{"id": 0, "type": "A100-SXM4-80GB", "geometry": [i["profile"] for i in instances],
                  "instances": instances}],
        "models": []})


def _run(name, batch=1, latency=40.0):
    return {"name": name, "batch": batch, "processes": 1, "latency_ms": latency, "rate_rps": 1.0,
            "capacity_rps": 2.0}


def test_interference_source_measured_predicted_none():
    doc = _small()
    doc["measurements"].append({**_rec("m0", "1g.10gb", 1, 40.0), "colocated": [{"model": "m1", "batch": 1}]})
    problem = _problem(doc)
    plan = _plan([
        {"profile": "1g.10gb", "start": 0, "sharing": "mps", "models": [_run("m0"), _run("m1")]},
        {"profile": "1g.10gb", "start": 1, "sharing": "time", "cycle_ms": 80.0, "models": [_run("m2"), _run("m3")]},
        {"profile": "1g.10gb", "start": 2, "sharing": "none", "models": [_run("m4")]},
        {"profile": "1g.10gb", "start": 3, "sharing": "mps", "models": [_run("m0", batch=4), _run("m5")]},
    ])
    assert interference_source(problem, plan, "m1") == "predicted"  # m1 next to m0 was never measured
    assert interference_source(problem, plan, "m2") == "none"  # takes turns
    assert interference_source(problem, plan, "m4") == "none"  # alone
    assert interference_source(problem, plan, "m6") == "none"  # not in the plan
    assert interference_source(problem, plan, "m0") == "predicted"  # one measured, one (m0 b4 + m5) not
    only = _plan([{"profile": "1g.10gb", "start": 0, "sharing": "mps", "models": [_run("m0"), _run("m1")]}])
    assert interference_source(problem, only, "m0") == "measured"


def test_table_shows_predictability(tmp_path, capsys, monkeypatch):
    doc = _small(arrivals="poisson")
    path = tmp_path / "small.json"
    path.write_text(json.dumps(doc))
    seen = []
    monkeypatch.setattr(compare_mod, "compare", lambda *a, **k: seen.append(compare(*a, **k)) or seen[-1])
    assert main(["compare", str(path), "--per-model"]) == 0
    per = capsys.readouterr().out
    lines = [ln for ln in per.splitlines() if ln.startswith("  mig_shared ") and (" policy " in ln or " slo/2 " in ln)]
    assert len(lines) == 2 * len(doc["models"])  # one line per model and rule
    out = compare_cli.table(seen[0])
    assert "predictability:" in out and "rule slo/2:" in out and "rule policy: Poisson arrivals" in out
    assert "below promise" in out
    summary = [ln for ln in out.splitlines() if ln.startswith("  mig_shared ") and " policy " in ln]
    worst = min(seen[0].rows("mig_shared", POLICY_RULE), key=lambda r: r.simulated)
    assert len(summary) == 1 and f"{worst.simulated:.2%}" in summary[0] and worst.model in summary[0]


def test_a_subset_of_strategies(capsys):
    comp = compare(_problem(_small()), sim_seconds=0.5, peer_rule=False, strategies=("mig_shared", "mig"))
    assert [s.name for s in comp.strategies] == ["mig", "mig_shared"]  # always in STRATEGIES order
    assert comp.get("exclusive") is None
    with pytest.raises(KeyError):
        comp.strategy("exclusive")
    assert "reference" not in compare_cli.table(comp)  # no exclusive row to measure savings against
    with pytest.raises(InputError):
        compare(_problem(_small()), strategies=("mig", "nope"))


# --- demand_sweep ----------------------------------------------------------------------------------------------

def test_demand_sweep_small_instance_counts():
    """_small's docstring: unshared MIG needs 2 GPUs (8 models, 7 instances a GPU), sharing 1, whole GPUs 8
    (one a model); at x1 with the pool of 8 and with the pool lifted alike."""
    problem = _problem(_small())
    for unbounded in (False, True):
        sw = demand_sweep(problem, [1.0], ("exclusive", "mig", "mig_shared"), unbounded_pool=unbounded)
        assert sw.gpus("exclusive") == [8] and sw.gpus("mig") == [2] and sw.gpus("mig_shared") == [1]
    assert [p.strategy for p in sw.points] == ["exclusive", "mig", "mig_shared"]
    assert set(sw.to_dict()) == {"instance", "factors", "strategies", "unbounded_pool", "points"}


def _whole_capacity(k: int) -> float:
    """Best rate of _small's model m<k> on a whole GPU ('full') under the smooth rule (batch latency <= 125 ms),
    from the record formula of ``_small`` itself (batch 1 or 4, processes 1 or 2; throughput = p * b / latency)."""
    base, rates = 4.0 + k, []
    for batch in (1, 4):
        for procs, slow in ((1, 1.0), (2, 1.6)):
            lat = base * 0.95 * (1 + batch / 8) * slow
            if lat <= 125.0:
                rates.append(procs * batch * 1000.0 / lat)
    return max(rates)


def test_demand_sweep_beyond_the_pool_and_lifted():
    problem = _problem(_small())
    factor = 40.0
    expected = sum(math.ceil((5.0 + k) * factor / _whole_capacity(k) - 1e-9) for k in range(8))
    assert expected > 8  # beyond the pool
    kept = demand_sweep(problem, [factor], ("exclusive",), unbounded_pool=False)
    assert not kept.point("exclusive", factor).available and "pool" in kept.point("exclusive", factor).reason
    lifted = demand_sweep(problem, [factor], ("exclusive",))
    assert lifted.gpus("exclusive") == [expected]


@pytest.mark.parametrize("factors, strategies", [([], STRATEGIES), ([0.0], STRATEGIES), ([1.0, -2.0], STRATEGIES),
                                                 ([float("inf")], STRATEGIES), ([1.0], ("mig", "nope")),
                                                 ([1.0], ())])
def test_demand_sweep_bad_arguments(factors, strategies):
    with pytest.raises(InputError):
        demand_sweep(_problem(_small()), factors, strategies)


ORDERED = ("mig_shared", "mig_mps", "mig")


@settings(max_examples=8, deadline=None)
@given(synthetic(max_gpus=4, with_full=True, objective="min_gpus"))
def test_random_demand_sweeps_are_monotone_and_ordered(problem):
    problem = problem_from_instance(problem.instance.model_copy(update={
        "policy": problem.instance.policy.model_copy(update={"max_models_per_instance": 3})}))
    factors = [1.0, 1.5, 2.5]
    sw = demand_sweep(problem, factors, ILP_STRATEGIES, time_limit=20)
    unit = len({g.cost for g in problem.instance.gpus}) == 1  # equal costs: fewest GPUs is least cost
    for name in ILP_STRATEGIES:
        done = [p for p in sw.series(name) if p.status == "optimal"]
        for a, b in zip(done, done[1:]):
            assert a.cost <= b.cost + EPS, (name, a, b)
            if unit:
                assert a.gpus <= b.gpus, (name, a, b)
    for f in factors:
        pts = [sw.point(n, f) for n in ORDERED]
        if all(p.status == "optimal" for p in pts):
            assert pts[0].cost <= pts[1].cost + EPS and pts[1].cost <= pts[2].cost + EPS, pts
            if unit:
                assert pts[0].gpus <= pts[1].gpus <= pts[2].gpus, pts


def test_package_exports_do_not_clash_with_the_module():
    """``majula_model.compare`` is the module in every import order; the function is ``compare_strategies``."""
    import subprocess
    import sys

    probe = ("import majula_model as mm\nfrom majula_model import compare_strategies, demand_sweep\n"
             "from majula_model import compare as first\nimport majula_model.compare as mod\n"
             "from majula_model import compare as second\n"
             "assert first is mod and second is mod and compare_strategies is mod.compare\n"
             "assert demand_sweep is mod.demand_sweep and mm.Comparison is mod.Comparison\nprint('ok')")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.strip() == "ok", done.stderr


def test_readme_compare_example_runs(monkeypatch, capsys):
    """The README's "Which sharing wins" Python example runs as written (from the repository root)."""
    import re

    readme = (ROOT / "README.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "compare_strategies" in b]
    assert len(blocks) == 1
    monkeypatch.chdir(ROOT)
    exec(compile(blocks[0], "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert "('mig_shared', 5)" in printed[0]
    assert printed[2] == "[5, 9, 18] [5, 9, 16]"  # what the README's comment says
