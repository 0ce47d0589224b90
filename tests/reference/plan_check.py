"""``check_plan(problem, plan)``: an independent audit of a placer plan against the instance and its records.

Why: matching the optimum is not enough, the plan itself must be something an operator can apply. Checked
(docs/domain.md, docs/data-format.md): each GPU is of a pool type and its (profile, start) set is a valid layout whose
geometry lists exactly its instances (``placements_ref``); GPU counts stay within the pools; every model run
is a measured point of that model, GPU type, profile, batch and processes that meets the SLO rule, fits memory
and the process limit, with the point's latency and throughput as ``latency_ms`` and ``capacity_rps``
(``capacity_ref``); rate <= capacity; per-model totals add up; served <= demand (max_throughput, min_gpus);
min_gpus serves every demand; the objective value follows from the plan (max_scale: from its capacity) and
lies on the right side of the bound; a proven optimum has gap ~0; a no_solution plan is empty.
"""

from __future__ import annotations

from collections import Counter

from majula_model.problem.loading import Problem
from majula_model.schema import Plan

from .capacity_ref import point_rate, qualifies
from .placements_ref import check_gpu

REL = 1e-6


FLOOR = 1e-300
"""Absolute floor of the tolerances: relative to the numbers themselves at every scale (a demand of 1e-7 rps
served 0 is a miss, not a rounding), so the checker holds for demands and costs far from 1 (issue 11)."""


def close(a: float, b: float, rel: float = REL) -> bool:
    """Equal within a relative tolerance of the larger of the two."""
    return abs(a - b) <= rel * max(FLOOR, abs(a), abs(b))


def at_most(a: float, b: float, rel: float = REL) -> bool:
    """a <= b up to the tolerance, relative to the larger of the two."""
    return a <= b + rel * max(FLOOR, abs(a), abs(b))


def _check_run(problem: Problem, gpu_type: str, profile: str, run) -> None:
    inst, cat = problem.instance, problem.catalog
    demands = {m.name: m for m in inst.models}
    assert run.name in demands, f"plan serves unknown model {run.name}"
    slo = demands[run.name].slo_ms
    mem = cat.gpus[gpu_type].profile_memory_gb(profile)
    same = [r for r in problem.measurements if r.model == run.name and r.profile == profile
            and cat.resolve(r.gpu) == gpu_type and r.batch == run.batch and r.processes == run.processes]
    assert same, f"{run.name} on {gpu_type} {profile}: no record at batch {run.batch}, processes {run.processes}"
    ok = [r for r in same if qualifies(r, slo, inst.policy, mem)]
    assert ok, (f"{run.name} on {gpu_type} {profile} batch {run.batch} x{run.processes}: no record meets "
                f"latency <= {inst.policy.latency_budget_fraction} * {slo} ms, memory and process limits "
                f"(latencies {[r.latency_ms for r in same]})")
    assert any(close(r.latency_ms, run.latency_ms) for r in ok), \
        f"{run.name} {profile}: latency_ms {run.latency_ms} is not the measured {[r.latency_ms for r in ok]}"
    assert any(close(point_rate(r), run.capacity_rps) for r in ok), \
        f"{run.name} {profile}: capacity_rps {run.capacity_rps} is not the point's {[point_rate(r) for r in ok]}"
    assert -REL <= run.rate_rps and at_most(run.rate_rps, run.capacity_rps), \
        f"{run.name} {profile}: rate {run.rate_rps} outside [0, capacity {run.capacity_rps}]"


def check_preamble(plan: Plan, objective: str | None) -> bool:
    """The objective asked, a status a plan may have, an empty no_solution plan, distinct GPU ids; False when
    there is nothing more to audit (no_solution)."""
    kind = plan.objective.kind
    assert objective is None or kind == objective, f"objective kind {kind}, asked {objective}"
    assert plan.status in ("optimal", "feasible", "no_solution"), \
        f"status {plan.status} returned as a plan (infeasible instances raise Infeasible)"
    if plan.status == "no_solution":
        assert not plan.gpus and plan.objective.value is None, "no_solution plan with GPUs or a value"
        return False
    ids = [g.id for g in plan.gpus]
    assert len(set(ids)) == len(ids), f"duplicate GPU ids {ids}"
    return True


def check_layout(problem: Problem, gpu, pools: dict) -> str:
    """One plan GPU: a pool type, at least one instance, a valid layout whose geometry lists exactly its
    instances (``placements_ref``). Returns the canonical type. Shared by ``shared_check``."""
    t = problem.catalog.resolve(gpu.type)
    assert t in pools, f"GPU {gpu.id}: type {gpu.type} is not in the pools"
    assert gpu.instances, f"GPU {gpu.id}: listed with no instance (unused GPUs are left out)"
    check_gpu(problem.catalog.gpus[t], gpu.geometry, [(i.profile, i.start) for i in gpu.instances])
    return t


