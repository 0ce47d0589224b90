"""MPS co-location: how much a model slows down when other models run in the same instance (issue 12).

Why a fitted model: co-located latency depends on the pair and on both batch sizes, and a calibration measures a
few pairs at a few batches; the planner asks about every pair at every batch on every profile. A model whose
features come from what each model does *alone* (the solo curves of ``curves``, fitted from solo records) needs
few coefficients, and it extends to pairs that were never measured together. Gpulet (ATC'22) and iGniter
(TPDS'23) model interference as linear in what the co-runners use (L2, DRAM bandwidth); the solo curves give us
the analogous quantities without profiling counters.

The model, per GPU type. Model i at batch b_i on profile p, next to co-runners j at b_j (one process each)::

    L_i' = L_i * (1 + s_i),     log(1 + s_i) = sum_j  x_ij . beta,   beta >= 0
    x_ij = (1, u_i * u_j, u_i, u_j, L_j / (L_i + L_j))

- ``L`` is the solo latency on that profile at that batch (processes 1): the measured point (geometric mean of
  repeats), else the model's fitted solo curve bent through its measurements (``curves.corrected_latency``).
- ``u`` is the saturation, in [0, 1]: the share of the solo latency that is the curve's work term rather than
  its launch floor, ``1 - (floor / L)**p`` of the p-norm skeleton, averaged over the curve's forms. Small batches
  of small models are launch-bound (u near 0) and leave the instance idle for a co-runner; large batches
  saturate it (u near 1).
- ``u_i * u_j``: two saturating models compete for the same SMs; ``u_i``: a saturating model loses when anything
  shares its instance (on a CPU the cores are split whatever the co-runner does); ``u_j``: a busy co-runner
  takes bandwidth even from a launch-bound model; ``L_j / (L_i + L_j)``: a co-runner with longer batches holds
  the instance for longer stretches (time-slicing granularity); the constant is a fixed cost per co-runner.

Coefficients are non-negative (``scipy.optimize.nnls``: a co-runner never speeds a model up) and fitted on
``log(1 + s)``, i.e. on log latency (relative error, what an SLO cares about). Fitting ``s`` itself was the
alternative; on the CPU calibration it had the larger leave-one-pair-out error (docs/sharing.md), and
``leave_one_pair_out`` reports both so the choice stays checked. Where a GPU type has no co-located records at all
the planner may use ``PRIOR`` (full serialisation), but only when asked (``policy.interference_prior``).

What is measured always wins: a (model, batch, co-runners with batches) combination that was measured is served
as measured ("colocated-measured"); everything else is "colocated-predicted".
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import nnls

from ..errors import InputError
from ..hardware.catalog import Catalog, GpuType
from ..schema import MeasurementRecord
from .cache import register
from .curves import FORMS, PARAMS, Grid, corrected_latency, fit_curve, profile_memory_share, profile_sms, records_hash

INTERFERENCE_VERSION = 1
"""Bump when features, target or fitting change: it is part of the cache key."""

FEATURES = ("const", "u_i*u_j", "u_i", "u_j", "L_j/(L_i+L_j)")
"""Names of the per-co-runner features, in the order of ``InterferenceFit.coef``."""

TARGETS = ("log1p", "s")
"""What the least squares fit: ``log(1 + s)`` (the default) or the slowdown ``s`` itself."""

MEASURED = "colocated-measured"
PREDICTED = "colocated-predicted"

PRIOR_SLOWDOWN_PER_CO_RUNNER = 1.0
"""The conservative prior, for GPU types without co-located measurements: each co-runner adds one solo batch
latency of the target, ``L' = L * (1 + len(others))``, i.e. the models are fully serialised (what time-slicing
gives when every co-runner is saturating). It is the model above with ``beta = (1, 0, 0, 0, 0)`` on target ``s``
(``PRIOR``). It is not a bound: two bandwidth-bound models can thrash each other's caches worse than taking
turns, and a co-runner with longer batches delays a time-sliced model by more than its own latency. Used only
where ``policy.interference_prior`` allows, and labelled "colocated-predicted" like every other prediction."""


@dataclass(frozen=True)
class InterferenceFit:
    """Fitted interference coefficients of one GPU type (or ``PRIOR``), with what they were fitted on."""

    gpu: str
    coef: tuple[float, ...]
    target: str = "log1p"
    n_records: int = 0
    pairs: tuple[tuple[str, str], ...] = ()
    fit_mape: float | None = None      # in-sample latency error, %
    skipped: int = 0                   # co-located records without the solo latencies their features need

    def factor(self, l_i, u_i, l_j, u_j) -> np.ndarray:
        """``L_i' / L_i`` next to one co-runner j (numpy arrays broadcast against each other)."""
        return self.factor_of(features(l_i, u_i, l_j, u_j))

    def factor_of(self, x: np.ndarray) -> np.ndarray:
        """``L' / L`` for summed feature rows ``x`` (``..., len(FEATURES)``)."""
        z = np.asarray(x, float) @ np.asarray(self.coef, float)
        return np.exp(z) if self.target == "log1p" else 1.0 + z

    def as_dict(self) -> dict:
        return {"gpu": self.gpu, "target": self.target, "coef": dict(zip(FEATURES, map(_round, self.coef))),
                "records": self.n_records, "pairs": ["+".join(p) for p in self.pairs], "fit_mape": self.fit_mape,
                "skipped": self.skipped}


