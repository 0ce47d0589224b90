"""Fitted latency curves: one smooth function per (model, GPU type) of batch, processes and profile size.

Why: measurements cover a grid (profiles x batch sizes x processes) with holes (out of memory, not run), noise
and rounding. A curve fitted over the whole grid lets us interpolate batch sizes, predict profiles that were not
measured from those that were (MISO's idea: calibrate fewer slices) and smooth noise, and its error is measured
(``fit_report``), never assumed.

The form, per model and GPU type (b = batch, k = processes, s = SMs of the profile, m = its share of the GPU's
memory slices, i.e. of its memory bandwidth)::

    work(b, k, s, m) = k**beta * (w0 + w1 * b) / s**alpha  +  g * k * b / m
    latency(b, k, s, m) = (f**p + work**p) ** (1/p)

``f`` is the launch-bound floor at small batch, ``w1 / s**alpha`` the work-bound slope at large batch (alpha < 1:
bigger slices are used less efficiently), ``beta`` how well k MPS processes overlap, ``g`` a bandwidth term, and
``p`` how sharply the floor hands over to the slope. Parameters are fitted by robust least squares on log latency
(relative error is what matters for an SLO); points under 10 ms, which public data rounds to 1 ms, get a third of
the weight.

Measured points always win over the curve; ``Corrector`` bends the curve through nearby measurements (residuals
interpolated in log batch, or across profile sizes), which is what ``prediction`` serves.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from .catalog import FULL, GpuType
from .schema import MeasurementRecord

FORM_VERSION = 1
"""Bump when the curve form or fitting changes: it is part of the cache key."""

PARAMS = ("log_floor", "log_w0", "log_w1", "alpha", "beta", "log_g", "log_p")
_LOWER = np.array([-5.0, -10.0, -10.0, 0.2, 0.3, -20.0, 0.0])
_UPPER = np.array([8.0, 10.0, 10.0, 1.5, 1.5, 5.0, np.log(20.0)])
_COARSE_MS = 10.0
"""Below this latency, points are rounded coarsely in public data (1 ms): they get less weight."""


def profile_sms(gpu: GpuType, profile: str) -> float:
    """SMs of a profile (``full`` = the whole GPU): the compute it owns, from the catalog's spec fields."""
    if profile == FULL:
        return float(gpu.sms or gpu.compute_slices * (gpu.sms_per_compute_slice or 1))
    per = gpu.sms_per_compute_slice or 1
    return float(gpu.profile(profile).compute_slices * per)


def profile_memory_share(gpu: GpuType, profile: str) -> float:
    """Share of the GPU's memory slices (and so of its bandwidth) a profile owns; ``full`` = 1."""
    if profile == FULL:
        return 1.0
    return gpu.profile(profile).memory_slices / gpu.memory_slices


@dataclass(frozen=True)
class Grid:
    """Points as parallel arrays: the curve's inputs and (for measured ones) the latency."""

    batch: np.ndarray
    processes: np.ndarray
    sms: np.ndarray
    mem_share: np.ndarray
    latency_ms: np.ndarray

    @staticmethod
    def of(records: list[MeasurementRecord], gpu: GpuType) -> "Grid":
        return Grid(np.array([r.batch for r in records], float), np.array([r.processes for r in records], float),
                    np.array([profile_sms(gpu, r.profile) for r in records], float),
                    np.array([profile_memory_share(gpu, r.profile) for r in records], float),
                    np.array([r.latency_ms for r in records], float))

    def select(self, mask: np.ndarray) -> "Grid":
        return Grid(self.batch[mask], self.processes[mask], self.sms[mask], self.mem_share[mask],
                    self.latency_ms[mask])


def curve_latency(theta: np.ndarray, b, k, s, m) -> np.ndarray:
    """The curve at (batch, processes, SMs, memory share); vectorised over numpy arrays."""
    lf, lw0, lw1, alpha, beta, lg, lp = theta
    work = k ** beta * (np.exp(lw0) + np.exp(lw1) * b) / s ** alpha + np.exp(lg) * k * b / m
    p = np.exp(lp)
    return (np.exp(lf) ** p + work ** p) ** (1.0 / p)


@dataclass(frozen=True)
class CurveFit:
    """A fitted curve for one model on one GPU type, with its in-sample error."""

    model: str
    gpu: str
    theta: tuple[float, ...]
    n_points: int
    fit_mape: float

    def latency(self, grid: Grid) -> np.ndarray:
        return curve_latency(np.array(self.theta), grid.batch, grid.processes, grid.sms, grid.mem_share)


