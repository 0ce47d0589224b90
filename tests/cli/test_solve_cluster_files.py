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
    (k8s / "deployments" / "stale-from-an-old-plan.yaml").write_text("kind: Deployment\n")
    marker = json.loads((k8s / MARKER).read_text())
    assert "deployments/stale-from-an-old-plan.yaml" not in marker["files"] and "nodes.yaml" in marker["files"]
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
