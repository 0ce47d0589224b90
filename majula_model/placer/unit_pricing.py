"""Pricing for the failure-tolerant master (``robust_colgen``): the unit configuration (one GPU, or one node of
up to G GPUs) that most improves the LP, found exactly.

Prices of one LP solve (``UnitPrices``): per model pi_m >= 0 (its hull row, (R7) in ``robust``) and rho_m >= 0
(its floor row, (R6)); per GPU type the pool row's dual alpha_t <= 0 and the partial-node row's beta_t <= 0; the
scaled cost w_t per GPU. A unit u of type t and s GPUs has score

    score(u) = sum_m pi_m e(c_um) + rho_m min(n_um, F_m),     e(c) = c / (k c + 1 + h),  c clipped at 1 + h,

and improves the LP exactly when score(u) > (w_t - alpha_t) s - beta_t [s < G] (its reduced cost is negative).
e is increasing and concave, so filling a free slot never lowers a score: only maximal geometries are searched.

One GPU (``GpuPricer``): a dynamic program per maximal geometry over the models, the state being the slots
still free (a count per profile; at most a few dozen states). A model's value depends only on the slots it
takes, so f_j(R) = max_{x <= R} f_{j-1}(R - x) + v_j(x) is exact; the transitions are listed once per geometry
and evaluated with numpy.

One node (``NodePricer``): the node's GPUs are one type, so what matters is how many GPUs take each maximal
geometry (z_g) and how many instances of each profile each model gets (n_mp). A MILP (HiGHS) with s = sum_g z_g
free in 1..min(G, N_t):

    max  sum_m pi_m t_m + rho_m nu_m - (w_t - alpha_t) s + beta_t (1 - full)
    s.t. sum_m n_mp <= sum_g cnt_gp z_g          (the slots of the node's geometries)
         u_m <= sum_p kappa_mp n_mp,  u_m <= 1 + h   (capacity over demand, clipped)
         t_m <= e(a) + e'(a) (u_m - a)           for tangent points a (outer approximation of the concave e)
         nu_m <= sum_p n_mp,  nu_m <= F_m;  s >= G full;  z, n integer; full binary.

Shared instances (``Shape.patterns``): a slot may hold a pattern q (several models, each at its rate); the
MILP gets an integer count w_q per pattern, which takes a slot of its profile and adds kappa_qm w_q to every
member's u_m (and w_q to its nu_m). One GPU with patterns is priced by this MILP at s = 1: the DP's values are
per model, and a pattern's are not.

The tangents over-estimate e, so the MILP's value bounds every unit's score from above. Each solve is scored
exactly; if it does not improve and the MILP's bound says something might, tangents are added at the found
u_m and it is solved again. The achievable u are finitely many, so this ends; ``OA_ROUNDS`` caps it, and then
the bound the MILP proved is what the Lagrangian bound of ``robust_colgen`` uses.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

TOL = 1e-9
"""A unit improves when its score exceeds its price by this (relative to max(1, price))."""
PROVEN = 1e-6
"""No unit improves when pricing bounds every excess below this (relative): HiGHS's MILP bound carries its own
tolerances. The Lagrangian bound subtracts what is left, so the bound stays valid."""
OA_ROUNDS = 40
"""Most outer-approximation rounds per node pricing call."""


def hull(c: float, k: int, clip: float) -> float:
    """The hull row's coefficient of a unit with (clipped) capacity c: c / (k c + 1 + h) (``robust``, (R7))."""
    return c / (k * c + clip)


@dataclass(frozen=True)
class UnitPrices:
    """Dual prices of one LP solve of the failure-tolerant master (module docstring)."""

    pi: dict[str, float]
    rho: dict[str, float]
    alpha: dict[str, float]
    beta: dict[str, float]
    cost: dict[str, float]

    def price(self, gpu_type: str, size: int, node: int) -> float:
        """What a unit of ``size`` GPUs must score to improve the LP (``node``: GPUs per full node, 1 for gpu)."""
        return (self.cost[gpu_type] - self.alpha.get(gpu_type, 0.0)) * size \
            - (self.beta.get(gpu_type, 0.0) if size < node else 0.0)