def fit_grid(grid: Grid) -> np.ndarray:
    """Least-squares parameters for a grid (robust loss on log latency, weak pull to a neutral start)."""
    lat = grid.latency_ms
    theta0 = np.array([np.log(max(lat.min(), 1e-3)) - 0.5, 0.0, 0.0, 0.9, 0.9, -5.0, np.log(2.0)])
    weight = np.where(lat >= _COARSE_MS, 1.0, 0.3)
    log_lat = np.log(lat)

    def residuals(theta: np.ndarray) -> np.ndarray:
        pred = curve_latency(theta, grid.batch, grid.processes, grid.sms, grid.mem_share)
        return np.concatenate([weight * (np.log(pred) - log_lat), 1e-3 * (theta - theta0)])

    theta0 = np.clip(theta0, _LOWER + 1e-9, _UPPER - 1e-9)
    res = least_squares(residuals, theta0, loss="soft_l1", f_scale=0.05, bounds=(_LOWER, _UPPER))
    return res.x


def records_hash(records: list[MeasurementRecord], gpu: GpuType) -> str:
    """Content hash of the inputs of a fit (records, the GPU's spec, the form version): the cache key."""
    payload = json.dumps([FORM_VERSION, gpu.model_dump(mode="json"),
                          sorted(r.model_dump_json() for r in records)])
    return hashlib.sha256(payload.encode()).hexdigest()


_CACHE: dict[str, CurveFit] = {}


def fit_curve(records: list[MeasurementRecord], gpu: GpuType) -> CurveFit:
    """Fit one model's records on one GPU type (real MIG points only where there are any); cached by content.

    Raises ValueError on an empty list: a curve needs at least one measurement.
    """
    if not records:
        raise ValueError("no records to fit")
    real = [r for r in records if not r.emulated and not r.colocated] or list(records)
    key = records_hash(real, gpu)
    if key not in _CACHE:
        grid = Grid.of(real, gpu)
        theta = fit_grid(grid)
        err = np.abs(curve_latency(theta, grid.batch, grid.processes, grid.sms, grid.mem_share) / grid.latency_ms - 1)
        _CACHE[key] = CurveFit(real[0].model, gpu.type, tuple(float(t) for t in theta), len(real), float(err.mean()))
    return _CACHE[key]


def clear_cache() -> None:
    """Forget cached fits (tests; the hash key makes this unnecessary for correctness)."""
    _CACHE.clear()


def _interp_residual(x: np.ndarray, r: np.ndarray, q: float) -> tuple[float, bool]:
    """Residual at ``q`` from residuals ``r`` at ``x`` (averaged over equal x): linear inside the range, the
    nearest one outside. Returns (residual, inside)."""
    xs = np.unique(x)
    rs = np.array([r[x == v].mean() for v in xs])
    if xs[0] - 1e-9 <= q <= xs[-1] + 1e-9:
        return float(np.interp(q, xs, rs)), True
    return float(rs[0] if q < xs[0] else rs[-1]), False


def corrected_latency(fit: CurveFit, measured: Grid, query: Grid) -> tuple[np.ndarray, list[str]]:
    """Latency at each query point, and its source label.

    ``measured`` where the exact point was measured (mean of repeats); ``interpolated`` where the same profile
    and process count was measured at batches on both sides (the curve bent through the residuals of its
    neighbours, in log batch); ``predicted`` otherwise (batch extrapolated with the nearest residual, or an
    unmeasured profile corrected by the residuals of measured profiles at the same batch and processes).
    """
    res = np.log(measured.latency_ms / fit.latency(measured))
    base = fit.latency(query)
    out, labels = np.empty(len(base)), []
    for i in range(len(base)):
        b, k, s, m = query.batch[i], query.processes[i], query.sms[i], query.mem_share[i]
        same_series = (measured.processes == k) & (measured.sms == s) & (measured.mem_share == m)
        exact = same_series & (measured.batch == b)
        if exact.any():
            out[i] = float(np.exp(np.log(measured.latency_ms[exact]).mean()))
            labels.append("measured")
            continue
        if same_series.any():
            r, inside = _interp_residual(np.log2(measured.batch[same_series]), res[same_series], float(np.log2(b)))
            labels.append("interpolated" if inside else "predicted")
        else:
            across = (measured.processes == k) & (measured.batch == b)
            r = _interp_residual(np.log(measured.sms[across]), res[across], float(np.log(s)))[0] if across.any() else 0.0
            labels.append("predicted")
        out[i] = base[i] * np.exp(r)
    return out, labels
