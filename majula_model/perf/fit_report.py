"""How well the fitted curves and the analytic prior predict what they did not see (``majula fit``).

Why held-out error and not in-sample error: the planner uses curves for points that were never measured, so
the honest figure is the error on points the fit never saw. Per model and GPU type:

- leave-one-batch-out (LOBO): for each batch size, fit without every point at that batch, predict them;
- leave-one-profile-out (LOPO): for each profile, fit without it, predict all its points;
- prior: the analytic prior's error on every point (it is not fitted per model);
- across sizes (``across_sizes``): fit on the smaller half of the profile sizes and predict the larger ones, then
  the other way: the check of a transfer to an unmeasured GPU type by its specifications (``sources``, rule 4),
  as far as one GPU type can check it (other SM counts and bandwidth shares, not another architecture); and
  the scaled analytic prior on the same split (``prior_across_sizes``), the fallback's check.

Held out means held out from the model under test: the other models' measurements on the GPU type stay, as they
would in a calibration file, and the predictions use them (``peers``: cross-model correction). Each held-out
figure is also given without them (``*_solo``), which is the error when the batch or profile was measured for no
model at all.

Errors are absolute percentage errors against the recorded ``latency_ms``. Public data rounds latency to 1 ms,
so a 5 ms point carries up to 10% rounding error by itself: every figure is reported twice, over all points and
over points of at least 10 ms; LOBO is also split into interpolated batches (measured on both sides) and
extrapolated ones (the smallest or largest batch of a series).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass

import numpy as np

from ..hardware.catalog import Catalog
from .curves import CurveFit, Grid, corrected_latency, fit_curve
from .peers import Residuals, peer_correction, residuals
from ..schema import MeasurementRecord

COARSE_MS = 10.0


@dataclass(frozen=True)
class ErrorStats:
    """MAPE, worst, median and 90th percentile absolute percentage error (in %), over a set of points; the
    share of points off by more than 20% says how much of the MAPE comes from a few anomalous measurements."""

    mape: float | None
    worst: float | None
    n: int
    median: float | None = None
    p90: float | None = None
    over_20pct: int = 0

    @staticmethod
    def of(errors: np.ndarray) -> "ErrorStats":
        if len(errors) == 0:
            return ErrorStats(None, None, 0)
        pct = lambda v: round(float(v) * 100, 2)  # noqa: E731
        return ErrorStats(pct(np.mean(errors)), pct(np.max(errors)), len(errors), pct(np.median(errors)),
                          pct(np.percentile(errors, 90)), int(np.sum(errors > 0.2)))


@dataclass(frozen=True)
class HeldOut:
    """Held-out predictions of one model: error per point, the point's latency and its label."""

    errors: np.ndarray
    latency_ms: np.ndarray
    labels: tuple[str, ...]

    def stats(self, min_ms: float = 0.0, label: str | None = None) -> ErrorStats:
        mask = (self.latency_ms >= min_ms) & ~np.isnan(self.errors)
        if label is not None:
            mask &= np.array([lb == label for lb in self.labels], bool)
        return ErrorStats.of(self.errors[mask])


def held_out(records: list[MeasurementRecord], gpu, by: str,
             peers: list[Residuals] = ()) -> tuple[HeldOut, HeldOut]:
    """Leave out each batch size (``by="batch"``) or profile (``by="profile"``) of this model in turn and
    predict it: (with the peers' correction, without it)."""
    grid = Grid.of(records, gpu)
    keys = np.array([r.batch if by == "batch" else r.profile for r in records], dtype=object)
    errors = np.full(len(records), np.nan)  # NaN = nothing left to fit on: no prediction, not a zero error
    solo = errors.copy()
    labels = [""] * len(records)
    for value in sorted(set(keys), key=str):
        test = keys == value
        train = [r for r, t in zip(records, test) if not t]
        if not train:
            continue
        fit = fit_curve(train, gpu)
        base, lab = corrected_latency(fit, grid.select(~test), grid.select(test))
        pred = base * np.exp(peer_correction(Residuals.of(fit, grid.select(~test)), list(peers), grid.select(test)))
        errors[test] = np.abs(pred / grid.latency_ms[test] - 1)
        solo[test] = np.abs(base / grid.latency_ms[test] - 1)
        for i, lb in zip(np.flatnonzero(test), lab):
            labels[i] = lb
    return HeldOut(errors, grid.latency_ms, tuple(labels)), HeldOut(solo, grid.latency_ms, tuple(labels))


