"""Data contract (issue 2): JSON round trips, unknown fields, `file: field: reason` errors, catalog files."""

from __future__ import annotations

from instance_files import BASE, _mutate, _write  # noqa: F401

import json

import pytest
from hypothesis import given, strategies as st

from majula_model import InputError, default_catalog, load_instance
from majula_model.schema import CalibrationFile, Instance, MeasurementRecord, Plan

names = st.text(alphabet="abcdefghij0123456789-_", min_size=1, max_size=12)
pos = st.floats(min_value=0.001, max_value=1e6, allow_nan=False)

records = st.builds(
    MeasurementRecord, model=names, gpu=st.sampled_from(["A100-SXM4-80GB", "cpu", "NVIDIA H200"]),
    profile=st.sampled_from(["1g.10gb", "full", "3g.40gb"]), batch=st.integers(1, 512),
    processes=st.integers(1, 8), latency_ms=pos, p50_ms=st.none() | pos, throughput_rps=st.none() | pos,
    memory_gb=st.none() | st.floats(0, 100), emulated=st.booleans())


@given(st.lists(records, max_size=5), st.none() | st.dictionaries(names, names, max_size=3))
def test_calibration_round_trip(recs, meta):
    cal = CalibrationFile(measurements=tuple(recs), meta=meta)
    assert CalibrationFile.model_validate_json(cal.model_dump_json()) == cal


instances = st.builds(
    Instance, name=names,
    gpus=st.lists(st.builds(dict, type=st.sampled_from(["A100-SXM4-80GB"]), count=st.integers(1, 100),
                            cost=pos), min_size=1, max_size=1),
    models=st.lists(st.builds(dict, name=names, slo_ms=pos, demand_rps=pos), min_size=1, max_size=3,
                    unique_by=lambda m: m["name"]),
    measurements=st.lists(records, max_size=3),
    objective=st.sampled_from(["max_throughput", "max_scale", "min_gpus"]))


@given(instances)
def test_instance_round_trip(inst):
    assert Instance.model_validate_json(inst.model_dump_json()) == inst


def test_plan_round_trip():
    doc = {"instance": "x", "objective": {"kind": "min_gpus", "value": 1.0, "bound": 1.0}, "status": "optimal",
           "gap": 0.0, "solver": "HiGHS", "solve_seconds": 0.01,
           "gpus": [{"id": 0, "type": "A100-SXM4-80GB", "geometry": ["4g.40gb", "3g.40gb"],
                     "instances": [{"profile": "4g.40gb", "start": 0, "sharing": "none", "models": [
                         {"name": "r", "batch": 8, "processes": 2, "latency_ms": 10.0, "rate_rps": 5.0,
                          "capacity_rps": 6.0}]}]}],
           "models": [{"name": "r", "demand_rps": 5.0, "served_rps": 5.0, "capacity_rps": 6.0}]}
    plan = Plan.model_validate(doc)
    assert json.loads(plan.model_dump_json()) == doc


def test_derived_throughput():
    r = MeasurementRecord(model="m", gpu="cpu", profile="full", batch=8, processes=2, latency_ms=16.0)
    assert r.rate_rps == pytest.approx(2 * 8 * 1000 / 16.0)


@pytest.mark.parametrize("path,value,field,reason", [
    ("models.0.slo_ms", 0, "models[0].slo_ms", "greater than"),
    ("models.0.demand_rps", -5, "models[0].demand_rps", "greater than or equal to 0"),  # 0: retired (issue 14)
    ("gpus.0.count", 0, "gpus[0].count", "greater than or equal to 1"),
    ("gpus.0.type", "B300", "gpus[0].type", "unknown GPU type 'B300'"),
    ("measurements.0.profile", "5g.50gb", "measurements[0].profile", "has no profile '5g.50gb'"),
    ("measurements.0.gpu", "V100", "measurements[0].gpu", "unknown GPU type 'V100'"),
    ("measurements.0.batch", 0, "measurements[0].batch", "greater than or equal to 1"),
    ("measurements.0.colour", "red", "measurements[0].colour", "unknown field"),
    ("models.0.name", KeyError, "models[0].name", "required field missing"),
    ("objective", "fastest", "objective", "Input should be"),
    ("policy", {"latency_budget_fraction": 1.5}, "policy.latency_budget_fraction", "less than or equal to 1"),
    ("calibration", ["nope.json"], "calibration[0]", "calibration file not found"),
])
def test_bad_instance_names_file_field_reason(tmp_path, path, value, field, reason):
    p = _write(tmp_path, _mutate(path, value))
    with pytest.raises(InputError) as e:
        load_instance(p)
    assert e.value.file == str(p)
    assert e.value.field == field
    assert reason in e.value.reason



@pytest.mark.parametrize("path,value,field,reason", [
    ("models.0.slo_ms", "50", "models[0].slo_ms", 'expected a number, got a string ("50")'),
    ("measurements.0.latency_ms", True, "measurements[0].latency_ms", "expected a number, got true"),
    ("measurements.0.p50_ms", "10", "measurements[0].p50_ms", "expected a number, got a string"),
    ("measurements.0.batch", "4", "measurements[0].batch", 'expected an integer, got a string ("4")'),
    ("gpus.0.count", True, "gpus[0].count", "expected an integer, got true"),
    ("gpus.0.count", 1.5, "gpus[0].count", "expected an integer, got a number (1.5)"),
    ("gpus.0.count", 2.0, "gpus[0].count", "expected an integer, got 2.0 (an integer must be written without"),
    ("policy", {"max_processes": "3"}, "policy.max_processes", "expected an integer, got a string"),
    ("policy", {"use_predictions": "true"}, "policy.use_predictions", "expected true or false, got a string"),
    ("policy", {"use_predictions": 1}, "policy.use_predictions", "expected true or false, got a number (1)"),
    ("models.0.name", 5, "models[0].name", "expected a string, got a number (5)"),
    ("calibration", "x.json", "calibration", "expected an array, got a string"),
    ("policy", "poisson", "policy", "expected an object, got a string"),
])
def test_json_types_are_strict(tmp_path, path, value, field, reason):
    """A JSON string is not a number, a bool or 2.0 is not an integer, a number is not a string: no coercion."""
    p = _write(tmp_path, _mutate(path, value))
    with pytest.raises(InputError) as e:
        load_instance(p)
    assert (e.value.file, e.value.field) == (str(p), field)
    assert reason in e.value.reason