@dataclass(frozen=True)
class Shape:
    """What pricing needs of one GPU type: per model the capacity over demand of one instance of each usable
    profile (kappa), the maximal geometries, and the rule's constants."""

    gpu_type: str
    models: tuple[str, ...]
    kappa: dict[str, dict[str, float]]
    geometries: tuple[tuple[str, ...], ...]
    k: int
    clip: float
    floor: dict[str, int]
    patterns: dict[str, tuple] = field(default_factory=dict)
    """Per profile, the shared patterns a slot may hold (``patterns.Pattern``), with each member's capacity over
    demand: ``(pattern, {model: kappa})``."""

    def rates(self, profile: str, occupant) -> dict[str, float]:
        """Capacity over demand that one slot of ``profile`` gives each model: a model alone, or a pattern."""
        if isinstance(occupant, str):
            return {occupant: self.kappa[occupant][profile]}
        return next(k for q, k in self.patterns[profile] if q is occupant or q.name == occupant.name)

    def slot_vector(self, gpus) -> tuple[dict[str, float], dict[str, int]]:
        """Per model, clipped capacity over demand and instances (a shared instance counts for each member) of
        a unit whose GPUs hold these (profile, occupant) slots."""
        cap: dict[str, float] = {}
        inst: Counter = Counter()
        for slots in gpus:
            for p, occ in slots:
                for m, r in self.rates(p, occ).items():
                    cap[m] = cap.get(m, 0.0) + r
                    inst[m] += 1
        return {m: min(c, self.clip) for m, c in cap.items()}, dict(inst)

    def slot_score(self, prices: UnitPrices, gpus) -> float:
        """The exact score of a unit given by its slots (module docstring)."""
        cap, inst = self.slot_vector(gpus)
        return math.fsum(prices.pi.get(m, 0.0) * hull(cap[m], self.k, self.clip)
                         + prices.rho.get(m, 0.0) * min(inst[m], self.floor.get(m, 1)) for m in cap)

    def vector(self, counts: dict[str, Counter]) -> tuple[dict[str, float], dict[str, int]]:
        """Per model, clipped capacity over demand and instance count of a unit with these (model -> profile
        counts)."""
        cap = {m: min(math.fsum(self.kappa[m][p] * n for p, n in c.items()), self.clip) for m, c in counts.items()}
        return cap, {m: sum(c.values()) for m, c in counts.items()}


@dataclass(frozen=True)
class Found:
    """One priced unit: per GPU its slots ((profile, model) pairs), and its exact score."""

    gpus: tuple[tuple[tuple[str, str], ...], ...]
    score: float


def _priced(shape: Shape, prices: UnitPrices) -> list[str]:
    return [m for m in shape.models if prices.pi.get(m, 0.0) > 0 or prices.rho.get(m, 0.0) > 0]


