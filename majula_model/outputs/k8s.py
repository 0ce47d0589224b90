"""Kubernetes manifests for a plan (``solve --k8s DIR``): what runs on every slice, and which node gets which
mig-parted config. docs/operator.md states what is written and what is assumed; docs/ecosystem.md (ecosystem
rules) the resource names.

- ``deployments/<name>.yaml``: one Deployment per (model, GPU type, profile, batch, processes) of the plan's
  unshared instances, ``replicas`` = how many plan instances that is. A shared instance (``sharing`` time or
  mps) becomes one Deployment per shared pattern (GPU type, profile, mode, models with their batches), whose
  pod holds the one MIG device and runs one Triton server loading every model of the pattern: the device
  plugin gives a device to one container, so containers of one pod cannot share it. The container requests
  ``nvidia.com/mig-<profile>: 1`` (the GPU operator's ``mixed`` strategy) or ``nvidia.com/gpu: 1`` for a whole
  GPU (profile ``full``); batch and processes go in as ``MAJULA_*`` environment variables and ``majula/*``
  annotations. Pods are pinned by node affinity to the nodes whose mig-parted config has that profile on that
  GPU type (``nvidia.com/mig.config In [...]``), which also keeps a profile name two GPU types share (an
  A100's and an H100's ``1g.10gb``) on the type the plan priced.
- ``nodes.yaml`` and ``label-nodes.sh``: the label ``nvidia.com/mig.config=<config>`` the GPU operator's MIG
  manager reads, one per plan node, with the config names of ``outputs/migparted.py`` (``config_name``), and
  ``gpu-operator/mig-parted-config.yaml``: the same mig-parted file as a ConfigMap for the MIG manager.

Names are DNS-1123 labels (``dns_label``): lowercase ``[a-z0-9-]``, at most 63 characters, deterministic; the
original names are kept in labels where the label-value rules allow and always in annotations. Devices of a
type without MIG (the ``cpu`` device) are left out, as in the mig-parted file. The YAML is written by hand
(deterministic, every string quoted); the tests validate every document against the Kubernetes API schema.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections import defaultdict
from dataclasses import dataclass

from ..errors import InputError
from ..hardware.catalog import FULL, Catalog
from ..schema import Plan
from .migparted import config_name, nodes_of, replan_nodes, to_mig_parted
from .plan_table import k8s_resource
from .triton import TURN_RESOURCE, Variant, variant_key, variants

MIG_CONFIG_LABEL = "nvidia.com/mig.config"
"""The node label the GPU operator's MIG manager applies a mig-parted config by."""
TRITON_IMAGE = "nvcr.io/nvidia/tritonserver:25.01-py3"
"""The serving container's image (Triton; docs/operator.md: change it to the release you run)."""
MODEL_REPOSITORY_CLAIM = "majula-model-repository"
"""PersistentVolumeClaim holding the Triton model repository (the ``--triton`` configs with the models)."""
MIG_CONFIGMAP = "majula-mig-parted-config"
"""ConfigMap holding the mig-parted file, for the GPU operator's ``migManager.config.name``."""
GPU_OPERATOR_NAMESPACE = "gpu-operator"
PREFIX = "majula/"
"""Prefix of majula's own labels and annotations."""

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_RESOURCE_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def dns_label(text: str, limit: int = 63) -> str:
    """A DNS-1123 label for ``text``: lowercase, runs of other characters become ``-``, at most ``limit``
    characters; a name cut to fit ends in a hash of the whole text, so cutting never merges two names."""
    out = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"
    if len(out) > limit:
        out = f"{out[:limit - 7].rstrip('-')}-{hashlib.sha1(text.encode()).hexdigest()[:6]}"
    return out


def label_value_ok(text: str) -> bool:
    """Whether ``text`` may be a label value as it is (63 characters at most, ``[A-Za-z0-9_.-]``, alphanumeric
    at both ends)."""
    return len(text) <= 63 and bool(_LABEL_VALUE.match(text))


@dataclass(frozen=True)
class Key:
    """What one Deployment runs: a GPU type and profile, the sharing mode, and the models with their
    (batch, processes), sorted by name."""

    gpu: str
    profile: str
    sharing: str
    models: tuple[tuple[str, int, int], ...]


