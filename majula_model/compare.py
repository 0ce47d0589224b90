"""``compare``: every way of serving the same models on the same GPUs, from the same measurements and SLO policy.

Each strategy is a question put to the placer (or a baseline) on a variant of one ``Problem``: the same
records and policy, with only what the strategy forbids taken away. Whole-GPU strategies keep only the records
of the whole-GPU profile of each type (``full`` where measured, else the largest MIG profile, 7g), so every
number still comes from those measurements; the others change only the sharing part of the policy.

================  ================================================================================
name              what it is
================  ================================================================================
exclusive         the ``whole_gpu`` baseline: one model per whole GPU, MIG off, batching
temporal          ILP, whole GPUs only, models take turns (sharing mode "time", one process each)
mps               ILP, whole GPUs only, models run concurrently under MPS (sharing mode "mps")
mig_homogeneous   the ``homogeneous`` baseline (one geometry per GPU type)
mig_greedy        the ``greedy`` baseline (ParvaGPU-style segments)
mig               ILP, MIG instances, one model and one process per instance
mig_mps           ILP, MIG instances, one model per instance, MPS processes up to policy.max_processes
mig_shared        ILP, MIG instances shared by models (time and/or MPS as the policy allows)
================  ================================================================================

Each strategy's plan is simulated (Poisson arrivals at load 1.0 of its served rate, ``sim_seconds`` long,
seed 0) for its mean instance utilisation and its worst model's SLO attainment. A strategy that cannot answer
(Infeasible, MPS not offered, a baseline asked for max_throughput) is ``available=False`` with the reason.
Pure library: nothing is printed (``majula compare`` prints).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable

from .errors import Infeasible, InputError

if TYPE_CHECKING:
    from .problem.loading import Problem
    from .schema import Plan

OBJECTIVES = ("min_gpus", "max_throughput")
"""Objectives a comparison answers (max_scale is a growth question, not a way of serving today's demand)."""

STRATEGIES = ("exclusive", "temporal", "mps", "mig_homogeneous", "mig_greedy", "mig", "mig_mps", "mig_shared")

SHARED_MODELS_DEFAULT = 4
"""Models per instance the sharing strategies allow when the instance's policy says 1 (no sharing)."""


@dataclass
class StrategyResult:
    """One strategy's answer; ``to_dict`` gives exactly the JSON keys of ``majula compare --json``."""

    name: str
    description: str
    gpus: int | None
    cost: float | None
    served_rps: float | None
    mean_utilisation: float | None
    sim_worst_attainment: float | None
    solve_seconds: float | None
    status: str
    available: bool
    reason: str | None
    plan: "Plan | None" = field(default=None, repr=False, compare=False)
    """The strategy's plan (not in ``to_dict``)."""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(replace(self, plan=None))
        d.pop("plan")
        return d


@dataclass
class Comparison:
    """Every strategy, in ``STRATEGIES`` order, for one instance and objective."""

    instance: str
    objective: str
    strategies: list[StrategyResult]

    def strategy(self, name: str) -> StrategyResult:
        return next(s for s in self.strategies if s.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {"instance": self.instance, "objective": self.objective,
                "strategies": [s.to_dict() for s in self.strategies]}


# --- the problem variants --------------------------------------------------------------------------------------

def _with_policy(problem: "Problem", **changes) -> "Problem":
    inst = problem.instance
    return replace(problem, instance=inst.model_copy(update={"policy": inst.policy.model_copy(update=changes)}))


def whole_gpu_profiles(problem: "Problem") -> dict[str, str]:
    """The profile that stands for the whole GPU, per pool type with records: ``full`` where measured, else the
    largest MIG profile (all compute slices) that was measured."""
    from .hardware.catalog import FULL

    cat = problem.catalog
    measured: dict[str, set[str]] = {}
    for r in problem.measurements:
        t = cat.resolve(r.gpu)
        if t is not None:
            measured.setdefault(t, set()).add(r.profile)
    out = {}
    for g in problem.instance.gpus:
        gpu = cat.get(g.type)
        have = measured.get(gpu.type, set())
        big = [FULL] + [p.name for p in gpu.plain_profiles if p.compute_slices == gpu.compute_slices]
        prof = next((p for p in big if p in have), None)
        if prof is not None:
            out[gpu.type] = prof
    return out


def whole_gpu_problem(problem: "Problem") -> tuple["Problem", dict[str, str]]:
    """The problem with only the records of each type's whole-GPU profile (same numbers, no MIG instances)."""
    whole = whole_gpu_profiles(problem)
    cat = problem.catalog
    keep = tuple(s for s in problem.records
                 if whole.get(cat.resolve(s.record.gpu) or "") == s.record.profile)
    return replace(problem, records=keep), whole


def _shared_models(problem: "Problem") -> tuple[int, str]:
    n = problem.instance.policy.max_models_per_instance
    if n > 1:
        return n, f"up to {n} models per instance (policy)"
    return SHARED_MODELS_DEFAULT, (f"up to {SHARED_MODELS_DEFAULT} models per instance (the policy says 1, "
                                   f"so {SHARED_MODELS_DEFAULT} is used here)")


def _whole_words(whole: dict[str, str]) -> str:
    from .hardware.catalog import FULL

    if not whole:
        return "whole GPUs (no whole-GPU profile measured)"
    parts = [f"{t} as '{p}'" + ("" if p == FULL else " (no 'full' measurements: the largest MIG profile)")
             for t, p in whole.items()]
    return "whole GPUs: " + ", ".join(parts)


def _mps_missing(problem: "Problem") -> str | None:
    """Why MPS co-location is offered on no GPU type of the pool, or None when it is on one."""
    from .placer.colgen import mps_offered

    types = [problem.catalog.get(g.type).type for g in problem.instance.gpus]
    if any(mps_offered(problem, t) for t in types):
        return None
    return ("MPS co-location is not offered: no co-located measurements on "
            f"{', '.join(types)} and policy.interference_prior is false")


# --- running the strategies ------------------------------------------------------------------------------------

@dataclass
class _Spec:
    name: str
    description: str
    run: Callable[[], "Plan"] | None  # None: unavailable for ``reason``
    problem: "Problem | None" = None
    reason: str | None = None


def _specs(problem: "Problem", objective: str, time_limit: float | None) -> list[_Spec]:
    from .placer import baseline, solve

    pol = problem.instance.policy
    procs = "no limit" if pol.max_processes is None else str(pol.max_processes)
    shared_n, shared_words = _shared_models(problem)
    whole, profiles = whole_gpu_problem(problem)
    words = _whole_words(profiles)
    only_baseline = (f"a baseline answers min_gpus only (serve every demand), not {objective}"
                     if objective != "min_gpus" else None)

    def ilp(p: "Problem") -> Callable[[], "Plan"]:
        return lambda: solve(p, objective, time_limit=time_limit)

    def base(name: str) -> Callable[[], "Plan"] | None:
        return None if only_baseline else (lambda: baseline(problem, name))

    temporal = _with_policy(whole, max_processes=1, max_models_per_instance=shared_n, sharing_modes=("time",))
    mps = _with_policy(whole, max_models_per_instance=shared_n, sharing_modes=("mps",))
    mps_reason = _mps_missing(mps)
    mig = _with_policy(problem, max_processes=1, max_models_per_instance=1)
    mig_mps = _with_policy(problem, max_models_per_instance=1)
    shared = _with_policy(problem, max_models_per_instance=shared_n)
    modes = " and ".join(pol.sharing_modes) or "no mode"
    if "mps" in pol.sharing_modes and _mps_missing(shared):
        modes += " as the policy allows; MPS not offered here: no co-located measurements, no interference_prior"
    else:
        modes += " as the policy allows"
    return [
        _Spec("exclusive", "one model per whole GPU, MIG off, batching (baseline whole_gpu)",
              base("whole_gpu"), problem, only_baseline),
        _Spec("temporal", f"ILP, {words}; models take turns (time sharing, one process each), {shared_words}",
              ilp(temporal), temporal),
        _Spec("mps", f"ILP, {words}; models run concurrently under MPS (processes: {procs}), {shared_words}",
              None if mps_reason else ilp(mps), mps, mps_reason),
        _Spec("mig_homogeneous", "one MIG geometry per GPU type, assignment solved exactly (baseline homogeneous)",
              base("homogeneous"), problem, only_baseline),
        _Spec("mig_greedy", "ParvaGPU-style segments, best-fit packed (baseline greedy)",
              base("greedy"), problem, only_baseline),
        _Spec("mig", "ILP, MIG instances, one model and one process per instance", ilp(mig), mig),
        _Spec("mig_mps", f"ILP, MIG instances, one model per instance, MPS processes (policy: {procs})",
              ilp(mig_mps), mig_mps),
        _Spec("mig_shared", f"ILP, MIG instances shared by models ({modes}), {shared_words}, "
                            f"MPS processes (policy: {procs})", ilp(shared), shared),
    ]


def mean_utilisation(sim) -> float | None:
    """Mean over the plan's instances of their busy share: a time-shared instance's duty-cycle busy share; any
    other instance's busy server time over its processes (every model's processes together under MPS)."""
    by_instance: dict[tuple[int, int], list] = {}
    for s in sim.instances:
        by_instance.setdefault((s.gpu, s.start), []).append(s)
    values = []
    for runs in by_instance.values():
        cycle = next((getattr(r, "instance_utilisation", None) for r in runs
                      if getattr(r, "instance_utilisation", None) is not None), None)
        if cycle is not None:
            values.append(cycle)
        else:
            procs = sum(r.processes for r in runs)
            values.append(sum(r.utilisation * r.processes for r in runs) / procs)
    return sum(values) / len(values) if values else None


def _result(spec: _Spec, objective: str, sim_seconds: float) -> StrategyResult:
    from .placer import count_gpus
    from .simulator import verify

    def unavailable(reason: str, status: str = "unavailable", seconds: float | None = None) -> StrategyResult:
        return StrategyResult(spec.name, spec.description, None, None, None, None, None, seconds, status, False,
                              reason)

    if spec.run is None:
        return unavailable(spec.reason or "not available")
    t0 = time.perf_counter()
    try:
        plan = spec.run()
    except Infeasible as e:
        return unavailable("; ".join(e.reasons), "infeasible", time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    if not plan.gpus:
        return unavailable(f"no plan: solver status {plan.status}", plan.status, seconds)
    count = count_gpus(spec.problem, plan)
    sim = verify(spec.problem, plan, load=1.0, duration_s=sim_seconds, seed=0)
    attained = [m.slo_attainment for m in sim.models if m.slo_attainment is not None]
    return StrategyResult(spec.name, spec.description, sum(count.values()), count.cost,
                          sum(m.served_rps for m in plan.models), mean_utilisation(sim),
                          min(attained) if attained else None, seconds, plan.status, True, None, plan)


def compare(problem: "Problem", objective: str | None = None, *, time_limit: float | None = None,
            sim_seconds: float = 10.0) -> Comparison:
    """Every strategy of ``STRATEGIES`` on ``problem`` for ``objective`` (None: the instance's, which must be
    min_gpus or max_throughput). ``time_limit`` goes to each ILP solve; ``sim_seconds`` is each simulation's
    length. Never raises Infeasible: a strategy without an answer is ``available=False`` with the reason."""
    obj = objective or problem.instance.objective
    if obj not in OBJECTIVES:
        raise InputError(f"compare answers {' or '.join(OBJECTIVES)}, not '{obj}'", field="objective")
    if time_limit is not None and not 0 < time_limit < float("inf"):
        raise InputError("must be positive", field="time_limit")
    if not 0 < sim_seconds <= 86_400:
        raise InputError("must be positive (at most a day)", field="sim_seconds")
    results = [_result(s, obj, sim_seconds) for s in _specs(problem, obj, time_limit)]
    return Comparison(problem.instance.name, obj, results)


def saving(result: StrategyResult, reference: StrategyResult) -> float | None:
    """Relative change in GPUs against ``reference`` (-0.4: 40% fewer), None where either has no answer."""
    if not (result.available and reference.available) or not reference.gpus:
        return None
    return (result.gpus - reference.gpus) / reference.gpus
