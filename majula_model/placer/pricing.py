"""Pricing: the shared-instance pattern that most improves the current LP master, found exactly.

Column generation (``colgen``) asks, per (GPU type, profile): is there a pattern whose score
``sum_i (alpha_i * rate_i + beta_i)`` exceeds ``gamma``? (``alpha``: the LP's price of a request/s of model i,
``beta``: the price of covering model i at all, ``gamma``: the price of one instance of the profile.)

Time-shared patterns: items j = (model i, batch b) with solo latency ``L_j``; a pattern S (one item per model,
``2 <= |S| <= K``, memory within the profile) has cycle ``c = sum_S L_j`` and score
``sum_S 1000 alpha_i b_j / c + sum_S beta_i``, subject to the cycle rule ``c <= D_j - L_j`` for every j in S, with
``D_j = 2 * latency_budget_fraction * slo_i`` (smooth arrivals). Under Poisson arrivals the search runs on a
relaxation with the same ratio structure: ``D_j = slo_i + L_j`` (the cycle within the SLO) and rates
``rho_j * b * 1000 / c``, where ``rho_j`` is the Poisson share of the peak at the shortest cycle any pattern with j
can have (``_poisson_share``): the true rate is never above it, so bounds hold for the true patterns, and the sets
found are rated exactly. A dynamic program over a cycle grid bounds every pattern's score
(``time_upper_bound``); a greedy search finds columns; where it finds none and the bound does not rule them out,
an exact depth-first branch and bound looks (``_best_time``). (A MILP of the same question, Charnes-Cooper with
McCormick products, took about a second per call in HiGHS.)

MPS pairs are enumerated: a pair's score is at most its members' solo rates' score (co-location never makes a
model faster), which prunes most pairs before their co-located latencies are asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..schema import Policy
from .patterns import Item, Pattern, mps_pattern, time_pattern

TOL = 1e-7
"""A pattern improves when its score exceeds gamma by this (relative to max(1, |gamma|))."""


@dataclass(frozen=True)
class Prices:
    """Dual prices of one LP solve: per model alpha (per request/s), beta (per membership); gamma per instance."""

    alpha: dict[str, float]
    beta: dict[str, float]

    def score(self, p: Pattern) -> float:
        return sum(self.alpha.get(r.model, 0.0) * r.capacity_rps + self.beta.get(r.model, 0.0) for r in p.runs)


def _deadline(it: Item, policy: Policy) -> float:
    """D_j, with the same relative tolerance ``patterns.time_pattern`` accepts (so what one lists, the other finds)."""
    if policy.arrivals == "smooth":
        return 2 * policy.latency_budget_fraction * it.slo_ms * (1 + 1e-12)
    return it.slo_ms * (1 + 1e-12) + it.latency_ms


def price_time(gpu: str, profile: str, items: list[Item], prices: Prices, gamma: float, policy: Policy,
               memory_gb: float, keep: int = 12, bound: bool = False) -> tuple[list[Pattern], float]:
    """Time-shared patterns that beat gamma (up to ``keep``, best first), and an upper bound on every
    time-shared pattern's score on this profile (``time_upper_bound``; -inf where no pattern exists; +inf where
    columns were found and ``bound`` did not ask for it).

    The greedy search finds columns fast; where it finds none, the bound proves there is none or the exact
    search (``_best_time``) looks; if that gives up (``NODE_LIMIT``) the bound stays above gamma, and column
    generation does not claim the LP bound of the full set, only the Lagrangian one (``colgen``)."""
    cand = [it for it in items if prices.alpha.get(it.model, 0) > 0 or prices.beta.get(it.model, 0) > 0]
    cand = [it for it in cand if _deadline(it, policy) - it.latency_ms > it.latency_ms]
    if len({it.model for it in cand}) < 2 or policy.max_models_per_instance < 2:
        return [], -np.inf
    lat = np.array([it.latency_ms for it in cand])
    a_peak = np.array([1000.0 * prices.alpha.get(it.model, 0.0) * it.batch for it in cand])
    a = a_peak * _poisson_share(cand, lat, policy)
    beta = np.array([prices.beta.get(it.model, 0.0) for it in cand])
    slack = np.array([_deadline(it, policy) - it.latency_ms for it in cand])
    mem = np.array([it.memory_gb for it in cand])
    model = np.unique([it.model for it in cand], return_inverse=True)[1]
    k = min(policy.max_models_per_instance, int(model.max()) + 1)
    floor = gamma + TOL * max(1.0, abs(gamma))
    mem_cap = memory_gb * (1 + 1e-12)
    h = max(_deadline(it, policy) - it.latency_ms for it in items) / GRID  # every cycle fits the grid
    c0 = _shortest_cycle(items)

    def upper() -> float:
        return time_upper_bound(a_peak, beta, lat, slack, model, k, h, c0, _bucket_share(cand, h, c0, policy))

    sets = _greedy_time(a, beta, lat, slack, mem, model, k, mem_cap, floor)
    top = upper() if bound or not sets else np.inf
    if not sets:
        if top <= floor:
            return [], top
        score, chosen = _best_time(a, beta, lat, slack, mem, model, k, mem_cap, floor)
        if chosen is None:
            return [], top if not np.isfinite(score) else floor  # searched all: nothing beats gamma
        sets = [chosen]
    out: list[Pattern] = []
    seen: set[tuple[int, ...]] = set()
    for chosen in sets:  # best first; rated exactly, the first ``keep`` distinct ones that still beat gamma
        key = tuple(sorted(chosen))
        if key in seen:
            continue
        seen.add(key)
        its = sorted((cand[j] for j in chosen), key=lambda it: it.model)
        pat = time_pattern(gpu, profile, its, policy, memory_gb)
        if pat is not None and prices.score(pat) > floor:
            out.append(pat)
            if len(out) >= keep:
                break
    out.sort(key=lambda q: -prices.score(q))
    if not out and not np.isfinite(top):  # every set found failed when rated exactly (Poisson): bound it
        top = upper()
    return out[:keep], top


def _poisson_share(cand: list[Item], lat: np.ndarray, policy: Policy) -> np.ndarray:
    """Per item, the most of its peak rate ``b * 1000 / c`` Poisson arrivals may use in any time-shared pattern:
    the queue's share at the shortest cycle a pattern with it can have (its latency plus the shortest other
    model's), since a longer cycle only lowers it (1 under smooth arrivals)."""
    if policy.arrivals != "poisson":
        return np.ones(len(cand))
    from ..perf.queueing import poisson_capacity

    out = np.empty(len(cand))
    models = np.array([it.model for it in cand])
    for j, it in enumerate(cand):
        shortest = lat[models != it.model].min()
        c = it.latency_ms + shortest
        out[j] = poisson_capacity(it.batch, 1, c, it.slo_ms, policy.target_attainment) / (it.batch * 1000.0 / c)
    return out


