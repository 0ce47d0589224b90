"""Fitted latency curves: one smooth function per (model, GPU type) of batch, processes and profile size.

Why: measurements cover a grid (profiles x batch sizes x processes) with holes (out of memory, not run), noise
and rounding. A curve fitted over the whole grid lets us interpolate batch sizes, predict profiles that were not
measured from those that were (MISO's idea: calibrate fewer slices) and smooth noise, and its error is measured
(``fit_report``), never assumed.

The curve, per model and GPU type (b = batch, k = processes, s = SMs of the profile, m = its share of the GPU's
memory slices, i.e. of its memory bandwidth), is the geometric mean of three fitted forms that share one
skeleton, a launch-bound floor ``f`` handed over (p-norm, sharpness ``p``) to a work term::

    roofline:     work = k**beta * (w0 + w1 * b) / s**alpha                          + g * k * b / m
    power:        work = k**beta * (w0 + w1 * b**gamma) / s**alpha                   + g * k * b / m
    process:      work = (k**beta * w0 + k**gamma * w1 * b) / s**alpha               + g * k * b / m,
                  floor = f * k**delta
    latency(b, k, s, m) = (floor**p + work**p) ** (1/p)

``w1 / s**alpha`` is the work-bound slope at large batch (alpha < 1: bigger slices are used less efficiently),
``beta`` how well k MPS processes overlap, ``g`` a bandwidth term, ``gamma`` lets per-sample cost fall (BERT) or
the process overlap differ between fixed and per-sample work, ``delta`` lets the floor grow with processes. Each
form nests the first; averaging them (in log) is model averaging: where one form misreads a series' shape the
others pull it back, which lowered the held-out batch error (``fit_report``) without adding a knob per series.
Parameters are fitted by robust least squares (Cauchy loss) on log latency, relative error being what matters
for an SLO. Public data rounds latency to whole milliseconds; where a record's throughput implies a latency that
rounds to the recorded one (``k * b * 1000 / throughput_rps``), the fit uses that unrounded value (the same
quantity without the rounding); other points under 10 ms get a third of the weight.

Measured points always win over the curve; ``corrected_latency`` bends the curve through nearby measurements
(residuals interpolated in log batch, or across profile sizes), which is what ``prediction`` serves.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from ..hardware.catalog import FULL, GpuType
from ..schema import MeasurementRecord
from .cache import register

FORM_VERSION = 2
"""Bump when the curve form or fitting changes: it is part of the cache key (2: three-form average, Cauchy loss,
unrounded latency from throughput, outlier-skipping interpolation)."""

PARAMS = ("log_floor", "log_w0", "log_w1", "alpha", "beta", "log_g", "log_p")
"""Parameters of the roofline form; the other forms append theirs (``FORMS``)."""
_LOWER = np.array([-5.0, -10.0, -10.0, 0.2, 0.3, -20.0, 0.0])
_UPPER = np.array([8.0, 10.0, 10.0, 1.5, 1.5, 5.0, np.log(20.0)])
_START = np.array([np.nan, 0.0, 0.0, 0.9, 0.9, -5.0, np.log(2.0)])  # nan: set from the data (log of min latency)
_COARSE_MS = 10.0
"""Below this latency, points are rounded coarsely in public data (1 ms): they get less weight unless the
throughput undoes the rounding."""
_ROUNDING_MS = 0.51
"""A recorded whole-millisecond latency and the throughput-implied one agree within this when the former is the
latter rounded (ParvaGPU: at most 0.509 ms over 1747 points)."""
OUTLIER_LOG = 0.2
"""A measured point whose residual departs by more than this (log, ~20%) from what its series neighbours say is
not used to interpolate a batch between others (it is still used everywhere else, and it is still measured)."""


def profile_sms(gpu: GpuType, profile: str) -> float:
    """SMs of a profile (``full`` = the whole GPU): the compute it owns, from the catalog's spec fields.

    No guess when a figure is missing (one SM per slice made a B200 slice look many times slower than an A100's):
    an error naming the field. A type used whole (``mig: false``, e.g. ``cpu``) has one profile, so without
    ``sms`` its size is simply the unit.
    """
    per = gpu.sms_per_compute_slice
    if profile == FULL:
        if gpu.sms is not None:
            return float(gpu.sms)
        if per is not None:
            return float(gpu.compute_slices * per)
        if not gpu.mig:
            return 1.0
    if per is None:
        from ..errors import InputError

        raise InputError(f"GPU type {gpu.type} has no sms_per_compute_slice in the catalog, so the SMs of its "
                         f"profiles are unknown (docs/hardware.md)", field="sms_per_compute_slice")
    return float(gpu.profile(profile).compute_slices * per)


def profile_memory_share(gpu: GpuType, profile: str) -> float:
    """Share of the GPU's memory slices (and so of its bandwidth) a profile owns; ``full`` = 1."""
    if profile == FULL:
        return 1.0
    return gpu.profile(profile).memory_slices / gpu.memory_slices


@dataclass(frozen=True)
class Grid:
    """Points as parallel arrays: the curve's inputs and (for measured ones) the latency.

    ``precise_ms`` (optional) is the latency the fit and residuals use: the recorded ``latency_ms`` unless the
    record's throughput undoes its rounding to whole milliseconds (see ``unrounded_latency``). Answers for
    measured points always give the recorded ``latency_ms``.
    """

    batch: np.ndarray
    processes: np.ndarray
    sms: np.ndarray
    mem_share: np.ndarray
    latency_ms: np.ndarray
    precise_ms: np.ndarray | None = None

    @staticmethod
    def of(records: list[MeasurementRecord], gpu: GpuType) -> "Grid":
        return Grid(np.array([r.batch for r in records], float), np.array([r.processes for r in records], float),
                    np.array([profile_sms(gpu, r.profile) for r in records], float),
                    np.array([profile_memory_share(gpu, r.profile) for r in records], float),
                    np.array([r.latency_ms for r in records], float),
                    np.array([unrounded_latency(r) for r in records], float))

    @property
    def fit_ms(self) -> np.ndarray:
        """The latency to fit and correct against: ``precise_ms`` where known, else ``latency_ms``."""
        return self.latency_ms if self.precise_ms is None else self.precise_ms

    def select(self, mask: np.ndarray) -> "Grid":
        return Grid(self.batch[mask], self.processes[mask], self.sms[mask], self.mem_share[mask],
                    self.latency_ms[mask], None if self.precise_ms is None else self.precise_ms[mask])


def unrounded_latency(r: MeasurementRecord) -> float:
    """The record's latency without whole-millisecond rounding, where its throughput gives it; else ``latency_ms``.

    Public data (ParvaGPU) record latency rounded to 1 ms but throughput unrounded, and ``k * b * 1000 /
    throughput`` rounds to the recorded latency on every point: then that value is the same quantity, more
    precise. Only used when the recorded latency is a whole number of milliseconds and the two agree within
    rounding, so a p99 latency recorded next to a mean throughput (perf_analyzer) is left as it is.
    """
    lat = r.latency_ms
    if r.throughput_rps and lat == round(lat):
        implied = r.processes * r.batch * 1000.0 / r.throughput_rps
        if abs(implied - lat) <= _ROUNDING_MS:
            return float(implied)
    return float(lat)


def curve_latency(theta: np.ndarray, b, k, s, m) -> np.ndarray:
    """The roofline form at (batch, processes, SMs, memory share); vectorised over numpy arrays."""
    lf, lw0, lw1, alpha, beta, lg, lp = theta
    work = k ** beta * (np.exp(lw0) + np.exp(lw1) * b) / s ** alpha + np.exp(lg) * k * b / m
    p = np.exp(lp)
    return (np.exp(lf) ** p + work ** p) ** (1.0 / p)


def _power_latency(theta: np.ndarray, b, k, s, m) -> np.ndarray:
    """The power form: per-sample work ``w1 * b**gamma`` (gamma < 1: per-sample cost falls with batch)."""
    lf, lw0, lw1, alpha, beta, lg, lp, gamma = theta
    work = k ** beta * (np.exp(lw0) + np.exp(lw1) * b ** gamma) / s ** alpha + np.exp(lg) * k * b / m
    p = np.exp(lp)
    return (np.exp(lf) ** p + work ** p) ** (1.0 / p)


def _process_latency(theta: np.ndarray, b, k, s, m) -> np.ndarray:
    """The process form: fixed and per-sample work overlap differently across processes; the floor grows with k."""
    lf, lw0, lw1, alpha, beta, lg, lp, gamma, delta = theta
    work = (k ** beta * np.exp(lw0) + k ** gamma * np.exp(lw1) * b) / s ** alpha + np.exp(lg) * k * b / m
    p = np.exp(lp)
    return ((np.exp(lf) * k ** delta) ** p + work ** p) ** (1.0 / p)


FORMS = {
    # name: (function, lower bounds, upper bounds, start); extra parameters start where the form equals roofline
    "roofline": (curve_latency, _LOWER, _UPPER, _START),
    "power": (_power_latency, np.append(_LOWER, 0.5), np.append(_UPPER, 1.3), np.append(_START, 1.0)),
    "process": (_process_latency, np.append(_LOWER, [0.3, 0.0]), np.append(_UPPER, [1.5, 1.0]),
                np.append(_START, [0.9, 0.05])),
}
"""The forms whose geometric mean is the curve (module docstring)."""


@dataclass(frozen=True)
class CurveFit:
    """A fitted curve for one model on one GPU type, with its in-sample error.

    ``theta`` is the roofline form's parameters (``PARAMS``); ``members`` holds every form's (name, parameters),
    and the curve is their geometric mean (the roofline form alone where ``members`` is empty)."""

    model: str
    gpu: str
    theta: tuple[float, ...]
    n_points: int
    fit_mape: float
    members: tuple[tuple[str, tuple[float, ...]], ...] = ()

    def latency(self, grid: Grid) -> np.ndarray:
        return _mean_latency(self.members or (("roofline", self.theta),), grid)


def _mean_latency(members, grid: Grid) -> np.ndarray:
    logs = [np.log(FORMS[name][0](np.array(theta), grid.batch, grid.processes, grid.sms, grid.mem_share))
            for name, theta in members]
    return np.exp(np.mean(logs, axis=0))


def fit_form(grid: Grid, form: str = "roofline", roofline: np.ndarray | None = None) -> np.ndarray:
    """Least-squares parameters of one form for a grid (Cauchy loss on log latency, weak pull to a neutral
    start); points under 10 ms whose rounding was not undone (``Grid.precise_ms``) weigh 0.3. ``roofline``
    (fitted roofline parameters) starts a nesting form where it equals that fit, which converges faster."""
    fn, lower, upper, start = FORMS[form]
    lat = grid.fit_ms
    theta0 = start.copy()
    theta0[0] = np.log(max(lat.min(), 1e-3)) - 0.5
    if roofline is not None:
        theta0[:len(roofline)] = roofline
    theta0 = np.clip(theta0, lower + 1e-9, upper - 1e-9)
    rounded = grid.latency_ms == grid.fit_ms
    weight = np.where((lat >= _COARSE_MS) | ~rounded, 1.0, 0.3)
    log_lat = np.log(lat)

    def residuals(theta: np.ndarray) -> np.ndarray:
        pred = fn(theta, grid.batch, grid.processes, grid.sms, grid.mem_share)
        return np.concatenate([weight * (np.log(pred) - log_lat), 1e-3 * (theta - theta0)])

    return least_squares(residuals, theta0, loss="cauchy", f_scale=0.05, bounds=(lower, upper)).x


def records_hash(records: list[MeasurementRecord], gpu: GpuType) -> str:
    """Content hash of the inputs of a fit (records, the GPU's spec, the form version): the cache key."""
    payload = json.dumps([FORM_VERSION, gpu.model_dump(mode="json"),
                          sorted(r.model_dump_json() for r in records)])
    return hashlib.sha256(payload.encode()).hexdigest()


_CACHE: dict[str, CurveFit] = {}
_CACHE_LIMIT = 1024


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
        roof = fit_form(grid, "roofline")
        members = (("roofline", roof),) + tuple((name, fit_form(grid, name, roof)) for name in FORMS if name != "roofline")
        members = tuple((name, tuple(float(t) for t in theta)) for name, theta in members)
        err = np.abs(_mean_latency(members, grid) / grid.latency_ms - 1)
        if len(_CACHE) >= _CACHE_LIMIT:  # content-keyed, never stale; bounded for long-lived processes
            _CACHE.clear()
        _CACHE[key] = CurveFit(real[0].model, gpu.type, members[0][1], len(real), float(err.mean()), members)
    return _CACHE[key]


@register
def clear_cache() -> None:
    """Forget cached fits (tests; the hash key makes this unnecessary for correctness). ``cache.clear_all`` also
    forgets what ``peers`` built from fits."""
    _CACHE.clear()


def _interp_residual(x: np.ndarray, r: np.ndarray, q: float) -> tuple[float, bool]:
    """Residual at ``q`` from residuals ``r`` at ``x`` (averaged over equal x): linear inside the range, the
    nearest one outside. Returns (residual, inside)."""
    xs = np.unique(x)
    rs = np.array([r[x == v].mean() for v in xs])
    if xs[0] - 1e-9 <= q <= xs[-1] + 1e-9:
        return float(np.interp(q, xs, rs)), True
    return float(rs[0] if q < xs[0] else rs[-1]), False


def series_outlier(x: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Mask of at most one outlier in a series of residuals ``r`` at distinct, sorted ``x`` (log batch).

    Each point is compared with what the others say at its place (interpolated between its neighbours, or the
    nearest one at an end); the point that departs most is an outlier if it departs by more than
    ``OUTLIER_LOG``. Needs three points: with two, neither can be told from the other.
    """
    out = np.zeros(len(x), bool)
    if len(x) < 3:
        return out
    dev = np.empty(len(x))
    for i in range(len(x)):
        xo, ro = np.delete(x, i), np.delete(r, i)
        dev[i] = r[i] - (np.interp(x[i], xo, ro) if xo[0] < x[i] < xo[-1] else ro[0] if x[i] < xo[0] else ro[-1])
    j = int(np.argmax(np.abs(dev)))
    out[j] = abs(dev[j]) > OUTLIER_LOG
    return out


def corrected_latency(fit: CurveFit, measured: Grid, query: Grid) -> tuple[np.ndarray, list[str]]:
    """Latency at each query point, and its source label.

    ``measured`` where the exact point was measured (mean of repeats); ``interpolated`` where the same profile
    and process count was measured at batches on both sides (the curve bent through the residuals of its
    neighbours, in log batch; a neighbour that is an outlier of its series, ``series_outlier``, is skipped for
    the next one, so one anomalous measurement does not bend the batches around it); ``predicted`` otherwise
    (batch extrapolated with the nearest residual, or an unmeasured profile corrected by the residuals of
    measured profiles at the same batch and processes).
    """
    res = np.log(measured.fit_ms / fit.latency(measured))
    base = fit.latency(query)
    out, labels = np.empty(len(base)), []
    outlier: dict[tuple, np.ndarray] = {}
    for i in range(len(base)):
        b, k, s, m = query.batch[i], query.processes[i], query.sms[i], query.mem_share[i]
        same_series = (measured.processes == k) & (measured.sms == s) & (measured.mem_share == m)
        exact = same_series & (measured.batch == b)
        if exact.any():
            out[i] = float(np.exp(np.log(measured.latency_ms[exact]).mean()))
            labels.append("measured")
            continue
        if same_series.any():
            x = np.log2(measured.batch[same_series])
            r, inside = _interp_residual(x, res[same_series], float(np.log2(b)))
            if inside:
                key = (k, s, m)
                if key not in outlier:
                    xs = np.unique(x)
                    outlier[key] = xs[series_outlier(xs, np.array([res[same_series][x == v].mean() for v in xs]))]
                keep = ~np.isin(x, outlier[key])
                r = _interp_residual(x[keep], res[same_series][keep], float(np.log2(b)))[0]
            labels.append("interpolated" if inside else "predicted")
        else:
            across = (measured.processes == k) & (measured.batch == b)
            r = _interp_residual(np.log(measured.sms[across]), res[across], float(np.log(s)))[0] if across.any() else 0.0
            labels.append("predicted")
        out[i] = base[i] * np.exp(r)
    return out, labels
