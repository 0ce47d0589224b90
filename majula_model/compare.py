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

Predictability: a count of GPUs is only worth what its SLO promise is worth. Every strategy is also asked under
the rule peers use (``PEER_RULE``, Nexus' SLO/2: a batch may use half the SLO, ``arrivals: "smooth"``, fraction
0.5), and each (strategy, model, rule) gets a ``PredictabilityRow``: the attainment the rule promises (the
policy's ``target_attainment`` under ``"poisson"``; every request, 1.0, under a smooth rule, whose worst case is a
wait of one batch plus its own) against the attainment the simulator measures under Poisson arrivals. Where the
policy already is the SLO/2 rule, the two rules' rows come from the same plans. A row says where a model's
co-location slowdown comes from: ``none`` (alone in its instance, or taking turns), ``measured`` (that exact
co-location was measured) or ``predicted`` (the interference model or its prior; perf/interference.py).

``demand_sweep`` asks the min_gpus question of the strategies at demand scaled by each factor ("GPUs needed as
demand grows"); by default the pool is lifted so that every point has an answer (GPUs to buy, not "does our fleet
suffice").

Pure library: nothing is printed (``majula compare`` and ``majula report`` print and draw).

``majula_model`` exports ``compare`` as ``compare_strategies`` (and ``demand_sweep``): the package attribute
``compare`` is this module, as ``import majula_model.compare`` makes it, whatever was imported before.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable

from .errors import Infeasible, InputError

if TYPE_CHECKING:
    from .problem.loading import Problem
    from .schema import Plan, Policy
    from .simulator.stats import SimResult

OBJECTIVES = ("min_gpus", "max_throughput")
"""Objectives a comparison answers (max_scale is a growth question, not a way of serving today's demand)."""


def objective_for(problem: "Problem", asked: str | None, verb: str = "comparing") -> tuple[str | None, str | None]:
    """The objective a comparison answers, and a note when it is not the instance's own: ``asked``, else the
    instance's, else min_gpus where the instance's (max_scale) is a growth question ``OBJECTIVES`` leave out."""
    if asked is None and problem.instance.objective not in OBJECTIVES:
        return "min_gpus", (f"the instance's objective is {problem.instance.objective}; {verb} min_gpus "
                            "(--objective chooses)")
    return asked, None


STRATEGIES = ("exclusive", "temporal", "mps", "mig_homogeneous", "mig_greedy", "mig", "mig_mps", "mig_shared")

ILP_STRATEGIES = ("temporal", "mps", "mig", "mig_mps", "mig_shared")
"""The strategies answered by the ILP (the others are baselines, whose status is ``feasible`` by convention)."""

POLICY_RULE = "policy"
PEER_RULE = "slo/2"
"""The rules a predictability row is judged under: the instance's own, and Nexus' SLO/2 rule (docs/domain.md,
"SLO rules"): ``arrivals: "smooth"``, ``latency_budget_fraction`` 0.5."""

PEER_BUDGET_FRACTION = 0.5

INTERFERENCE_SOURCES = ("none", "measured", "predicted")

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
    sim: "SimResult | None" = field(default=None, repr=False, compare=False)
    """The simulation of the plan (not in ``to_dict``): per-model attainment and latencies, for reports."""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(replace(self, plan=None, sim=None))
        d.pop("plan")
        d.pop("sim")
        return d


@dataclass(frozen=True)
class PredictabilityRow:
    """What one strategy's plan promises one model under one SLO rule, against what the simulator measured.

    ``promised``: the share of requests within the SLO the rule claims (``promised_attainment``); ``simulated``:
    the share the simulator measured under Poisson arrivals at the plan's served rate (None where the model got
    no requests); ``gpus``: GPUs of that rule's plan; ``interference_source``: ``INTERFERENCE_SOURCES``."""

    strategy: str
    model: str
    rule: str
    gpus: int
    promised: float
    simulated: float | None
    interference_source: str

    @property
    def below_promise(self) -> bool:
        """True where the simulated attainment is below the promise, compared at 0.01 percentage point (as shown:
        a 10 s simulation cannot tell finer differences)."""
        return self.simulated is not None and round(self.simulated, 4) < round(self.promised, 4)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RuleSummary:
    """One strategy under one rule, over its models: the worst simulated model, how many models fall below the
    promise, and where co-location slowdowns come from (``none``, ``measured``, or ``predicted`` with how many
    models rest on a prediction)."""

    strategy: str
    rule: str
    gpus: int
    promised: float
    worst_model: str
    worst_simulated: float | None
    below: int
    models: int
    interference: str

    @staticmethod
    def of(rows: list[PredictabilityRow]) -> "RuleSummary":
        seen = [r for r in rows if r.simulated is not None]
        worst = min(seen, key=lambda r: r.simulated) if seen else rows[0]
        predicted = sum(r.interference_source == "predicted" for r in rows)
        source = (f"predicted ({predicted} of {len(rows)} models)" if predicted else
                  "measured" if any(r.interference_source == "measured" for r in rows) else "none")
        return RuleSummary(worst.strategy, worst.rule, worst.gpus, worst.promised, worst.model, worst.simulated,
                           sum(r.below_promise for r in rows), len(rows), source)


@dataclass
class Comparison:
    """Every strategy, in ``STRATEGIES`` order, for one instance and objective."""

    instance: str
    objective: str
    strategies: list[StrategyResult]
    predictability: list[PredictabilityRow] = field(default_factory=list)
    """Per strategy, model and rule (``POLICY_RULE`` rows first, then ``PEER_RULE``), in strategy order."""
    rules: dict[str, str] = field(default_factory=dict)
    """What each rule of ``predictability`` says, in words (rule name -> description)."""
    peer_strategies: list[StrategyResult] = field(default_factory=list, repr=False)
    """The strategies answered under the SLO/2 rule (the same objects as ``strategies`` where the policy is that
    rule; empty when ``compare`` was asked without it). Not in ``to_dict``: the rows carry their numbers."""

    def get(self, name: str, rule: str = POLICY_RULE) -> StrategyResult | None:
        """The strategy's result under ``rule`` (``POLICY_RULE`` or ``PEER_RULE``), None where it was not asked."""
        pool = self.strategies if rule == POLICY_RULE else self.peer_strategies
        return next((s for s in pool if s.name == name), None)

    def strategy(self, name: str, rule: str = POLICY_RULE) -> StrategyResult:
        """The strategy's result under ``rule``; KeyError where it was not asked (``compare(strategies=...)``)."""
        found = self.get(name, rule)
        if found is None:
            raise KeyError(f"strategy '{name}' is not in this comparison under rule '{rule}'")
        return found

    def rows(self, strategy: str | None = None, rule: str | None = None) -> list[PredictabilityRow]:
        """The predictability rows, optionally of one strategy and/or one rule."""
        return [r for r in self.predictability
                if (strategy is None or r.strategy == strategy) and (rule is None or r.rule == rule)]

    def summary(self) -> list["RuleSummary"]:
        """One ``RuleSummary`` per (strategy, rule) with rows, in strategy then rule order."""
        out = []
        for name in STRATEGIES:
            for rule in self.rules:
                rows = self.rows(name, rule)
                if rows:
                    out.append(RuleSummary.of(rows))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"instance": self.instance, "objective": self.objective,
                "strategies": [s.to_dict() for s in self.strategies],
                "rules": dict(self.rules),
                "predictability": [r.to_dict() for r in self.predictability]}


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