def instance_keys(plan: Plan, catalog: Catalog) -> dict[Key, int]:
    """Plan instances per Deployment key (devices of types without MIG left out)."""
    out: dict[Key, int] = defaultdict(int)
    for g in plan.gpus:
        if not catalog.get(g.type).mig:
            continue
        for inst in g.instances:
            runs = tuple(sorted((r.name, r.batch, r.processes) for r in inst.models))
            out[Key(g.type, inst.profile, inst.sharing, runs)] += 1
    return dict(out)


def node_configs(plan: Plan, gpus_per_node: int, catalog: Catalog, previous: Plan | None = None
                 ) -> list[tuple[str, str, list]]:
    """(config name, GPU type, the node's PlanGpus) per node, as ``migparted.to_mig_parted`` names them. A
    re-plan (``previous``) keeps the running plan's nodes (``migparted.replan_nodes``): its GPUs stay where they
    physically are."""
    if previous is not None:
        return [(config_name(plan.instance, k), t, [g for _, g in gs])
                for k, t, gs in replan_nodes(plan, previous, gpus_per_node, catalog)]
    return [(config_name(plan.instance, k), t, gs) for k, (t, gs) in enumerate(nodes_of(plan, gpus_per_node,
                                                                                        catalog))]


def _scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return _quoted(str(v))


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar: printable characters as they are, everything else (controls, line
    separators, a BOM) as a ``\\x``/``\\u``/``\\U`` escape, so every string reads back unchanged."""
    out = []
    for ch in text:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= o <= 0x7E or (0xA0 <= o <= 0x10FFFF and o not in (0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF)
                                    and not 0xD800 <= o <= 0xDFFF):
            out.append(ch)
        elif o <= 0xFF:
            out.append(f"\\x{o:02x}")
        elif o <= 0xFFFF:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    return '"' + "".join(out) + '"'


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]*$")
_YAML_WORDS = {"y", "n", "yes", "no", "true", "false", "on", "off", "null"}


def _key(k: str) -> str:
    return k if _PLAIN_KEY.match(k) and k.lower() not in _YAML_WORDS else _quoted(k)


def _leaf(v) -> str:
    """A scalar, or an empty dict or list, on one line."""
    if isinstance(v, dict):
        return "{}"
    return "[]" if isinstance(v, list) else _scalar(v)


def to_yaml(value, indent: int = 0) -> list[str]:
    """Block-style YAML lines of a tree of dicts, lists, strings, ints and bools (strings always quoted)."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{_key(k)}:")
                lines += to_yaml(v, indent + (2 if isinstance(v, dict) else 0))
            else:
                lines.append(f"{pad}{_key(k)}: {_leaf(v)}")
    else:
        for v in value:
            if isinstance(v, (dict, list)) and v:
                sub = to_yaml(v, indent + 2)
                lines.append(f"{pad}- {sub[0].lstrip()}")
                lines += sub[1:]
            else:
                lines.append(f"{pad}- {_leaf(v)}")
    return lines


def _resource(profile: str) -> str:
    """The extended resource of ``profile``; a name Kubernetes cannot take is an error, not a guess."""
    res = k8s_resource(profile)
    if not _RESOURCE_NAME.match(res.split("/", 1)[1]):
        raise InputError(f"profile '{profile}' has no valid Kubernetes resource name ({res})", field="--k8s")
    return res


def _base_name(key: Key) -> str:
    if key.sharing == "none":
        m, b, k = key.models[0]
        return dns_label(f"{m}-{key.gpu}-{key.profile}-b{b}-p{k}")
    return dns_label(f"{key.sharing}-" + "-".join(m for m, _, _ in key.models) + f"-{key.gpu}-{key.profile}")


def deployment_names(keys) -> dict[Key, str]:
    """A distinct DNS-1123 name per key: names sanitising made equal get a hash of their key appended."""
    base = {k: _base_name(k) for k in keys}
    seen: dict[str, int] = defaultdict(int)
    for n in base.values():
        seen[n] += 1
    out = {}
    for k, n in base.items():
        if seen[n] > 1:
            tag = hashlib.sha1(repr(k).encode()).hexdigest()[:6]
            n = f"{n[:56].rstrip('-')}-{tag}"
        out[k] = n
    return out