def from_extreme_profiles(records: list[MeasurementRecord], gpu,
                          peers: list[Residuals] = ()) -> tuple[HeldOut, HeldOut] | None:
    """Fit on the smallest and largest measured profiles only and predict all the others (MISO's question: how
    few slices must be calibrated?): (with the peers' correction, without it). None with fewer than three
    profiles."""
    grid = Grid.of(records, gpu)
    by_size = sorted({(s, r.profile) for s, r in zip(grid.sms, records)})
    if len(by_size) < 3:
        return None
    keep = {by_size[0][1], by_size[-1][1]}
    train = np.array([r.profile in keep for r in records])
    fit = fit_curve([r for r, t in zip(records, train) if t], gpu)
    base, labels = corrected_latency(fit, grid.select(train), grid.select(~train))
    pred = base * np.exp(peer_correction(Residuals.of(fit, grid.select(train)), list(peers), grid.select(~train)))
    lat = grid.latency_ms[~train]
    return HeldOut(np.abs(pred / lat - 1), lat, tuple(labels)), HeldOut(np.abs(base / lat - 1), lat, tuple(labels))


def _size_halves(records: list[MeasurementRecord], gpu) -> tuple[Grid, list[np.ndarray]] | None:
    """The grid and two masks: records on the smaller half of the distinct profile sizes (SMs, memory share),
    and the rest. None with a single size: nothing to extrapolate to."""
    grid = Grid.of(records, gpu)
    size = list(zip(grid.sms.tolist(), grid.mem_share.tolist()))
    sizes = sorted(set(size))
    if len(sizes) < 2:
        return None
    small = np.array([sz in set(sizes[:len(sizes) // 2]) for sz in size])
    return grid, [small, ~small]


def across_sizes(records: list[MeasurementRecord], gpu) -> HeldOut | None:
    """Each point predicted by the curve fitted on the other half of the profile sizes only (no peers: an
    unmeasured GPU type has none): how far a curve carried to other SM counts and bandwidth shares is off, the
    part of a transfer by specifications that one GPU type's data can check. None with one profile size."""
    halves = _size_halves(records, gpu)
    if halves is None:
        return None
    grid, masks = halves
    errors, labels = np.full(len(records), np.nan), ["transferred"] * len(records)
    for train in masks:
        fit = fit_curve([r for r, t in zip(records, train) if t], gpu)
        pred, _ = corrected_latency(fit, grid.select(train), grid.select(~train))
        errors[~train] = np.abs(pred / grid.latency_ms[~train] - 1)
    return HeldOut(errors, grid.latency_ms, tuple(labels))


def prior_across_sizes(records: list[MeasurementRecord], gpu) -> HeldOut | None:
    """The analytic prior scaled by the model's median measured/prior ratio on one half of the profile sizes,
    predicting the other half (as ``sources.prior_transfer`` scales it for an unmeasured GPU type). None with one
    profile size, or where the prior cannot speak for the model."""
    halves = _size_halves(records, gpu)
    pred = _prior_latencies(records, gpu)
    if halves is None or pred is None:
        return None
    _, masks = halves
    lat = np.array([r.latency_ms for r in records])
    ratio = lat / pred
    errors = np.full(len(records), np.nan)
    for train in masks:
        errors[~train] = np.abs(float(np.median(ratio[train])) * pred[~train] / lat[~train] - 1)
    return HeldOut(errors, lat, tuple("prior" for _ in records))


def _prior_latencies(records: list[MeasurementRecord], gpu) -> np.ndarray | None:
    """The analytic prior at every record (one model), or None where it cannot speak for the model."""
    from .prior import has_specs, load_costs, prior_latency

    costs, constants = load_costs()
    if records[0].model not in costs or not constants or not has_specs(gpu):
        return None
    cost = costs[records[0].model]
    return np.array([float(prior_latency(cost, constants, gpu, r.profile, r.batch, r.processes)) for r in records])


def _prior_errors(records: list[MeasurementRecord], gpu) -> HeldOut | None:
    pred = _prior_latencies(records, gpu)
    if pred is None:
        return None
    lat = np.array([r.latency_ms for r in records])
    return HeldOut(np.abs(pred / lat - 1), lat, tuple("prior" for _ in records))


def _section(h: HeldOut | None, split_labels: bool = False) -> dict | None:
    if h is None:
        return None
    out = {"all": asdict(h.stats()), "ge_10ms": asdict(h.stats(COARSE_MS))}
    if split_labels:
        out["interpolated_ge_10ms"] = asdict(h.stats(COARSE_MS, "interpolated"))
        out["extrapolated_ge_10ms"] = asdict(h.stats(COARSE_MS, "predicted"))
    return out


def groups(records: list[MeasurementRecord], catalog: Catalog) -> dict[tuple[str, str], list[MeasurementRecord]]:
    """Solo, real records per (model, canonical GPU type) of the catalog."""
    out: dict[tuple[str, str], list[MeasurementRecord]] = defaultdict(list)
    for r in records:
        gpu = catalog.resolve(r.gpu)
        if gpu is not None and not r.colocated and not r.emulated:
            out[(r.model, gpu)].append(r)
    return dict(sorted(out.items()))


def model_report(records: list[MeasurementRecord], gpu, peers: list[Residuals] = ()) -> dict:
    """The full error report of one model on one GPU type; ``peers``: the other models' residuals there."""
    lobo, lobo_solo = held_out(records, gpu, "batch", peers)
    lopo, lopo_solo = held_out(records, gpu, "profile", peers)
    two, two_solo = from_extreme_profiles(records, gpu, peers) or (None, None)
    sizes, prior_sizes = across_sizes(records, gpu), prior_across_sizes(records, gpu)
    fit: CurveFit = fit_curve(records, gpu)
    n_profiles = len({r.profile for r in records})
    return {"model": records[0].model, "gpu": gpu.type, "points": len(records),
            "profiles": n_profiles, "fit_mape": round(fit.fit_mape * 100, 2),
            "lobo": _section(lobo, split_labels=True), "lopo": _section(lopo) if n_profiles > 1 else None,
            "lobo_solo": _section(lobo_solo), "lopo_solo": _section(lopo_solo) if n_profiles > 1 else None,
            "two_profiles": _section(two), "two_profiles_solo": _section(two_solo),
            "prior": _section(_prior_errors(records, gpu)),
            "across_sizes": _section(sizes), "prior_across_sizes": _section(prior_sizes),
            "_held": {"lobo": lobo, "lopo": lopo, "lobo_solo": lobo_solo, "lopo_solo": lopo_solo,
                      "two_profiles": two, "two_profiles_solo": two_solo, "across_sizes": sizes,
                      "prior_across_sizes": prior_sizes}}


def pooled(reports: list[dict], kind: str, min_ms: float, label: str | None = None) -> ErrorStats:
    """Error over all points of all models (each point counts once), optionally only those with ``label``."""
    parts = [r["_held"][kind] for r in reports if r.get(kind) and r["_held"].get(kind) is not None]
    if not parts:
        return ErrorStats(None, None, 0)
    masks = [(p.latency_ms >= min_ms) & ~np.isnan(p.errors) & np.array([label is None or lb == label for lb in p.labels], bool)
             for p in parts]
    return ErrorStats.of(np.concatenate([p.errors[m] for p, m in zip(parts, masks)]))


def fit_report(records: list[MeasurementRecord], catalog: Catalog) -> dict:
    """Per model reports and pooled totals (JSON-ready once ``strip`` has removed the arrays)."""
    by_group = groups(records, catalog)
    peers = {key: [residuals(recs, catalog.gpus[key[1]]) for other, recs in by_group.items()
                   if other[1] == key[1] and other != key] for key in by_group}
    reports = [model_report(recs, catalog.gpus[key[1]], peers[key]) for key, recs in by_group.items()]
    totals = {kind: {"all": asdict(pooled(reports, kind, 0.0)), "ge_10ms": asdict(pooled(reports, kind, COARSE_MS))}
              for kind in ("lobo", "lopo", "lobo_solo", "lopo_solo", "two_profiles", "two_profiles_solo",
                           "across_sizes", "prior_across_sizes")}
    totals["lobo"]["interpolated_ge_10ms"] = asdict(pooled(reports, "lobo", COARSE_MS, "interpolated"))
    totals["lobo"]["extrapolated_ge_10ms"] = asdict(pooled(reports, "lobo", COARSE_MS, "predicted"))
    prior = [model_prior for model_prior in (_prior_errors(r_list, catalog.gpus[g]) for (_, g), r_list in
                                              groups(records, catalog).items()) if model_prior is not None]
    if prior:
        errs = np.concatenate([p.errors for p in prior])
        big = np.concatenate([p.errors[p.latency_ms >= COARSE_MS] for p in prior])
        totals["prior"] = {"all": asdict(ErrorStats.of(errs)), "ge_10ms": asdict(ErrorStats.of(big))}
    return {"models": reports, "totals": totals, "targets": {"lobo_mape": 4.0, "lopo_mape": 8.0}}


def strip(report: dict) -> dict:
    """The report without the held-out arrays (for JSON)."""
    return {**report, "models": [{k: v for k, v in m.items() if k != "_held"} for m in report["models"]]}


def write_plots(records: list[MeasurementRecord], catalog: Catalog, directory) -> list:
    """One PNG per model and GPU type: measured latency (markers) and the fitted curve (lines) against batch,
    one panel per profile, one colour per process count. Matplotlib with the Agg backend (no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from pathlib import Path

    out_dir = Path(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for (model, gpu_name), recs in groups(records, catalog).items():
        gpu = catalog.gpus[gpu_name]
        fit = fit_curve(recs, gpu)
        profiles = sorted({r.profile for r in recs}, key=lambda p: (Grid.of([r for r in recs if r.profile == p][:1],
                                                                           gpu).sms[0], p))
        fig, axes = plt.subplots(1, len(profiles), figsize=(3.2 * len(profiles), 3.2), sharey=True, squeeze=False)
        for ax, prof in zip(axes[0], profiles):
            _plot_profile(ax, [r for r in recs if r.profile == prof], fit, gpu, prof)
        axes[0][0].set_ylabel("latency (ms)")
        axes[0][-1].legend(fontsize=7, title="processes", title_fontsize=7)
        fig.suptitle(f"{model} on {gpu_name}: measured (dots) vs fitted curve (lines)", fontsize=9)
        fig.tight_layout()
        path = out_dir / f"fit-{model}-{gpu_name.lower()}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


def _plot_profile(ax, recs: list[MeasurementRecord], fit: CurveFit, gpu, profile: str) -> None:
    grid = Grid.of(recs, gpu)
    bmax = float(grid.batch.max())
    xs = np.geomspace(1, bmax, 60)
    for i, k in enumerate(sorted({int(p) for p in grid.processes})):
        sel = grid.processes == k
        colour = f"C{i}"
        ax.scatter(grid.batch[sel], grid.latency_ms[sel], s=10, color=colour)
        q = Grid(xs, np.full_like(xs, k), np.full_like(xs, grid.sms[0]), np.full_like(xs, grid.mem_share[0]), xs)
        ax.plot(xs, fit.latency(q), color=colour, lw=1, label=str(k))
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_title(profile, fontsize=8)
    ax.set_xlabel("batch")
