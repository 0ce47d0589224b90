"""``majula solve INSTANCE --from PLAN [--reconfig-cost W]``: the re-plan in JSON with its ``changes``, a
mig-parted file with only the nodes that change, and exit 2 naming the --from file for a plan that does not fit."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from majula_model.cli import main
from majula_model.schema import Plan


def _files(tmp_path, grow: dict[str, float] | None = None, gpus_per_node: int = 2):
    inst = json.loads(open("instances/default.json").read())
    inst["gpus_per_node"] = gpus_per_node
    inst["calibration"] = [str((Path("instances") / c).resolve()) for c in inst.get("calibration", [])]
    src = tmp_path / "inst.json"
    src.write_text(json.dumps(inst))
    for m in inst["models"]:
        m["demand_rps"] *= (grow or {}).get(m["name"], 1.0)
    moved = tmp_path / "moved.json"
    moved.write_text(json.dumps(inst))
    return str(src), str(moved)


def _current(tmp_path, capsys, src) -> str:
    assert main(["solve", src, "--json"]) == 0
    path = tmp_path / "plan.json"
    path.write_text(capsys.readouterr().out)
    return str(path)


def test_unchanged_demand_keeps_every_gpu_and_writes_no_node(tmp_path, capsys):
    src, _ = _files(tmp_path)
    plan_file = _current(tmp_path, capsys, src)
    mp = tmp_path / "mp.yaml"
    assert main(["solve", src, "--from", plan_file, "--json", "--mig-parted", str(mp)]) == 0
    plan = Plan.model_validate_json(capsys.readouterr().out)
    current = Plan.model_validate_json(open(plan_file).read())
    assert plan.changes.kept == tuple(g.id for g in current.gpus) and plan.changes.steps == ()
    assert yaml.safe_load(mp.read_text())["mig-configs"] == {}


def test_growth_with_large_w_adds_a_node_only(tmp_path, capsys):
    src, moved = _files(tmp_path, {"resnet50": 1.4, "mobilenetv2": 1.3})
    plan_file = _current(tmp_path, capsys, src)
    current = Plan.model_validate_json(open(plan_file).read())
    mp = tmp_path / "mp.yaml"
    assert main(["solve", moved, "--from", plan_file, "--reconfig-cost", "100", "--json",
                 "--mig-parted", str(mp)]) == 0
    plan = Plan.model_validate_json(capsys.readouterr().out)
    ch = plan.changes
    assert ch.reconfigured == () and ch.added
    configs = yaml.safe_load(mp.read_text())["mig-configs"]
    old_nodes = (len(current.gpus) + 1) // 2
    added_nodes = (len(ch.added) + 1) // 2
    # only the new nodes, numbered after the current plan's
    assert sorted(configs) == [f"default-node{k}" for k in range(old_nodes, old_nodes + added_nodes)]
    devices = sum(len(e["devices"]) for entries in configs.values() for e in entries)
    assert devices == len(ch.added)


def test_w0_writes_the_nodes_of_reconfigured_gpus(tmp_path, capsys):
    src, moved = _files(tmp_path, {"resnet50": 0.7, "vgg16": 1.5})
    plan_file = _current(tmp_path, capsys, src)
    current = Plan.model_validate_json(open(plan_file).read())
    mp = tmp_path / "mp.yaml"
    assert main(["solve", moved, "--from", plan_file, "--json", "--mig-parted", str(mp)]) == 0
    plan = Plan.model_validate_json(capsys.readouterr().out)
    ids = [g.id for g in current.gpus]
    want = {f"default-node{ids.index(i) // 2}" for i in plan.changes.reconfigured}
    configs = yaml.safe_load(mp.read_text())["mig-configs"]
    old = {k for k in configs if int(k.rsplit("node", 1)[1]) < (len(ids) + 1) // 2}
    assert old == want
    for k in old:  # a GPU keeps its NVML index: its position in its current node
        node = int(k.rsplit("node", 1)[1])
        members = ids[2 * node:2 * node + 2]
        new = {g.id: g for g in plan.gpus}
        for e in configs[k]:
            for d in e["devices"]:
                assert members[d] in new


def test_bad_current_plan_is_named(tmp_path, capsys):
    src, _ = _files(tmp_path)
    plan_file = _current(tmp_path, capsys, src)
    data = json.loads(open(plan_file).read())
    data["gpus"][0]["type"] = "H100-SXM5-80GB"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    assert main(["solve", src, "--from", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: gpus[0].type" in err and "not in the instance's pools" in err


def test_reconfig_cost_needs_from(tmp_path, capsys):
    src, _ = _files(tmp_path)
    assert main(["solve", src, "--reconfig-cost", "1"]) == 2
    assert "--reconfig-cost: only means something with --from" in capsys.readouterr().err


def test_the_table_shows_the_changes_and_the_steps(tmp_path, capsys):
    """The people's table of a re-plan ends with what changes: counts with GPU ids, and the steps in order, a
    step that cannot keep capacity marked with its reason (the same facts as ``changes`` in the JSON)."""
    src, moved = _files(tmp_path, {"resnet50": 1.2, "mobilenetv2": 0.8})
    plan_file = _current(tmp_path, capsys, src)
    assert main(["solve", moved, "--from", plan_file, "--json"]) == 0
    changes = Plan.model_validate_json(capsys.readouterr().out).changes
    assert main(["solve", moved, "--from", plan_file]) == 0
    table = capsys.readouterr().out
    tail = table[table.index("Changes against the running plan:"):].splitlines()
    assert tail[1].startswith(f"  kept {len(changes.kept)}") and f"reconfigured {len(changes.reconfigured)}" in tail[1]
    steps = [line for line in tail if line.strip()[:1].isdigit()]
    assert len(steps) == len(changes.steps)
    for line, step in zip(steps, changes.steps):
        assert f"{step.op}" in line and f"GPU {step.gpu}" in line and (("NOT OK" in line) == (not step.ok))
