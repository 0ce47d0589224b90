"""A second formulation of the placement problem: one binary per GPU, placement and model, solved with
``scipy.optimize.milp`` (HiGHS inside SciPy; no PuLP), for small instances (up to about 6 GPUs).

Sets: G physical GPUs (pool g of type t(g), cost c_g); P_t placements (profile, start) of type t, ``full`` at
start 0 where some model qualifies on it; M models with demand d_m; cap[t,p,m] from ``capacity_ref``.
Variables: u[g] GPU used; z[g,p,s] instance placed; w[g,p,s,m] instance serves m (only where cap > 0); x[m]
served (max_throughput); a scale (max_scale).
Constraints:
  (1) slice_g_j:   sum of z[g,p,s] whose memory slices cover j <= 1       (no overlap)
  (2) compute_g:   sum compute(p) z[g,p,s] <= compute slices of t(g)
  (3) count_g_p:   sum_s z[g,p,s] <= max_count(p)
  (4) assign_g_p_s: sum_m w[g,p,s,m] = z[g,p,s]    (one model per instance; an idle one is the same plan as
                   its geometry without it)
  (5) used_g_p_s:  z[g,p,s] <= u[g]
  (6) order_g:     u[g] >= u[g+1] and capacity(g) >= capacity(g+1) within a pool (symmetry only: GPUs of a
                   pool can be sorted by total capacity; an unused GPU has none, as (4) leaves no idle instance)
  (7) rank_g_p_s:  rank(g,p,s) <= rank(g,p,s') + |M| (1 - z[g,p,s']) for consecutive starts s < s' of one
                   profile, rank = 1 + index of the model served (symmetry only: models can be permuted among
                   the used placements of one profile, which leaves the layout unchanged)
  max_throughput: x_m <= sum cap w, x_m <= d_m, maximise sum x.
  max_scale:      a d_m <= sum cap w, maximise a.
  min_gpus:       sum cap w >= d_m, minimise sum c_g u[g].
Why per GPU: the placer aggregates GPUs into geometry counts; this model never does, so the two can only agree
when the aggregation is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from majula_model.catalog import FULL
from majula_model.loading import Problem

from .capacity_ref import capacity_table
from .placements_ref import table


@dataclass(frozen=True)
class MilpResult:
    """Optimal value and the layout found (per GPU: [(profile, start, model)])."""

    value: float
    layout: list[tuple[str, list[tuple[str, int, str]]]]


def _placements(problem: Problem, gpu_type: str, caps, allow_full: bool) -> list[tuple[str, int, int, int, int]]:
    gpu = problem.catalog.gpus[gpu_type]
    rows = list(table(gpu))
    if allow_full and any(t == gpu_type and p == FULL for (t, p, _) in caps):
        rows.append((FULL, 0, gpu.memory_slices, gpu.compute_slices, 1))
    return rows


def solve_per_gpu(problem: Problem, objective: str, allow_full: bool = True,
                  time_limit: float = 60.0) -> MilpResult | None:
    """Solve ``objective`` exactly (gap 0); None when infeasible (min_gpus with too little pool)."""
    inst, cat = problem.instance, problem.catalog
    caps = capacity_table(problem)
    models = [m.name for m in inst.models]
    demand = np.array([m.demand_rps for m in inst.models])
    names: list[tuple] = []
    index: dict[tuple, int] = {}

    def var(key: tuple) -> int:
        index[key] = len(names)
        names.append(key)
        return index[key]

    gpus: list[tuple[int, str, float, int]] = []  # (g, type, cost, pool index)
    for k, pool in enumerate(inst.gpus):
        t = cat.resolve(pool.type)
        for _ in range(pool.count):
            gpus.append((len(gpus), t, pool.cost, k))
    rows_by_gpu = {}
    for g, t, _, _ in gpus:
        var(("u", g))
        rows_by_gpu[g] = _placements(problem, t, caps, allow_full)
        for p, s, *_ in rows_by_gpu[g]:
            var(("z", g, p, s))
            for m in models:
                if (t, p, m) in caps:
                    var(("w", g, p, s, m))
    for m in models:
        var(("x", m))
    var(("a",))
    n = len(names)
    A: list[np.ndarray] = []
    lo: list[float] = []
    hi: list[float] = []

    def row(coefs: dict[int, float], lb: float, ub: float) -> None:
        r = np.zeros(n)
        for i, c in coefs.items():
            r[i] += c
        A.append(r)
        lo.append(lb)
        hi.append(ub)

    def gpu_capacity(g: int) -> dict[int, float]:
        t = gpus[g][1]
        return {i: caps[(t, key[2], key[4])] for key, i in index.items() if key[0] == "w" and key[1] == g}

    for g, t, _, k in gpus:
        gpu = cat.gpus[t]
        rows = rows_by_gpu[g]
        for j in range(gpu.memory_slices):  # (1)
            row({index[("z", g, p, s)]: 1 for p, s, mem, *_ in rows if s <= j < s + mem}, -np.inf, 1)
        row({index[("z", g, p, s)]: comp for p, s, _, comp, _ in rows}, -np.inf, gpu.compute_slices)  # (2)
        for prof in {p for p, *_ in rows}:  # (3)
            cap = next(c for p, _, _, _, c in rows if p == prof)
            row({index[("z", g, p, s)]: 1 for p, s, *_ in rows if p == prof}, -np.inf, cap)
        for p, s, *_ in rows:
            ws = {index[key]: 1 for key in index if key[0] == "w" and key[1:4] == (g, p, s)}
            row({**ws, index[("z", g, p, s)]: -1}, 0, 0)  # (4)
            row({index[("z", g, p, s)]: 1, index[("u", g)]: -1}, -np.inf, 0)  # (5)
        for (p, s, *_), (p2, s2, *_) in zip(rows, rows[1:]):  # (7)
            if p == p2:
                rank = {index[("w", g, p, x, m)]: (1 + j) * sign for x, sign in ((s, 1), (s2, -1))
                        for j, m in enumerate(models) if ("w", g, p, x, m) in index}
                row({**rank, index[("z", g, p2, s2)]: len(models)}, -np.inf, len(models))
        if g + 1 < len(gpus) and gpus[g + 1][3] == k:  # (6)
            row({index[("u", g)]: 1, index[("u", g + 1)]: -1}, 0, np.inf)
            row({**{i: c for i, c in gpu_capacity(g).items()},
                 **{i: -c for i, c in gpu_capacity(g + 1).items()}}, 0, np.inf)

    served = {m: {i: caps[(gpus[key[1]][1], key[2], m)] for key, i in index.items()
                  if key[0] == "w" and key[4] == m} for m in models}
    c = np.zeros(n)
    upper = np.ones(n)
    integrality = np.ones(n)
    for m, d in zip(models, demand):
        i = index[("x", m)]
        integrality[i], upper[i] = 0, d
    integrality[index[("a",)]] = 0
    upper[index[("a",)]] = 0
    if objective == "max_throughput":
        for m in models:
            row({**served[m], index[("x", m)]: -1}, 0, np.inf)
            c[index[("x", m)]] = -1
    elif objective == "max_scale":
        upper[index[("a",)]] = np.inf
        for m, d in zip(models, demand):
            row({**served[m], index[("a",)]: -d}, 0, np.inf)
        c[index[("a",)]] = -1
    elif objective == "min_gpus":
        for m, d in zip(models, demand):
            row(served[m], d, np.inf)
        for g, _, cost, _ in gpus:
            c[index[("u", g)]] = cost
    else:
        raise ValueError(objective)
    res = milp(c, constraints=LinearConstraint(np.array(A), lo, hi), integrality=integrality,
               bounds=Bounds(np.zeros(n), upper),
               options={"mip_rel_gap": 0.0, "time_limit": time_limit, "presolve": True})
    if res.status == 2:
        return None
    assert res.status == 0, f"scipy milp did not prove optimality: {res.message}"
    value = -res.fun if objective != "min_gpus" else res.fun
    layout = []
    for g, t, _, _ in gpus:
        runs = [(key[2], key[3], key[4]) for key, i in index.items()
                if key[0] == "w" and key[1] == g and res.x[i] > 0.5]
        if runs:
            layout.append((t, sorted(runs)))
    return MilpResult(float(value), layout)