def _solve_spec(spec: _Spec) -> tuple["Plan | None", StrategyResult | None, float | None]:
    """Run one strategy: (plan, None, seconds), or (None, the unavailable result, seconds) when it has no answer."""
    def unavailable(reason: str, status: str = "unavailable", seconds: float | None = None) -> StrategyResult:
        return StrategyResult(spec.name, spec.description, None, None, None, None, None, seconds, status, False,
                              reason)

    if spec.run is None:
        return None, unavailable(spec.reason or "not available"), None
    t0 = time.perf_counter()
    try:
        plan = spec.run()
    except Infeasible as e:
        seconds = time.perf_counter() - t0
        return None, unavailable("; ".join(e.reasons), "infeasible", seconds), seconds
    seconds = time.perf_counter() - t0
    if not plan.gpus:
        return None, unavailable(f"no plan: solver status {plan.status}", plan.status, seconds), seconds
    return plan, None, seconds


def _result(spec: _Spec, objective: str, sim_seconds: float) -> StrategyResult:
    from .placer import count_gpus
    from .simulator import verify

    plan, missing, seconds = _solve_spec(spec)
    if missing is not None:
        return missing
    count = count_gpus(spec.problem, plan)
    sim = verify(spec.problem, plan, load=1.0, duration_s=sim_seconds, seed=0)
    attained = [m.slo_attainment for m in sim.models if m.slo_attainment is not None]
    return StrategyResult(spec.name, spec.description, sum(count.values()), count.cost,
                          sum(m.served_rps for m in plan.models), mean_utilisation(sim),
                          min(attained) if attained else None, seconds, plan.status, True, None, plan, sim)


