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

from majula_model.hardware.catalog import FULL
from majula_model.problem.loading import Problem

from .capacity_ref import capacity_table
from .placements_ref import table


@dataclass(frozen=True)
class MilpResult:
    """Optimal value and the layout found (per GPU: [(profile, start, model)])."""

    value: float
    layout: list[tuple[str, list[tuple[str, int, str]]]]


def _placements(problem: Problem, gpu_type: str, caps, allow_full: bool) -> list[tuple[str, int, int, int, int]]:
    """The placement table rows of ``gpu_type``, plus ``full`` where some model qualifies on it."""
    gpu = problem.catalog.gpus[gpu_type]
    rows = list(table(gpu))
    if allow_full and any(t == gpu_type and p == FULL for (t, p, _) in caps):
        rows.append((FULL, 0, gpu.memory_slices, gpu.compute_slices, 1))
    return rows


class _Builder:
    """Variables by readable key (("u", g), ("z", g, p, s), ("w", g, p, s, m), ("x", m), ("a",)) and rows."""

    def __init__(self, problem: Problem, allow_full: bool) -> None:
        inst, cat = problem.instance, problem.catalog
        self.caps = capacity_table(problem)
        self.models = [m.name for m in inst.models]
        self.demand = [m.demand_rps for m in inst.models]
        self.gpus: list[tuple[int, str, float, int]] = []  # (g, type, cost, pool index)
        for k, pool in enumerate(inst.gpus):
            for _ in range(pool.count):
                self.gpus.append((len(self.gpus), cat.resolve(pool.type), pool.cost, k))
        self.index: dict[tuple, int] = {}
        self.rows_by_gpu = {}
        for g, t, _, _ in self.gpus:
            self._var(("u", g))
            self.rows_by_gpu[g] = _placements(problem, t, self.caps, allow_full)
            for p, s, *_ in self.rows_by_gpu[g]:
                self._var(("z", g, p, s))
                for m in self.models:
                    if (t, p, m) in self.caps:
                        self._var(("w", g, p, s, m))
        for m in self.models:
            self._var(("x", m))
        self._var(("a",))
        self.catalog = cat
        self.A: list[dict[int, float]] = []
        self.lo: list[float] = []
        self.hi: list[float] = []

    def _var(self, key: tuple) -> None:
        self.index[key] = len(self.index)

    def row(self, coefs: dict[int, float], lb: float, ub: float) -> None:
        self.A.append(coefs)
        self.lo.append(lb)
        self.hi.append(ub)

    def w_of(self, g: int) -> dict[tuple, int]:
        """The w variables of GPU g."""
        return {key: i for key, i in self.index.items() if key[0] == "w" and key[1] == g}

    def capacity_of(self, g: int) -> dict[int, float]:
        """Capacity GPU g provides, as coefficients on its w variables."""
        t = self.gpus[g][1]
        return {i: self.caps[(t, key[2], key[4])] for key, i in self.w_of(g).items()}

    def served(self, m: str) -> dict[int, float]:
        """Capacity given to model m, as coefficients on all w variables."""
        return {i: self.caps[(self.gpus[key[1]][1], key[2], m)] for key, i in self.index.items()
                if key[0] == "w" and key[4] == m}

    def gpu_constraints(self, g: int, t: str, k: int) -> None:
        """Constraints (1)-(7) of one GPU."""
        z, gpu, rows, ws = self.index, self.catalog.gpus[t], self.rows_by_gpu[g], self.w_of(g)
        for j in range(gpu.memory_slices):  # (1)
            self.row({z[("z", g, p, s)]: 1 for p, s, mem, *_ in rows if s <= j < s + mem}, -np.inf, 1)
        self.row({z[("z", g, p, s)]: comp for p, s, _, comp, _ in rows}, -np.inf, gpu.compute_slices)  # (2)
        for prof in {p for p, *_ in rows}:  # (3)
            most = next(c for p, _, _, _, c in rows if p == prof)
            self.row({z[("z", g, p, s)]: 1 for p, s, *_ in rows if p == prof}, -np.inf, most)
        for p, s, *_ in rows:
            assign = {i: 1 for key, i in ws.items() if key[2:4] == (p, s)}
            self.row({**assign, z[("z", g, p, s)]: -1}, 0, 0)  # (4)
            self.row({z[("z", g, p, s)]: 1, z[("u", g)]: -1}, -np.inf, 0)  # (5)
        if g + 1 < len(self.gpus) and self.gpus[g + 1][3] == k:  # (6)
            self.row({z[("u", g)]: 1, z[("u", g + 1)]: -1}, 0, np.inf)
            self.row({**self.capacity_of(g), **{i: -c for i, c in self.capacity_of(g + 1).items()}}, 0, np.inf)
        n = len(self.models)
        for (p, s, *_), (p2, s2, *_) in zip(rows, rows[1:]):  # (7)
            if p == p2:
                rank = {z[("w", g, p, x, m)]: (1 + j) * sign for x, sign in ((s, 1), (s2, -1))
                        for j, m in enumerate(self.models) if ("w", g, p, x, m) in z}
                self.row({**rank, z[("z", g, p2, s2)]: n}, -np.inf, n)

    def objective(self, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """Objective coefficients (minimised) and upper bounds, adding the objective's own rows."""
        n, z = len(self.index), self.index
        c, upper = np.zeros(n), np.ones(n)
        for m, d in zip(self.models, self.demand):
            upper[z[("x", m)]] = d
        upper[z[("a",)]] = 0.0
        if kind == "max_throughput":
            for m in self.models:
                self.row({**self.served(m), z[("x", m)]: -1}, 0, np.inf)
                c[z[("x", m)]] = -1
        elif kind == "max_scale":
            upper[z[("a",)]] = np.inf
            for m, d in zip(self.models, self.demand):
                self.row({**self.served(m), z[("a",)]: -d}, 0, np.inf)
            c[z[("a",)]] = -1
        elif kind == "min_gpus":
            for m, d in zip(self.models, self.demand):
                self.row(self.served(m), d, np.inf)
            for g, _, cost, _ in self.gpus:
                c[z[("u", g)]] = cost
        else:
            raise ValueError(kind)
        return c, upper

    def matrix(self) -> np.ndarray:
        out = np.zeros((len(self.A), len(self.index)))
        for r, coefs in enumerate(self.A):
            for i, v in coefs.items():
                out[r, i] += v
        return out


def solve_per_gpu(problem: Problem, objective: str, allow_full: bool = True,
                  time_limit: float = 60.0) -> MilpResult | None:
    """Solve ``objective`` exactly (gap 0); None when infeasible (min_gpus with too little pool)."""
    b = _Builder(problem, allow_full)
    for g, t, _, k in b.gpus:
        b.gpu_constraints(g, t, k)
    c, upper = b.objective(objective)
    integrality = np.array([0 if key[0] in ("x", "a") else 1 for key in b.index])
    res = milp(c, constraints=LinearConstraint(b.matrix(), b.lo, b.hi), integrality=integrality,
               bounds=Bounds(np.zeros(len(c)), upper),
               options={"mip_rel_gap": 0.0, "time_limit": time_limit, "presolve": True})
    if res.status == 2:
        return None
    assert res.status == 0, f"scipy milp did not prove optimality: {res.message}"
    layout = []
    for g, t, _, _ in b.gpus:
        runs = sorted((key[2], key[3], key[4]) for key, i in b.w_of(g).items() if res.x[i] > 0.5)
        if runs:
            layout.append((t, runs))
    return MilpResult(float(-res.fun if objective != "min_gpus" else res.fun), layout)
