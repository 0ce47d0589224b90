"""Which number wins (issue 10, section 2): real measurements over emulated ones, over fitted curves, over the
prior, by one rule (``perf/sources.py``) that ``predict`` and the planner's ``use_predictions`` both follow."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from majula_model.perf.capacity import all_points, capacity_table
from majula_model.perf.prediction import predict
from majula_model.problem.loading import problem_from_instance
from majula_model.schema import Instance, MeasurementRecord

A100, H100 = "A100-SXM4-80GB", "H100-SXM5-80GB"
SMS = {"1g.10gb": 14, "2g.20gb": 28, "3g.40gb": 42, "4g.40gb": 56, "7g.80gb": 98}


def rec(model="resnet50", gpu=A100, profile="3g.40gb", batch=1, latency=5.0, k=1, emulated=False):
    return MeasurementRecord(model=model, gpu=gpu, profile=profile, batch=batch, processes=k, latency_ms=latency,
                             emulated=emulated)


def smooth(profile: str, b: int, k: int = 1, scale: float = 1.0) -> float:
    """A plausible latency: a floor plus work shared by the slice's SMs, processes overlapping partly."""
    return scale * (3.0 + b * 60.0 / SMS[profile]) * k ** 0.8


def problem(records, gpus=(A100,), use_predictions=True, slo_ms=100.0, models=("resnet50",)):
    inst = Instance(name="t", gpus=[{"type": g, "count": 1} for g in gpus], measurements=records,
                    models=[{"name": m, "slo_ms": slo_ms, "demand_rps": 1.0} for m in models],
                    policy={"use_predictions": use_predictions})
    return problem_from_instance(inst)


def at(points, b: int, k: int = 1) -> list[tuple[float, str, bool]]:
    """(latency, label, emulated) of every point of a Points at (batch, processes)."""
    return [(float(points.latency_ms[i]), points.source[i], points.point_emulated(i)) for i in range(len(points))
            if (points.batch[i], points.processes[i]) == (b, k)]


EMULATED_3G = [rec(batch=b, latency=lt, emulated=True) for b, lt in ((1, 6.0), (2, 8.4), (4, 12.8), (8, 21.4))]
KEY_3G = ("resnet50", A100, "3g.40gb")


def test_emulated_only_resnet50_on_a100_3g40gb_plans_on_its_emulated_points_not_the_prior():
    """The case of issue 10: resnet50 measured only on emulated 3g.40gb slices of an A100. The planner used to
    drop those points and offer the prior at the measured batches (batch 8: 11.5 ms instead of the measured
    21.4 ms), so the capacity came from the prior (695 rps); ``predict`` fitted the emulated points."""
    p = problem(EMULATED_3G)
    pts = all_points(p)
    assert at(pts[KEY_3G], 8) == [(21.4, "measured", True)]
    assert not any("prior" in v.source for v in pts.values())
    cap = capacity_table(p)[KEY_3G]
    assert (cap.batch, cap.source, cap.emulated) == (8, "measured", True)
    assert cap.capacity_rps == pytest.approx(8 * 1000 / 21.4)  # not the prior's 695 rps
    row = predict(EMULATED_3G, "resnet50", A100, "3g.40gb", [8])[0]
    assert (row["latency_ms"], row["source"], row.get("emulated")) == (21.4, "measured", True)
    for key, c in capacity_table(p).items():  # every other profile comes from the curve fitted on those points
        row = predict(EMULATED_3G, "resnet50", A100, key[2], [c.batch], c.processes)[0]
        assert (row["latency_ms"], row["source"], row.get("emulated")) == \
            (pytest.approx(c.latency_ms, abs=1e-4), c.source, True)