class GpuPricer:
    """Exact pricing of one-GPU configurations of a type: a DP per maximal geometry (module docstring)."""

    def __init__(self, shape: Shape):
        self.shape = shape
        self.tables = []
        for g in shape.geometries:
            profiles = sorted(Counter(g))
            n = [Counter(g)[p] for p in profiles]
            states = list(itertools.product(*[range(c + 1) for c in n]))
            index = {s: i for i, s in enumerate(states)}
            r_idx, rest_idx, take_idx = [], [], []
            for s in states:
                for x in itertools.product(*[range(c + 1) for c in s]):
                    r_idx.append(index[s])
                    rest_idx.append(index[tuple(a - b for a, b in zip(s, x))])
                    take_idx.append(index[x])
            self.tables.append((profiles, np.array(states, dtype=float), np.array(r_idx), np.array(rest_idx),
                                np.array(take_idx), index[tuple(n)]))

    def _values(self, m: str, profiles: list[str], states: np.ndarray, prices: UnitPrices) -> np.ndarray:
        """v_m(x) for every slot vector x of the geometry (-inf where m has no point on a profile of x)."""
        sh = self.shape
        kap = np.array([sh.kappa[m].get(p, 0.0) for p in profiles])
        cap = np.minimum(states @ kap, sh.clip)
        v = prices.pi.get(m, 0.0) * cap / (sh.k * cap + sh.clip) \
            + prices.rho.get(m, 0.0) * np.minimum(states.sum(axis=1), sh.floor.get(m, 1))
        v[(states[:, kap <= 0] > 0).any(axis=1)] = -np.inf
        return v

    def best(self, prices: UnitPrices, keep: int = 4) -> tuple[list[Found], float]:
        """Up to ``keep`` best configurations that improve the LP (one per geometry, best first), and the best
        score of any configuration of this type (exact)."""
        models = _priced(self.shape, prices)
        need = prices.price(self.shape.gpu_type, 1, 1)
        found: list[Found] = []
        top = -math.inf
        for profiles, states, r_idx, rest_idx, take_idx, full in self.tables:
            f = np.zeros(len(states))
            layers = []
            for m in models:
                v = self._values(m, profiles, states, prices)
                cand = f[rest_idx] + v[take_idx]
                g = np.full(len(states), -np.inf)
                np.maximum.at(g, r_idx, cand)
                layers.append((m, v, f))
                f = g
            score = float(f[full])
            top = max(top, score)
            if score <= need + TOL * max(1.0, abs(need)):
                continue
            counts = self._back(layers, states, r_idx, rest_idx, take_idx, full, profiles)
            found.append(Found((_slots(fill(self.shape, counts, Counter(dict(zip(
                profiles, states[full].astype(int))))),),), score))
        found.sort(key=lambda u: -u.score)
        return found[:keep], top

    @staticmethod
    def _back(layers, states, r_idx, rest_idx, take_idx, full, profiles) -> dict[str, Counter]:
        """Which slots each model took in the DP's optimum (backtracking its layers)."""
        counts: dict[str, Counter] = {}
        r = full
        for m, v, prev in reversed(layers):
            rows = np.flatnonzero(r_idx == r)
            vals = prev[rest_idx[rows]] + v[take_idx[rows]]
            j = rows[int(np.argmax(vals))]
            x = states[take_idx[j]].astype(int)
            if x.any():
                counts[m] = Counter({p: int(c) for p, c in zip(profiles, x) if c})
            r = rest_idx[j]
        return counts


def fill(shape: Shape, counts: dict[str, Counter], slots: Counter) -> dict[str, Counter]:
    """``counts`` with every free slot of ``slots`` (profile -> count) given to a model with a point there, the
    one furthest below its clip first: the filled unit dominates the priced one (module docstring)."""
    counts = {m: Counter(c) for m, c in counts.items()}
    free = Counter(slots)
    for m, c in counts.items():
        free -= c
    for p in sorted(free, key=lambda q: -max((shape.kappa[m].get(q, 0.0) for m in shape.models), default=0)):
        for _ in range(free[p]):
            cap, _ = shape.vector(counts)
            users = [m for m in shape.models if shape.kappa[m].get(p, 0.0) > 0]
            if not users:
                break
            m = min(users, key=lambda u: (cap.get(u, 0.0) / shape.clip, -shape.kappa[u][p]))
            counts.setdefault(m, Counter())[p] += 1
    return counts


def _slots(counts: dict[str, Counter]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((p, m) for m, c in counts.items() for p, n in c.items() for _ in range(n)))


def split_node(z: dict[tuple[str, ...], int], counts: dict[str, Counter], shared: Counter | None = None
               ) -> tuple[tuple[tuple[str, object], ...], ...]:
    """Lay a node's instances (model -> profile counts, and (profile, pattern) -> count for shared ones) onto its
    GPUs (geometry -> how many GPUs take it)."""
    pending: dict[str, list] = {}
    for m in sorted(counts):
        for p, n in counts[m].items():
            pending.setdefault(p, []).extend([m] * n)
    for (p, q), n in sorted((shared or Counter()).items(), key=lambda kv: (kv[0][0], kv[0][1].name)):
        pending.setdefault(p, []).extend([q] * n)
    gpus = []
    for g, n in sorted(z.items()):
        for _ in range(n):
            gpus.append(tuple(sorted(((p, pending[p].pop()) for p in g if pending.get(p)), key=slot_key)))
    return tuple(gpus)


