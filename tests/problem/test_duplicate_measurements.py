"""Duplicate and conflicting measurements, and records that cannot be true (issue 11).

One point measured twice with different numbers used to reach the planner twice, and the planner took the
faster (40 ms and 4 ms: the capacity came from 4 ms; an inline 0.001 ms beat a calibration file's 7 ms). Now the
conservative values are kept with a note naming both places, or the instance is refused under
``policy.strict_measurements``; identical duplicates merge silently; a calibration file listed twice, and a
record using more memory than its profile has, are input errors naming the field.
"""

from __future__ import annotations

import io
import json
import contextlib
import os

import pytest

from majula_model.cli import main
from majula_model.errors import InputError
from majula_model.perf.capacity import capacity_table
from majula_model.problem.loading import MergedRecord, load_instance, notes

A100 = "A100-SXM4-80GB"


def point(latency, batch=8, profile="3g.40gb", gpu=A100, **extra):
    return {"model": "m", "gpu": gpu, "profile": profile, "batch": batch, "latency_ms": latency, **extra}


def write(tmp_path, inline=(), files=None, policy=None, listed=None):
    """An instance with ``inline`` records and calibration files ``{name: [records]}``; ``listed`` overrides
    the calibration list (to name a file twice)."""
    for name, recs in (files or {}).items():
        (tmp_path / name).write_text(json.dumps({"measurements": list(recs)}))
    doc = {"name": "t", "gpus": [{"type": A100, "count": 1}],
           "models": [{"name": "m", "slo_ms": 100.0, "demand_rps": 10.0}], "measurements": list(inline),
           "calibration": listed if listed is not None else list(files or {}), "policy": policy or {}}
    path = tmp_path / "inst.json"
    path.write_text(json.dumps(doc))
    return path


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def test_conflicting_duplicates_keep_the_slower_latency_with_a_note_naming_both(tmp_path):
    path = write(tmp_path, inline=[point(4.0)], files={"cal.json": [point(40.0)]})
    problem = load_instance(path)
    assert len(problem.records) == 1 and isinstance(problem.records[0], MergedRecord)
    cap = capacity_table(problem)[("m", A100, "3g.40gb")]
    assert cap.latency_ms == 40.0 and cap.capacity_rps == pytest.approx(8 * 1000 / 40.0)  # not 2000 rps
    (note,) = [n for n in notes(problem) if "more than once" in n]
    assert "kept 40 ms" in note and "cal.json measurements[0]" in note
    assert "over 4 ms" in note and "inst.json measurements[0]" in note
    code, _, err = run("solve", path)
    assert code == 0 and "majula: note: 1 point(s) measured more than once" in err


def test_an_inline_tiny_latency_does_not_override_a_calibration_files_point(tmp_path):
    path = write(tmp_path, inline=[point(0.001)], files={"cal.json": [point(7.0)]})
    cap = capacity_table(load_instance(path))[("m", A100, "3g.40gb")]
    assert cap.latency_ms == 7.0


def test_identical_duplicates_merge_silently(tmp_path):
    rec = point(7.0, throughput_rps=1000.0)
    path = write(tmp_path, inline=[rec, dict(rec)], files={"cal.json": [rec]})
    problem = load_instance(path)
    assert len(problem.records) == 1 and not isinstance(problem.records[0], MergedRecord)
    assert not [n for n in notes(problem) if "more than once" in n]


def test_the_merged_record_takes_the_largest_memory_and_the_lowest_throughput(tmp_path):
    path = write(tmp_path, inline=[point(9.0, memory_gb=3.0, throughput_rps=900.0),
                                   point(8.0, memory_gb=5.0, throughput_rps=700.0)])
    (r,) = [s.record for s in load_instance(path).records]
    assert (r.latency_ms, r.memory_gb, r.throughput_rps) == (9.0, 5.0, 700.0)


def test_aliases_and_peer_order_make_the_same_point_and_other_processes_do_not(tmp_path):
    peers_ab = [{"model": "a", "batch": 1}, {"model": "b", "batch": 2}]
    path = write(tmp_path, inline=[point(5.0, gpu="A100-80GB"), point(6.0),
                                   point(5.0, colocated=peers_ab), point(6.0, colocated=peers_ab[::-1]),
                                   point(5.0, processes=2)])
    records = load_instance(path).records
    assert len(records) == 3 and sum(isinstance(s, MergedRecord) for s in records) == 2


