"""Cross-model correction: what other models measured at a batch size tells where one model's curve misses.

Why: a fitted curve is smooth in batch, but measured latency is not. Some of the departures are shared by the
models that ran on the same profile with the same number of processes: MPS processes that overlap at batch 1 and
serialise from batch 2, a cuDNN algorithm that switches at one batch size on one slice size. Where one model was
not measured at a batch size (or the point was lost) but others were, their departures at that point say which way
and how far the first model's interpolation is likely to miss. This is the collaborative-filtering idea of
Paragon and Quasar (Delimitrou and Kozyrakis, ASPLOS 2013/2014): predict a workload's unmeasured configurations from
how similar workloads behaved there, with similarity learned from the configurations both were measured on.

For a target model X and every other model P measured on the same GPU type:

- a point's *deviation* is its log residual (measured vs its own model's curve) minus what the residuals of its
  series (same profile and processes) say at its batch: interpolated in log batch between the nearest measured
  batches on both sides, or the nearest one outside them. X's deviations are leave-one-out within X's series;
  P's are taken at the same points with the neighbour batches X has, so both describe the same interpolation.
- P's weight is its squared correlation with X over the points both have (at least ``MIN_COMMON``): the share
  of X's deviations that P's explain. Opposite models, and those whose correlation is within ``SIGNIFICANT``
  standard errors of zero, get weight zero.
- the peer signal at a point is the weighted mean of the peers' deviations there, and it is shrunk by
  beta = <signal, X's deviations> / <signal, signal>, clipped to [0, 1], fitted on X's measured points: a model
  whose deviations the peers do not predict gets no correction at all.

The correction multiplies the batch-interpolated latency (``curves.corrected_latency``) by exp(beta * signal)
at points whose series X measured at other batches, and likewise along profile size for a profile X was not
measured on (deviations there are from the interpolation across profile sizes at the same batch and processes).
It is clipped to the largest deviation X itself showed: one peer's anomalous point must not move a prediction
further than X was ever seen to move. Where no peer measured the point, it is zero, and the
prediction is the single-model one. Its effect is measured in ``fit_report`` (leave-one-batch-out with and
without peers), never assumed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..hardware.catalog import Catalog, GpuType
from .curves import CurveFit, Grid, corrected_latency, fit_curve, records_hash
from ..schema import MeasurementRecord
from .cache import register

MIN_COMMON = 5
"""Fewest shared points for a peer's correlation to count (with fewer, a correlation is noise)."""

SIGNIFICANT = 3.0
"""A peer counts only where its correlation with the target exceeds this many standard errors of a correlation
between unrelated series (1/sqrt(n) over n shared points): unrelated models then get no weight at all, instead
of many small weights whose mean is noise."""

LineKey = tuple[float, ...]
"""What a line of points holds fixed: (SMs, memory share, processes) along batch, i.e. one profile's series as
``curves.corrected_latency`` has it (1g.10gb and 1g.20gb have equal SMs and are different series); (processes,
log2 batch) along profile size."""

AXES = ("batch", "profile")
"""The two directions a point is predicted along: batch sizes of a measured series, or profile sizes at the same
batch and processes (a profile that was not measured)."""


Line = dict[float, float]
"""One line's residuals by coordinate (log2 batch along batch, log SMs along profile size), repeats averaged."""


@dataclass(frozen=True)
class Residuals:
    """One model's log residuals against its own curve, as lines along each axis (``Line``)."""

    lines: dict[str, dict[LineKey, Line]]
    key: str = ""
    """Content hash of the records behind it (``residuals``); empty when built for one use."""

    @staticmethod
    def of(fit: CurveFit, grid: Grid, key: str = "") -> "Residuals":
        res = np.log(grid.fit_ms / fit.latency(grid))
        sums: dict[str, dict[LineKey, dict[float, list[float]]]] = {axis: {} for axis in AXES}
        for s, m, k, b, r in zip(grid.sms.tolist(), grid.mem_share.tolist(), grid.processes.tolist(),
                                 grid.batch.tolist(), res.tolist()):
            for axis in AXES:
                where, x = line_of(axis, s, m, k, b)
                sums[axis].setdefault(where, {}).setdefault(x, []).append(r)
        return Residuals({axis: {where: {x: sum(v) / len(v) for x, v in sorted(line.items())}
                                 for where, line in lines.items()} for axis, lines in sums.items()}, key)


