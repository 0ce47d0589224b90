"""From counts to one concrete plan per physical GPU.

The ILP says how many GPUs of each type take each geometry (y) and how many instances of each profile serve
each model (x). Decoding hands every instance to a concrete GPU, drops the instances nothing runs on (a subset
of a placeable geometry is placeable), gives each instance a valid start index through ``geometry.place`` (an
exhaustive, cached search: a greedy largest-first pass does not always find one) and splits each model's
served rate over its instances in proportion to their capacities, so every instance runs at the same
utilisation, none beyond its capacity, and no model beyond its demand (under max_scale, beyond a x demand when
the plan's factor a exceeds 1: the contract's served_m >= a * demand_m). Everything is ordered, so the same
counts always give the same plan.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from typing import Union

from ..perf.capacity import Capacity, Key
from ..hardware.catalog import FULL, GpuType
from ..hardware.geometry import Geometry, canonical, place
from ..problem.loading import Problem
from ..schema import Plan, PlanGpu, PlanInstance, PlanModel, PlanModelRun, PlanObjective
from .formulation import Pool
from .patterns import Pattern
from .status import relative_gap

Occupant = Union[str, Pattern]
"""What one instance runs: a model's name (its best point, ``capacity.capacity_table``) or a shared pattern."""
Slots = tuple[tuple[str, Occupant], ...]
"""(profile, occupant) for every instance of one GPU that serves something."""


@dataclass(frozen=True)
class GpuAssignment:
    """One physical GPU: its type and the (profile, model) of each instance in use."""

    type: str
    slots: Slots


def assign(pools: list[Pool], y: dict[tuple[str, Geometry], int], x: dict[Key, int],
           z: dict[str, int] | None = None, patterns: dict[str, Pattern] | None = None) -> list[GpuAssignment]:
    """Hand the x instances and the z shared instances to the y GPUs, pool by pool, geometry by geometry: models
    in name order, then patterns in name order."""
    out: list[GpuAssignment] = []
    for pool in pools:
        t = pool.gpu.type
        queues: dict[str, _Runs] = defaultdict(_Runs)
        for (m, tt, p), n in sorted(x.items()):
            if tt == t:
                queues[p].add(m, n)
        for name, n in sorted((z or {}).items()):
            pat = patterns[name]
            if pat.gpu == t:
                queues[pat.profile].add(pat, n)
        for g in pool.geometries:
            left = y.get((t, g), 0)
            need = Counter(g)
            order = {p: i for i, p in enumerate(g)}
            while left > 0:  # GPUs in runs of identical slots: the work grows with distinct GPUs, not the fleet
                slots = tuple((p, occ) for p, k in need.items() for occ in queues[p].peek(k))
                slots = tuple(sorted(slots, key=lambda s: order[s[0]]))
                repeat = min([left] + [queues[p].repeats(k) for p, k in need.items() if queues[p]])
                for p, k in need.items():
                    queues[p].take(k, repeat)
                if slots:
                    out.extend([GpuAssignment(t, slots)] * repeat)
                left -= repeat
        rest = {p: len(q) for p, q in queues.items() if q}
        if rest:  # cannot happen for a solution of constraint (1); a clear failure beats a silent loss
            raise RuntimeError(f"decode: instances without a GPU on {t}: {rest}")
    return out


class _Runs:
    """A queue of occupants held as runs (occupant, count): a million instances of one model are one run."""

    def __init__(self) -> None:
        self.runs: deque[list] = deque()

    def add(self, occ: Occupant, n: int) -> None:
        if n > 0:
            self.runs.append([occ, n])

    def __len__(self) -> int:
        return sum(n for _, n in self.runs)

    def __bool__(self) -> bool:
        return bool(self.runs)

    def peek(self, k: int) -> list[Occupant]:
        """The next (up to) k occupants, in order."""
        out: list[Occupant] = []
        for occ, n in self.runs:
            take = min(n, k - len(out))
            out.extend([occ] * take)
            if len(out) == k:
                break
        return out

    def repeats(self, k: int) -> int:
        """How many times in a row taking k gives the same occupants: the head run's count // k (1 when the k
        span runs)."""
        n = self.runs[0][1]
        return n // k if n >= k else 1

    def take(self, k: int, times: int) -> None:
        """Remove k occupants, ``times`` times (whole runs fall off as they empty)."""
        left = k * times
        while left > 0 and self.runs:
            run = self.runs[0]
            step = min(run[1], left)
            run[1] -= step
            left -= step
            if run[1] == 0:
                self.runs.popleft()


