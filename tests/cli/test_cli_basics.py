"""CLI contract of the foundation commands (issue 2): `gpus`, `schema`, `validate`; exit codes 0/1/2."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest

from majula_model import default_catalog
from majula_model.cli import main

from instance_files import BASE, _mutate, _write
from reference.geometry_brute import brute_force_multisets

CAT = default_catalog()


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_gpus_json_lists_exactly_the_valid_geometries(capsys):
    code, out, _ = run(capsys, "gpus", "--json")
    assert code == 0
    doc = json.loads(out)
    assert [g["type"] for g in doc["gpus"]] == ["A100-SXM4-40GB", "A100-SXM4-80GB", "H100-SXM5-80GB",
                                                "H100-NVL-94GB", "H200-SXM5-141GB", "A30-24GB", "H100-PCIE-80GB", "H200-NVL-141GB", "B200-180GB", "GB200-186GB"]
    for g in doc["gpus"]:
        got = [frozenset(Counter(geo).items()) for geo in g["geometries"]]
        assert len(got) == len(set(got))
        assert set(got) == brute_force_multisets(CAT.get(g["type"]))
        assert not any("+me" in p or p == "full" for geo in g["geometries"] for p in geo)
        assert {"type", "aliases", "compute_slices", "memory_slices", "memory_gb", "profiles"} <= set(g)
    h100 = next(g for g in doc["gpus"] if g["type"] == "H100-SXM5-80GB")
    assert "NVIDIA H100 80GB HBM3" in h100["aliases"]
    assert ["4g.40gb", "3g.40gb"] in h100["geometries"]


def test_gpus_table_and_filter(capsys):
    code, out, _ = run(capsys, "gpus", "--gpu", "NVIDIA A30", "--all")
    assert code == 0 and "A30-24GB" in out and "A100" not in out and "[maximal]" in out


@pytest.mark.parametrize("kind", ["instance", "plan", "calibration"])
def test_schema(capsys, kind):
    code, out, _ = run(capsys, "schema", kind)
    assert code == 0 and json.loads(out)["additionalProperties"] is False


def test_validate_ok(capsys, tmp_path):
    code, out, _ = run(capsys, "validate", str(_write(tmp_path, BASE)))
    assert code == 0 and "ok" in out


def test_validate_slo_unreachable_is_exit_1_with_best_latency(capsys, tmp_path):
    doc = _mutate("models.0.slo_ms", 30.0)  # budget 15 ms < the only point's 20 ms
    code, _, err = run(capsys, "validate", str(_write(tmp_path, doc)))
    assert code == 1
    assert "model 'm' cannot meet its SLO" in err and "best measured latency 20 ms" in err


def test_validate_memory_too_small_is_infeasible(capsys, tmp_path):
    doc = _mutate("measurements.0.memory_gb", 10.5)  # 1g.10gb has 10 GB (10.5 passes the GiB-tolerant input check)
    code, _, err = run(capsys, "validate", str(_write(tmp_path, doc)))
    assert code == 1 and "cannot meet its SLO" in err


def test_bad_input_exit_2_names_field(capsys, tmp_path):
    code, _, err = run(capsys, "validate", str(_write(tmp_path, _mutate("models.0.slo_ms", -1))))
    assert code == 2 and "models[0].slo_ms" in err and "inst.json" in err
    code, _, err = run(capsys, "--catalog", str(tmp_path / "none.json"), "gpus")
    assert code == 2 and "none.json" in err


@pytest.mark.parametrize("content", ["", "[]", "{\"name\": 3}", "{not json", "\x00\x01"])
def test_console_script_never_prints_a_traceback(tmp_path, content):
    p = tmp_path / "bad.json"
    p.write_text(content)
    proc = subprocess.run([sys.executable, "-m", "majula_model", "validate", str(p)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "bad.json" in proc.stderr


def test_usage_error_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["gpus", "--nope"])
    assert e.value.code == 2


def test_non_utf8_file_is_exit_2_naming_it(capsys, tmp_path):
    p = tmp_path / "bin.json"
    p.write_bytes(b"\xff\xfe\x00")
    code, _, err = run(capsys, "validate", str(p))
    assert code == 2 and "bin.json: not UTF-8 text" in err


@pytest.mark.parametrize("path,value,field", [
    ("models.0.demand_rps", float("inf"), "models[0].demand_rps"),
    ("models.0.demand_rps", 1e300, "models[0].demand_rps"),
    ("models.0.slo_ms", float("nan"), "models[0].slo_ms"),
    ("measurements.0.latency_ms", float("inf"), "measurements[0].latency_ms"),
    ("measurements.0.batch", 10 ** 12, "measurements[0].batch"),
])
def test_non_finite_or_absurd_numbers_are_exit_2(capsys, tmp_path, path, value, field):
    p = tmp_path / "inst.json"
    p.write_text(json.dumps(_mutate(path, value)))  # json.dumps writes Infinity / NaN, which json.loads accepts
    code, _, err = run(capsys, "validate", str(p))
    assert code == 2 and field in err



def test_string_for_a_number_is_exit_2_naming_file_and_field(capsys, tmp_path):
    p = tmp_path / "inst.json"
    p.write_text(json.dumps(_mutate("models.0.slo_ms", "50")))
    code, _, err = run(capsys, "validate", str(p))
    assert code == 2 and f'{p}: models[0].slo_ms: expected a number, got a string ("50")' in err

def test_user_catalog_cannot_silently_replace_a_builtin_type(capsys, tmp_path):
    doc = {"gpus": [{"type": "A30-24GB", "compute_slices": 1, "memory_slices": 1, "memory_gb": 24,
                     "profiles": [{"name": "1g.24gb", "compute_slices": 1, "memory_slices": 1, "memory_gb": 24,
                                   "starts": [0], "max_count": 1}]}]}
    p = tmp_path / "cat.json"
    p.write_text(json.dumps(doc))
    code, _, err = run(capsys, "--catalog", str(p), "gpus")
    assert code == 2 and "already in the catalog" in err


def test_prior_data_and_uncovered_pools_are_said(capsys, tmp_path):
    """A plan built on analytic-prior files says so (validate, solve, infeasible reasons); a pool GPU type no
    record covers is named; a calibration entry that is a directory names the instance and the entry."""
    import shutil

    from conftest import ROOT

    shutil.copy(ROOT / "calibration" / "prior-a100-sxm4-80gb.json", tmp_path / "prior.json")
    doc = _mutate("calibration", ["prior.json"])
    doc["measurements"] = []
    doc["models"] = [{"name": "resnet50", "slo_ms": 100.0, "demand_rps": 10.0}]
    doc["gpus"] = [{"type": "A100-SXM4-80GB", "count": 2}, {"type": "H100-SXM5-80GB", "count": 1}]
    path = str(_write(tmp_path, doc))
    code, out, _ = run(capsys, "validate", path)
    assert code == 0 and "analytic-prior predictions, NOT measurements" in out and "prior.json" in out
    assert "pool H100-SXM5-80GB (1 GPUs) has no measurements" in out
    code, _, err = run(capsys, "solve", path)
    assert code == 0 and "majula: note: numbers come from analytic-prior predictions" in err
    doc["models"][0]["slo_ms"] = 1.0
    code, _, err = run(capsys, "validate", str(_write(tmp_path, doc)))
    assert code == 1 and "predicted by the analytic prior, not measured" in err
    (tmp_path / "adir").mkdir()
    code, _, err = run(capsys, "validate", str(_write(tmp_path, _mutate("calibration", ["adir"]))))
    assert code == 2 and "calibration[0]" in err and "is a directory" in err
