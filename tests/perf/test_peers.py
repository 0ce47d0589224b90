"""Cross-model correction (``peers.py``): a batch effect shared by models transfers to a model not measured
there; unrelated or opposite peers change nothing; measured points are never touched; the deviation matches an
independent numpy interpolation; caches are keyed by content only."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from majula_model import default_catalog
from majula_model.perf.curves import Grid, corrected_latency, fit_curve, records_hash
from majula_model.perf.peers import Residuals, _deviations, corrected_with_peers, peer_correction, peers_on, residuals
from majula_model.perf.prediction import predict
from majula_model.schema import MeasurementRecord

GPU = default_catalog().get("A100-SXM4-80GB")
PROFILES = {"1g.10gb": 14, "2g.20gb": 28, "3g.40gb": 42, "7g.80gb": 98}
BATCHES = (1, 2, 4, 8, 16, 32, 64)


def records(model: str, bump: dict[int, float], scale: float = 1.0, noise_seed: int | None = None):
    """A smooth roofline-with-floor (written out by hand) times a per-batch factor ``bump`` shared by every
    profile and process count, plus optional small noise: the shape peers have in common."""
    rng = np.random.default_rng(noise_seed)
    out = []
    for p, sms in PROFILES.items():
        for b in BATCHES:
            for k in (1, 2, 3):
                work = scale * k ** 0.9 * (1.0 + 0.5 * b) / sms ** 0.8 * 10
                lat = (4.0 ** 4 + work ** 4) ** 0.25 * bump.get(b, 1.0)
                if noise_seed is not None:
                    lat *= float(np.exp(rng.normal(0, 0.005)))
                out.append(MeasurementRecord(model=model, gpu=GPU.type, profile=p, batch=b, processes=k,
                                             latency_ms=round(lat, 4)))
    return out


def held_out_batch(recs, batch):
    train = [r for r in recs if r.batch != batch]
    test = [r for r in recs if r.batch == batch]
    return fit_curve(train, GPU), Grid.of(train, GPU), Grid.of(test, GPU)


def test_a_shared_batch_effect_transfers_from_peers():
    """Three models run 25% slower at batch 16 and 30% slower at batch 4 than their smooth curves; the target
    shares the batch-4 bump in training and is not measured at 16. Its interpolation misses the 25%; the peers
    bring most of it back."""
    bump = {16: 1.25, 4: 1.30}
    target = records("t", bump, noise_seed=1)
    peers = [residuals(records(f"p{i}", bump, scale=1 + 0.3 * i, noise_seed=10 + i), GPU) for i in range(3)]
    fit, train, test = held_out_batch(target, 16)
    alone, labels = corrected_latency(fit, train, test)
    both, labels2 = corrected_with_peers(fit, train, test, peers)
    assert labels == labels2 and set(labels) == {"interpolated"}
    err_alone = np.mean(np.abs(alone / test.latency_ms - 1))
    err_both = np.mean(np.abs(both / test.latency_ms - 1))
    assert err_alone > 0.08  # the curve and interpolation cannot see the bump
    assert err_both < err_alone / 2


def test_peers_with_opposite_or_no_shared_effect_change_nothing():
    target = records("t", {16: 1.25, 4: 1.10}, noise_seed=1)
    opposite = [residuals(records("o", {16: 0.8, 4: 0.9}, noise_seed=2), GPU)]
    fit, train, test = held_out_batch(target, 16)
    corr = peer_correction(Residuals.of(fit, train), opposite, test)
    assert np.all(corr == 0.0)  # negative correlation: weight 0, not a flipped correction
    assert np.all(peer_correction(Residuals.of(fit, train), [], test) == 0.0)


def test_measured_points_and_points_no_peer_has_are_not_corrected():
    bump = {16: 1.25, 4: 1.10}
    target = records("t", bump, noise_seed=1)
    peer = records("p", bump, noise_seed=2)
    fit = fit_curve(target, GPU)
    measured = Grid.of(target, GPU)
    corr = peer_correction(Residuals.of(fit, measured), [residuals(peer, GPU)], measured)
    assert np.all(corr == 0.0)
    # a batch no peer measured: nothing to transfer
    peer_no16 = [r for r in peer if r.batch != 16]
    fit16, train, test = held_out_batch(target, 16)
    assert np.all(peer_correction(Residuals.of(fit16, train), [residuals(peer_no16, GPU)], test) == 0.0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-0.5, 0.5), min_size=6, max_size=6),
       st.sets(st.integers(0, 5), min_size=1, max_size=6), st.integers(0, 5))
def test_deviation_matches_numpy_interpolation(values, neighbour_idx, point_idx):
    """Reference: np.interp over the neighbours other than the point (it clamps to the nearest outside)."""
    xs = [float(i) for i in range(6)]
    line = dict(zip(xs, values))
    neighbours = [xs[i] for i in sorted(neighbour_idx)]
    got = _deviations(line, [xs[point_idx]], neighbours)[0]
    others = [n for n in neighbours if n != xs[point_idx]]
    if not others:
        assert np.isnan(got)
        return
    want = values[point_idx] - np.interp(xs[point_idx], others, [line[n] for n in others])
    assert got == pytest.approx(want, abs=1e-12)


def test_residuals_are_cached_by_content_and_peers_exclude_the_model():
    a, b = records("a", {}), records("b", {16: 1.2})
    ra = residuals(a, GPU)
    assert ra.key == records_hash(a, GPU) and residuals(list(reversed(a)), GPU) is ra
    assert Residuals.of(fit_curve(a, GPU), Grid.of(a, GPU)).key == ""  # built for one use: never cached
    got = peers_on(a + b, "a", GPU, default_catalog())
    assert [p.key for p in got] == [records_hash(b, GPU)]


def test_predict_uses_peers_but_keeps_labels_and_measured_values():
    bump = {16: 1.25, 4: 1.10}
    target = [r for r in records("t", bump, noise_seed=1) if r.batch != 16]
    peers = [r for i in range(3) for r in records(f"p{i}", bump, scale=1 + 0.3 * i, noise_seed=10 + i)]
    alone = predict(target, "t", GPU.type, "3g.40gb", [8, 16, 32], processes=2)
    both = predict(target + peers, "t", GPU.type, "3g.40gb", [8, 16, 32], processes=2)
    assert [p["source"] for p in both] == ["measured", "interpolated", "measured"] == [p["source"] for p in alone]
    assert both[0] == alone[0] and both[2] == alone[2]
    truth = next(r.latency_ms for r in records("t", bump, noise_seed=1)
                 if r.profile == "3g.40gb" and r.batch == 16 and r.processes == 2)
    assert abs(both[1]["latency_ms"] / truth - 1) < abs(alone[1]["latency_ms"] / truth - 1)


def test_a_correction_never_exceeds_the_targets_own_largest_deviation():
    """The target's training deviations are at most ~10% (its batch-4 bump); the peers' 25% at batch 16 is
    clipped to that: one peer's anomaly must not move a prediction further than the target was seen to move."""
    bump = {16: 1.25, 4: 1.10}
    target = records("t", bump, noise_seed=1)
    peers = [residuals(records(f"p{i}", bump, scale=1 + 0.3 * i, noise_seed=10 + i), GPU) for i in range(3)]
    fit, train, test = held_out_batch(target, 16)
    mine = Residuals.of(fit, train)
    corr = peer_correction(mine, peers, test)
    own = max(abs(d) for line in mine.lines["batch"].values() for d in _deviations(line, list(line), list(line))
              if not np.isnan(d))
    assert np.all(corr > 0) and np.max(corr) == pytest.approx(own)


