"""``solve --k8s DIR`` on every bundled instance: every manifest passes the Kubernetes API schema
(``kubernetes-validate``, strict: unknown fields are errors), names are DNS-1123 labels, replicas add up to the
plan's instances per (model, GPU type, profile, batch, processes), shared instances appear once with all their
models, and every node label and node affinity names a config of the mig-parted file the same solve wrote."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from collections import Counter

import kubernetes_validate
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from cluster_runs import INSTANCES, solve_odd, solved
from majula_model.outputs.k8s import dns_label, label_value_ok, to_yaml

K8S_VERSION = kubernetes_validate.latest_version()
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # RFC 1123 label, Kubernetes "names" docs
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_KEY_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def _docs(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _deployments(run):
    return {p.name: _docs(p)[0] for p in sorted((run.k8s / "deployments").glob("*.yaml"))}


def _plan_keys(plan: dict) -> Counter:
    """(GPU type, profile, sharing, sorted (model, batch, processes)) -> instances, from the plan JSON."""
    out = Counter()
    for g in plan["gpus"]:
        for inst in g["instances"]:
            runs = tuple(sorted((m["name"], m["batch"], m["processes"]) for m in inst["models"]))
            out[(g["type"], inst["profile"], inst.get("sharing", "none"), runs)] += 1
    return out


def _deployment_key(d: dict) -> tuple:
    a = d["metadata"]["annotations"]
    runs = tuple(sorted((m["name"], m["batch"], m["processes"]) for m in json.loads(a["majula/models"])))
    return (a["majula/gpu-type"], a["majula/profile"], a["majula/sharing"], runs)


@pytest.mark.parametrize("name", INSTANCES)
def test_every_manifest_passes_the_kubernetes_schema(name):
    run = solved(name)
    files = sorted(p for p in run.k8s.rglob("*.yaml"))
    assert files and any("deployments" in p.parts for p in files)
    kinds = Counter()
    for p in files:
        for doc in _docs(p):
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)  # raises on any schema violation
            kinds[doc["kind"]] += 1
            meta = doc["metadata"]
            assert len(meta["name"]) <= 63 and DNS_LABEL.match(meta["name"]), meta["name"]
            for key, value in meta.get("labels", {}).items():
                assert len(value) <= 63 and LABEL_VALUE.match(value), (key, value)
                assert LABEL_KEY_NAME.match(key.split("/")[-1]) and len(key.split("/")[-1]) <= 63, key
    assert kinds["Deployment"] == len(list((run.k8s / "deployments").iterdir()))
    assert kinds["ConfigMap"] == 1 and kinds["Node"] >= 1


@pytest.mark.parametrize("name", INSTANCES)
def test_replicas_add_up_to_the_plans_instances(name):
    run = solved(name)
    deps = _deployments(run)
    got = Counter()
    for fname, d in deps.items():
        assert fname == d["metadata"]["name"] + ".yaml"
        got[_deployment_key(d)] += d["spec"]["replicas"]
    assert got == _plan_keys(run.plan)
    assert len(deps) == len(_plan_keys(run.plan))  # one Deployment per key
    per_model_plan, per_model_k8s = Counter(), Counter()
    for g in run.plan["gpus"]:
        for inst in g["instances"]:
            for m in inst["models"]:
                per_model_plan[m["name"]] += 1
    for d in deps.values():
        for m in json.loads(d["metadata"]["annotations"]["majula/models"]):
            per_model_k8s[m["name"]] += d["spec"]["replicas"]
    assert per_model_k8s == per_model_plan


@pytest.mark.parametrize("name", INSTANCES)
def test_each_pod_requests_its_one_device_and_carries_batch_and_processes(name):
    for d in _deployments(solved(name)).values():
        a = d["metadata"]["annotations"]
        pod = d["spec"]["template"]
        assert pod["metadata"]["labels"]["majula/deployment"] == d["metadata"]["name"]
        assert d["spec"]["selector"]["matchLabels"] == {"majula/deployment": d["metadata"]["name"]}
        [c] = pod["spec"]["containers"]
        want = "nvidia.com/gpu" if a["majula/profile"] == "full" else f"nvidia.com/mig-{a['majula/profile']}"
        assert c["resources"]["limits"] == {want: 1}
        env = {e["name"]: e["value"] for e in c["env"]}
        models = json.loads(a["majula/models"])
        assert json.loads(env["MAJULA_MODELS"]) == models and env["MAJULA_SHARING"] == a["majula/sharing"]
        if a["majula/sharing"] == "none":
            [m] = models
            assert (env["MAJULA_MODEL"], env["MAJULA_BATCH"], env["MAJULA_PROCESSES"]) == (
                m["name"], str(m["batch"]), str(m["processes"]))
            assert (a["majula/batch"], a["majula/processes"]) == (str(m["batch"]), str(m["processes"]))
            assert d["metadata"]["labels"]["majula/model"] == m["name"]
        assert [x for x in c["args"] if x.startswith("--load-model=")] == [
            f"--load-model={m['triton_model']}" for m in models]
        for m in models:
            assert (solved(name).triton / m["triton_model"] / "config.pbtxt").is_file()


@pytest.mark.parametrize("name", INSTANCES)
def test_shared_instances_appear_once_with_all_their_models(name):
    run = solved(name)
    shared = {k: n for k, n in _plan_keys(run.plan).items() if k[2] != "none"}
    deps = [d for d in _deployments(run).values() if d["metadata"]["annotations"]["majula/sharing"] != "none"]
    assert Counter(_deployment_key(d) for d in deps) == Counter(dict.fromkeys(shared, 1))
    for d in deps:
        [c] = d["spec"]["template"]["spec"]["containers"]
        n_models = len(json.loads(d["metadata"]["annotations"]["majula/models"]))
        assert n_models >= 2 and len(c["resources"]["limits"]) == 1  # one device for all of them
        turns = "--rate-limit=execution_count" in c["args"]
        assert turns == (d["metadata"]["annotations"]["majula/sharing"] == "time")
    if name == "lowrate":  # the bundled instance that shares instances: the check above is not vacuous
        assert shared and deps


def _mig_configs(run) -> dict:
    return yaml.safe_load(run.mig_parted.read_text())["mig-configs"]


@pytest.mark.parametrize("name", INSTANCES)
def test_node_labels_name_configs_of_the_mig_parted_file(name):
    run = solved(name)
    configs = _mig_configs(run)
    nodes = _docs(run.k8s / "nodes.yaml")
    labels = [n["metadata"]["labels"]["nvidia.com/mig.config"] for n in nodes]
    assert sorted(labels) == sorted(configs) and len(set(labels)) == len(labels)
    gpus = {g["id"]: g for g in run.plan["gpus"]}
    for n in nodes:
        ids = [int(i) for i in n["metadata"]["annotations"]["majula/plan-gpu-ids"].split(",")]
        assert {gpus[i]["type"] for i in ids} == {n["metadata"]["annotations"]["majula/gpu-type"]}
        entries = configs[n["metadata"]["labels"]["nvidia.com/mig.config"]]
        assert sum(len(e["devices"]) for e in entries) == len(ids)
    [cm] = _docs(run.k8s / "gpu-operator" / "mig-parted-config.yaml")
    assert cm["data"]["config.yaml"] == run.mig_parted.read_text()


def _offers(entries: list, profile: str) -> bool:
    """Whether a mig-parted config (its entries) has a device of ``profile`` (``full``: a GPU without MIG)."""
    if profile == "full":
        return any(not e["mig-enabled"] for e in entries)
    return any(e.get("mig-devices", {}).get(profile, 0) > 0 for e in entries)


@pytest.mark.parametrize("name", INSTANCES)
def test_pods_are_pinned_to_the_configs_that_have_their_device(name):
    run = solved(name)
    configs = _mig_configs(run)
    node_type = {n["metadata"]["labels"]["nvidia.com/mig.config"]: n["metadata"]["annotations"]["majula/gpu-type"]
                 for n in _docs(run.k8s / "nodes.yaml")}
    devices, wanted = Counter(), Counter()
    for d in _deployments(run).values():
        a = d["metadata"]["annotations"]
        [term] = d["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        [expr] = term["matchExpressions"]
        assert expr["key"] == "nvidia.com/mig.config" and expr["operator"] == "In"
        expected = sorted(c for c, e in configs.items()
                          if node_type[c] == a["majula/gpu-type"] and _offers(e, a["majula/profile"]))
        assert sorted(expr["values"]) == expected and expected
        wanted[(a["majula/gpu-type"], a["majula/profile"])] += d["spec"]["replicas"]
    for c, entries in configs.items():  # every pod finds a device: the configs hold exactly as many as pods ask
        for e in entries:
            n = len(e["devices"])
            if not e["mig-enabled"]:
                devices[(node_type[c], "full")] += n
            for prof, k in e.get("mig-devices", {}).items():
                devices[(node_type[c], prof)] += n * k
    assert +devices == wanted


@pytest.mark.parametrize("name", INSTANCES)
def test_label_script_labels_the_given_nodes_in_order(name, tmp_path):
    run = solved(name)
    script = run.k8s / "label-nodes.sh"
    assert os.stat(script).st_mode & stat.S_IXUSR
    log = tmp_path / "kubectl.log"
    fake = tmp_path / "kubectl"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    nodes = _docs(run.k8s / "nodes.yaml")
    real = [f"real-node-{k}" for k in range(len(nodes))]
    done = subprocess.run(["sh", str(script), *real], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines() == [
        f"label node --overwrite {r} nvidia.com/mig.config={n['metadata']['labels']['nvidia.com/mig.config']}"
        for r, n in zip(real, nodes)]
    wrong = subprocess.run(["sh", str(script), *real, "one-too-many"], env=env, capture_output=True, text=True)
    assert wrong.returncode == 2 and "usage" in wrong.stderr
    assert len(log.read_text().splitlines()) == len(nodes)  # nothing labelled by the wrong call


def test_dns_label_rules():
    assert dns_label("resnet50-A100-SXM4-80GB-1g.10gb-b16-p3") == "resnet50-a100-sxm4-80gb-1g-10gb-b16-p3"
    assert dns_label("__") == "x"
    long_a, long_b = "m" * 70 + "a", "m" * 70 + "b"
    assert len(dns_label(long_a)) == 63 and dns_label(long_a) != dns_label(long_b)
    assert dns_label(long_a) == dns_label(long_a)  # deterministic
    assert label_value_ok("1g.10gb") and label_value_ok("A100-SXM4-80GB")
    assert not label_value_ok("a/b") and not label_value_ok("-a") and not label_value_ok("x" * 64)


@given(st.text(max_size=120))
def test_dns_label_is_always_a_valid_name(text):
    out = dns_label(text)
    assert len(out) <= 63 and DNS_LABEL.match(out)


_scalars = st.one_of(st.text(max_size=30), st.integers(-10**6, 10**6), st.booleans())
_keys = st.text(min_size=1, max_size=20)
_trees = st.recursive(_scalars, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                       st.dictionaries(_keys, kids, max_size=4)), max_leaves=12)


@given(st.dictionaries(_keys, _trees, min_size=1, max_size=5))
def test_the_yaml_writer_round_trips(tree):
    assert yaml.safe_load("\n".join(to_yaml(tree)) + "\n") == tree


def test_odd_names_are_sanitised_and_kept_and_the_cpu_is_left_out(tmp_path):
    run = solve_odd(tmp_path)
    assert sorted(g["type"] for g in run.plan["gpus"]) == ["A100-SXM4-80GB", "cpu"]  # the case this test is for
    [(fname, d)] = _deployments(run).items()
    assert fname == "org-resnet-50-a100-sxm4-80gb-full-b4-p1.yaml"
    kubernetes_validate.validate(d, K8S_VERSION, strict=True)
    labels, notes = d["metadata"]["labels"], d["metadata"]["annotations"]
    assert "majula/model" not in labels and "majula/plan" not in labels  # "Org/ResNet 50" is no label value
    assert notes["majula/model"] == "Org/ResNet 50" and notes["majula/instance"] == "Odd Fleet/2026"
    assert labels["majula/profile"] == "full"
    [c] = d["spec"]["template"]["spec"]["containers"]
    assert c["resources"]["limits"] == {"nvidia.com/gpu": 1}
    [node] = _docs(run.k8s / "nodes.yaml")
    assert node["metadata"]["name"] == "odd-fleet-2026-node0"
    assert node["metadata"]["labels"]["nvidia.com/mig.config"] in _mig_configs(run)
    assert "devices without MIG left out (plan ids): 1" in (run.k8s / "nodes.yaml").read_text()
