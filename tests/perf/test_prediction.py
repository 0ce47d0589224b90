"""Predictions (issue 3): source labels, measured points win, no guesses without measurements, prior transfer."""

from __future__ import annotations

import pytest

from majula_model import InputError
from majula_model.perf.prediction import predict
from majula_model.schema import MeasurementRecord


def rec(model="m", gpu="A100-SXM4-80GB", profile="3g.40gb", batch=1, latency=5.0, tput=None, k=1):
    return MeasurementRecord(model=model, gpu=gpu, profile=profile, batch=batch, processes=k, latency_ms=latency,
                             throughput_rps=tput)


RECS = [rec(profile=p, batch=b, latency=4.0 + b * 40.0 / s)
        for p, s in (("1g.10gb", 1), ("3g.40gb", 3), ("7g.80gb", 7)) for b in (1, 4, 16, 64)]


def test_labels_measured_interpolated_predicted():
    rows = predict(RECS, "m", "A100-SXM4-80GB", "3g.40gb", [4, 8, 128])
    assert [r["source"] for r in rows] == ["measured", "interpolated", "predicted"]
    assert rows[0]["latency_ms"] == pytest.approx(4.0 + 4 * 40.0 / 3, abs=1e-3)
    assert rows[0]["throughput_rps"] == pytest.approx(4 * 1000 / rows[0]["latency_ms"], rel=1e-4)
    lo, hi = 4.0 + 4 * 40 / 3, 4.0 + 16 * 40 / 3
    assert lo < rows[1]["latency_ms"] < hi
    assert rows[2]["latency_ms"] > 4.0 + 64 * 40 / 3


def test_unmeasured_profile_is_predicted_between_its_neighbours():
    rows = predict(RECS, "m", "A100-SXM4-80GB", "4g.40gb", [16])
    assert rows[0]["source"] == "predicted"
    assert 4.0 + 16 * 40 / 7 < rows[0]["latency_ms"] < 4.0 + 16 * 40 / 3


def test_measured_throughput_is_kept():
    recs = RECS + [rec(profile="2g.20gb", batch=8, latency=20.0, tput=390.0)]
    row = predict(recs, "m", "A100-SXM4-80GB", "2g.20gb", [8])[0]
    assert (row["source"], row["throughput_rps"]) == ("measured", 390.0)


def test_alias_resolves_and_processes_scale_throughput():
    rows = predict(RECS, "m", "A100-SXM4-80GB", "3g.40gb", [16], processes=2)
    assert rows[0]["throughput_rps"] == pytest.approx(2 * 16 * 1000 / rows[0]["latency_ms"], rel=1e-4)


@pytest.mark.parametrize("gpu", ["A100-SXM4-80GB", "H100-SXM5-80GB"])
def test_a_model_with_no_measurements_at_all_is_an_input_error(gpu):
    with pytest.raises(InputError) as e:
        predict(RECS, "nope", gpu, "3g.40gb", [1])
    assert e.value.field == "model"


def test_a_gpu_type_nobody_measured_is_answered_by_transfer_not_refused():
    """Issue 14 part 3: 'how many H100s, given my A100 measurements?' - the A100 curve carried by the specs."""
    rows = predict(RECS, "m", "H100-SXM5-80GB", "3g.40gb", [1, 16, 64])
    assert [r["source"] for r in rows] == ["transferred"] * 3
    assert rows[0]["latency_ms"] < rows[1]["latency_ms"] < rows[2]["latency_ms"]


def test_unknown_profile_is_an_input_error():
    with pytest.raises(InputError):
        predict(RECS, "m", "A100-SXM4-80GB", "5g.50gb", [1])


