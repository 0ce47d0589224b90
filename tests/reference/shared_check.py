"""``check_shared_plan(problem, plan)``: the audit of ``plan_check.check_plan`` extended to plans whose instances
may be shared by several models (issue 12), recomputed from the records alone.

Why a second checker: ``check_plan`` asserts that every run is a solo measured point meeting the solo SLO rule,
which a time-shared or MPS run is not; and it judges points by the smooth rule only. Here:

- every plan-level check of ``check_plan`` is kept (pools, layouts, geometry, totals, objective, bound, gap);
  a plan with no shared instance under smooth arrivals is *also* passed through ``check_plan`` itself, so this
  checker is never weaker than it;
- an unshared instance (``sharing: "none"``) under smooth arrivals is checked by ``plan_check._check_run``;
  under Poisson arrivals its run must be a solo measured point (fitting memory and ``max_processes``) with the
  point's ``latency_ms`` and capacity ``min(poisson_capacity(b, k, service, slo, target), rate) > 0``;
- a shared instance re-checks the schema's own invariants (a plan built with ``model_construct`` skips them):
  distinct models, ``none`` = one model, ``time`` = 2..K models with ``cycle_ms``, ``mps`` = exactly 2 models
  without ``cycle_ms``, one process per model, at most ``policy.max_models_per_instance`` models, the mode in
  ``policy.sharing_modes``; the sum of the models' solo ``memory_gb`` (unknown = 0) within the profile;
- ``time``: each run's ``latency_ms`` is the service time ``max(latency_ms, b * 1000 / throughput)`` of a solo
  measured point (processes 1, no ``colocated``) at its batch; ``cycle_ms`` is their sum; smooth:
  ``cycle + L_i <= 2 * latency_budget_fraction * slo_i`` and ``capacity <= b_i * 1000 / cycle``; Poisson:
  ``capacity <= min(b_i * 1000 / cycle, poisson_capacity(b_i, 1, cycle, slo_i, target))``, that bound > 0;
- ``mps``: each run has a solo point at its batch, and ``latency_ms`` (``L'``) is at least its solo service time
  (the ``L_i`` of time sharing: never faster than alone) and at least every record that measured exactly this
  co-location (same type and profile, processes 1, ``colocated`` = the other model at its batch); where no
  record measured it, MPS must have been on offer (a co-located record on this GPU type, from which a slowdown
  model may predict, or ``policy.interference_prior``); smooth: ``L' <= latency_budget_fraction * slo`` and
  ``capacity <= b * 1000 / L'``; Poisson: ``capacity <= min(b * 1000 / L', poisson_capacity(b, 1, L', slo,
  target))``, that bound > 0.

Tolerances are those of ``plan_check`` (relative 1e-6). Records are matched by canonical GPU type; emulated
records are not told apart from real ones (as in ``plan_check``).
"""

from __future__ import annotations

from collections import Counter

from majula_model.perf.queueing import poisson_capacity
from majula_model.problem.loading import Problem
from majula_model.schema import MeasurementRecord, Plan, PlanInstance, PlanModelRun

from .capacity_ref import point_rate
from .plan_check import REL, _check_run, at_most, check_layout, check_plan, check_preamble, check_totals, close


def service_ms(rec: MeasurementRecord) -> float:
    """Per-process time of one full batch: the slower of the latency and what the throughput implies."""
    return max(rec.latency_ms, rec.processes * rec.batch * 1000.0 / point_rate(rec))


def solo_records(problem: Problem, model: str, gpu_type: str, profile: str, batch: int,
                 processes: int = 1) -> list[MeasurementRecord]:
    """Measured records of ``model`` alone (no ``colocated``) at this type, profile, batch and process count."""
    cat = problem.catalog
    return [r for r in problem.measurements if r.model == model and r.profile == profile and not r.colocated
            and cat.resolve(r.gpu) == gpu_type and r.batch == batch and r.processes == processes]


def colocated_records(problem: Problem, model: str, batch: int, other: str, other_batch: int, gpu_type: str,
                      profile: str) -> list[MeasurementRecord]:
    """Records of ``model`` at ``batch`` (one process) measured with exactly ``other`` at ``other_batch``."""
    cat = problem.catalog
    return [r for r in problem.measurements if r.model == model and r.batch == batch and r.processes == 1
            and r.profile == profile and cat.resolve(r.gpu) == gpu_type and len(r.colocated) == 1
            and r.colocated[0].model == other and r.colocated[0].batch == other_batch]


def mps_offered_without_record(problem: Problem, gpu_type: str) -> bool:
    """True when MPS may be planned for a pair nobody measured on ``gpu_type``: the interference prior is on, or
    the type has co-located measurements (from which a slowdown model may predict)."""
    if problem.instance.policy.interference_prior:
        return True
    cat = problem.catalog
    return any(r.colocated and cat.resolve(r.gpu) == gpu_type for r in problem.measurements)


