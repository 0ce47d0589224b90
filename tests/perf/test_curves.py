"""Fitted latency curves (issue 3): recovery of a known curve, caching by content, residual correction labels,
unrounded latency from throughput, outlier-skipping interpolation, and the held-out error targets on the shared
ParvaGPU data."""

from __future__ import annotations

import numpy as np
import pytest

from majula_model import default_catalog
from majula_model.perf.curves import (FORMS, Grid, corrected_latency, curve_latency, fit_curve, records_hash,
                                 series_outlier, unrounded_latency)
from majula_model.perf.fit_report import fit_report
from majula_model.schema import MeasurementRecord

GPU = default_catalog().get("A100-SXM4-80GB")
PROFILES = {"1g.10gb": 14, "2g.20gb": 28, "3g.40gb": 42, "4g.40gb": 56, "7g.80gb": 98}
MEM = {"1g.10gb": 1 / 8, "2g.20gb": 2 / 8, "3g.40gb": 4 / 8, "4g.40gb": 4 / 8, "7g.80gb": 1.0}


def synthetic(profiles=PROFILES, batches=(1, 2, 4, 8, 16, 32, 64), ks=(1, 2, 3)):
    """Records drawn from a known roofline-with-floor written out by hand (not through curve_latency)."""
    out = []
    for p, sms in profiles.items():
        for b in batches:
            for k in ks:
                work = k ** 0.9 * (1.0 + 0.5 * b) / sms ** 0.8 * 10
                lat = (4.0 ** 4 + work ** 4) ** 0.25
                out.append(MeasurementRecord(model="syn", gpu=GPU.type, profile=p, batch=b, processes=k,
                                             latency_ms=round(lat, 4)))
    return out


def test_fit_recovers_a_known_curve_and_predicts_a_held_out_profile():
    recs = synthetic()
    train = [r for r in recs if r.profile != "3g.40gb"]
    fit = fit_curve(train, GPU)
    held = [r for r in recs if r.profile == "3g.40gb"]
    pred = fit.latency(Grid.of(held, GPU))
    truth = np.array([r.latency_ms for r in held])
    assert np.max(np.abs(pred / truth - 1)) < 0.03
    assert fit.fit_mape < 0.01
    assert [name for name, _ in fit.members] == list(FORMS) and fit.theta == fit.members[0][1]
    for name, theta in fit.members:  # every form of the average recovers the curve on its own
        alone = FORMS[name][0](np.array(theta), *(getattr(Grid.of(held, GPU), f) for f in ("batch", "processes",
                                                                                          "sms", "mem_share")))
        assert np.max(np.abs(alone / truth - 1)) < 0.03, name


def test_unrounded_latency_only_undoes_whole_millisecond_rounding():
    def r(lat, tput, b=8, k=2):
        return MeasurementRecord(model="m", gpu=GPU.type, profile="3g.40gb", batch=b, processes=k, latency_ms=lat,
                                 throughput_rps=tput)
    assert unrounded_latency(r(20.0, 16 * 1000 / 20.4)) == pytest.approx(20.4)   # rounded to 20: undone
    assert unrounded_latency(r(20.0, 16 * 1000 / 21.0)) == 20.0                  # 1 ms apart: not a rounding
    assert unrounded_latency(r(20.3, 16 * 1000 / 20.4)) == 20.3                  # not whole ms: left alone
    assert unrounded_latency(r(20.0, None)) == 20.0
    grid = Grid.of([r(20.0, 16 * 1000 / 20.4)], GPU)
    assert grid.latency_ms[0] == 20.0 and grid.fit_ms[0] == pytest.approx(20.4)
    assert grid.select(np.array([True])).fit_ms[0] == pytest.approx(20.4)