def test_prior_for_a_gpu_type_the_model_never_ran_on_when_nothing_can_be_transferred():
    # measured only on the CPU, which has no spec figures to transfer by: the analytic prior speaks (unscaled:
    # a CPU ratio says nothing about a GPU), equal to prior_latency itself
    from majula_model.hardware.catalog import default_catalog
    from majula_model.perf.prior import load_costs, prior_latency

    recs = [rec(model="resnet50", gpu="cpu", profile="full", batch=b, latency=50.0 + b) for b in (1, 8)]
    rows = predict(recs, "resnet50", "H100-SXM5-80GB", "3g.40gb", [1, 32])
    assert [r["source"] for r in rows] == ["prior", "prior"]
    costs, constants = load_costs()
    want = prior_latency(costs["resnet50"], constants, default_catalog().gpus["H100-SXM5-80GB"], "3g.40gb",
                         [1, 32], 1)
    assert [r["latency_ms"] for r in rows] == pytest.approx(list(want), abs=1e-3)
    with pytest.raises(InputError, match="cannot be predicted there"):  # no costs for "m", no specs on the CPU
        predict([rec(gpu="cpu", profile="full")], "m", "H100-SXM5-80GB", "3g.40gb", [1])


def test_bundled_prior_file_is_labelled_prior():
    from pathlib import Path

    from majula_model.problem.loading import load_calibration

    cal = load_calibration(Path(__file__).resolve().parents[2] / "calibration" / "prior-a100-sxm4-80gb.json")
    rows = predict(cal, "resnet50", "A100-SXM4-80GB", "3g.40gb", [1, 3])
    assert [r["source"] for r in rows] == ["prior", "prior"]


def test_add_predictions_never_predicts_past_measured_memory():
    from majula_model.perf.capacity import measured_points
    from majula_model.problem.loading import problem_from_instance
    from majula_model.perf.prediction import add_predictions
    from majula_model.schema import Instance

    # 1g.10gb ran up to b*k = 8, 7g.80gb up to 64: a 1g.20gb (20 GB) may not be offered more than 8, 4g.40gb
    # (40 GB) neither (no profile with <= 40 GB ran more), and measured points stay as they were.
    recs = [rec(profile="1g.10gb", batch=b, latency=5.0 + 3 * b) for b in (1, 2, 4, 8)]
    recs += [rec(profile="7g.80gb", batch=b, latency=5.0 + 0.5 * b) for b in (1, 2, 4, 8, 16, 32, 64)]
    inst = Instance(name="t", gpus=[{"type": "A100-SXM4-80GB", "count": 1}], measurements=recs,
                    models=[{"name": "m", "slo_ms": 100.0, "demand_rps": 1.0}], policy={"use_predictions": True})
    problem = problem_from_instance(inst)
    base = measured_points(problem)
    pts = add_predictions(problem, base)
    for prof in ("1g.20gb", "2g.20gb", "4g.40gb"):
        p = pts[("m", "A100-SXM4-80GB", prof)]
        assert max(p.batch * p.processes) <= 8 and set(p.source) <= {"predicted", "interpolated"}
    seven = pts[("m", "A100-SXM4-80GB", "7g.80gb")]
    assert list(seven.source) == ["measured"] * 7
    assert list(seven.latency_ms) == list(base[("m", "A100-SXM4-80GB", "7g.80gb")].latency_ms)


def test_add_predictions_transfers_to_an_unmeasured_pool_gpu_type():
    from majula_model.perf.capacity import capacity_table
    from majula_model.problem.loading import problem_from_instance
    from majula_model.schema import Instance

    recs = [rec(model="resnet50", profile="7g.80gb", batch=b, latency=5.0 + 0.4 * b) for b in (1, 8, 32)]
    gpus = [{"type": "A100-SXM4-80GB", "count": 1}, {"type": "H100-SXM5-80GB", "count": 1}]
    models = [{"name": "resnet50", "slo_ms": 100.0, "demand_rps": 1.0}]
    off = capacity_table(problem_from_instance(Instance(name="t", gpus=gpus, models=models, measurements=recs)))
    assert {k[1] for k in off} == {"A100-SXM4-80GB"}
    on = capacity_table(problem_from_instance(Instance(name="t", gpus=gpus, models=models, measurements=recs,
                                                       policy={"use_predictions": True})))
    h100 = {k: c for k, c in on.items() if k[1] == "H100-SXM5-80GB"}
    assert h100 and all(c.source == "transferred" for c in h100.values())