PRIOR = InterferenceFit("*", (PRIOR_SLOWDOWN_PER_CO_RUNNER, 0.0, 0.0, 0.0, 0.0), "s")
"""``PRIOR_SLOWDOWN_PER_CO_RUNNER`` as an InterferenceFit, so ``pair_latencies`` takes either."""


def _round(x: float) -> float:
    return round(float(x), 6)


def features(l_i, u_i, l_j, u_j) -> np.ndarray:
    """Feature rows ``x_ij`` (last axis ``FEATURES``) for arrays of target and co-runner (L, u)."""
    l_i, u_i, l_j, u_j = np.broadcast_arrays(*(np.asarray(v, float) for v in (l_i, u_i, l_j, u_j)))
    return np.stack([np.ones_like(l_i), u_i * u_j, u_i, u_j, l_j / (l_i + l_j)], axis=-1)


# --- solo latency and saturation -------------------------------------------------------------------------------

def on_type(records: Iterable[MeasurementRecord], gpu: GpuType) -> list[MeasurementRecord]:
    """Records whose GPU names ``gpu`` (its type or an alias, case-insensitive, as ``Catalog.resolve``)."""
    names = {n.strip().casefold() for n in (gpu.type, *gpu.aliases)}
    return [r for r in records if r.gpu.strip().casefold() in names]


def saturation(fit, grid: Grid) -> np.ndarray:
    """Work share of the solo curve at each grid point, ``1 - (floor / L)**p`` averaged over its forms, in [0, 1]."""
    lf, lp = PARAMS.index("log_floor"), PARAMS.index("log_p")
    shares = []
    for name, theta in fit.members or (("roofline", fit.theta),):
        th = np.array(theta)
        lat = FORMS[name][0](th, grid.batch, grid.processes, grid.sms, grid.mem_share)
        shares.append(1.0 - (np.exp(th[lf]) / lat) ** np.exp(th[lp]))
    return np.clip(np.mean(shares, axis=0), 0.0, 1.0)


