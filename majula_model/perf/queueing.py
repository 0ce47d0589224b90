"""Poisson capacity of a batch queue: the largest Poisson rate that keeps a share of requests within the SLO.

Why: the default SLO rule (``arrivals: "smooth"``, docs/domain.md (MIG and SLO rules)) assumes smooth arrivals. Under Poisson
arrivals a burst queues a second batch behind the first and the tail breaks the SLO at high load. Policy
``arrivals: "poisson"`` asks instead for the largest rate at which ``target_attainment`` of requests finish within
``slo_ms``; ``capacity.usable_rates`` calls :func:`poisson_capacity` for every measured point.

The queue (the simulator's semantics): ``processes`` servers share one FIFO queue; a free server takes up to
``batch`` waiting requests at once, without waiting to fill the batch. A full batch takes ``latency_ms``.

The model, and why it is safe (every step can only *under*-estimate attainment):

1. **Partial batches take the full ``latency_ms``.** Real partial batches are faster (the simulator interpolates
   the measured latency-vs-batch curve), so this is pessimistic.
2. **Pooled server.** ``processes`` servers of batch ``b`` are replaced by one server of batch ``B = b *
   processes`` and the same service time ``S``. Same peak throughput, but a request arriving while the pooled
   server is busy waits for the whole residual service, where a free process would have taken it at once.
3. **Embedded chain at batch starts.** ``X`` = requests left waiting right after a batch starts. With ``A ~
   Poisson(a)``, ``a = lambda * S``, arriving during the service: ``X' = max(X + A - B, 0)`` (an idle server
   starts the next arrival alone, so it leaves 0 waiting). ``X`` is the maximum of a random walk with steps
   ``A - B``; Kingman's martingale bound gives ``P(X >= m) <= exp(-gamma * m)`` where ``gamma > 0`` solves
   ``a (e^gamma - 1) = gamma B``, i.e. ``gamma = -rho - W_{-1}(-rho e^{-rho})`` with ``rho = a / B`` (Lambert W).
4. **Sojourn of a request.** An arrival that finds the server busy, a fraction ``v`` of the way through a batch,
   sees ``Q = X + N`` requests waiting ahead (``N ~ Poisson(a v)`` arrived earlier in this batch) and finishes
   after ``S (1 - v) + S (floor(Q / B) + 1)``. Within ``r = slo_ms / S`` iff ``Q < B (floor(r + v) - 1)``.
   Bound: ``P(Q >= L) <= exp(-gamma L) E[exp(gamma N)] = exp(-gamma (L - B v))``; ``v`` is uniform over busy time
   (every batch lasts ``S``), and arrivals see the server busy with probability at most ``min(1, a)`` (PASTA;
   busy share = ``a / E[batch size]``). An arrival at an idle server finishes after ``S <= slo_ms``.

So ``miss(rho) <= min(1, a) * integral_0^1 min(1, exp(-gamma (L(v) - B v))) dv``, integrated in closed form,
increasing in ``rho``; the capacity is the largest ``rho`` whose bound is within ``1 - target`` (a vectorised grid
search, refined), times ``B * 1000 / S`` requests/s. The simulator measures how much this costs (docs/simulator.md).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.special import lambertw

_GRID = 400
"""Points of the first rho grid; two refinements of 64 points follow (resolution ~1e-6 of the peak rate)."""


def decay_rate(rho: np.ndarray) -> np.ndarray:
    """Kingman exponent ``gamma(rho) > 0`` per request of the batch-start chain (step 3), for 0 < rho < 1."""
    rho = np.asarray(rho, dtype=float)
    w = lambertw(-rho * np.exp(-rho), k=-1).real
    return -rho - w


def miss_bound(rho: np.ndarray, big_batch: int, r: float) -> np.ndarray:
    """Upper bound on the share of requests later than ``r * S`` at load ``rho`` of a pooled server of batch
    ``big_batch`` (steps 3-4 of the module docstring), vectorised over ``rho``."""
    rho = np.asarray(rho, dtype=float)
    f = np.floor(r)
    if f < 1:
        return np.ones_like(rho)
    theta = f + 1.0 - r  # share of the batch during which floor(r + v) == f
    k = decay_rate(rho) * big_batch
    vstar = f - 1.0  # where the first piece's bound reaches 1
    with np.errstate(over="ignore", invalid="ignore"):
        if theta <= vstar:
            first = (np.exp(k * (theta - vstar)) - np.exp(-k * vstar)) / k
        else:
            first = -np.expm1(-k * vstar) / k + (theta - vstar)
        second = (np.exp(k * (1.0 - f)) - np.exp(k * (theta - f))) / k
    total = np.nan_to_num(first + second, nan=1.0)
    return np.minimum(1.0, rho * big_batch) * np.minimum(1.0, total)


def _largest_ok(lo: float, hi: float, big_batch: int, r: float, allowed: float, points: int) -> tuple[float, float]:
    """Bracket ``[ok, not ok]`` of the largest grid rho in (lo, hi) whose miss bound is within ``allowed``."""
    grid = np.linspace(lo, hi, points)
    ok = miss_bound(grid, big_batch, r) <= allowed
    if not ok[0]:
        return lo, grid[0]
    i = int(np.nonzero(ok)[0][-1])
    return float(grid[i]), float(grid[i + 1]) if i + 1 < points else hi


@lru_cache(maxsize=65536)
def poisson_capacity(batch: int, processes: int, latency_ms: float, slo_ms: float,
                     target_attainment: float) -> float:
    """Largest Poisson rate (requests/s) at which a queue of ``processes`` servers taking up to ``batch``
    requests per ``latency_ms`` keeps ``target_attainment`` of requests within ``slo_ms`` (a safe lower bound;
    see the module docstring). 0 when even a lone request cannot meet the SLO.

    >>> round(poisson_capacity(1, 1, 10.0, 100.0, 0.99), 1)  # M/D/1: rho ~ 0.77 keeps 99% within 10 services
    76.6
    """
    if batch < 1 or processes < 1 or latency_ms <= 0 or slo_ms <= 0 or not 0 < target_attainment < 1:
        raise ValueError("poisson_capacity: batch, processes >= 1; latency_ms, slo_ms > 0; 0 < target < 1")
    r = slo_ms / latency_ms
    big = batch * processes
    allowed = 1.0 - target_attainment
    if r < 1.0:
        return 0.0
    lo, hi = 0.0, 1.0 - 1e-9
    for points in (_GRID, 64, 64):
        lo, hi = _largest_ok(lo, hi, big, r, allowed, points)
    return lo * big * 1000.0 / latency_ms