def check_plan(problem: Problem, plan: Plan, objective: str | None = None) -> None:
    """Assert that ``plan`` is a valid, SLO-meeting plan for ``problem`` (AssertionError says what is wrong)."""
    inst, cat = problem.instance, problem.catalog
    if not check_preamble(plan, objective):
        return
    pools = {cat.resolve(p.type): p for p in inst.gpus}
    used: Counter[str] = Counter()
    rate: Counter[str] = Counter()
    cap: Counter[str] = Counter()
    cost = 0.0
    for gpu in plan.gpus:
        t = check_layout(problem, gpu, pools)
        used[t] += 1
        cost += pools[t].cost
        for ins in gpu.instances:
            assert len({r.name for r in ins.models}) <= inst.policy.max_models_per_instance, \
                f"GPU {gpu.id} {ins.profile}@{ins.start}: {len(ins.models)} models in one instance"
            for run in ins.models:
                _check_run(problem, t, ins.profile, run)
                rate[run.name] += run.rate_rps
                cap[run.name] += run.capacity_rps
    check_totals(problem, plan, used, rate, cap, cost)


def check_totals(problem: Problem, plan: Plan, used: Counter, rate: Counter, cap: Counter, cost: float) -> None:
    """The plan-level half of the audit, from per-type GPU counts, per-model routed rates and capacities, and
    the cost of the GPUs used: pools, per-model totals, served vs demand, the objective value, bound and gap.
    Shared by ``shared_check.check_shared_plan``, which computes the inputs from its own instance rules."""
    inst, cat = problem.instance, problem.catalog
    kind = plan.objective.kind
    pools = {cat.resolve(p.type): p for p in inst.gpus}
    for t, n in used.items():
        assert n <= pools[t].count, f"{n} GPUs of {t} used, pool has {pools[t].count}"
    names = [m.name for m in plan.models]
    assert Counter(names) == Counter(m.name for m in inst.models), f"plan models {names}"
    served = {}
    for pm in plan.models:
        d = next(m.demand_rps for m in inst.models if m.name == pm.name)
        assert close(pm.demand_rps, d), f"{pm.name}: demand {pm.demand_rps}, instance says {d}"
        assert close(pm.served_rps, rate[pm.name]), f"{pm.name}: served {pm.served_rps} != sum of rates {rate[pm.name]}"
        assert close(pm.capacity_rps, cap[pm.name]), f"{pm.name}: capacity {pm.capacity_rps} != sum {cap[pm.name]}"
        if kind in ("max_throughput", "min_gpus"):
            assert at_most(pm.served_rps, d), f"{pm.name}: served {pm.served_rps} > demand {d}"
        if kind == "min_gpus":
            assert at_most(d, pm.served_rps), f"{pm.name}: served {pm.served_rps} < demand {d} under min_gpus"
        served[pm.name] = (pm.served_rps, d)
    value = plan.objective.value
    assert value is not None, "plan without an objective value"
    if kind == "max_throughput":
        expect = sum(s for s, _ in served.values())
    elif kind == "max_scale":
        # docs/data-format.md (data contract): a is the largest factor with served_m >= a * demand_m, so the plan routes a x
        # demand; the factor must be backed by capacity (equal to it when proven optimal: one model per
        # instance, so a larger factor would otherwise be feasible).
        expect = min(cap[n] / d for n, (_, d) in served.items())
        for n, (s, d) in served.items():
            assert at_most(value * d, s), f"{n}: served {s} < scale {value} x demand {d}"
        if plan.status != "optimal":
            assert at_most(value, expect), f"max_scale {value} exceeds what the capacity gives, {expect}"
            expect = value
    else:
        expect = cost
    assert close(value, expect), f"{kind}: objective value {value}, plan gives {expect}"
    bound = plan.objective.bound
    if bound is not None:  # the solver's bound is on the far side of every feasible value
        better = at_most(value, bound) if kind != "min_gpus" else at_most(bound, value)
        assert better, f"{kind}: value {value} beyond the proven bound {bound}"
    assert plan.gap is None or plan.gap >= -1e-9, f"negative gap {plan.gap}"
    if plan.status == "optimal":
        assert plan.gap is not None and plan.gap <= 1e-6, f"optimal with gap {plan.gap}"
        assert plan.objective.bound is not None and close(plan.objective.bound, value, 1e-6), \
            f"optimal but bound {plan.objective.bound} != value {value}"
