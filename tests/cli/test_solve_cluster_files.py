"""``majula solve --k8s DIR --triton DIR``: directories are checked before solving (a file, an input or another
output inside, someone else's directory: exit 2 naming the flag), replaced whole on a rerun, written for a
``--baseline`` plan, and refused with ``--sweep``."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import yaml
from golden.cases import golden_problem

from majula_model.cli import main
from majula_model.outputs.directory import MARKER


def _instance_file(tmp_path):
    path = tmp_path / "inst.json"
    path.write_text(golden_problem().instance.model_dump_json())
    return path


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def no_solving(monkeypatch):
    """A solve or baseline that starts fails the test: the checks must come first."""
    def boom(*a, **k):
        raise AssertionError("solved before checking the outputs")

    monkeypatch.setattr("majula_model.placer.solve", boom)
    monkeypatch.setattr("majula_model.placer.baseline", boom)


@pytest.mark.parametrize("flag", ["--k8s", "--triton"])
def test_a_file_is_refused_before_solving(tmp_path, capsys, no_solving, flag):
    inst = _instance_file(tmp_path)
    target = tmp_path / "taken.txt"
    target.write_text("mine\n")
    code, _, err = cli(capsys, "solve", inst, flag, target)
    assert code == 2 and flag in err and "is a file" in err
    assert target.read_text() == "mine\n"


@pytest.mark.parametrize("flag", ["--k8s", "--triton"])
def test_a_directory_holding_an_input_is_refused(tmp_path, capsys, no_solving, flag):
    inst = _instance_file(tmp_path)
    code, _, err = cli(capsys, "solve", inst, flag, tmp_path)
    assert code == 2 and flag in err and "would replace an input" in err
    assert inst.is_file()


def test_someone_elses_directory_is_refused(tmp_path, capsys, no_solving):
    inst = _instance_file(tmp_path)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("keep\n")
    code, _, err = cli(capsys, "solve", inst, "--k8s", theirs)
    assert code == 2 and "--k8s" in err and "not written by majula" in err
    assert (theirs / "notes.txt").read_text() == "keep\n"


@pytest.mark.parametrize("extra", [lambda d: ["--triton", d / "k8s"], lambda d: ["--mig-parted", d / "k8s" / "mp.yaml"],
                                   lambda d: ["--triton", d / "k8s" / "triton"]])
def test_another_output_inside_the_directory_is_refused(tmp_path, capsys, no_solving, extra):
    inst = _instance_file(tmp_path)
    code, _, err = cli(capsys, "solve", inst, "--k8s", tmp_path / "k8s", *extra(tmp_path))
    assert code == 2 and "would replace another output" in err


def test_cannot_combine_with_sweep(tmp_path, capsys, no_solving):
    inst = _instance_file(tmp_path)
    for flag in ("--k8s", "--triton"):
        code, _, err = cli(capsys, "solve", inst, "--sweep", "1,2", flag, tmp_path / "out")
        assert code == 2 and f"cannot combine {flag} with --sweep" in err
    assert not (tmp_path / "out").exists()


def _replicas(k8s_dir) -> Counter:
    out = Counter()
    for p in (k8s_dir / "deployments").glob("*.yaml"):
        d = yaml.safe_load(p.read_text())
        for m in json.loads(d["metadata"]["annotations"]["majula/models"]):
            out[m["name"]] += d["spec"]["replicas"]
    return out


def _instances_per_model(plan: dict) -> Counter:
    return Counter(m["name"] for g in plan["gpus"] for i in g["instances"] for m in i["models"])


def test_a_rerun_replaces_the_whole_directory(tmp_path, capsys):
    inst = _instance_file(tmp_path)
    k8s, triton = tmp_path / "out" / "k8s", tmp_path / "out" / "triton"
    code, out, err = cli(capsys, "solve", inst, "--json", "--k8s", k8s, "--triton", triton)
    assert code == 0, err
    assert _replicas(k8s) == _instances_per_model(json.loads(out))
    # a Deployment an older plan wrote (so its marker lists it) and the new plan no longer has
    (k8s / "deployments" / "stale-from-an-old-plan.yaml").write_text("kind: Deployment\n")
    marker = json.loads((k8s / MARKER).read_text())
    assert "nodes.yaml" in marker["files"]
    marker["files"].append("deployments/stale-from-an-old-plan.yaml")
    (k8s / MARKER).write_text(json.dumps(marker))
    code, out, err = cli(capsys, "solve", inst, "--json", "--k8s", k8s, "--triton", triton)
    assert code == 0, err
    assert not (k8s / "deployments" / "stale-from-an-old-plan.yaml").exists()
    assert sorted(p.name for p in (k8s / "deployments").iterdir()) == sorted(
        f.split("/")[1] for f in json.loads((k8s / MARKER).read_text())["files"] if f.startswith("deployments/"))
    assert [p.name for p in tmp_path.joinpath("out").iterdir() if p.name.startswith(".")] == []  # no temporaries


def test_an_empty_directory_is_used(tmp_path, capsys):
    inst = _instance_file(tmp_path)
    (tmp_path / "empty").mkdir()
    code, _, err = cli(capsys, "solve", inst, "--triton", tmp_path / "empty")
    assert code == 0, err
    assert list((tmp_path / "empty").glob("*/config.pbtxt"))


def test_a_baseline_plan_is_written(tmp_path, capsys):
    inst = _instance_file(tmp_path)
    code, out, err = cli(capsys, "solve", inst, "--baseline", "greedy", "--json", "--k8s", tmp_path / "k8s")
    assert code == 0, err
    assert _replicas(tmp_path / "k8s") == _instances_per_model(json.loads(out))


def test_baseline_all_writes_the_ilps_plan(tmp_path, capsys):
    inst = _instance_file(tmp_path)
    code, out, err = cli(capsys, "solve", inst, "--json", "--k8s", tmp_path / "ilp")
    assert code == 0, err
    ilp = _replicas(tmp_path / "ilp")
    code, _, err = cli(capsys, "solve", inst, "--baseline", "all", "--k8s", tmp_path / "all",
                       "--triton", tmp_path / "tr")
    assert code == 0, err
    assert "hold the ILP's plan" in err
    assert _replicas(tmp_path / "all") == ilp and list((tmp_path / "tr").glob("*/config.pbtxt"))


# ---- found in review (each reproducer as reported) -------------------------------------------------------------

def _default_file(tmp_path, name="inst.json", per_node=2, **demand):
    inst = json.loads(open("instances/default.json").read())
    inst["gpus_per_node"] = per_node
    inst["calibration"] = [str((tmp_path.cwd() / "instances" / c).resolve()) for c in inst["calibration"]]
    for m in inst["models"]:
        m["demand_rps"] = demand.get(m["name"], m["demand_rps"])
    path = tmp_path / name
    path.write_text(json.dumps(inst))
    return path


def test_a_replan_keeps_the_running_plans_nodes_in_the_k8s_files(tmp_path, capsys):
    """With --from, the node labels follow the running plan's nodes (its GPUs stay where they physically are),
    and the GPU operator's ConfigMap names every node's config, not only the changed ones."""
    src = _default_file(tmp_path)
    code, out, err = cli(capsys, "solve", src, "--json")
    assert code == 0, err
    (tmp_path / "plan.json").write_text(out)
    current = json.loads(out)
    moved = _default_file(tmp_path, "moved.json", resnet50=2500.0, bert=300.0)
    code, out, err = cli(capsys, "solve", moved, "--from", tmp_path / "plan.json", "--reconfig-cost", "100",
                         "--json", "--k8s", tmp_path / "k8s")
    assert code == 0, err
    new = json.loads(out)
    kept_ids = {g["id"] for g in new["gpus"]}
    running = [[g["id"] for g in current["gpus"][i:i + 2]] for i in range(0, len(current["gpus"]), 2)]
    expect = [[i for i in node if i in kept_ids] for node in running]
    expect = [n for n in expect if n] + ([sorted(new["changes"]["added"])] if new["changes"]["added"] else [])
    nodes = list(yaml.safe_load_all((tmp_path / "k8s" / "nodes.yaml").read_text()))
    got = [[int(i) for i in n["metadata"]["annotations"]["majula/plan-gpu-ids"].split(",")] for n in nodes]
    assert got == expect
    cm = yaml.safe_load((tmp_path / "k8s" / "gpu-operator" / "mig-parted-config.yaml").read_text())
    configs = yaml.safe_load(cm["data"]["config.yaml"])["mig-configs"]
    assert set(configs) == {n["metadata"]["labels"]["nvidia.com/mig.config"] for n in nodes}


def test_files_majula_did_not_write_are_never_deleted(tmp_path, capsys):
    """Model weights put into the --triton directory (or anything else) make a rerun refuse, not delete them."""
    src = _default_file(tmp_path)
    assert cli(capsys, "solve", src, "--triton", tmp_path / "tr")[0] == 0
    weights = tmp_path / "tr" / "resnet50" / "1" / "model.onnx"
    weights.parent.mkdir(parents=True, exist_ok=True)
    weights.write_text("w")
    code, _, err = cli(capsys, "solve", src, "--triton", tmp_path / "tr")
    assert code == 2 and "--triton" in err and "resnet50/1/model.onnx" in err
    assert weights.read_text() == "w"


def test_an_empty_plan_empties_the_cluster_directories(tmp_path, capsys):
    src = _default_file(tmp_path)
    assert cli(capsys, "solve", src, "--k8s", tmp_path / "k8s")[0] == 0
    assert list((tmp_path / "k8s" / "deployments").iterdir())
    retired = _default_file(tmp_path, "zero.json", resnet50=0.0, bert=0.0, vgg16=0.0, mobilenetv2=0.0)
    code, _, err = cli(capsys, "solve", retired, "--k8s", tmp_path / "k8s")
    assert code == 0, err
    assert not list((tmp_path / "k8s").glob("deployments/*.yaml"))


def test_one_commands_directory_is_not_anothers(tmp_path, capsys):
    src = _default_file(tmp_path)
    assert cli(capsys, "solve", src, "--k8s", tmp_path / "k8s")[0] == 0
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "k8s").rglob("*"))
    code, _, err = cli(capsys, "report", src, "--out", tmp_path / "k8s", "--factors", "1")
    assert code == 2 and "--out" in err and "solve --k8s" in err
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "k8s").rglob("*")) == before


@pytest.mark.parametrize("flag", ["--k8s", "--triton"])
def test_an_empty_directory_name_is_refused(tmp_path, capsys, flag):
    code, _, err = cli(capsys, "solve", _default_file(tmp_path), flag, "")
    assert code == 2 and flag in err