def test_real_beats_emulated_at_one_key():
    recs = [rec(batch=b, latency=smooth("3g.40gb", b)) for b in (1, 4, 16)]
    recs += [rec(batch=b, latency=0.5 * smooth("3g.40gb", b), emulated=True) for b in (1, 8, 16, 32)]
    row = predict(recs, "resnet50", A100, "3g.40gb", [16, 8])
    assert [(r["source"], "emulated" in r) for r in row] == [("measured", False), ("interpolated", False)]
    assert row[0]["latency_ms"] == pytest.approx(smooth("3g.40gb", 16), abs=1e-4)
    assert row[1] == predict(recs[:3], "resnet50", A100, "3g.40gb", [8])[0]  # the real curve, not bent
    for use in (False, True):
        pts = all_points(problem(recs, use_predictions=use))[KEY_3G]
        assert at(pts, 16) == [(smooth("3g.40gb", 16), "measured", False)]
        assert not any(pts.point_emulated(i) for i in range(len(pts))) and 32 not in pts.batch
        cap = capacity_table(problem(recs, use_predictions=use))[KEY_3G]
        assert not cap.emulated and cap.latency_ms >= smooth("3g.40gb", 4)


def test_emulated_beats_the_curve_at_one_key_and_never_bends_the_real_curve():
    real = [rec(profile=p, batch=b, latency=smooth(p, b)) for p in ("1g.10gb", "7g.80gb") for b in (1, 4, 16)]
    emulated = [rec(batch=b, latency=0.6 * smooth("3g.40gb", b), emulated=True) for b in (4, 16)]
    recs = real + emulated
    rows = predict(recs, "resnet50", A100, "3g.40gb", [4, 1, 16])
    assert [(r["source"], r.get("emulated", False)) for r in rows] == [
        ("measured", True), ("predicted", False), ("measured", True)]
    assert rows[0]["latency_ms"] == pytest.approx(0.6 * smooth("3g.40gb", 4), abs=1e-4)
    assert rows[1] == predict(real, "resnet50", A100, "3g.40gb", [1])[0]  # from the real curve alone
    pts = all_points(problem(recs))[KEY_3G]
    assert at(pts, 4) == [(pytest.approx(0.6 * smooth("3g.40gb", 4)), "measured", True)]
    assert at(pts, 1) == [(pytest.approx(rows[1]["latency_ms"], abs=1e-4), "predicted", False)]
    cap = capacity_table(problem(recs, slo_ms=2 * 0.6 * smooth("3g.40gb", 16)))[KEY_3G]
    assert (cap.batch, cap.source, cap.emulated) == (16, "measured", True)


def write_prior_file(tmp_path, records) -> str:
    path = tmp_path / "prior.json"
    path.write_text(json.dumps({"measurements": [r.model_dump(mode="json") for r in records],
                                "meta": {"kind": "analytic-prior predictions, NOT measurements"}}))
    return path.name


def file_problem(tmp_path, records, calibration, gpus=(A100,), use_predictions=False):
    inst = {"name": "t", "gpus": [{"type": g, "count": 1} for g in gpus], "calibration": [calibration],
            "measurements": [r.model_dump(mode="json") for r in records],
            "models": [{"name": m, "slo_ms": 100.0, "demand_rps": 1.0} for m in ("resnet50", "vgg16")],
            "policy": {"use_predictions": use_predictions}}
    return problem_from_instance(Instance.model_validate(inst), str(tmp_path / "inst.json"))