def _greedy_time(a: np.ndarray, beta: np.ndarray, lat: np.ndarray, slack: np.ndarray, mem: np.ndarray,
                 model: np.ndarray, k: int, memory: float, floor: float) -> list[list[int]]:
    """Good patterns fast: from every item as a seed, add the item that raises the score most while the rules
    hold, up to k items; per seed the best set seen (at least two items) if it beats ``floor``."""
    n = len(a)
    found: list[tuple[float, list[int]]] = []
    for seed in range(n):
        chosen, A, B, c, cap, m_used = [seed], a[seed], beta[seed], lat[seed], slack[seed], mem[seed]
        used = model == model[seed]
        best, best_set = floor, None
        while len(chosen) < k:
            cj = c + lat
            ok = ~used & (cj <= np.minimum(cap, slack)) & (m_used + mem <= memory)
            if not ok.any():
                break
            val = np.where(ok, (A + a) / cj + B + beta, -np.inf)
            j = int(np.argmax(val))
            chosen.append(j)
            A, B, c, cap, m_used = A + a[j], B + beta[j], cj[j], min(cap, slack[j]), m_used + mem[j]
            used = used | (model == model[j])
            if val[j] > best:
                best, best_set = float(val[j]), list(chosen)
        if best_set is not None:
            found.append((best, sorted(best_set)))
    found.sort(key=lambda x: -x[0])
    return [s for _, s in found]


GRID = 160
"""Cycle buckets of ``time_upper_bound``."""