def line_of(axis: str, sms: float, mem_share: float, processes: float, batch: float) -> tuple[LineKey, float]:
    """The line a point lies on along ``axis``, and its coordinate there. Along profile size the coordinate is
    log SMs, as in ``curves.corrected_latency``: profiles with equal SMs share it (and are not told apart)."""
    if axis == "batch":
        return (float(sms), float(mem_share), float(processes)), math.log2(batch)
    return (float(processes), math.log2(batch)), math.log(sms)


def _deviations(line: Line | None, points: list[float], neighbours: list[float]) -> list[float]:
    """Deviation of a line's residual at each of ``points`` from what its residuals at the ``neighbours``
    coordinates say there (the point itself left out): interpolated between the nearest on both sides, the
    nearest one outside them (``neighbours`` in any order). NaN where the line lacks the point or every
    neighbour.

    Plain Python on purpose: lines hold at most a dozen points, where numpy's per-call cost dominates."""
    if line is None:
        return [math.nan] * len(points)
    have = sorted(n for n in neighbours if n in line)
    out = []
    for x in points:
        if x not in line:
            out.append(math.nan)
            continue
        lo = [n for n in have if n < x]
        hi = [n for n in have if n > x]
        if lo and hi:
            xl, xr = lo[-1], hi[0]
            said = line[xl] + (x - xl) / (xr - xl) * (line[xr] - line[xl])
        elif lo or hi:
            said = line[lo[-1]] if lo else line[hi[0]]
        else:
            out.append(math.nan)
            continue
        out.append(line[x] - said)
    return out


def _weights(target: np.ndarray, peer: np.ndarray) -> np.ndarray:
    """Squared correlation of each peer column with the target over the rows both have, where it is positive and
    significant (``SIGNIFICANT``); 0 otherwise."""
    w = np.zeros(peer.shape[1])
    for j in range(peer.shape[1]):
        ok = ~np.isnan(peer[:, j]) & ~np.isnan(target)
        if ok.sum() >= MIN_COMMON and peer[ok, j].std() > 0 and target[ok].std() > 0:
            c = float(np.corrcoef(peer[ok, j], target[ok])[0, 1])
            w[j] = c ** 2 if c > SIGNIFICANT / np.sqrt(ok.sum()) else 0.0
    return w


