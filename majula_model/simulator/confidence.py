"""How sure a simulated attainment is: the default window, the warm-up, the 95% interval and the verdict.

Why its own module: one simulated window is one draw of a random variable. Near the target a plan's attainment
scatters from window to window (docs/simulator.md, "Short windows scatter"), so a verdict from a point estimate
flips between seeds. This module holds the statistics that turn one run into an interval and a verdict, apart
from the queues that produce the requests (``run.py``) and the records that carry the figures (``stats.py``).
docs/simulator.md, "Verdicts and confidence intervals", states every rule below with its reason.

1. **Requests needed** (``required_requests``). In the spirit of MLPerf Inference's minimum query counts: the
   number of independent requests whose binomial 95% interval at the target attainment ``p`` has a half-width
   of at most ``margin = (1 - p) / 20`` (MLPerf's margin for a percentile: 0.5% at p90, 0.05% at p99):
   ``n = ceil(z^2 p (1 - p) / margin^2) = ceil(400 z^2 p / (1 - p))``, z = 1.96. p = 0.99: 152,122 requests.
   (MLPerf uses 99% confidence, z = 2.576: 23,886 -> 24,576 queries at p90 and 262,742 -> 270,336 at p99.)
2. **Default window** (``default_duration``): ``n / lambda_min``, where ``lambda_min`` is the lowest rate any
   model is offered, so that every model gets at least n requests; bounded by ``MAX_DEFAULT_WINDOW_S`` (an hour
   of steady traffic: demand itself changes on that scale) and by ``DEFAULT_REQUEST_BUDGET`` requests in all,
   with a note when a bound binds.
3. **Warm-up** (``relaxation_ms``, ``warmup_ms``): queues start empty, which flatters the first requests. The
   warm-up is ``WARMUP_RELAXATIONS`` relaxation times of the slowest-relaxing run, simulated before the window
   and discarded. A batch queue (batch B = batch x processes pooled, full-batch service S, utilisation rho) is,
   in heavy traffic, a reflected random walk with drift ``(B / S)(1 - rho)`` and variance ``rho B / S`` per ms;
   reflected Brownian motion relaxes with time constant ``2 variance / drift^2`` (its spectral gap), so
   ``tau = 2 rho S / (B (1 - rho)^2)``, at least one service time S. For M/M/1 this is the known
   ``4 / (mu (1 - rho)^2)`` near saturation. A time-shared run uses its duty cycle as S. Five relaxation times
   leave e^-5 (0.7%) of the initial transient. Capped at ``WARMUP_CAP_SHARE`` of the window, with a note: a run at
   or above its peak rate (rho >= 1) never settles.
4. **Interval** (``attainment_ci``): batch means over the window. The window is cut into ``BATCHES_START``
   equal slices of time; while the lag-1 autocorrelation of the slices' residuals ``h_j - p n_j`` is
   significant (above ``1.645 / sqrt(k)``) and more than ``BATCHES_MIN`` slices remain, adjacent slices are
   merged in pairs (Fishman's LBATCH rule, simplified). The share is a ratio of sums, so its standard error is
   the ratio estimator's, ``sqrt(sum (h_j - p n_j)^2 / (k (k - 1))) / mean(n_j)``, with Student's t at k - 1
   degrees of freedom. The interval is the hull of that one and the Wilson interval of the same counts taken
   as independent: a queue correlates its requests positively, so the binomial width is a floor, and a window
   without a single miss must not claim certainty.
5. **Verdict** (``verdict``): ``holds`` when lo >= target, ``breaks`` when hi < target, else ``inconclusive``;
   where the warm-up was capped, never ``holds`` (a window still rising from empty queues flatters the plan).
6. **Extension** (``run._extend``, default window only): a model left ``inconclusive`` is simulated again, with
   the models a time-shared instance couples it to and nothing else, its window doubled each time (warm-up as
   in 3, for the longer window), until its interval decides, the window is 64 times the default, or the
   request budget runs out. Each extension is one more look at the same model, so its interval is at 99%:
   by the union bound a verdict reached after j extensions errs with probability at most 5% + j x 1%. A
   model that only needed more requests settles; one whose transient outlasts any window (capped) keeps
   falling towards its long-run attainment as its window grows, which is what turns a ``breaks`` on the
   edge of its interval into a clear one.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

CONFIDENCE = 0.95
Z = 1.959963984540054
"""Two-sided 95% standard normal quantile."""
MARGIN_SHARE = 1.0 / 20.0
"""Margin of the request count as a share of the miss budget ``1 - target`` (MLPerf's convention)."""
MAX_DEFAULT_WINDOW_S = 3600.0
"""The default window never exceeds an hour of simulated traffic (demand itself changes on that scale)."""
DEFAULT_REQUEST_BUDGET = 20_000_000
"""Expected requests in the default window, all models together (a few seconds of wall time here)."""
WARMUP_RELAXATIONS = 5.0
WARMUP_CAP_SHARE = 0.5
"""The warm-up is at most half the window (beyond that the window is too short for that run anyway)."""
BATCHES_START = 64
BATCHES_MIN = 8

Verdict = Literal["holds", "breaks", "inconclusive"]


def required_requests(target: float, margin: float | None = None, z: float = Z) -> int:
    """Independent requests whose binomial interval at ``target`` has half-width <= ``margin`` (default
    ``(1 - target) / 20``): ``ceil(z^2 target (1 - target) / margin^2)``."""
    if not 0 < target < 1:
        raise ValueError(f"target must be in (0, 1), got {target}")
    m = (1.0 - target) * MARGIN_SHARE if margin is None else margin
    return math.ceil(z * z * target * (1.0 - target) / (m * m) - 1e-9)


def default_duration(rates_rps: list[float], target: float, max_window_s: float = MAX_DEFAULT_WINDOW_S,
                     request_budget: float = DEFAULT_REQUEST_BUDGET) -> tuple[float, str | None]:
    """The window (s) that gives the least-offered model ``required_requests(target)`` requests, bounded by
    ``max_window_s`` and by ``request_budget`` requests in all; and a note saying which bound bound, if any."""
    rates = [r for r in rates_rps if r > 0]
    n = required_requests(target)
    if not rates:
        return 1.0, "no model is offered any requests: a window of 1 s"
    lowest, total = min(rates), sum(rates)
    want = n / lowest
    by_budget = request_budget / total
    window = min(want, max_window_s, by_budget)
    if window >= want:
        return want, None
    why = (f"the {max_window_s:g} s bound" if window == max_window_s
           else f"the budget of {request_budget:.3g} requests in all ({total:.4g} requests/s)")
    return window, (f"the default window is {window:.4g} s, not the {want:.4g} s that would give the least-offered "
                    f"model ({lowest:.4g} requests/s) {n:,} requests ({target:.4g} target, margin "
                    f"{(1 - target) * MARGIN_SHARE:.3g}): {why} binds; that model's interval is wider "
                    f"(an explicit duration overrides the default)")


def relaxation_ms(rate_rps: float, batch: int, service_ms: float) -> float:
    """Relaxation time (ms) of a batch queue of ``batch`` slots per service of ``service_ms`` at ``rate_rps``:
    ``max(S, 2 rho S / (B (1 - rho)^2))``; infinite at or above the peak rate."""
    if rate_rps <= 0 or service_ms <= 0:
        return 0.0
    rho = rate_rps * service_ms / (1000.0 * batch)
    if rho >= 1.0:
        return math.inf
    return max(service_ms, 2.0 * rho * service_ms / (batch * (1.0 - rho) ** 2))


def warmup_ms(relaxations: list[float], window_ms: float) -> tuple[float, bool]:
    """``WARMUP_RELAXATIONS`` x the longest relaxation time, capped at ``WARMUP_CAP_SHARE`` of the window;
    and whether the cap bound."""
    want = WARMUP_RELAXATIONS * max(relaxations, default=0.0)
    cap = WARMUP_CAP_SHARE * window_ms
    return (cap, True) if want > cap else (want, False)


def wilson(hits: int, n: int, z: float = Z) -> tuple[float, float]:
    """Wilson score interval of a binomial share (independent trials)."""
    if n == 0:
        return 0.0, 1.0
    p = hits / n
    den = 1.0 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


def _t_quantile(df: int, confidence: float = CONFIDENCE) -> float:
    """Student's t two-sided quantile (95% by default)."""
    from scipy.special import stdtrit

    return float(stdtrit(df, 0.5 + confidence / 2))


def z_quantile(confidence: float) -> float:
    """The two-sided standard normal quantile of ``confidence`` (1.96 at 0.95)."""
    from scipy.special import ndtri

    return float(ndtri(0.5 + confidence / 2))


def batch_counts(times_ms: np.ndarray, hits: np.ndarray, start_ms: float, end_ms: float,
                 k: int = BATCHES_START) -> tuple[np.ndarray, np.ndarray]:
    """Requests and hits in each of ``k`` equal slices of ``[start_ms, end_ms)`` by arrival time."""
    width = (end_ms - start_ms) / k
    idx = np.clip(((times_ms - start_ms) / width).astype(np.int64), 0, k - 1) if width > 0 else \
        np.zeros(len(times_ms), dtype=np.int64)
    n = np.bincount(idx, minlength=k).astype(float)
    h = np.bincount(idx, weights=hits.astype(float), minlength=k)
    return n, h


def _lag1(x: np.ndarray) -> float:
    """Lag-1 autocorrelation (0 for a constant series)."""
    d = x - x.mean()
    den = float(np.dot(d, d))
    return 0.0 if den == 0 else float(np.dot(d[:-1], d[1:]) / den)


def batch_means_ci(n: np.ndarray, h: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float, int]:
    """Ratio-estimator t interval of ``sum h / sum n`` from per-slice counts, merging slices in pairs while
    their residuals are autocorrelated; and the number of slices used."""
    n, h = n.astype(float), h.astype(float)
    total = n.sum()
    if total == 0:
        return 0.0, 1.0, len(n)
    p = h.sum() / total
    while len(n) > BATCHES_MIN and len(n) % 2 == 0 and _lag1(h - p * n) > 1.645 / math.sqrt(len(n)):
        n, h = n.reshape(-1, 2).sum(axis=1), h.reshape(-1, 2).sum(axis=1)
    k = len(n)
    resid = h - p * n
    se = math.sqrt(float(np.dot(resid, resid)) / (k * (k - 1))) / (total / k)
    half = _t_quantile(k - 1, confidence) * se
    return max(0.0, p - half), min(1.0, p + half), k


def attainment_ci(times_ms: np.ndarray, hits: np.ndarray, start_ms: float, end_ms: float,
                  confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Interval (95% by default) of the share of requests arriving in ``[start_ms, end_ms)`` that were hits: the
    hull of the batch-means interval and the Wilson interval (module docstring, item 4); None with no requests."""
    if len(times_ms) == 0:
        return None
    n, h = batch_counts(times_ms, hits, start_ms, end_ms)
    lo_b, hi_b, _ = batch_means_ci(n, h, confidence)
    lo_w, hi_w = wilson(int(np.count_nonzero(hits)), len(hits),
                        Z if confidence == CONFIDENCE else z_quantile(confidence))
    return min(lo_b, lo_w), max(hi_b, hi_w)


def verdict(ci: tuple[float, float] | None, target: float, unsettled: bool = False) -> Verdict | None:
    """``holds`` when the interval's low end is at or above the target, ``breaks`` when its high end is below
    it, else ``inconclusive``; None without an interval (the model got no requests).

    ``unsettled``: the warm-up was capped, so the window may still be in the transient from empty queues. A queue
    that starts empty is stochastically shorter at every moment than one in steady state (the Lindley recursion
    is monotone in its start), so such a window overstates the long-run attainment: a break is conclusive, a
    hold is not (``inconclusive``).
    """
    if ci is None:
        return None
    lo, hi = ci
    if lo >= target:
        return "inconclusive" if unsettled else "holds"
    if hi < target:
        return "breaks"
    return "inconclusive"