def test_the_curve_beats_the_prior_at_one_key(tmp_path):
    # the prior file is optimistic at every point; resnet50 was measured on A100, vgg16 only in the prior file
    prior = [rec(model=m, profile=p, batch=b, latency=0.3 * smooth(p, b)) for m in ("resnet50", "vgg16")
             for p in ("3g.40gb", "7g.80gb") for b in (1, 4, 16)]
    real = [rec(batch=b, latency=smooth("3g.40gb", b)) for b in (1, 16)]
    for use in (False, True):
        p = file_problem(tmp_path, real, write_prior_file(tmp_path, prior), use_predictions=use)
        table = capacity_table(p)
        assert ("resnet50", A100, "7g.80gb") not in table or table[("resnet50", A100, "7g.80gb")].source != "prior"
        assert table[KEY_3G].source in ("measured", "interpolated") and not table[KEY_3G].emulated
        assert table[KEY_3G].latency_ms >= smooth("3g.40gb", 1)  # never one of the prior file's 0.3x points
        assert {c.source for k, c in table.items() if k[0] == "vgg16"} == {"prior"}
        if use:
            assert at(all_points(p)[KEY_3G], 4)[0][1] == "interpolated"
    # predict: a model measured on a GPU type never gets the prior there; on a type it never ran on, its
    # measurements are transferred (rule 4), the prior only where nothing can be
    recs = real + [rec(model="vgg16", gpu=H100, batch=1, latency=4.0)]
    assert {r["source"] for r in predict(recs, "resnet50", A100, "7g.80gb", [1, 4, 64])} == {"predicted"}
    assert {r["source"] for r in predict(recs, "resnet50", H100, "3g.40gb", [1, 4])} == {"transferred"}


def test_a_prior_file_is_prior_in_predict_and_in_the_planner(tmp_path):
    prior = [rec(profile=p, batch=b, latency=smooth(p, b)) for p in ("3g.40gb", "7g.80gb") for b in (1, 4, 16)]
    p = file_problem(tmp_path, [], write_prior_file(tmp_path, prior), use_predictions=True)
    pts = all_points(p)
    assert {s for v in pts.values() for s in v.source} == {"prior"}
    from majula_model.problem.loading import load_calibration

    cal = load_calibration(tmp_path / "prior.json")
    for key, v in pts.items():
        for i in range(len(v)):
            row = predict(cal, "resnet50", A100, key[2], [int(v.batch[i])], int(v.processes[i]))[0]
            assert (row["latency_ms"], row["source"]) == (pytest.approx(float(v.latency_ms[i]), abs=1e-4), "prior")


PROFILES = ("1g.10gb", "3g.40gb", "7g.80gb")
series = st.tuples(st.sampled_from(PROFILES), st.booleans(), st.sets(st.sampled_from([1, 2, 4, 8, 16]), min_size=2),
                   st.sampled_from([(1,), (1, 2)]), st.floats(0.9, 1.1))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(series, min_size=1, max_size=4), st.booleans(), st.booleans())
def test_predict_and_the_planner_agree_wherever_both_answer(model_series, with_peer, all_emulated):
    """Every point the planner holds (recorded or predicted, A100 curve or H100 prior) is what ``predict`` says
    there: same latency, same label, same emulated flag."""
    recs, seen = [], set()
    for profile, emulated, batches, ks, scale in model_series:
        emulated = emulated or all_emulated  # the case (only emulated points) drawn often
        for b in sorted(batches):
            for k in ks:
                if (profile, emulated, b, k) not in seen:  # one record per point and kind: no repeats
                    seen.add((profile, emulated, b, k))
                    recs.append(rec(profile=profile, batch=b, k=k, emulated=emulated,
                                    latency=smooth(profile, b, k, scale * (0.7 if emulated else 1.0))))
    peers = [rec(model="vgg16", profile=p, batch=b, latency=smooth(p, b, 1, 1.3)) for p in PROFILES
             for b in (1, 2, 4, 8, 16)] if with_peer else []
    recs += peers + [rec(model="vgg16", gpu=H100, batch=1, latency=4.0)]
    pts = all_points(problem(recs, gpus=(A100, H100)))
    checked = 0
    for (model, gpu, profile), v in pts.items():
        if model != "resnet50":
            continue
        for i in range(len(v)):
            row = predict(recs, model, gpu, profile, [int(v.batch[i])], int(v.processes[i]))[0]
            assert row["latency_ms"] == pytest.approx(float(v.latency_ms[i]), abs=1e-4)
            assert row["throughput_rps"] == pytest.approx(float(v.throughput_rps[i]), rel=1e-6, abs=1e-3)
            assert (row["source"], row.get("emulated", False)) == (v.source[i], v.point_emulated(i))
            checked += 1
    assert checked > 0