# --- predictability ------------------------------------------------------------------------------------------

def is_peer_rule(policy: "Policy") -> bool:
    """True where the policy already is the SLO/2 rule (smooth arrivals, half the SLO per batch)."""
    return policy.arrivals == "smooth" and policy.latency_budget_fraction == PEER_BUDGET_FRACTION


def peer_problem(problem: "Problem") -> "Problem":
    """The problem under the SLO/2 rule: the same records, demand and sharing policy; only the SLO rule changes."""
    return _with_policy(problem, arrivals="smooth", latency_budget_fraction=PEER_BUDGET_FRACTION)


def promised_attainment(policy: "Policy") -> float:
    """The share of requests within the SLO a plan built under ``policy``'s rule claims.

    ``"poisson"``: ``target_attainment``, which ``perf/queueing.py`` bounds for Poisson arrivals. ``"smooth"``:
    every request (1.0): the rule's worst case, a wait for the running batch and then its own, fits the SLO, but
    only when arrivals are smooth (docs/domain.md, "SLO rules"); the simulator's Poisson arrivals test that."""
    return policy.target_attainment if policy.arrivals == "poisson" else 1.0


def rule_words(policy: "Policy") -> str:
    """The SLO rule of ``policy`` in words (for reports and the people table)."""
    if policy.arrivals == "poisson":
        return (f"Poisson arrivals: capacity keeps {policy.target_attainment:.2%} of requests within the SLO "
                f"(perf/queueing.py)")
    return (f"batch latency <= {policy.latency_budget_fraction:g} x SLO, assuming smooth arrivals "
            f"(promises every request)")


def interference_source(problem: "Problem", plan: "Plan", model: str) -> str:
    """Where ``model``'s co-location slowdown in ``plan`` comes from: ``none`` (alone in its instances, or taking
    turns in a duty cycle, so nothing runs beside it), ``measured`` (every MPS co-location it is in was measured
    exactly, batches included) or ``predicted`` (at least one comes from the interference fit or its prior)."""
    from .perf.interference import MEASURED, colocated_latency

    cat, prior = problem.catalog, problem.instance.policy.interference_prior
    sources: set[str] = set()
    for g in plan.gpus:
        gpu = cat.resolve(g.type) or g.type
        for inst in g.instances:
            if inst.sharing != "mps":
                continue
            mine = next((m for m in inst.models if m.name == model), None)
            if mine is None:
                continue
            others = [(m.name, m.batch) for m in inst.models if m.name != model]
            try:
                _, src = colocated_latency(problem.measurements, cat, model, gpu, inst.profile, mine.batch, others,
                                           prior=prior)
            except InputError:  # nothing to measure it by: whatever the placer used was not a measurement
                src = "predicted"
            sources.add("measured" if src == MEASURED else "predicted")
    if not sources:
        return "none"
    return "predicted" if "predicted" in sources else "measured"


def _rows(problem: "Problem", results: list[StrategyResult], rule: str) -> list[PredictabilityRow]:
    promised = promised_attainment(problem.instance.policy)
    out = []
    for r in results:
        if not r.available or r.sim is None:
            continue
        for m in r.sim.models:
            out.append(PredictabilityRow(r.name, m.name, rule, r.gpus, promised, m.slo_attainment,
                                         interference_source(problem, r.plan, m.name)))
    return out


