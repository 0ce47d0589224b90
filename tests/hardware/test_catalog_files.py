"""Catalog files (issue 10): `gpus --json` read back by `--catalog`, checked geometries, required spec fields and
the new bundled types (B200, GB200, H100 PCIe, H200 NVL).

Expected tables are literals from NVIDIA's published profile lists (docs/hardware.md), not the catalog's code.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from majula_model import default_catalog, geometries
from majula_model.cli import main
from majula_model.errors import InputError
from majula_model.hardware.catalog import GpuType
from majula_model.perf.curves import profile_sms
from majula_model.perf.prior import load_costs, prior_latency
from reference.geometry_brute import brute_force_multisets

CAT = default_catalog()

FAMILY = {(1, 1): ((0, 1, 2, 3, 4, 5, 6), 7), (2, 2): ((0, 2, 4), 3), (1, 2): ((0, 2, 4, 6), 4),
          (3, 4): ((0, 4), 2), (4, 4): ((0,), 1), (7, 8): ((0,), 1)}
"""The 8-slice family: (compute, memory slices) -> (starts, max count), as NVML gives them on A100 and H100."""

PUBLISHED = {
    "B200-180GB": ["1g.23gb", "1g.23gb+me", "1g.45gb", "2g.45gb", "3g.90gb", "4g.90gb", "7g.180gb"],
    "GB200-186GB": ["1g.23gb", "1g.23gb+me", "1g.47gb", "2g.47gb", "3g.93gb", "4g.93gb", "7g.186gb"],
    "H100-PCIE-80GB": ["1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"],
    "H200-NVL-141GB": ["1g.18gb", "1g.18gb+me", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"],
}


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path, doc, name="cat.json"):
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return p


def dump(capsys, *argv) -> dict:
    code, out, _ = run(capsys, *argv, "gpus", "--json")
    assert code == 0
    return json.loads(out)


@pytest.mark.parametrize("gpu_type", PUBLISHED)
def test_new_types_have_the_published_profiles_on_the_8_slice_family(gpu_type):
    gpu = CAT.get(gpu_type)
    assert [p.name for p in gpu.profiles] == PUBLISHED[gpu_type]
    assert (gpu.compute_slices, gpu.memory_slices) == (7, 8)
    for p in gpu.profiles:
        starts, most = FAMILY[p.compute_slices, p.memory_slices]
        assert p.starts == starts and p.max_count == (1 if p.media_extensions else most), p.name
        assert p.memory_gb == float(p.name.removesuffix("+me").split(".")[1].removesuffix("gb")), p.name
    assert "8-slice family" in gpu.provenance
    assert len(geometries(gpu)) == len(brute_force_multisets(gpu)) == len(geometries(CAT.get("H100-SXM5-80GB")))


def test_new_types_figures_and_why_they_are_entries_of_their_own():
    b200, gb200 = CAT.get("NVIDIA B200"), CAT.get("NVIDIA GB200")
    assert (b200.memory_gb, b200.sms_per_compute_slice, b200.memory_bandwidth_gbps) == (180, 18, 8000)
    assert (gb200.memory_gb, gb200.memory_bandwidth_gbps) == (186, 8000)
    pcie, sxm = CAT.get("NVIDIA H100 PCIe"), CAT.get("H100-SXM5-80GB")
    assert (pcie.sms, pcie.memory_bandwidth_gbps) == (114, 2000) and pcie.fp32_tflops != sxm.fp32_tflops
    assert [(p.name, p.starts) for p in pcie.profiles] == [(p.name, p.starts) for p in sxm.profiles]
    nvl, h200 = CAT.get("NVIDIA H200 NVL"), CAT.get("H200-SXM5-141GB")
    assert nvl.fp32_tflops < h200.fp32_tflops and nvl.profiles == h200.profiles
    for gpu in CAT:
        assert gpu.provenance and gpu.sms_per_compute_slice * gpu.compute_slices <= gpu.sms, gpu.type


def test_a_b200_slice_is_not_slower_than_an_a100_slice_in_the_prior():
    """Regression (issue 10): without sms_per_compute_slice the prior gave a B200 1g slice 1 SM."""
    costs, constants = load_costs()
    if not constants:
        pytest.skip("prior constants not fitted")
    cost = costs["resnet50"]
    b200 = prior_latency(cost, constants, CAT.get("B200-180GB"), "1g.23gb", np.array([8.0]), np.array([1.0]))
    a100 = prior_latency(cost, constants, CAT.get("A100-SXM4-80GB"), "1g.10gb", np.array([8.0]), np.array([1.0]))
    assert b200[0] < a100[0]
    assert profile_sms(CAT.get("B200-180GB"), "1g.23gb") == 18.0 and profile_sms(CAT.get("B200-180GB"), "full") == 148


def test_profile_sms_does_not_guess():
    bare = CAT.get("A30-24GB").model_copy(update={"sms_per_compute_slice": None, "sms": None})
    with pytest.raises(InputError) as e:
        profile_sms(bare, "1g.6gb")
    assert e.value.field == "sms_per_compute_slice" and "A30-24GB" in e.value.reason
    with pytest.raises(InputError):
        profile_sms(bare, "full")
    assert profile_sms(bare.model_copy(update={"sms": 56}), "full") == 56.0
    assert profile_sms(CAT.get("cpu"), "full") == 1.0  # used whole: one profile, its size is the unit


def test_gpus_json_is_a_catalog_file_and_reads_back_as_no_ops(capsys, tmp_path):
    doc = dump(capsys)
    assert set(doc) == {"source", "gpus"}
    for g in doc["gpus"]:
        assert {"type", "aliases", "compute_slices", "memory_slices", "memory_gb", "profiles", "geometries"} <= set(g)
    path = write(tmp_path, doc)
    assert dump(capsys, "--catalog", str(path)) == doc  # the same entries again: accepted, nothing added


def test_a_changed_copy_of_a_bundled_entry_is_refused_naming_what_differs(capsys, tmp_path):
    doc = dump(capsys)
    doc["gpus"][2]["memory_bandwidth_gbps"] = 9999.0
    code, _, err = run(capsys, "--catalog", str(write(tmp_path, doc)), "gpus")
    assert code == 2
    assert (f"{tmp_path / 'cat.json'}: gpus[2].type: GPU type 'H100-SXM5-80GB' is already in the catalog "
            f"(as H100-SXM5-80GB) with other figures (memory_bandwidth_gbps)") in err


def _renamed(capsys, gpu: str, new: str) -> dict:
    entry = next(g for g in dump(capsys)["gpus"] if g["type"] == gpu)
    return {"gpus": [entry | {"type": new, "aliases": []}]}


@pytest.mark.parametrize("edit, reason", [
    (lambda g: g["geometries"].pop(3), "not the 77 the placement table of LAB-40 gives: 0 extra, 1 missing"),
    (lambda g: g["geometries"].append(["7g.40gb", "1g.5gb"]), 
     "not the 77 the placement table of LAB-40 gives: 1 extra, 0 missing (e.g. 1g.5gb + 7g.40gb does not fit)"),
    (lambda g: g["geometries"].append(list(reversed(g["geometries"][5]))), "lists a geometry twice"),
    (lambda g: g["maximal_geometries"].append(["1g.5gb"]), "not the 28 the placement table of LAB-40 gives"),
])
def test_listed_geometries_are_checked_against_the_table(capsys, tmp_path, edit, reason):
    doc = _renamed(capsys, "A100-SXM4-40GB", "LAB-40")
    ok = write(tmp_path, doc, "ok.json")
    assert run(capsys, "--catalog", str(ok), "gpus", "--gpu", "LAB-40")[0] == 0
    edit(doc["gpus"][0])
    code, _, err = run(capsys, "--catalog", str(write(tmp_path, doc)), "gpus")
    field = "maximal_geometries" if "28" in reason else "geometries"
    assert code == 2 and f"{tmp_path / 'cat.json'}: gpus[0].{field}: {reason}" in err, err


def test_mig_type_without_sms_per_compute_slice_is_an_error_naming_file_entry_and_field(capsys, tmp_path):
    doc = _renamed(capsys, "A30-24GB", "LAB-30")
    del doc["gpus"][0]["sms_per_compute_slice"]
    whole = {"type": "LAB-CPU", "mig": False, "compute_slices": 1, "memory_slices": 1, "memory_gb": 8,
             "profiles": []}
    doc["gpus"].insert(0, whole)
    code, _, err = run(capsys, "--catalog", str(write(tmp_path, doc)), "gpus")
    assert code == 2
    assert f"{tmp_path / 'cat.json'}: gpus[1].sms_per_compute_slice: required for MIG-capable type LAB-30" in err
    doc["gpus"][1]["sms_per_compute_slice"] = 15  # 4 x 15 > 56 SMs
    code, _, err = run(capsys, "--catalog", str(write(tmp_path, doc)), "gpus")
    assert code == 2 and "gpus[1].sms_per_compute_slice: LAB-30: 4 compute slices x 15 SMs is more than its 56" in err
    doc["gpus"][1]["sms_per_compute_slice"] = 14
    assert run(capsys, "--catalog", str(write(tmp_path, doc)), "gpus", "--gpu", "LAB-30")[0] == 0  # LAB-CPU: fine


def test_bundled_file_validates_and_every_entry_round_trips():
    for gpu in CAT.gpus.values():
        again = GpuType.model_validate_json(gpu.model_dump_json(exclude_none=True), strict=True)
        assert again == gpu