def test_profiles_with_equal_sms_are_different_series():
    """1g.10gb and 1g.20gb have the same SMs; a 1g.20gb point is not corrected along 1g.10gb's batch series."""
    bump = {16: 1.25, 4: 1.30}
    target = records("t", bump, noise_seed=1)
    peers = [residuals(records(f"p{i}", bump, scale=1 + 0.3 * i, noise_seed=10 + i), GPU) for i in range(3)]
    fit, train, _ = held_out_batch(target, 16)
    q = Grid(np.array([16.0, 16.0]), np.array([2.0, 2.0]), np.array([14.0, 14.0]), np.array([1 / 8, 2 / 8]),
             np.full(2, np.nan))  # 1g.10gb (measured at other batches), 1g.20gb (never measured)
    corr = peer_correction(Residuals.of(fit, train), peers, q)
    assert corr[0] > 0.05 and corr[1] == 0.0


def test_deviation_does_not_depend_on_the_order_of_neighbours():
    line = {0.0: 0.0, 1.0: 1.0, 2.0: 2.0, 3.0: 0.0}
    assert _deviations(line, [1.0], [0.0, 2.0, 3.0]) == _deviations(line, [1.0], [3.0, 2.0, 0.0]) == [0.0]


def test_planner_offers_batch_sizes_other_models_were_measured_at_inside_the_models_range():
    from majula_model.perf.capacity import measured_points
    from majula_model.problem.loading import problem_from_instance
    from majula_model.perf.prediction import add_predictions
    from majula_model.schema import Instance

    bump = {16: 1.25, 4: 1.30}
    target = [r for r in records("t", bump, noise_seed=1) if r.batch not in (16, 64)]
    peers = [r for i in range(3) for r in records(f"p{i}", bump, scale=1 + 0.3 * i, noise_seed=10 + i)]
    inst = Instance(name="x", gpus=[{"type": GPU.type, "count": 1}], measurements=target + peers,
                    models=[{"name": "t", "slo_ms": 1000.0, "demand_rps": 1.0}], policy={"use_predictions": True})
    problem = problem_from_instance(inst)
    pts = add_predictions(problem, measured_points(problem))[("t", GPU.type, "3g.40gb")]
    offered = {(int(b), lb) for b, lb in zip(pts.batch, pts.source)}
    assert (16, "interpolated") in offered  # peers measured it, inside t's range 1..32
    assert not any(b == 64 for b, _ in offered)  # beyond t's largest batch: never extrapolated to