def test_an_outlier_neighbour_does_not_bend_the_interpolation():
    x = np.log2([1.0, 2.0, 4.0, 16.0, 32.0])
    assert list(series_outlier(x, np.array([0.0, 0.01, -0.01, 0.4, 0.0]))) == [False, False, False, True, False]
    assert not series_outlier(x, np.array([0.0, 0.05, 0.1, 0.12, 0.15])).any()   # a smooth trend is no outlier
    assert not series_outlier(x[:2], np.array([0.0, 0.5])).any()                 # two points: undecidable
    recs = [r for r in synthetic(profiles={"3g.40gb": 42}, batches=(1, 2, 4, 16, 32, 64), ks=(1,))]
    fit = fit_curve(recs, GPU)
    bad = [r.model_copy(update={"latency_ms": r.latency_ms * 1.6}) if r.batch == 16 else r for r in recs]
    q = Grid(np.array([8.0]), np.ones(1), np.array([42.0]), np.array([0.5]), np.full(1, np.nan))
    clean, labels = corrected_latency(fit, Grid.of(recs, GPU), q)
    skewed, _ = corrected_latency(fit, Grid.of(bad, GPU), q)
    assert labels == ["interpolated"] and skewed[0] == pytest.approx(clean[0], rel=0.02)


def test_fit_is_cached_by_content():
    recs = synthetic(ks=(1,))
    assert fit_curve(recs, GPU) is fit_curve(list(reversed(recs)), GPU)
    changed = recs[:-1] + [recs[-1].model_copy(update={"latency_ms": recs[-1].latency_ms * 1.1})]
    assert records_hash(changed, GPU) != records_hash(recs, GPU)
    with pytest.raises(ValueError):
        fit_curve([], GPU)


def test_corrected_latency_labels_and_measured_points_win():
    recs = [r for r in synthetic(ks=(1,)) if r.batch != 8 and r.profile != "2g.20gb"]
    fit = fit_curve(recs, GPU)
    measured = Grid.of(recs, GPU)
    q = Grid(np.array([4.0, 8.0, 128.0, 8.0]), np.ones(4), np.array([42.0, 42.0, 42.0, 28.0]),
             np.array([0.5, 0.5, 0.5, 0.25]), np.full(4, np.nan))
    lat, labels = corrected_latency(fit, measured, q)
    assert labels == ["measured", "interpolated", "predicted", "predicted"]
    exact = next(r for r in recs if r.profile == "3g.40gb" and r.batch == 4)
    assert lat[0] == pytest.approx(exact.latency_ms)
    assert curve_latency(np.array(fit.theta), 8.0, 1.0, 42.0, 0.5) > 0


def test_held_out_error_targets_on_shared_data(parvagpu_calibration):
    """Targets (issue 3): LOPO MAPE <= 8%, LOBO MAPE <= 4%, on points >= 10 ms (1 ms rounding below that).
    Held out from the model under test, the other models' measurements kept (peers): LOBO 3.71%, LOPO 6.24%
    (2026-11-24). Without the peers (the batch or profile measured for no model) LOBO is 4.18%, over the
    target: bounded here so a regression shows."""
    report = fit_report(list(parvagpu_calibration.measurements), default_catalog())
    t = report["totals"]
    assert t["lopo"]["ge_10ms"]["mape"] <= 8.0
    assert t["lobo"]["ge_10ms"]["mape"] <= 4.0
    assert t["lobo"]["interpolated_ge_10ms"]["mape"] <= 3.4
    assert t["lobo_solo"]["ge_10ms"]["mape"] <= 4.4 and t["lopo_solo"]["ge_10ms"]["mape"] <= 8.0
    assert t["lobo"]["ge_10ms"]["mape"] < t["lobo_solo"]["ge_10ms"]["mape"]
    assert t["lobo"]["ge_10ms"]["n"] == t["lobo_solo"]["ge_10ms"]["n"]
    assert t["lopo"]["all"]["mape"] <= 8.0
    assert 0 < t["prior"]["ge_10ms"]["mape"] <= 40.0
    assert t["two_profiles"]["ge_10ms"]["n"] > 0 and t["two_profiles"]["ge_10ms"]["mape"] <= 8.0