def test_strict_measurements_refuse_a_conflict_naming_both_places(tmp_path):
    path = write(tmp_path, inline=[point(4.0)], files={"cal.json": [point(40.0)]},
                 policy={"strict_measurements": True})
    with pytest.raises(InputError) as e:
        load_instance(path)
    assert e.value.file.endswith("cal.json") and e.value.field == "measurements[0]"
    assert "inst.json measurements[0]" in e.value.reason and "strict_measurements" in e.value.reason
    code, _, err = run("validate", path)
    assert code == 2 and "strict_measurements" in err
    same = write(tmp_path, inline=[point(4.0)], files={"cal.json": [point(4.0)]},
                 policy={"strict_measurements": True})
    assert len(load_instance(same).records) == 1  # identical is not a conflict, even when strict


def test_prior_file_records_are_not_merged_with_measurements(tmp_path):
    (tmp_path / "prior.json").write_text(json.dumps({"measurements": [point(1.0)],
                                                     "meta": {"kind": "analytic-prior predictions"}}))
    path = write(tmp_path, inline=[point(7.0)], listed=["prior.json"])
    problem = load_instance(path)
    assert len(problem.records) == 2 and not any(isinstance(s, MergedRecord) for s in problem.records)
    assert capacity_table(problem)[("m", A100, "3g.40gb")].latency_ms == 7.0  # the measurement, by sources' rule


@pytest.mark.parametrize("second", ["cal.json", "./cal.json", "sub/../cal.json", "link.json"])
def test_the_same_calibration_file_listed_twice_is_an_error(tmp_path, second):
    (tmp_path / "sub").mkdir()
    os.symlink(tmp_path / "cal.json", tmp_path / "link.json")
    path = write(tmp_path, files={"cal.json": [point(7.0)]}, listed=["cal.json", second])
    with pytest.raises(InputError) as e:
        load_instance(path)
    assert e.value.field == "calibration[1]" and "calibration[0]" in e.value.reason


def test_memory_beyond_the_profile_is_an_error_naming_the_field(tmp_path):
    with pytest.raises(InputError) as e:
        load_instance(write(tmp_path, inline=[point(7.0, memory_gb=500.0)]))
    assert e.value.field == "measurements[0].memory_gb" and "40 GB" in e.value.reason
    # a 10 GB profile may hold 10.74 GB when its nominal size is GiB: accepted (capacity judges the fit)
    assert load_instance(write(tmp_path, inline=[point(7.0, profile="1g.10gb", memory_gb=10.5)]))
    with pytest.raises(InputError) as e:
        load_instance(write(tmp_path, files={"cal.json": [point(7.0), point(7.0, batch=2, memory_gb=45.0)]}))
    assert e.value.file.endswith("cal.json") and e.value.field == "measurements[1].memory_gb"


def test_predict_answers_a_conflicting_duplicate_with_the_slower_value_and_a_note(tmp_path):
    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps({"measurements": [point(40.0), point(4.0), point(10.0, batch=1)]}))
    code, out, err = run("predict", cal, "--model", "m", "--gpu", A100, "--profile", "3g.40gb", "--batch", "8",
                         "--json")
    assert code == 0 and json.loads(out)[0]["latency_ms"] == 40.0
    assert "measurements[0]" in err and "measurements[1]" in err and "more than once" in err
    cal.write_text(json.dumps({"measurements": [point(7.0, memory_gb=500.0)]}))
    code, _, err = run("predict", cal, "--model", "m", "--gpu", A100, "--profile", "3g.40gb", "--batch", "8")
    assert code == 2 and "measurements[0].memory_gb" in err


def test_validate_with_a_retired_model_without_measurements_is_not_a_crash(tmp_path):
    """Defect: ``majula validate`` took the best capacity of every model, and a retired model (demand 0, no
    measurements needed) has none: IndexError, reported as a gap in the input checks."""
    path = write(tmp_path, inline=[point(7.0)])
    doc = json.loads(path.read_text())
    doc["models"].append({"name": "old", "slo_ms": 10.0, "demand_rps": 0})
    path.write_text(json.dumps(doc))
    code, out, err = run("validate", path)
    assert code == 0 and "old: SLO 10 ms, demand 0 rps (retired" in out and "gap" not in err