def _deployment(plan: Plan, key: Key, name: str, replicas: int, configs: list[str],
                variant: dict[tuple, Variant]) -> tuple[str, dict]:
    """(comment, document) of one Deployment."""
    res = _resource(key.profile)
    runs = [variant[variant_key(m, b, k, key.sharing, key.gpu)] for m, b, k in key.models]
    models = [{"name": m, "batch": b, "processes": k, "triton_model": v.name}
              for (m, b, k), v in zip(key.models, runs)]
    labels = {"app.kubernetes.io/managed-by": "majula", f"{PREFIX}deployment": name}
    for lk, lv in ((f"{PREFIX}plan", plan.instance), (f"{PREFIX}gpu-type", key.gpu),
                   (f"{PREFIX}profile", key.profile), (f"{PREFIX}sharing", key.sharing)):
        if label_value_ok(lv):
            labels[lk] = lv
    if key.sharing == "none" and label_value_ok(key.models[0][0]):
        labels[f"{PREFIX}model"] = key.models[0][0]
    notes = {f"{PREFIX}instance": plan.instance, f"{PREFIX}gpu-type": key.gpu, f"{PREFIX}profile": key.profile,
             f"{PREFIX}resource": res, f"{PREFIX}sharing": key.sharing,
             f"{PREFIX}models": json.dumps(models, separators=(",", ":"))}
    env = [{"name": "MAJULA_SHARING", "value": key.sharing},
           {"name": "MAJULA_MODELS", "value": json.dumps(models, separators=(",", ":"))}]
    if key.sharing == "none":
        m, b, k = key.models[0]
        notes.update({f"{PREFIX}model": m, f"{PREFIX}batch": str(b), f"{PREFIX}processes": str(k)})
        env += [{"name": "MAJULA_MODEL", "value": m}, {"name": "MAJULA_BATCH", "value": str(b)},
                {"name": "MAJULA_PROCESSES", "value": str(k)},
                {"name": "MAJULA_TRITON_MODEL", "value": runs[0].name}]
    args = ["--model-repository=/models", "--model-control-mode=explicit"]
    args += [f"--load-model={v.name}" for v in runs]
    if key.sharing == "time":  # one model at a time: the duty cycle (docs/operator.md)
        args += ["--rate-limit=execution_count", f"--rate-limit-resource={TURN_RESOURCE}:1"]
    container = {
        "name": "triton", "image": TRITON_IMAGE, "command": ["tritonserver"], "args": args, "env": env,
        "ports": [{"name": "http", "containerPort": 8000}, {"name": "grpc", "containerPort": 8001},
                  {"name": "metrics", "containerPort": 8002}],
        "resources": {"limits": {res: 1}},
        "volumeMounts": [{"name": "model-repository", "mountPath": "/models", "readOnly": True}],
    }
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": MIG_CONFIG_LABEL, "operator": "In", "values": configs}]}]}}}
    doc = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels, "annotations": notes},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {f"{PREFIX}deployment": name}},
            "template": {
                "metadata": {"labels": labels, "annotations": notes},
                "spec": {"affinity": affinity, "containers": [container], "volumes": [
                    {"name": "model-repository",
                     "persistentVolumeClaim": {"claimName": MODEL_REPOSITORY_CLAIM, "readOnly": True}}]},
            },
        },
    }
    what = ", ".join(f"{json.dumps(m)} batch {b} x{k} proc" for m, b, k in key.models)
    share = "" if key.sharing == "none" else f", {key.sharing}-shared"
    comment = (f"# {replicas} x {key.gpu} {'whole GPU' if key.profile == FULL else key.profile}{share}: {what}\n"
               f"# written by majula solve for instance {json.dumps(plan.instance)} (plan status {plan.status})")
    return comment, doc


def _text(comment: str, docs: list[dict]) -> str:
    return comment + "\n" + "\n---\n".join("\n".join(to_yaml(d)) for d in docs) + "\n"


