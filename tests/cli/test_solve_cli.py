"""``majula solve``: JSON plan, table, mig-parted file, baselines, plot; exit 1 with reasons when infeasible."""

from __future__ import annotations

import json

import yaml
from golden.cases import golden_problem

from conftest import needs_matplotlib
from majula_model.cli import main
from majula_model.schema import Plan


def _instance_file(tmp_path, **update):
    inst = golden_problem().instance.model_copy(update=update)
    path = tmp_path / "inst.json"
    path.write_text(inst.model_dump_json())
    return str(path)


def test_json_plan_and_mig_parted(tmp_path, capsys):
    mp = tmp_path / "mp.yaml"
    assert main(["solve", _instance_file(tmp_path), "--json", "--mig-parted", str(mp)]) == 0
    plan = Plan.model_validate_json(capsys.readouterr().out)
    assert plan.status == "optimal" and plan.objective.value == 5.0
    assert yaml.safe_load(mp.read_text())["version"] == "v1"


def test_table_has_geometry_and_k8s_resources(tmp_path, capsys):
    assert main(["solve", _instance_file(tmp_path), "--objective", "max_throughput", "--solver", "cbc"]) == 0
    out = capsys.readouterr().out
    assert "max_throughput" in out and "CBC" in out
    assert "nvidia.com/mig-" in out and "headroom" in out


def test_baseline_all_json(tmp_path, capsys):
    assert main(["solve", _instance_file(tmp_path), "--baseline", "all", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["min_gpus"]
    assert set(rows) == {"ilp", "whole_gpu", "homogeneous", "greedy"}
    assert all(r["gpus"] is None or r["gpus"] >= rows["ilp"]["gpus"] for r in rows.values())


@needs_matplotlib
def test_single_baseline_and_plot(tmp_path, capsys):
    png = tmp_path / "plan.png"
    assert main(["solve", _instance_file(tmp_path), "--baseline", "greedy", "--json", "--plot", str(png)]) == 0
    assert Plan.model_validate_json(capsys.readouterr().out).solver == "baseline:greedy"
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_infeasible_exit_1_with_reasons(tmp_path, capsys):
    models = tuple(m.model_copy(update={"demand_rps": m.demand_rps * 10}) for m in golden_problem().instance.models)
    assert main(["solve", _instance_file(tmp_path, models=models)]) == 1
    err = capsys.readouterr().err
    assert "demand beyond the pool" in err and "Traceback" not in err


def test_bad_time_limit_exit_2(tmp_path, capsys):
    assert main(["solve", _instance_file(tmp_path), "--time-limit", "0"]) == 2
    assert "--time-limit" in capsys.readouterr().err


def test_time_limit_without_solution_exit_1(tmp_path, capsys):
    from golden.cases import hard_max_scale as _hard

    path = tmp_path / "hard.json"
    path.write_text(_hard().instance.model_dump_json())
    assert main(["solve", str(path), "--json", "--time-limit", "0.000001"]) == 1
    captured = capsys.readouterr()
    plan = Plan.model_validate_json(captured.out)
    assert plan.status == "no_solution" and plan.gpus == () and plan.objective.value is None
    assert "no plan" in captured.err


def test_an_instance_name_with_a_newline_cannot_break_the_mig_parted_file(tmp_path, capsys):
    mp = tmp_path / "mp.yaml"
    path = _instance_file(tmp_path, name="a\nversion: v2\nfoo: [")
    assert main(["solve", path, "--mig-parted", str(mp)]) == 0
    doc = yaml.safe_load(mp.read_text())
    assert doc["version"] == "v1" and "foo" not in doc


def test_options_that_would_be_ignored_together_are_usage_errors(tmp_path, capsys):
    path = _instance_file(tmp_path)
    for extra in (["--sweep", "1,2", "--mig-parted", str(tmp_path / "x.yaml")], ["--sweep", "1", "--verify"],
                  ["--sweep", "1", "--objective", "max_scale"], ["--baseline", "all", "--verify"],
                  ["--baseline", "all", "--plot", str(tmp_path / "p.png")], ["--unbounded-pool"],
                  ["--sweep", "1", "--baseline", "greedy"]):
        assert main(["solve", path, *extra]) == 2, extra
        assert "majula: error:" in capsys.readouterr().err
    assert not (tmp_path / "x.yaml").exists()
    mp = tmp_path / "ilp.yaml"
    assert main(["solve", path, "--baseline", "all", "--mig-parted", str(mp)]) == 0
    assert mp.exists() and "holds the ILP's plan" in capsys.readouterr().err


def test_missing_plot_library_is_a_clear_usage_error(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    mp = tmp_path / "mp.yaml"
    assert main(["solve", _instance_file(tmp_path), "--plot", str(tmp_path / "p.png"), "--mig-parted", str(mp)]) == 2
    err = capsys.readouterr().err
    assert "--plot: needs matplotlib" in err and "[plot]" in err and not mp.exists()