def slot_key(slot: tuple[str, object]) -> tuple[str, str]:
    """A sort key for a (profile, occupant) slot: a pattern sorts by its name."""
    p, occ = slot
    return p, occ if isinstance(occ, str) else "~" + occ.name


class NodePricer:
    """Exact pricing of node configurations of a type: a MILP with outer approximation (module docstring)."""

    def __init__(self, shape: Shape, node: int, pool: int):
        self.shape = shape
        self.node = node
        self.most = min(node, pool)
        self.profiles = sorted({p for g in shape.geometries for p in g})
        self.per_gpu = {p: max(g.count(p) for g in shape.geometries) for p in self.profiles}
        self.tangents: dict[str, set[float]] = {m: {shape.clip * a for a in (1.0, 0.5, 0.2, 0.05, 0.01)}
                                                for m in shape.models}

    def best(self, prices: UnitPrices, deadline: float | None = None, size: int | None = None
             ) -> tuple[list[Found], float]:
        """The best improving node configuration (or none), and an upper bound on every node's score minus its
        price (<= 0: none improves). With ``size``, the best node of exactly that many GPUs, improving or not
        (columns for the ILP, not a proof)."""
        import highspy

        sh = self.shape
        models = _priced(sh, prices)
        if not models:
            return [], -math.inf
        for _ in range(OA_ROUNDS):
            h = highspy.Highs()
            h.silent()
            h.setOptionValue("threads", 1)
            h.setOptionValue("mip_rel_gap", 1e-9)
            h.setOptionValue("mip_abs_gap", 1e-10)
            if deadline is not None:
                import time

                h.setOptionValue("time_limit", max(0.05, deadline - time.perf_counter()))
            cols: list[tuple[float, float, float, bool]] = []  # (cost, lower, upper, integer)

            def col(cost: float, lo: float, hi: float, integer: bool) -> int:
                cols.append((cost, lo, hi, integer))
                return len(cols) - 1

            w = prices.cost[sh.gpu_type] - prices.alpha.get(sh.gpu_type, 0.0)
            beta = prices.beta.get(sh.gpu_type, 0.0)
            z = {g: col(0.0, 0, self.most, True) for g in sh.geometries}
            s = col(-w, size or 1, size or self.most, False)
            full = col(-beta, 0, 1, True) if self.most >= self.node else None
            n = {(m, p): col(0.0, 0, self.most * self.per_gpu[p], True) for m in models for p in self.profiles
                 if sh.kappa[m].get(p, 0.0) > 0}
            priced = set(models)
            shared = {(p, i): col(0.0, 0, self.most * self.per_gpu[p], True) for p in self.profiles
                      for i, (q, kap) in enumerate(sh.patterns.get(p, ())) if priced & set(kap)}
            u = {m: col(0.0, 0, sh.clip, False) for m in models}
            t = {m: col(prices.pi.get(m, 0.0), 0, 1.0 / (sh.k + 1), False) for m in models}
            nu = {m: col(prices.rho.get(m, 0.0), 0, sh.floor.get(m, 1), False) for m in models
                  if prices.rho.get(m, 0.0) > 0}
            rows: list[tuple[float, float, list[int], list[float]]] = []
            rows.append((0, 0, [s] + list(z.values()), [1.0] + [-1.0] * len(z)))  # s = sum z
            if full is not None:
                rows.append((0, math.inf, [s, full], [1.0, -float(self.node)]))
            for p in self.profiles:
                occ = [n[(m, p)] for m in models if (m, p) in n] + [v for (pp, _), v in shared.items() if pp == p]
                idx = occ + [z[g] for g in sh.geometries if p in g]
                val = [1.0] * len(occ) + [-float(g.count(p)) for g in sh.geometries if p in g]
                rows.append((-math.inf, 0, idx, val))
            member: dict[str, list[tuple[int, float]]] = {m: [] for m in models}
            for (p, i), v in shared.items():
                for m, r in sh.patterns[p][i][1].items():
                    if m in member:
                        member[m].append((v, r))
            for m in models:
                ps = [p for p in self.profiles if (m, p) in n]
                rows.append((-math.inf, 0, [u[m]] + [n[(m, p)] for p in ps] + [v for v, _ in member[m]],
                             [1.0] + [-sh.kappa[m][p] for p in ps] + [-r for _, r in member[m]]))
                for a in sorted(self.tangents[m]):
                    slope = sh.clip / (sh.k * a + sh.clip) ** 2
                    rows.append((-math.inf, hull(a, sh.k, sh.clip) - slope * a, [t[m], u[m]], [1.0, -slope]))
                if m in nu:
                    rows.append((-math.inf, 0, [nu[m]] + [n[(m, p)] for p in ps] + [v for v, _ in member[m]],
                                 [1.0] + [-1.0] * (len(ps) + len(member[m]))))
            inf = h.getInfinity()
            cost, lo, hi, integ = zip(*cols)
            h.addVars(len(cols), np.array(lo, dtype=float), np.array([min(x, inf) for x in hi], dtype=float))
            h.changeColsCost(len(cols), np.arange(len(cols), dtype=np.int32), np.array(cost, dtype=float))
            ints = [i for i, f in enumerate(integ) if f]
            h.changeColsIntegrality(len(ints), np.array(ints, dtype=np.int32),
                                    np.array([highspy.HighsVarType.kInteger] * len(ints)))
            for lo_r, hi_r, idx, val in rows:
                h.addRow(max(lo_r, -inf), min(hi_r, inf), len(idx), np.array(idx, dtype=np.int32),
                         np.array(val, dtype=float))
            h.changeObjectiveSense(highspy.ObjSense.kMaximize)
            h.changeObjectiveOffset(beta)  # - beta [s < G] = beta - beta full (or beta: always partial)
            h.run()
            status = h.getModelStatus()
            if status not in (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kTimeLimit):
                return [], math.inf
            info = h.getInfo()
            upper = float(info.mip_dual_bound)
            if info.primal_solution_status == 0:
                return [], upper
            x = np.array(h.getSolution().col_value)
            counts = {m: Counter({p: int(round(x[n[(m, p)]])) for p in self.profiles
                                  if (m, p) in n and round(x[n[(m, p)]]) > 0}) for m in models}
            counts = {m: c for m, c in counts.items() if c}
            used = Counter({(p, sh.patterns[p][i][0]): int(round(x[v])) for (p, i), v in shared.items()
                            if round(x[v]) > 0})
            zs = {g: int(round(x[z[g]])) for g in sh.geometries if round(x[z[g]]) > 0}
            need = prices.price(sh.gpu_type, sum(zs.values()), self.node)
            exact = sh.slot_score(prices, split_node(zs, counts, used))
            if exact > need + TOL * max(1.0, abs(need)) or (size is not None and (counts or used)):
                slots = Counter()
                for g, c in zs.items():
                    for p in g:
                        slots[p] += c
                for (p, _), c in used.items():
                    slots[p] -= c
                filled = fill(sh, counts, slots)
                return [Found(split_node(zs, filled, used), exact)], upper
            if status != highspy.HighsModelStatus.kOptimal or upper <= PROVEN * max(1.0, abs(need)):
                return [], upper
            cap, _ = sh.slot_vector(split_node(zs, counts, used))
            added = False
            for m in models:
                a = cap.get(m, 0.0)
                if x[t[m]] > hull(a, sh.k, sh.clip) + 1e-12 and a not in self.tangents[m]:
                    self.tangents[m].add(a)
                    added = True
            if not added:  # the MILP's value is the found unit's: nothing scores more
                return [], upper
        return [], upper