def _memory(recs: list[MeasurementRecord]) -> float:
    """Memory a model's solo point needs (unknown = 0; of several candidate records, the least)."""
    return min(0.0 if r.memory_gb is None else r.memory_gb for r in recs)


def _check_poisson_solo(problem: Problem, gpu_type: str, profile: str, run: PlanModelRun) -> None:
    """An unshared run under Poisson arrivals: a solo measured point with its usable Poisson rate."""
    inst, cat = problem.instance, problem.catalog
    demands = {m.name: m for m in inst.models}
    assert run.name in demands, f"plan serves unknown model {run.name}"
    slo, pol = demands[run.name].slo_ms, inst.policy
    mem = cat.gpus[gpu_type].profile_memory_gb(profile)
    where = f"{run.name} on {gpu_type} {profile} batch {run.batch} x{run.processes}"
    same = solo_records(problem, run.name, gpu_type, profile, run.batch, run.processes)
    assert same, f"{where}: no solo record at this batch and process count"
    ok = [r for r in same if (r.memory_gb is None or r.memory_gb <= mem)
          and (pol.max_processes is None or r.processes <= pol.max_processes)]
    assert ok, f"{where}: no record fits the memory ({mem} GB) and process limit ({pol.max_processes})"
    usable = [(r, min(poisson_capacity(r.batch, r.processes, service_ms(r), slo, pol.target_attainment),
                      point_rate(r))) for r in ok]
    usable = [(r, u) for r, u in usable if u > 0]
    assert usable, f"{where}: no record keeps {pol.target_attainment} of Poisson arrivals within {slo} ms"
    assert any(close(r.latency_ms, run.latency_ms) for r, _ in usable), \
        f"{where}: latency_ms {run.latency_ms} is not the measured {[r.latency_ms for r, _ in usable]}"
    assert any(close(u, run.capacity_rps) for _, u in usable), \
        f"{where}: capacity_rps {run.capacity_rps} is not the Poisson capacity {[u for _, u in usable]}"


def _check_structure(where: str, ins: PlanInstance, problem: Problem) -> None:
    """The schema's invariants of an instance (again: ``model_construct`` skips them) and the policy's limits."""
    pol = problem.instance.policy
    names = [r.name for r in ins.models]
    assert names, f"{where}: instance serves no model"
    assert len(set(names)) == len(names), f"{where}: a model is listed twice in one instance: {names}"
    assert ins.sharing in ("none", "time", "mps"), f"{where}: unknown sharing '{ins.sharing}'"
    assert len(names) <= pol.max_models_per_instance, \
        f"{where}: {len(names)} models in one instance, policy.max_models_per_instance = {pol.max_models_per_instance}"
    if ins.sharing == "none":
        assert len(names) == 1, f"{where}: sharing 'none' with {len(names)} models {names}"
        assert ins.cycle_ms is None, f"{where}: cycle_ms {ins.cycle_ms} on an unshared instance"
        return
    assert ins.sharing in pol.sharing_modes, \
        f"{where}: sharing '{ins.sharing}' is not in policy.sharing_modes {list(pol.sharing_modes)}"
    bad = [(r.name, r.processes) for r in ins.models if r.processes != 1]
    assert not bad, f"{where}: a shared instance runs one process per model, got {bad}"
    if ins.sharing == "time":
        assert len(names) >= 2, f"{where}: time sharing with {len(names)} model(s)"
        assert ins.cycle_ms is not None and ins.cycle_ms > 0, f"{where}: time-shared without a cycle_ms"
    else:
        assert len(names) == 2, f"{where}: MPS co-location runs exactly 2 models, got {len(names)} {names}"
        assert ins.cycle_ms is None, f"{where}: cycle_ms {ins.cycle_ms} on an MPS instance"


