"""Golden files (plan JSON, mig-parted YAML, LP dump) and a parse-back check of the YAML against mig-parted's
rules (NVIDIA/mig-parted ``api/spec/v1``, docs/ecosystem.md (ecosystem rules)). Regenerate with ``tests/golden/regen.py``."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml
from golden.cases import A100, golden_problem, problem, rec
from golden.regen import outputs

from majula_model.hardware.geometry import place
from majula_model.placer import solve
from majula_model.outputs.migparted import to_mig_parted

HERE = Path(__file__).resolve().parents[1] / "golden"
ENTRY_KEYS = {"devices", "mig-enabled", "mig-devices", "device-filter"}
PROFILE = re.compile(r"^[1-9]g\.[0-9]+gb(\+me)?$")


@pytest.mark.parametrize("name", ["plan_golden_demo.json", "mig_parted_golden_demo.yaml", "lp_golden_demo.lp"])
def test_golden(name):
    assert outputs()[name] == (HERE / name).read_text(), f"regenerate with tests/golden/regen.py and review: {name}"


def mig_parted_problems(doc) -> list[str]:
    """What mig-parted's v1 spec would reject, one line each (mirrors api/spec/v1 validation)."""
    out = []
    if not isinstance(doc, dict) or set(doc) != {"version", "mig-configs"}:
        return [f"top level must be exactly version + mig-configs, got {doc!r:.80}"]
    if doc["version"] != "v1":
        out.append("version must be v1")
    if not isinstance(doc["mig-configs"], dict):
        return out + ["mig-configs must be a mapping"]
    for name, entries in doc["mig-configs"].items():
        if not isinstance(entries, list) or not entries:
            out.append(f"{name}: must be a non-empty list")
            continue
        seen: set[int] = set()
        for e in entries:
            if set(e) - ENTRY_KEYS or "devices" not in e or "mig-enabled" not in e:
                out.append(f"{name}: bad keys {sorted(e)}")
                continue
            devs = e["devices"]
            if devs != "all" and not (isinstance(devs, list) and all(isinstance(d, int) and d >= 0 for d in devs)):
                out.append(f"{name}: devices must be 'all' or NVML indices")
            elif devs != "all":
                if seen & set(devs):
                    out.append(f"{name}: device listed twice")
                seen |= set(devs)
            if not isinstance(e["mig-enabled"], bool):
                out.append(f"{name}: mig-enabled must be a bool")
            md = e.get("mig-devices")
            if e["mig-enabled"] is False and md is not None:
                out.append(f"{name}: mig-devices forbidden when mig-enabled is false")
            if md is not None and not (isinstance(md, dict) and all(
                    PROFILE.match(str(k)) and isinstance(v, int) and v > 0 for k, v in md.items())):
                out.append(f"{name}: mig-devices must map profiles to positive counts")
    return out


def check_against_plan(text: str, plan, gpus_per_node: int, gpu_type) -> None:
    doc = yaml.safe_load(text)
    assert mig_parted_problems(doc) == []
    configs = doc["mig-configs"]
    for g in plan.gpus:
        entries = configs[f"{plan.instance}-node{g.id // gpus_per_node}"]
        entry = next(e for e in entries if g.id % gpus_per_node in e["devices"])
        if tuple(g.geometry) == ("full",):
            assert entry["mig-enabled"] is False
        else:
            assert entry["mig-enabled"] is True and entry["mig-devices"] == dict(Counter(g.geometry))
            assert place(gpu_type, list(Counter(entry["mig-devices"]).elements())) is not None


def test_mig_parted_parses_back_and_matches_plan():
    p = golden_problem()
    plan = solve(p)
    check_against_plan(to_mig_parted(plan, p.instance.gpus_per_node, p.catalog), plan, 2, p.catalog.get(A100))


def test_mig_parted_many_nodes_and_geometries():
    recs = [rec("a", "1g.10gb", 100.0), rec("b", "3g.40gb", 330.0), rec("c", "2g.20gb", 210.0)]
    p = problem([("a", 100.0, 1900.0), ("b", 100.0, 2500.0), ("c", 100.0, 1500.0)], recs, [(A100, 40, 1.0)])
    plan = solve(p)
    for per_node in (1, 3, 8):
        text = to_mig_parted(plan, per_node, p.catalog)
        check_against_plan(text, plan, per_node, p.catalog.get(A100))
        assert all(line.lstrip().startswith("#") or "#" not in line for line in text.splitlines())


def test_schema_rejects_what_mig_parted_rejects():
    good = {"version": "v1", "mig-configs": {"n0": [{"devices": [0], "mig-enabled": True,
                                                    "mig-devices": {"3g.40gb": 2}}]}}
    assert mig_parted_problems(good) == []
    assert mig_parted_problems({**good, "meta": {}})
    bad_key = {"version": "v1", "mig-configs": {"n0": [{"devices": [0], "mig-enabled": True, "note": "x"}]}}
    assert mig_parted_problems(bad_key)
    disabled = {"version": "v1", "mig-configs": {"n0": [{"devices": [0], "mig-enabled": False,
                                                        "mig-devices": {"1g.10gb": 1}}]}}
    assert mig_parted_problems(disabled)
    zero = {"version": "v1", "mig-configs": {"n0": [{"devices": [0], "mig-enabled": True,
                                                    "mig-devices": {"1g.10gb": 0}}]}}
    assert mig_parted_problems(zero)