def _check_strategies(strategies) -> tuple[str, ...]:
    strategies = tuple(strategies)
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown or not strategies:
        raise InputError(f"unknown strategy '{unknown[0]}' (known: {', '.join(STRATEGIES)})" if unknown
                         else "give at least one strategy", field="strategies")
    return tuple(s for s in STRATEGIES if s in strategies)


def compare(problem: "Problem", objective: str | None = None, *, time_limit: float | None = None,
            sim_seconds: float = 10.0, peer_rule: bool = True, strategies=STRATEGIES) -> Comparison:
    """Every strategy of ``strategies`` (default ``STRATEGIES``, always in that order) on ``problem`` for
    ``objective`` (None: the instance's, which must be min_gpus or max_throughput). ``time_limit`` goes to each
    ILP solve; ``sim_seconds`` is each simulation's length. ``peer_rule``: also answer every strategy under the
    SLO/2 rule for the predictability rows (where the policy is not that rule already, twice the solves). Never
    raises Infeasible: a strategy without an answer is ``available=False`` with the reason. InputError for an
    unknown strategy, an objective it does not answer, a time limit or simulation length out of range."""
    chosen = _check_strategies(strategies)
    obj = objective or problem.instance.objective
    if obj not in OBJECTIVES:
        raise InputError(f"compare answers {' or '.join(OBJECTIVES)}, not '{obj}'", field="objective")
    if time_limit is not None and not 0 < time_limit < float("inf"):
        raise InputError("must be positive", field="time_limit")
    if not 0 < sim_seconds <= 86_400:
        raise InputError("must be positive (at most a day)", field="sim_seconds")
    results = [_result(s, obj, sim_seconds) for s in _specs(problem, obj, time_limit) if s.name in chosen]
    pol = problem.instance.policy
    rules = {POLICY_RULE: rule_words(pol)}
    rows = _rows(problem, results, POLICY_RULE)
    peers: list[StrategyResult] = []
    if peer_rule:
        peer = peer_problem(problem)
        same = is_peer_rule(pol)
        rules[PEER_RULE] = rule_words(peer.instance.policy) + (" (the policy's own rule: the same plans)"
                                                               if same else "")
        peers = results if same else [_result(s, obj, sim_seconds) for s in _specs(peer, obj, time_limit)
                                      if s.name in chosen]
        rows += _rows(peer, peers, PEER_RULE)
    order = {name: i for i, name in enumerate(STRATEGIES)}
    rows.sort(key=lambda r: (order[r.strategy], r.rule != POLICY_RULE))
    return Comparison(problem.instance.name, obj, results, rows, rules, peers)


compare_strategies = compare
"""``compare`` under the name ``majula_model`` exports (module docstring: the package attribute ``compare`` is
this module)."""


def saving(result: StrategyResult, reference: StrategyResult) -> float | None:
    """Relative change in GPUs against ``reference`` (-0.4: 40% fewer), None where either has no answer."""
    if not (result.available and reference.available) or not reference.gpus:
        return None
    return (result.gpus - reference.gpus) / reference.gpus


# --- GPUs needed as demand grows ---------------------------------------------------------------------------------

BASELINE_SLACK = 8
"""How far ``demand_sweep`` lifts each pool for the baselines: this many times the GPUs that put every model on
whole instances of its best profile (one instance per GPU), the bound the ILP strategies get (as
``majula solve --sweep --unbounded-pool``). The ILPs never need more than that bound; baselines pack worse, and
at most 8 instances fit a GPU of the catalog."""

BASELINE_STRATEGIES = ("exclusive", "mig_homogeneous", "mig_greedy")