def _check_shared(problem: Problem, gpu_type: str, where: str, ins: PlanInstance) -> None:
    """The rules of a time-shared or MPS instance (module docstring)."""
    inst, cat = problem.instance, problem.catalog
    pol = inst.policy
    demands = {m.name: m for m in inst.models}
    for run in ins.models:
        assert run.name in demands, f"{where}: plan serves unknown model {run.name}"
    mem_cap = cat.gpus[gpu_type].profile_memory_gb(ins.profile)
    memory = 0.0
    if ins.sharing == "time":
        cycle = ins.cycle_ms
        total = 0.0
        for run in ins.models:
            solo = solo_records(problem, run.name, gpu_type, ins.profile, run.batch)
            assert solo, f"{where}: {run.name} has no solo record at batch {run.batch}, processes 1"
            match = [r for r in solo if close(service_ms(r), run.latency_ms)]
            assert match, (f"{where}: {run.name} latency_ms {run.latency_ms} is not the service time of its solo "
                           f"point at batch {run.batch} ({[service_ms(r) for r in solo]})")
            memory += _memory(match)
            total += run.latency_ms
        assert close(cycle, total), f"{where}: cycle_ms {cycle} != sum of the models' latencies {total}"
        for run in ins.models:
            slo = demands[run.name].slo_ms
            bound = run.batch * 1000.0 / cycle
            if pol.arrivals == "smooth":
                limit = 2 * pol.latency_budget_fraction * slo
                assert at_most(cycle + run.latency_ms, limit), \
                    (f"{where}: {run.name}: cycle {cycle} + latency {run.latency_ms} ms > 2 x "
                     f"{pol.latency_budget_fraction} x slo {slo} = {limit} ms")
            else:
                q = poisson_capacity(run.batch, 1, cycle, slo, pol.target_attainment)
                assert q > 0, f"{where}: {run.name}: a {cycle} ms cycle keeps no Poisson rate within {slo} ms"
                bound = min(bound, q)
            assert at_most(run.capacity_rps, bound), \
                f"{where}: {run.name}: capacity {run.capacity_rps} > {bound} (batch {run.batch}, cycle {cycle} ms)"
    else:  # mps
        a, b = ins.models
        for run, other in ((a, b), (b, a)):
            slo = demands[run.name].slo_ms
            solo = solo_records(problem, run.name, gpu_type, ins.profile, run.batch)
            assert solo, f"{where}: {run.name} has no solo record at batch {run.batch}, processes 1"
            memory += _memory(solo)
            low = min(service_ms(r) for r in solo)
            assert at_most(low, run.latency_ms), \
                f"{where}: {run.name}: co-located latency {run.latency_ms} ms below its solo service time {low} ms"
            co = colocated_records(problem, run.name, run.batch, other.name, other.batch, gpu_type, ins.profile)
            if co:
                high = max(r.latency_ms for r in co)
                assert at_most(high, run.latency_ms), \
                    (f"{where}: {run.name}: latency {run.latency_ms} ms below the {high} ms measured with "
                     f"{other.name} at batch {other.batch}")
            else:
                assert mps_offered_without_record(problem, gpu_type), \
                    (f"{where}: {run.name} with {other.name}: no co-located record, no co-located data on "
                     f"{gpu_type} and policy.interference_prior is off, so MPS was not on offer")
            bound = run.batch * 1000.0 / run.latency_ms
            if pol.arrivals == "smooth":
                limit = pol.latency_budget_fraction * slo
                assert at_most(run.latency_ms, limit), \
                    f"{where}: {run.name}: co-located latency {run.latency_ms} ms > budget {limit} ms"
            else:
                q = poisson_capacity(run.batch, 1, run.latency_ms, slo, pol.target_attainment)
                assert q > 0, f"{where}: {run.name}: latency {run.latency_ms} ms keeps no Poisson rate within {slo} ms"
                bound = min(bound, q)
            assert at_most(run.capacity_rps, bound), \
                f"{where}: {run.name}: capacity {run.capacity_rps} > {bound} (batch {run.batch}, {run.latency_ms} ms)"
    assert at_most(memory, mem_cap), \
        f"{where}: the models' memory {memory} GB exceeds the profile's {mem_cap} GB"


def check_shared_plan(problem: Problem, plan: Plan, objective: str | None = None) -> None:
    """Assert that ``plan`` (shared instances allowed) is valid and SLO-meeting for ``problem``."""
    inst, cat = problem.instance, problem.catalog
    pol = inst.policy
    if not check_preamble(plan, objective):
        return
    pools = {cat.resolve(p.type): p for p in inst.gpus}
    used: Counter[str] = Counter()
    rate: Counter[str] = Counter()
    cap: Counter[str] = Counter()
    cost = 0.0
    shared = False
    for gpu in plan.gpus:
        t = check_layout(problem, gpu, pools)
        used[t] += 1
        cost += pools[t].cost
        for ins in gpu.instances:
            where = f"GPU {gpu.id} {ins.profile}@{ins.start} ({ins.sharing})"
            _check_structure(where, ins, problem)
            if ins.sharing == "none":
                if pol.arrivals == "smooth":
                    _check_run(problem, t, ins.profile, ins.models[0])
                else:
                    _check_poisson_solo(problem, t, ins.profile, ins.models[0])
            else:
                shared = True
                _check_shared(problem, t, where, ins)
            for run in ins.models:
                assert -REL <= run.rate_rps and at_most(run.rate_rps, run.capacity_rps), \
                    f"{where}: {run.name}: rate {run.rate_rps} outside [0, capacity {run.capacity_rps}]"
                rate[run.name] += run.rate_rps
                cap[run.name] += run.capacity_rps
    check_totals(problem, plan, used, rate, cap, cost)
    if not shared and pol.arrivals == "smooth":
        check_plan(problem, plan, objective)  # never weaker than the unshared audit