def _shortest_cycle(items: list[Item]) -> float:
    """The shortest cycle any time-shared pattern of these items can have: the two fastest distinct models."""
    best: dict[str, float] = {}
    for it in items:
        best[it.model] = min(best.get(it.model, np.inf), it.latency_ms)
    two = sorted(best.values())[:2]
    return float(sum(two)) if len(two) == 2 else np.inf


def bucket_cycles(h: float, c0: float) -> np.ndarray:
    """The cycle each bucket i = 0..GRID stands for: max(i * h, c0), a lower bound of every cycle in it."""
    return np.maximum(np.arange(GRID + 1) * h, c0)


def _bucket_share(cand: list[Item], h: float, c0: float, policy: Policy) -> np.ndarray | None:
    """Per item and bucket (``bucket_cycles``): the Poisson share of the peak rate at that cycle,
    ``poisson_capacity(b, 1, C, slo) / (b * 1000 / C)``, which no longer cycle exceeds; None under smooth arrivals.
    The grid depends on the profile's items only, so the (cached) queueing answers are reused across rounds."""
    if policy.arrivals != "poisson":
        return None
    from ..perf.queueing import poisson_capacity

    cs = bucket_cycles(h, c0)
    out = np.zeros((len(cand), GRID + 1))
    for j, it in enumerate(cand):
        for i, c in enumerate(cs):
            if c <= it.slo_ms * (1 + 1e-12):
                out[j, i] = poisson_capacity(it.batch, 1, float(c), it.slo_ms, policy.target_attainment) \
                    * c / (it.batch * 1000.0)
    return out


def time_upper_bound(a: np.ndarray, beta: np.ndarray, lat: np.ndarray, slack: np.ndarray, model: np.ndarray,
                     k: int, h: float, c0: float, share: np.ndarray | None = None) -> float:
    """An upper bound on every time-shared pattern's score, by dynamic programming over a cycle grid of step h.

    A pattern S with cycle c (``c0 <= c <= max slack = GRID h``) is counted at bucket i = floor(c / h), whose cycle
    ``C_i = max(i h, c0) <= c`` (``bucket_cycles``), with item weights ``a_j * share_j(C_i) / C_i + beta_j`` (at
    least its true terms: rates fall with the cycle, ``share`` is the Poisson share of the peak, 1 under smooth
    arrivals) and latencies rounded down to the grid (a sum of floors is at most the floor of the sum, so S fits
    its bucket); an item is allowed at bucket i when i h <= its slack; memory is relaxed. So the DP's best is at
    least every true score."""
    lq = np.floor(lat / h).astype(int)
    sq = np.floor(slack / h).astype(int)
    cs = bucket_cycles(h, c0)
    idx = np.arange(GRID + 1)
    # V[i, count, l]: best sum of weights at bucket i with `count` items and rounded latency sum l
    v = np.full((GRID + 1, k + 1, GRID + 1), -np.inf)
    v[:, 0, 0] = 0.0
    for m in np.unique(model):
        new = v.copy()
        for j in np.flatnonzero(model == m):
            if lq[j] > GRID:
                continue
            gain = a[j] / cs * (1.0 if share is None else share[j])
            w = np.where(idx <= sq[j], gain + beta[j], -np.inf)[:, None, None]
            shifted = v[:, :-1, :GRID + 1 - lq[j]] + w
            np.maximum(new[:, 1:, lq[j]:], shifted, out=new[:, 1:, lq[j]:])
        v = new
    within = idx[None, :] <= idx[:, None]  # the rounded sum fits the bucket
    best = np.where(within[:, None, :], v, -np.inf)[:, 2:, :]
    return float(best.max()) if best.size else -np.inf


NODE_LIMIT = 200_000
"""Nodes the exact search may visit before it gives up (then the bound is not claimed)."""