def _signal(peer: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted mean of the peers' deviations per row, over the peers that have the row (0 where none has)."""
    have = ~np.isnan(peer)
    num = np.where(have, peer, 0.0) @ w
    den = have @ w
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


@dataclass(frozen=True)
class _Learned:
    """What ``_learn`` found: each peer's weight, the shrinkage beta, and the largest deviation the target itself
    showed (a correction never exceeds it: one peer's anomalous point must not move a prediction further than
    the target was ever seen to move)."""

    weights: np.ndarray
    beta: float
    limit: float


_LEARNED: dict[tuple, _Learned | None] = {}


def _learn(target: Residuals, peers: list[Residuals], axis: str) -> _Learned | None:
    """Peer weights and shrinkage along one axis, from the target's measured points (module docstring); cached
    when every input has a content key (the planner asks for many profiles and process counts of one model)."""
    cache_key = (target.key, tuple(p.key for p in peers), axis)
    cacheable = target.key and all(p.key for p in peers)
    if cacheable and cache_key in _LEARNED:
        return _LEARNED[cache_key]
    learned = _learn_uncached(target, peers, axis)
    if cacheable:
        if len(_LEARNED) >= _CACHE_LIMIT:
            _LEARNED.clear()
        _LEARNED[cache_key] = learned
    return learned


def _learn_uncached(target: Residuals, peers: list[Residuals], axis: str) -> _Learned | None:
    rows_t, rows_p = [], []
    for key, line in target.lines[axis].items():
        xs = list(line)
        if len(xs) < 2:
            continue
        rows_t += _deviations(target.lines[axis][key], xs, xs)
        rows_p += zip(*(_deviations(p.lines[axis].get(key), xs, xs) for p in peers))
    if not rows_t:
        return None
    y, P = np.array(rows_t), np.array(rows_p, float)
    w = _weights(y, P)
    if not w.any():
        return None
    f = _signal(P, w)
    ok = ~np.isnan(y)
    beta = float(np.clip(f[ok] @ y[ok] / max(f[ok] @ f[ok], 1e-12), 0.0, 1.0))
    return _Learned(w, beta, float(np.nanmax(np.abs(y)))) if beta > 0 else None


def peer_correction(target: Residuals, peers: list[Residuals], query: Grid) -> np.ndarray:
    """Log correction at each query point (0 where the peers say nothing); see the module docstring.

    A point on a measured series (same profile and processes, other batches) is corrected along batch; a point
    of an unmeasured profile, along profile size at the same batch and processes; a measured point not at all.
    """
    correction = np.zeros(len(query.batch))
    if not peers:
        return correction
    learned: dict[str, _Learned | None] = {}
    for i in range(len(query.batch)):
        for axis in AXES:
            key, x = line_of(axis, query.sms[i], query.mem_share[i], query.processes[i], query.batch[i])
            line = target.lines[axis].get(key)
            if line is None:
                continue
            if x in line:
                break  # measured (or, along profile size, a profile with the same SMs was): nothing to correct
            if axis not in learned:
                learned[axis] = _learn(target, peers, axis)
            how = learned[axis]
            if how is not None:
                q = np.array([_deviations(p.lines[axis].get(key), [x], list(line)) for p in peers], float).T
                correction[i] = float(np.clip(how.beta * _signal(q, how.weights)[0], -how.limit, how.limit))
            break
    return correction


_CACHE: dict[str, Residuals] = {}
_CACHE_LIMIT = 512
"""Entries kept in each cache before it is emptied: keys are content hashes, so a result is never stale, but a
long-lived process fed many calibrations must not grow without bound."""


@register
def clear_cache() -> None:
    """Forget cached residuals and learned weights (tests; correctness never needs it)."""
    _CACHE.clear()
    _LEARNED.clear()


def residuals(records: list[MeasurementRecord], gpu: GpuType) -> Residuals:
    """A peer's residuals against its own curve fitted on all its records (cached under the fit's content hash)."""
    real = [r for r in records if not r.emulated and not r.colocated] or list(records)
    key = records_hash(real, gpu)
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        _CACHE[key] = Residuals.of(fit_curve(real, gpu), Grid.of(real, gpu), key)
    return _CACHE[key]


def peers_on(records: list[MeasurementRecord], model: str, gpu: GpuType, catalog: Catalog) -> list[Residuals]:
    """Residuals of every other model with real, solo measurements on ``gpu`` (the peers of ``model``)."""
    by_model: dict[str, list[MeasurementRecord]] = {}
    for r in records:
        if r.model != model and not r.colocated and not r.emulated and catalog.resolve(r.gpu) == gpu.type:
            by_model.setdefault(r.model, []).append(r)
    return [residuals(recs, gpu) for _, recs in sorted(by_model.items())]


def corrected_with_peers(fit: CurveFit, measured: Grid, query: Grid, peers: list[Residuals],
                         target: Residuals | None = None) -> tuple[np.ndarray, list[str]]:
    """``curves.corrected_latency`` times the peers' correction (``peer_correction``); labels unchanged.
    ``target``: the measured points' residuals against ``fit`` where already at hand (``residuals``)."""
    base, labels = corrected_latency(fit, measured, query)
    if not peers:
        return base, labels
    return base * np.exp(peer_correction(target or Residuals.of(fit, measured), peers, query)), labels