def k8s_files(problem, plan: Plan, catalog: Catalog, previous: Plan | None = None
              ) -> tuple[dict[str, str], list[str]]:
    """(relative path -> text, the executable ones) of the ``--k8s`` directory for ``plan``; ``previous``: the
    running plan it re-plans (``solve --from``), whose nodes it keeps."""
    per_node = problem.instance.gpus_per_node
    nodes = node_configs(plan, per_node, catalog, previous)
    where: dict[tuple[str, str], list[str]] = defaultdict(list)
    for cfg, gtype, gpus in nodes:
        for prof in sorted({p for g in gpus for p in g.geometry}):
            where[(gtype, prof)].append(cfg)
    variant = {variant_key(v.model, v.batch, v.processes, "time" if v.takes_turns else "none",
                           "cpu" if v.kind == "KIND_CPU" else "gpu"): v for v in variants(problem, plan)}
    keys = instance_keys(plan, catalog)
    names = deployment_names(sorted(keys, key=repr))
    files: dict[str, str] = {}
    for key in sorted(keys, key=lambda k: names[k]):
        comment, doc = _deployment(plan, key, names[key], keys[key], where[(key.gpu, key.profile)], variant)
        files[f"deployments/{names[key]}.yaml"] = _text(comment, [doc])
    skipped = [g.id for g in plan.gpus if not catalog.get(g.type).mig]
    head = [f"# Node labels for instance {json.dumps(plan.instance)}: each plan node takes the mig-parted config "
            f"its label names ({MIG_CONFIG_LABEL}).",
            "# The names are the plan's, not your nodes': do not `kubectl apply` this file; run",
            "# label-nodes.sh with your node names in this order (docs/operator.md)."]
    if skipped:
        head.append(f"# devices without MIG left out (plan ids): {', '.join(map(str, skipped))}")
    node_docs = [{"apiVersion": "v1", "kind": "Node", "metadata": {
        "name": dns_label(cfg), "labels": {MIG_CONFIG_LABEL: cfg},
        "annotations": {f"{PREFIX}gpu-type": gtype, f"{PREFIX}plan-gpu-ids": ",".join(str(g.id) for g in gs)}}}
        for cfg, gtype, gs in nodes]
    files["nodes.yaml"] = _text("\n".join(head), node_docs) if node_docs else "\n".join(head) + "\n"
    files["label-nodes.sh"] = _label_script(plan, nodes)
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": MIG_CONFIGMAP, "namespace": GPU_OPERATOR_NAMESPACE},
          "data": {"config.yaml": to_mig_parted(plan, per_node, catalog, previous, only_changed=False)}}
    files["gpu-operator/mig-parted-config.yaml"] = _configmap_text(plan, cm)
    return files, ["label-nodes.sh"]


def _configmap_text(plan: Plan, cm: dict) -> str:
    """The ConfigMap with the mig-parted file as a literal block (readable; every line indented)."""
    body = cm["data"]["config.yaml"]
    head = to_yaml({k: v for k, v in cm.items() if k != "data"})
    block = "\n".join(f"    {line}" if line else "" for line in body.rstrip("\n").split("\n"))
    return (f"# The mig-parted config of instance {json.dumps(plan.instance)} for the GPU operator's MIG manager:\n"
            f"# set migManager.config.name={MIG_CONFIGMAP} and mig.strategy=mixed in its ClusterPolicy\n"
            + "\n".join(head) + "\ndata:\n  config.yaml: |\n" + block + "\n")


def _label_script(plan: Plan, nodes: list[tuple[str, str, list]]) -> str:
    """A POSIX shell script labelling the real nodes, given in plan node order, with their configs."""
    order = " ".join(f"NODE{k}" for k in range(len(nodes)))
    lines = ["#!/bin/sh",
             f"# Label your nodes for instance {json.dumps(plan.instance)} with the mig-parted config each one "
             "takes.",
             f"# usage: label-nodes.sh {order}".rstrip()]
    for k, (cfg, gtype, gs) in enumerate(nodes):
        lines.append(f"#   NODE{k}: {len(gs)} x {gtype} (plan GPU ids {', '.join(str(g.id) for g in gs)}) -> {cfg}")
    lines += ["set -eu",
              f'if [ "$#" -ne {len(nodes)} ]; then',
              f'  echo "usage: $0 {order} ({len(nodes)} node name{"" if len(nodes) == 1 else "s"}, in plan node '
              'order)" >&2',
              "  exit 2",
              "fi"]
    for cfg, _, _ in nodes:
        lines += [f"kubectl label node --overwrite \"$1\" {shlex.quote(f'{MIG_CONFIG_LABEL}={cfg}')}", "shift"]
    return "\n".join(lines) + "\n"