def _best_time(a: np.ndarray, beta: np.ndarray, lat: np.ndarray, slack: np.ndarray, mem: np.ndarray,
               model: np.ndarray, k: int, memory: float, floor: float) -> tuple[float, list[int] | None]:
    """max over item sets S (one per model, 2 <= |S| <= k, memory, c = sum lat <= slack_j for j in S) of
    sum_S a / c + sum_S beta, if above ``floor``: depth-first branch and bound.

    The bound at a node with chosen A, B, c (any superset adds items R): (A + a_R) / (c + lat_R) <= max(A / c,
    max_R a_j / lat_j) (the mediant inequality), and B grows by at most the k - |S| largest beta of R."""
    order = np.argsort(-(a / lat + beta), kind="stable")
    a, beta, lat, slack, mem, model = (v[order] for v in (a, beta, lat, slack, mem, model))
    n = len(a)
    ratio = a / lat
    suffix_ratio = np.maximum.accumulate(ratio[::-1])[::-1]
    top_beta = [np.sort(beta[i:])[::-1][:k].cumsum() for i in range(n)]
    best = [floor, None]
    used: set[int] = set()
    chosen: list[int] = []
    nodes = [0]

    def bound(pos: int, A: float, B: float, c: float, depth: int) -> float:
        if pos >= n:
            return A / c + B if c > 0 else -np.inf
        extra = top_beta[pos][min(k - depth, len(top_beta[pos])) - 1] if depth < k else 0.0
        return max(A / c if c > 0 else 0.0, suffix_ratio[pos]) + B + extra

    def dfs(pos: int, A: float, B: float, c: float, cap: float, m_used: float, depth: int) -> None:
        for j in range(pos, n):
            nodes[0] += 1
            if nodes[0] > NODE_LIMIT:
                return
            if bound(j, A, B, c, depth) <= best[0]:
                return  # later items only have smaller bounds (suffix maxima do not grow)
            cj = c + lat[j]
            if model[j] in used or cj > min(cap, slack[j]) or m_used + mem[j] > memory:
                continue
            A2, B2 = A + a[j], B + beta[j]
            used.add(model[j])
            chosen.append(j)
            if depth + 1 >= 2 and A2 / cj + B2 > best[0]:
                best[0], best[1] = A2 / cj + B2, list(chosen)
            if depth + 1 < k:
                dfs(j + 1, A2, B2, cj, min(cap, slack[j]), m_used + mem[j], depth + 1)
            chosen.pop()
            used.discard(model[j])

    dfs(0, 0.0, 0.0, 0.0, np.inf, 0.0, 0)
    if nodes[0] > NODE_LIMIT and best[1] is None:
        return -np.inf, None
    return best[0], None if best[1] is None else [int(order[j]) for j in best[1]]


Colocated = Callable[[Item, Item], "tuple[float, float, str] | None"]
"""(latency of a next to b, latency of b next to a, source) on one profile, or None where MPS is not offered."""


def price_mps(gpu: str, profile: str, items: list[Item], prices: Prices, gamma: float, policy: Policy,
              memory_gb: float, colocated: Colocated, keep: int = 8) -> tuple[list[Pattern], float]:
    """MPS pairs beating gamma, best first (at most ``keep``), and the best pair's score (-inf where none beats
    gamma): every pair is considered, pruned by its solo bound, so the answer is exact."""
    cand = [it for it in items if prices.alpha.get(it.model, 0) > 0 or prices.beta.get(it.model, 0) > 0]
    if len(cand) < 2:
        return [], -np.inf
    solo = np.array([prices.alpha.get(it.model, 0.0) * it.batch * 1000.0 / it.latency_ms
                     + prices.beta.get(it.model, 0.0) for it in cand])
    names = np.array([it.model for it in cand])
    bound = solo[:, None] + solo[None, :]
    ok = np.triu(bound > gamma + TOL * max(1.0, abs(gamma)), k=1) & (names[:, None] != names[None, :])
    order = np.argsort(-bound[ok], kind="stable")
    ii, jj = np.nonzero(ok)
    found: list[Pattern] = []
    for k in order:
        i, j = int(ii[k]), int(jj[k])
        if len(found) >= keep and bound[i, j] <= prices.score(found[-1]):
            break  # sorted by bound: nothing later beats the worst kept pattern
        lat = colocated(cand[i], cand[j])
        if lat is None:
            continue
        pat = mps_pattern(gpu, profile, cand[i], cand[j], lat[0], lat[1], lat[2], policy, memory_gb)
        if pat is not None and prices.score(pat) > gamma + TOL * max(1.0, abs(gamma)):
            found.append(pat)
            found.sort(key=lambda p: -prices.score(p))
            del found[keep:]
    return found, (prices.score(found[0]) if found else -np.inf)