def targets(problem: Problem, cap: dict[str, float], objective: str) -> dict[str, float]:
    """Rate to route per model: its demand; under max_scale, a x demand when a > 1 (docs/data-format.md (data contract):
    served_m >= a * demand_m), so the plan carries the headroom it claims."""
    demand = {m.name: m.demand_rps for m in problem.instance.models}
    if objective != "max_scale":
        return demand
    a = min((cap.get(m, 0.0) / d for m, d in demand.items() if d > 0), default=0.0)
    return {m: max(d, a * d) for m, d in demand.items()}


def split_rates(problem: Problem, table: dict[Key, Capacity], gpus: list[GpuAssignment], objective: str
                ) -> tuple[dict[str, float], dict[str, float]]:
    """Per model: target rate, and the share of capacity used (target / capacity, at most 1, and at most
    1 / (1 + policy.headroom) outside max_scale: the spare capacity the plan promises stays spare)."""
    cap: dict[str, float] = defaultdict(float)
    for a, n in _grouped(gpus):
        for p, occ in a.slots:
            for m, c in _capacities(table, a.type, p, occ):
                cap[m] += n * c
    target = targets(problem, cap, objective)
    most = 1.0 if objective == "max_scale" else 1.0 / (1.0 + problem.instance.policy.headroom)
    share = {}
    for m, want in target.items():
        c = cap.get(m, 0.0)
        r = min(most, want / c) if c > 0 else 0.0
        while r > 0 and c * r > want:  # float rounding must never route beyond the target
            r = math.nextafter(r, 0.0)
        share[m] = r
    return target, share


def _grouped(gpus: list[GpuAssignment]) -> list[tuple[GpuAssignment, int]]:
    """Consecutive repeats of one assignment object (``assign`` emits runs) as (assignment, count)."""
    out: list[tuple[GpuAssignment, int]] = []
    for a in gpus:
        if out and out[-1][0] is a:
            out[-1] = (a, out[-1][1] + 1)
        else:
            out.append((a, 1))
    return out


def _capacities(table: dict[Key, Capacity], gpu: str, profile: str, occ: Occupant) -> list[tuple[str, float]]:
    """(model, capacity) of each model an instance runs."""
    if isinstance(occ, Pattern):
        return [(r.model, r.capacity_rps) for r in occ.runs]
    return [(occ, table[(occ, gpu, profile)].capacity_rps)]


def _layout(gpu: GpuType, slots: Slots) -> list[tuple[str, int, Occupant]]:
    """(profile, start, occupant) in start order; occupants of one profile keep their slot order."""
    profiles = [p for p, _ in slots]
    if profiles == [FULL]:
        return [(FULL, 0, slots[0][1])]
    layout = place(gpu, canonical(profiles, gpu))
    if layout is None:  # cannot happen: a sub-multiset of a geometry is placeable
        raise RuntimeError(f"decode: no valid layout for {profiles} on {gpu.type}")
    models: dict[str, list[Occupant]] = defaultdict(list)
    for p, m in slots:
        models[p].append(m)
    return [(p, s, models[p].pop(0)) for p, s in layout]


def build_gpus(problem: Problem, table: dict[Key, Capacity], gpus: list[GpuAssignment],
               share: dict[str, float]) -> tuple[PlanGpu, ...]:
    """PlanGpu records, ids in order. GPUs with the same type and slots share one layout search and one tuple of
    instances (a 10,000-GPU plan has a handful of distinct GPUs): only the id differs between them."""
    built: dict[tuple[str, Slots], PlanGpu] = {}
    out = []
    i = 0
    for a, n in _grouped(gpus):
        key = (a.type, a.slots)
        if key not in built:
            insts = tuple(_instance(table, a.type, p, start, m, share) for p, start, m in
                          _layout(problem.catalog.get(a.type), a.slots))
            built[key] = PlanGpu(id=0, type=a.type, geometry=tuple(x.profile for x in insts), instances=insts)
        template = built[key]
        out.extend(_with_id(template, j) for j in range(i, i + n))
        i += n
    return tuple(out)


def _with_id(template: PlanGpu, gpu_id: int) -> PlanGpu:
    """``template`` with another id, built as ``model_construct`` does but without its per-field work: the
    template was validated once, the copies differ only in id, and a million-GPU plan spends ~1.5 us on each
    (``model_construct`` ~5 us, ``copy.copy`` ~3.5 us; docs/benchmarks.md)."""
    gpu = _NEW(PlanGpu)
    _SET(gpu, "__dict__", {**template.__dict__, "id": gpu_id})
    _SET(gpu, "__pydantic_fields_set__", template.__pydantic_fields_set__)
    _SET(gpu, "__pydantic_extra__", None)
    _SET(gpu, "__pydantic_private__", None)
    return gpu