def solo_features(solo: list[MeasurementRecord], gpu: GpuType, profile: str,
                  batches: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """(latency_ms, saturation) of one model alone on ``profile`` at each batch (processes 1), from its solo
    records on ``gpu``: measured where measured, else its corrected fitted curve."""
    fit = fit_curve(solo, gpu)
    real = [r for r in solo if not r.emulated] or solo
    n = len(batches)
    query = Grid(np.array(batches, float), np.ones(n), np.full(n, profile_sms(gpu, profile)),
                 np.full(n, profile_memory_share(gpu, profile)), np.full(n, np.nan))
    lat, _ = corrected_latency(fit, Grid.of(real, gpu), query)
    return lat, saturation(fit, query)


class SoloTable:
    """Solo (latency, saturation) of every model on a GPU type, computed once per (model, profile) and kept."""

    def __init__(self, records: list[MeasurementRecord], gpu: GpuType) -> None:
        self.gpu = gpu
        self.solo: dict[str, list[MeasurementRecord]] = defaultdict(list)
        for r in records:
            if not r.colocated:
                self.solo[r.model].append(r)
        self._known: dict[tuple[str, int, str], tuple[float, float]] = {}

    def has(self, model: str) -> bool:
        return model in self.solo

    def prepare(self, wanted: Iterable[tuple[str, int, str]]) -> None:
        """Compute the (model, batch, profile) points not yet known, one curve query per (model, profile)."""
        todo: dict[tuple[str, str], set[int]] = defaultdict(set)
        for m, b, p in wanted:
            if (m, b, p) not in self._known and self.has(m):
                todo[(m, p)].add(b)
        for (m, p), bs in todo.items():
            order = sorted(bs)
            lat, sat = solo_features(self.solo[m], self.gpu, p, order)
            self._known.update({(m, b, p): (float(lt), float(u)) for b, lt, u in zip(order, lat, sat)})

    def get(self, model: str, batch: int, profile: str) -> tuple[float, float]:
        """(latency_ms, saturation); InputError when the model has no solo records on the type."""
        if not self.has(model):
            raise InputError(f"no solo measurements of model '{model}' on {self.gpu.type}: its co-located latency "
                             "is predicted from what it does alone", field="model")
        self.prepare([(model, batch, profile)])
        return self._known[(model, batch, profile)]


def solo_table(records: Iterable[MeasurementRecord], catalog: Catalog, gpu_type: str, profile: str,
               wanted: Mapping[str, Iterable[int]]) -> dict[tuple[str, int], tuple[float, float]]:
    """``{(model, batch): (solo latency_ms, saturation)}`` on one profile: the ``solo`` argument of
    ``pair_latencies``. Models without solo records on the type are left out."""
    gpu = catalog.get(gpu_type)
    table = SoloTable(on_type(_list(records), gpu), gpu)
    points = [(m, int(b), profile) for m, bs in wanted.items() if table.has(m) for b in bs]
    table.prepare(points)
    return {(m, b): table.get(m, b, p) for m, b, p in points}


# --- fitting ----------------------------------------------------------------------------------------------------

def colocated_records(records: Iterable[MeasurementRecord]) -> list[MeasurementRecord]:
    """Co-located records with one process per model (real ones; emulated ones only where there are no real)."""
    co = [r for r in records if r.colocated and r.processes == 1]
    return [r for r in co if not r.emulated] or co


def design(co: list[MeasurementRecord], table: SoloTable) -> tuple[np.ndarray, np.ndarray, list[MeasurementRecord]]:
    """Summed feature rows, measured ``L' / L`` and the records used (those whose models all have solo records)."""
    kept = [r for r in co if table.has(r.model) and all(table.has(c.model) for c in r.colocated)]
    table.prepare([(m, b, r.profile) for r in kept for m, b in [(r.model, r.batch)] + _others(r)])
    x = np.zeros((len(kept), len(FEATURES)))
    ratio = np.empty(len(kept))
    for n, r in enumerate(kept):
        l_i, u_i = table.get(r.model, r.batch, r.profile)
        for m, b in _others(r):
            x[n] += features(l_i, u_i, *table.get(m, b, r.profile))
        ratio[n] = r.latency_ms / l_i
    return x, ratio, kept


def _others(r: MeasurementRecord) -> list[tuple[str, int]]:
    return [(c.model, c.batch) for c in r.colocated]


def fit_coefficients(x: np.ndarray, ratio: np.ndarray, target: str = "log1p") -> np.ndarray:
    """Non-negative least squares of the target (``log(1 + s)`` or ``s``, with ``1 + s = ratio = L' / L``) on
    the summed feature rows ``x``."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    y = np.log(ratio) if target == "log1p" else ratio - 1.0
    coef, _ = nnls(np.asarray(x, float), y)
    return coef


def _pairs_of(r: MeasurementRecord) -> set[tuple[str, str]]:
    """The unordered model pairs a co-located record measures together (sorted names)."""
    names = sorted({r.model, *(c.model for c in r.colocated)})
    return {(a, b) for i, a in enumerate(names) for b in names[i + 1:]}


def _fit(gpu: GpuType, co: list[MeasurementRecord], table: SoloTable, target: str) -> InterferenceFit | None:
    x, ratio, kept = design(co, table)
    if not kept:
        return None
    coef = fit_coefficients(x, ratio, target)
    fit = InterferenceFit(gpu.type, tuple(float(c) for c in coef), target, len(kept),
                          tuple(sorted(set().union(*map(_pairs_of, kept)))), None, len(co) - len(kept))
    err = np.abs(fit.factor_of(x) / ratio - 1.0)
    return replace(fit, fit_mape=round(float(err.mean()) * 100, 2))


_CACHE: dict[str, InterferenceFit | None] = {}
_CACHE_LIMIT = 256


def fit_interference(records: Iterable[MeasurementRecord], gpu: GpuType,
                     target: str = "log1p") -> InterferenceFit | None:
    """The interference fit of one GPU type from its co-located records (solo records give the features);
    None without co-located records there (or none whose models have solo records). Cached by content."""
    mine = on_type(records, gpu)
    co = colocated_records(mine)
    if not co:
        return None
    key = hashlib.sha256(json.dumps([INTERFERENCE_VERSION, target, records_hash(mine, gpu)]).encode()).hexdigest()
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_LIMIT:  # content-keyed, never stale; bounded for long-lived processes
            _CACHE.clear()
        _CACHE[key] = _fit(gpu, co, SoloTable(mine, gpu), target)
    return _CACHE[key]


@register
def clear_cache() -> None:
    """Forget cached interference fits (``cache.clear_all`` calls this)."""
    _CACHE.clear()


# --- answers ----------------------------------------------------------------------------------------------------

def _list(source) -> list[MeasurementRecord]:
    return list(getattr(source, "measurements", source))


def has_colocated(records, catalog: Catalog, gpu_type: str) -> bool:
    """True where the GPU type has co-located measurements (one process per model) to fit on."""
    return bool(colocated_records(on_type(_list(records), catalog.get(gpu_type))))


def _measured(records: list[MeasurementRecord], model: str, batch: int, profile: str,
              others: list[tuple[str, int]]) -> float | None:
    """Mean latency of the records that measured exactly this combination (co-runners as a multiset), or None."""
    want = sorted(others)
    hits = [r.latency_ms for r in colocated_records(records)
            if (r.model, r.batch, r.profile) == (model, batch, profile) and sorted(_others(r)) == want]
    return float(np.mean(hits)) if hits else None


def colocated_latency(records, catalog: Catalog, model: str, gpu_type: str, profile: str, batch: int,
                      others: list[tuple[str, int]], *, prior: bool = False) -> tuple[float, str]:
    """Latency of ``model`` at ``batch`` on ``profile`` next to ``others`` [(model, batch), ...], and its source.

    "colocated-measured" where exactly that was measured on the GPU type (mean of repeats); else
    "colocated-predicted" from the type's interference fit, or, where the type has no co-located records and
    ``prior`` is true, from ``PRIOR_SLOWDOWN_PER_CO_RUNNER``. InputError without co-located records and without
    ``prior``, for an unknown profile, without co-runners, or for a model without solo records on the type.
    """
    gpu = catalog.get(gpu_type)
    if not gpu.has_profile(profile):
        raise InputError(f"GPU type {gpu.type} has no profile '{profile}'", field="profile")
    if not others:
        raise InputError("no co-runners given: a co-located latency needs at least one", field="with")
    mine = on_type(_list(records), gpu)
    measured = _measured(mine, model, batch, profile, [(m, int(b)) for m, b in others])
    if measured is not None:
        return measured, MEASURED
    fit = fit_interference(mine, gpu)
    table = SoloTable(mine, gpu)
    l_i, u_i = table.get(model, batch, profile)
    if fit is None:
        if not prior:
            raise InputError(f"MPS co-location on {gpu.type} needs co-located measurements of that GPU type "
                             "(majula calibrate --pair A,B) or policy.interference_prior (the conservative prior "
                             "of docs/sharing.md)", field="colocated")
        return l_i * (1.0 + PRIOR_SLOWDOWN_PER_CO_RUNNER * len(others)), PREDICTED
    x = sum(features(l_i, u_i, *table.get(m, int(b), profile)) for m, b in others)
    return float(l_i * fit.factor_of(x)), PREDICTED


def pair_factors(fit: InterferenceFit, l_i, u_i, l_j, u_j) -> tuple[np.ndarray, np.ndarray]:
    """``(L_i' / L_i, L_j' / L_j)`` for a pair running together; numpy broadcasting, so all batch combinations
    of a model pair are one call: ``pair_factors(fit, l_i[:, None], u_i[:, None], l_j[None, :], u_j[None, :])``."""
    return fit.factor(l_i, u_i, l_j, u_j), fit.factor(l_j, u_j, l_i, u_i)


def pair_latencies(fit: InterferenceFit, solo: Mapping[tuple[str, int], tuple[float, float]],
                   pairs: Sequence[tuple[str, int, str, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Co-located ``(L_i', L_j')`` of each pair ``(i, b_i, j, b_j)`` on one profile, from ``solo``
    (``solo_table``: ``{(model, batch): (latency_ms, saturation)}``) and a fit or ``PRIOR``. Vectorised: the
    lookups are one pass over ``pairs``, the model a few numpy operations."""
    keys = list(solo)
    index = {k: n for n, k in enumerate(keys)}
    lat = np.array([solo[k][0] for k in keys], float)
    sat = np.array([solo[k][1] for k in keys], float)
    try:
        ii = np.fromiter((index[(p[0], p[1])] for p in pairs), np.int64, len(pairs))
        jj = np.fromiter((index[(p[2], p[3])] for p in pairs), np.int64, len(pairs))
    except KeyError as e:
        raise ValueError(f"pair_latencies: no solo (latency, saturation) for {e.args[0]}") from None
    f_i, f_j = pair_factors(fit, lat[ii], sat[ii], lat[jj], sat[jj])
    return lat[ii] * f_i, lat[jj] * f_j


# --- how well it predicts what it did not see ------------------------------------------------------------------

def _stats(errors: np.ndarray) -> dict:
    """MAPE, worst, median, 90th percentile (in %) and count of absolute relative errors (as ``fit_report``)."""
    e = np.asarray(errors, float)
    e = e[~np.isnan(e)]
    if not len(e):
        return {"mape": None, "worst": None, "n": 0, "median": None, "p90": None, "over_20pct": 0}
    pct = lambda v: round(float(v) * 100, 2)  # noqa: E731
    return {"mape": pct(e.mean()), "worst": pct(e.max()), "n": int(len(e)), "median": pct(np.median(e)),
            "p90": pct(np.percentile(e, 90)), "over_20pct": int(np.sum(e > 0.2))}


def held_out_factors(x: np.ndarray, ratio: np.ndarray, kept: list[MeasurementRecord],
                     target: str) -> list[tuple[tuple[str, str], int, float]]:
    """(held-out pair, record index, predicted ``L' / L``) for each pair in turn, fitted on every record that
    does not measure both models of the pair together; NaN where nothing is left to fit on."""
    involved = [_pairs_of(r) for r in kept]
    out = []
    for pair in sorted(set().union(*involved)):
        test = np.array([pair in inv for inv in involved])
        if test.all():
            out += [(pair, int(n), float("nan")) for n in np.flatnonzero(test)]
            continue
        fit = InterferenceFit("", tuple(fit_coefficients(x[~test], ratio[~test], target)), target)
        out += [(pair, int(n), float(f)) for n, f in zip(np.flatnonzero(test), fit.factor_of(x[test]))]
    return out


def _type_report(gpu: GpuType, recs: list[MeasurementRecord], detail: bool) -> dict | None:
    """``leave_one_pair_out`` for one GPU type."""
    co = colocated_records(recs)
    x, ratio, kept = design(co, SoloTable(recs, gpu))
    if not kept:
        return None
    n_co = np.array([len(r.colocated) for r in kept], float)
    fit = fit_interference(recs, gpu)
    rep = {"records": len(kept), "skipped": len(co) - len(kept), "pairs": ["+".join(p) for p in fit.pairs],
           "fit": fit.as_dict(), "in_sample": _stats(np.abs(fit.factor_of(x) / ratio - 1)),
           "prior": _stats(np.abs((1 + PRIOR_SLOWDOWN_PER_CO_RUNNER * n_co) / ratio - 1)),
           "no_slowdown": _stats(np.abs(1 / ratio - 1))}
    for target in TARGETS:
        held = held_out_factors(x, ratio, kept, target)
        errs = np.array([abs(f / ratio[n] - 1) for _, n, f in held])
        key = "held_out" if target == fit.target else f"held_out_{target}"
        rep[key] = _stats(errs)
        if target == fit.target:
            rep["held_out_by_pair"] = {"+".join(p): _stats(errs[[q == p for q, _, _ in held]])
                                       for p in sorted({q for q, _, _ in held})}
            if detail:
                rep["predictions"] = [_row(kept[n], ratio[n], f, fit.factor_of(x[n]), "+".join(p))
                                      for p, n, f in held]
    return rep


def _row(r: MeasurementRecord, ratio: float, held: float, fitted: float, pair: str) -> dict:
    solo = r.latency_ms / ratio
    return {"held_out_pair": pair, "model": r.model, "batch": r.batch, "profile": r.profile,
            "with": [[c.model, c.batch] for c in r.colocated], "latency_ms": r.latency_ms,
            "solo_ms": round(solo, 4), "held_out_ms": round(solo * held, 4) if held == held else None,
            "in_sample_ms": round(solo * float(fitted), 4),
            "prior_ms": round(solo * (1 + PRIOR_SLOWDOWN_PER_CO_RUNNER * len(r.colocated)), 4)}


def leave_one_pair_out(records, catalog: Catalog, *, detail: bool = False) -> dict:
    """Held-out error of the interference fit per GPU type with co-located records (``{"gpus": {type: ...}}``).

    Each unordered model pair is held out in turn: the fit is made without any record that measures both models
    together and predicts those records. Reported next to it, on the same records: the in-sample error, the
    prior's error and the error of assuming no slowdown at all (what the fit buys), the held-out error of the
    other target (``held_out_s``, why ``log1p`` was chosen), and per held-out pair. Errors are absolute
    relative errors of the co-located ``latency_ms``, in %; the solo latencies the slowdowns are relative to
    are the model's own (measured, else its corrected curve) and are never held out. ``detail`` adds one row
    per held-out prediction.
    """
    by_type: dict[str, list[MeasurementRecord]] = defaultdict(list)
    for r in _list(records):
        canon = catalog.resolve(r.gpu)
        if canon is not None:
            by_type[canon].append(r)
    gpus = {}
    for canon in sorted(by_type):
        if colocated_records(by_type[canon]):
            rep = _type_report(catalog.gpus[canon], by_type[canon], detail)
            if rep is not None:
                gpus[canon] = rep
    return {"gpus": gpus, "model": {"features": list(FEATURES), "target": "log1p",
                                    "prior_slowdown_per_co_runner": PRIOR_SLOWDOWN_PER_CO_RUNNER}}