@dataclass(frozen=True)
class DemandPoint:
    """One strategy at one demand factor: GPUs needed and their cost, or ``available=False`` with the reason."""

    strategy: str
    factor: float
    gpus: int | None
    cost: float | None
    status: str
    available: bool
    reason: str | None
    solve_seconds: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DemandSweep:
    """GPUs needed per strategy as every demand is scaled by each factor (min_gpus at each point)."""

    instance: str
    factors: tuple[float, ...]
    strategies: tuple[str, ...]
    unbounded_pool: bool
    points: list[DemandPoint]
    """Factor-major: every strategy of ``strategies`` (in order) at the first factor, then the next."""

    def point(self, strategy: str, factor: float) -> DemandPoint:
        return next(p for p in self.points if p.strategy == strategy and p.factor == factor)

    def series(self, strategy: str) -> list[DemandPoint]:
        """One strategy's points, in factor order."""
        return [p for p in self.points if p.strategy == strategy]

    def gpus(self, strategy: str) -> list[int | None]:
        """GPUs needed by ``strategy`` at each factor (None where unavailable)."""
        return [p.gpus for p in self.series(strategy)]

    def to_dict(self) -> dict[str, Any]:
        return {"instance": self.instance, "factors": list(self.factors), "strategies": list(self.strategies),
                "unbounded_pool": self.unbounded_pool, "points": [p.to_dict() for p in self.points]}


def _lifted(problem: "Problem", slack: int = 1) -> "Problem":
    """The pool lifted so that every strategy has GPUs enough: each pool at least ``slack`` times the bound of
    ``placer.api.unbounded`` (every model on whole instances of its best profile), taken as the largest over the
    problem, its whole-GPU variant and both with one process per instance (the most restrictive strategies);
    the bound itself counts headroom, instance floors and failure tolerance. Unchanged where no bound can be
    computed (a model that meets its SLO nowhere: every strategy then says so itself)."""
    from .placer.api import unbounded

    counts = [g.count for g in problem.instance.gpus]
    whole = whole_gpu_problem(problem)[0]
    variants = (problem, whole, _with_policy(problem, max_processes=1), _with_policy(whole, max_processes=1))
    for variant in variants:
        try:
            lifted = unbounded(variant)
        except (Infeasible, InputError):
            continue
        counts = [max(c, slack * g.count) for c, g in zip(counts, lifted.instance.gpus)]
    pools = tuple(g.model_copy(update={"count": c}) for g, c in zip(problem.instance.gpus, counts))
    return replace(problem, instance=problem.instance.model_copy(update={"gpus": pools}))


def demand_sweep(problem: "Problem", factors, strategies=STRATEGIES, *, time_limit: float | None = None,
                 unbounded_pool: bool = True) -> DemandSweep:
    """GPUs each of ``strategies`` needs (min_gpus) with every model's demand multiplied by each of ``factors``.

    ``unbounded_pool`` (default): each pool lifted beyond what the strategy needs (``_lifted``: the ILPs get the
    bound of ``majula solve --sweep --unbounded-pool``, the baselines ``BASELINE_SLACK`` times it), so the answer
    is GPUs to buy; False keeps the instance's pool, and points beyond it are unavailable (infeasible).
    No simulation (``compare`` simulates today's demand). InputError for an empty or non-positive factor list,
    an unknown strategy or a time limit that is not positive."""
    from .placer import count_gpus
    from .placer.api import scaled

    factors = tuple(float(f) for f in factors)
    if not factors:
        raise InputError("give at least one demand factor", field="factors")
    bad = next((f for f in factors if not 0 < f < float("inf")), None)
    if bad is not None:
        raise InputError(f"demand factor must be positive and finite, got {bad:g}", field="factors")
    strategies = _check_strategies(strategies)
    if time_limit is not None and not 0 < time_limit < float("inf"):
        raise InputError("must be positive", field="time_limit")
    points = []
    for f in factors:
        question = scaled(problem, f)
        specs = {s.name: s for s in _specs(_lifted(question) if unbounded_pool else question, "min_gpus",
                                           time_limit)}
        if unbounded_pool and any(name in BASELINE_STRATEGIES for name in strategies):
            roomy = _specs(_lifted(question, BASELINE_SLACK), "min_gpus", time_limit)
            specs.update((s.name, s) for s in roomy if s.name in BASELINE_STRATEGIES)
        for name in strategies:
            spec = specs[name]
            plan, missing, seconds = _solve_spec(spec)
            if missing is not None:
                points.append(DemandPoint(name, f, None, None, missing.status, False, missing.reason, seconds))
                continue
            count = count_gpus(spec.problem, plan)
            points.append(DemandPoint(name, f, sum(count.values()), count.cost, plan.status, True, None, seconds))
    return DemandSweep(problem.instance.name, factors, strategies, unbounded_pool, points)