_NEW, _SET = PlanGpu.__new__, object.__setattr__


def _label(source: str) -> str | None:
    """A plan run's ``source``: None for a measurement (the plan labels only what is not measured)."""
    return None if source == "measured" else source


def _instance(table: dict[Key, Capacity], gpu_type: str, profile: str, start: int, model: Occupant,
              share: dict[str, float]) -> PlanInstance:
    if isinstance(model, Pattern):
        runs = tuple(PlanModelRun(name=r.model, batch=r.batch, processes=1, latency_ms=r.latency_ms,
                                  rate_rps=r.capacity_rps * share[r.model], capacity_rps=r.capacity_rps,
                                  source=_label(r.source)) for r in model.runs)
        return PlanInstance(profile=profile, start=start, sharing=model.mode, cycle_ms=model.cycle_ms, models=runs)
    c = table[(model, gpu_type, profile)]
    run = PlanModelRun(name=model, batch=c.batch, processes=c.processes, latency_ms=c.latency_ms,
                       rate_rps=c.capacity_rps * share[model], capacity_rps=c.capacity_rps,
                       source=_label(c.source), emulated=c.emulated)
    return PlanInstance(profile=profile, start=start, models=(run,))


def build_models(problem: Problem, plan_gpus: tuple[PlanGpu, ...], target: dict[str, float]
                 ) -> tuple[PlanModel, ...]:
    """Per-model totals, summed from the plan itself so they always agree with it."""
    served: dict[str, float] = defaultdict(float)
    cap: dict[str, float] = defaultdict(float)
    for g in plan_gpus:
        for inst in g.instances:
            for run in inst.models:
                served[run.name] += run.rate_rps
                cap[run.name] += run.capacity_rps
    return tuple(PlanModel(name=m.name, demand_rps=m.demand_rps, served_rps=min(served[m.name], target[m.name]),
                           capacity_rps=cap[m.name]) for m in problem.instance.models)


def objective_value(problem: Problem, objective: str, models: tuple[PlanModel, ...],
                    plan_gpus: tuple[PlanGpu, ...]) -> float:
    """The objective measured on the decoded plan (not trusted from the solver)."""
    if objective == "max_throughput":
        return math.fsum(m.served_rps for m in models)
    if objective == "max_scale":
        return min((m.capacity_rps / m.demand_rps for m in models if m.demand_rps > 0), default=0.0)
    cost = {problem.catalog.get(g.type).type: g.cost for g in problem.instance.gpus}
    return math.fsum(cost[g.type] for g in plan_gpus)


def decode(problem: Problem, table: dict[Key, Capacity], gpus: list[GpuAssignment], objective: str = "min_gpus"
           ) -> tuple[tuple[PlanGpu, ...], tuple[PlanModel, ...]]:
    """Plan GPUs and per-model totals for concrete assignments."""
    target, share = split_rates(problem, table, gpus, objective)
    plan_gpus = build_gpus(problem, table, gpus, share)
    return plan_gpus, build_models(problem, plan_gpus, target)


def make_plan(problem: Problem, table: dict[Key, Capacity], gpus: list[GpuAssignment], objective: str, *,
              status: str, solver: str, seconds: float, bound: float | None) -> Plan:
    """A Plan for concrete assignments; value measured on the plan, gap from the solver's bound."""
    plan_gpus, models = decode(problem, table, gpus, objective)
    value = objective_value(problem, objective, models, plan_gpus)
    if status == "optimal":
        bound = value
    gap = relative_gap(value, bound)
    return Plan(instance=problem.instance.name, objective=PlanObjective(kind=objective, value=value, bound=bound),
                status=status, gap=gap, solver=solver, solve_seconds=max(0.0, seconds), gpus=plan_gpus,
                models=models)


def empty_plan(problem: Problem, objective: str, *, status: str, solver: str, seconds: float,
               bound: float | None) -> Plan:
    """A Plan without a solution (no_solution, error): no GPUs, nothing served."""
    models = tuple(PlanModel(name=m.name, demand_rps=m.demand_rps, served_rps=0.0, capacity_rps=0.0)
                   for m in problem.instance.models)
    return Plan(instance=problem.instance.name, objective=PlanObjective(kind=objective, value=None, bound=bound),
                status=status, gap=None, solver=solver, solve_seconds=max(0.0, seconds), gpus=(), models=models)
