"""`majula solve --verify` (issue 6) and `--sweep` / `sweep(unbounded_pool=True)` (issue 4 capacity planning)."""

from __future__ import annotations

import json

from majula_model import load_instance, sweep
from majula_model.cli import main
from majula_model.placer.api import unbounded

from conftest import ROOT

DEFAULT = str(ROOT / "instances" / "default.json")


def test_verify_prints_attainment_next_to_the_promise(capsys):
    assert main(["solve", DEFAULT, "--verify", "--verify-duration", "5"]) == 0
    out = capsys.readouterr().out
    assert "verify: simulated 5 s" in out and "attained" in out
    problem = load_instance(DEFAULT)
    for m in problem.instance.models:
        assert any(line.strip().startswith(m.name) and "%" in line for line in out.splitlines()
                   if "verify" not in line)


def test_verify_with_json_keeps_stdout_a_plan(capsys):
    assert main(["solve", DEFAULT, "--json", "--verify", "--verify-duration", "2"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["status"] == "optimal"
    assert "verify:" in err


def test_verify_bad_load_is_exit_2(capsys):
    assert main(["solve", DEFAULT, "--verify", "--verify-load", "0"]) == 2
    assert "--verify-load" in capsys.readouterr().err


def test_sweep_grows_with_demand_and_unbounded_pool_answers_beyond_it():
    problem = load_instance(DEFAULT)
    pool = sum(g.count for g in problem.instance.gpus)
    points = sweep(problem, [1.0, 2.0, 4.0], unbounded_pool=True)
    gpus = [p.gpus for p in points]
    assert all(p.status == "optimal" for p in points)
    assert gpus == sorted(gpus) and gpus[-1] > pool  # an answer beyond the fleet, not "infeasible"
    bounded = sweep(problem, [4.0])
    assert bounded[0].status == "infeasible" and bounded[0].gpus is None
    assert all(g.count >= pool for g in unbounded(problem).instance.gpus)


def test_sweep_cli(capsys):
    assert main(["solve", DEFAULT, "--sweep", "1,2", "--unbounded-pool", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [p["factor"] for p in doc["sweep"]] == [1.0, 2.0]
    assert main(["solve", DEFAULT, "--sweep", "1,-2"]) == 2


def test_the_unbounded_pool_counts_headroom_floors_and_failures():
    """Found as a leftover of issue 14: the lifted pool ignored headroom (compare worked around it) and failure
    tolerance, so 'how many should we buy' could come back infeasible for a protected plan."""
    from dataclasses import replace as dc_replace

    from majula_model import schema
    from majula_model.placer import solve

    problem = load_instance(ROOT / "instances" / "default.json")
    tiny = dc_replace(problem, instance=problem.instance.model_copy(update={"gpus": tuple(
        g.model_copy(update={"count": 1}) for g in problem.instance.gpus)}))
    base = unbounded(tiny).instance.gpus[0].count
    pol = tiny.instance.policy.model_copy(update={"headroom": 0.5})
    assert unbounded(dc_replace(tiny, instance=tiny.instance.model_copy(update={"policy": pol}))).instance.gpus[0].count > base
    tol = tiny.instance.policy.model_copy(update={"tolerate_failures": schema.FailureTolerance(domain="node", count=1)})
    protected = dc_replace(tiny, instance=tiny.instance.model_copy(update={"policy": tol, "gpus_per_node": 8}))
    lifted = unbounded(protected)
    assert lifted.instance.gpus[0].count == 2 * (-(-base // 8) * 8)
    plan = solve(lifted, "min_gpus", time_limit=60)  # the lifted pool always holds a protected plan
    assert plan.gpus and plan.status in ("optimal", "feasible")