def test_json_integers_are_numbers_and_arrays_are_tuples(tmp_path):
    doc = _mutate("models.0.slo_ms", 100)
    doc["measurements"][0]["latency_ms"] = 20
    inst = load_instance(_write(tmp_path, doc)).instance
    assert inst.models[0].slo_ms == 100.0 and isinstance(inst.models[0].slo_ms, float)
    assert isinstance(inst.measurements, tuple) and inst.measurements[0].latency_ms == 20.0


def test_calibration_and_catalog_files_are_strict_too(tmp_path):
    cal = _write(tmp_path, {"measurements": [{**BASE["measurements"][0], "batch": "4"}]}, "cal.json")
    with pytest.raises(InputError) as e:
        load_instance(_write(tmp_path, _mutate("calibration", ["cal.json"])))
    assert (e.value.file, e.value.field) == (str(cal), "measurements[0].batch")
    assert "expected an integer, got a string" in e.value.reason
    gpu = {"type": "X1-16GB", "compute_slices": "2", "memory_slices": 2, "memory_gb": 16, "profiles": [
        {"name": "2g.16gb", "compute_slices": 2, "memory_slices": 2, "memory_gb": 16, "starts": [0], "max_count": 1}]}
    with pytest.raises(InputError) as e:
        default_catalog().extended(_write(tmp_path, {"gpus": [gpu]}, "cat.json"))
    assert e.value.field == "gpus[0].compute_slices" and "expected an integer, got a string" in e.value.reason

def test_a_key_given_twice_is_an_error_not_the_last_one_wins(tmp_path):
    """Python's json keeps the last of two equal keys; a file that says slo_ms twice is ambiguous input."""
    text = json.dumps(BASE).replace('"slo_ms": ', '"slo_ms": 5, "slo_ms": ', 1)
    p = tmp_path / "dup.json"
    p.write_text(text)
    with pytest.raises(InputError) as e:
        load_instance(p)
    assert e.value.file == str(p) and "'slo_ms' appears twice" in e.value.reason
    cat = tmp_path / "cat.json"
    cat.write_text('{"gpus": [], "gpus": []}')
    with pytest.raises(InputError, match="'gpus' appears twice"):
        default_catalog().extended(cat)
    with pytest.raises(InputError, match="is a directory"):
        load_instance(tmp_path)


def test_duplicate_model_names(tmp_path):
    doc = _mutate("models", [BASE["models"][0], BASE["models"][0]])
    with pytest.raises(InputError, match="duplicate name 'm'") as e:
        load_instance(_write(tmp_path, doc))
    assert e.value.field == "models[1]" and not e.value.reason.startswith("Value error")


def test_empty_models_says_so_in_plain_words(tmp_path):
    with pytest.raises(InputError) as e:
        load_instance(_write(tmp_path, _mutate("models", [])))
    assert (e.value.field, e.value.reason) == ("models", "must not be empty")


def test_model_without_measurements_on_pool(tmp_path):
    doc = _mutate("models", [*BASE["models"], {"name": "bert", "slo_ms": 50, "demand_rps": 1}])
    with pytest.raises(InputError) as e:
        load_instance(_write(tmp_path, doc))
    assert e.value.field == "models[1].name" and "no measurements" in e.value.reason


def test_bad_json_and_missing_file(tmp_path):
    with pytest.raises(InputError, match="not valid JSON"):
        load_instance(_write(tmp_path, "{not json"))
    with pytest.raises(InputError, match="file not found"):
        load_instance(tmp_path / "absent.json")


def test_alias_resolves_and_catalog_extension(tmp_path):
    cat = default_catalog()
    assert cat.resolve("NVIDIA H100 80GB HBM3") == "H100-SXM5-80GB"
    assert cat.resolve("nvidia a100-sxm4-40gb") == "A100-SXM4-40GB"
    extra = {"gpus": [{"type": "X1-16GB", "aliases": ["ACME X1"], "compute_slices": 2, "memory_slices": 2,
                       "memory_gb": 16, "sms_per_compute_slice": 8, "profiles": [
                           {"name": "1g.8gb", "compute_slices": 1, "memory_slices": 1, "memory_gb": 8,
                            "starts": [0, 1], "max_count": 2},
                           {"name": "2g.16gb", "compute_slices": 2, "memory_slices": 2, "memory_gb": 16,
                            "starts": [0], "max_count": 1}]}]}
    ext = cat.extended(_write(tmp_path, extra, "cat.json"))
    assert ext.resolve("ACME X1") == "X1-16GB" and cat.resolve("ACME X1") is None
    bad = json.loads(json.dumps(extra))
    bad["gpus"][0]["profiles"][0]["starts"] = [0, 2]
    with pytest.raises(InputError, match="runs past the GPU"):
        cat.extended(_write(tmp_path, bad, "bad.json"))
    clash = json.loads(json.dumps(extra))
    clash["gpus"][0]["aliases"] = ["NVIDIA A30"]
    with pytest.raises(InputError, match="already names GPU type A30-24GB"):
        cat.extended(_write(tmp_path, clash, "clash.json"))
