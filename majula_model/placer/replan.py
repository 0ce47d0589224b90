"""Re-plan from the plan that is running, with the least disruption (``solve --from``, docs/replan.md).

Why: demand moves after a plan is applied. A fresh solve may re-partition half the fleet for a 5% change, and
every changed GPU must be drained. Here the current plan's GPUs keep their ids, and the objective charges ``W``
(``reconfig_cost``, in the instance's GPU cost units) for each GPU that must change.

Terms (per GPU of the current plan)
    kept          same type, same geometry and every instance with the same model, batch and processes (and the
                  same occupants for a shared instance); rates may move. A kept GPU keeps its instances and start
                  indices as they are.
    reconfigured  a current GPU the new plan uses with another configuration.
    released      a current GPU the new plan no longer uses.
    added         a GPU new to the plan; its id is above the current plan's largest id.
  New GPUs of a type take the ids of its current GPUs that are not kept first (reconfigured), and only then
  new ids (added): so of type t, reconfigured_t = min(Y_t, n_t - K_t) with Y_t the new plan's GPUs that are
  not kept, n_t the current GPUs and K_t the kept ones. Releasing and adding are free of W (no running work
  changes on a GPU that is added; a released GPU's work moves, which its replacement pays for).

The formulation (the min_gpus ILP of ``formulation``, with its shared patterns where the policy allows, plus)
    L            groups of current GPUs with the same layout (type, and the multiset of (profile, model, batch,
                 processes) or (profile, mode, models with batches) of its instances); n_L GPUs each.
    k[L]         integer, 0 <= k[L] <= n_L: kept GPUs of group L. Only for a *keepable* L: every instance's
                 (model, type, profile) has a key whose best point (``capacity_table``) is the same batch and
                 processes, or, shared, a pattern with the same profile, mode, models and batches (the current
                 plan's shared instances are rated as patterns of the new problem and join the columns,
                 ``current_patterns``, so keeping one never depends on generation finding it again).
                 Else that layout cannot be kept (its GPUs may still be reconfigured to it only when its
                 instances are the best points, which they are not: so it is simply changed).
    A kept GPU is one column: it takes a GPU of its type in (2) [pool_t]: sum_g y[t,g] + sum_{L of t} k[L] <= N_t;
    it adds exactly its instances' capacity to (3) [capacity_m] (clipped per model as every column is, see
    ``formulation`` Scaling) and counts as a column containing m in (9) [present_m]; it is charged its type's cost.
    Its idle slots stay idle: it provides no instance to (1) [supply], so y and x are exactly the GPUs that are
    not kept.
    r[t] >= 0    reconfigured GPUs of type t, with a binary b[t] and M_t = max(N_t, n_t):
                 (10) [reconf_new_t]  r[t] >= sum_g y[t,g] - M_t b[t]
                 (11) [reconf_old_t]  r[t] >= n_t - sum_{L of t} k[L] - M_t (1 - b[t])
                 so min r[t] = min(Y_t, n_t - K_t) (b[t] picks the smaller term).
    phase 1      min  sum_t w_t (sum_g y[t,g] + sum_L k[L]) + W sum_t r[t]     (scaled by the largest cost)
    phase 2      min  sum_t r[t]  with phase 1's value kept (rule (7)): W = 0 is the plain optimum with the
                 fewest changes among optimal plans (lexicographic).

Exactness (the size still does not grow with the fleet: one k per distinct current layout, one r and b per
type). (a) Every solution decodes into a plan of the same cost in which at least sum k[L] GPUs are kept and at
most sum r[t] reconfigured: the k[L] GPUs of L are its lowest ids, the y/x GPUs are decoded by ``decode.assign``
(a decoded GPU identical to a current GPU that is still free is kept too, which only lowers the count).
(b) Every plan the placer can express (each instance at its model's best point, or a shared pattern) is a
solution: its GPUs identical to a current GPU of group L are at most n_L, so they give k[L]; the rest are y/x
exactly as in ``formulation`` (a used multiset lies in a maximal geometry). Its reconfigured count under the id
rule above is min(Y_t, n_t - K_t), which is what (10)-(11) allow. So both phases optimise over the same set of
plans as the plain placer, and the minimum of cost + W x reconfigured is the ILP's.

The steps (``steps``): an order of operations in which every model keeps at least min(current, new) capacity
after each step: start the added GPUs first; then drain, re-partition and start the reconfigured GPUs one at a
time, each time one whose drain keeps every model above its floor (among those, the one that adds the most
capacity relative to the floors); release the released GPUs last (what is left then is the new plan plus them).
When no reconfigured GPU can be drained without going below a floor, the one that falls short least is taken
and its drain step says which model falls short and by how much (``ok`` false): the plan names what cannot be
met rather than hiding it. Capacities of the current GPUs are the current plan's; of kept GPUs, the new plan's.

Only min_gpus is re-planned (cost is what W is weighed against); the current plan is checked against the
instance first (``check_current``).
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from dataclasses import dataclass

import pulp

from ..errors import Infeasible, InputError
from ..hardware.catalog import FULL
from ..hardware.geometry import layout_problem
from ..perf.capacity import Capacity, Key, feasible_table
from ..problem.problem import Problem
from ..schema import Plan, PlanChanges, PlanGpu, PlanInstance, PlanModelRun, PlanObjective, PlanStep
from .colgen import generate, sharing_on
from .decode import GpuAssignment, assign, build_gpus, build_models, objective_value, split_rates
from .formulation import Formulation, build, build_pools, safe
from .patterns import Pattern
from .solver import counts, pattern_counts, run_once
from .status import has_solution, relative_gap

SHARING_SECONDS = 40.0
"""Pattern generation's time without a time limit (half the limit with one), as ``api.SHARING_SECONDS``."""
TOL = 1e-9
"""Relative tolerance of the capacity floors in the steps (float sums of the same rates)."""

Signature = tuple
"""A GPU's layout as compared for 'kept': (type, sorted ((profile, mode, ((model, batch, processes), ...)), ...))."""


def instance_signature(inst: PlanInstance) -> tuple:
    """What must stay the same for an instance to be kept: profile, sharing mode, models with batch and processes
    (in order: a time-shared cycle's order is part of it). Start indices are not: a kept GPU keeps its own."""
    return (inst.profile, inst.sharing, tuple((r.name, r.batch, r.processes) for r in inst.models))


def gpu_signature(gpu: PlanGpu) -> Signature:
    """The layout of one GPU: its type and the multiset of its instances' signatures."""
    return (gpu.type, tuple(sorted(instance_signature(i) for i in gpu.instances)))


@dataclass
class Group:
    """Current GPUs with one layout (group L): their ids, ascending, and what keeping one gives."""

    signature: Signature
    ids: list[int]
    template: PlanGpu
    slots: tuple[tuple[str, str | Pattern], ...] | None
    """(profile, occupant) per instance in the template's order, as ``decode`` knows them; None: not keepable."""
    why_not: str | None = None


def check_current(problem: Problem, plan: Plan, file: str | None) -> dict[str, str]:
    """The current plan against the instance: GPU types of the catalog and of the pools, no more GPUs of a type
    than its pool, distinct ids, a geometry that is the instance profiles and a valid layout. Returns each
    GPU type name of the plan resolved to the catalog's. Raises InputError naming the file and field."""
    pools = {problem.catalog.resolve(g.type): g.count for g in problem.instance.gpus}
    seen: set[int] = set()
    used: Counter[str] = Counter()
    names: dict[str, str] = {}
    for i, g in enumerate(plan.gpus):
        where = f"gpus[{i}]"
        if g.id in seen:
            raise InputError(f"GPU id {g.id} appears twice", file=file, field=f"{where}.id")
        seen.add(g.id)
        t = problem.catalog.resolve(g.type)
        if t is None:
            raise InputError(f"unknown GPU type '{g.type}'", file=file, field=f"{where}.type")
        if t not in pools:
            raise InputError(f"GPU type '{g.type}' is not in the instance's pools ({', '.join(pools)})", file=file,
                             field=f"{where}.type")
        names[g.type] = t
        used[t] += 1
        if Counter(g.geometry) != Counter(x.profile for x in g.instances):
            raise InputError("geometry is not the multiset of the instances' profiles", file=file,
                             field=f"{where}.geometry")
        gpu = problem.catalog.get(t)
        profiles = [x.profile for x in g.instances]
        if FULL in profiles:
            if profiles != [FULL] or g.instances[0].start != 0:
                raise InputError("'full' (MIG disabled) is the only instance, at start 0", file=file,
                                 field=f"{where}.geometry")
            continue
        bad = layout_problem(gpu, [(x.profile, x.start) for x in g.instances])
        if bad:
            raise InputError(f"not a valid layout on {t}: {bad}", file=file, field=f"{where}.instances")
    for t, n in used.items():
        if n > pools[t]:
            raise InputError(f"{n} GPUs of {t}, the pool has {pools[t]}", file=file, field="gpus")
    return names


def current_patterns(problem: Problem, current: Plan) -> list[Pattern]:
    """The shared instances of the current plan as patterns of the new problem (rated under its policy and
    measurements), so a shared GPU can be kept whether or not column generation happens to find its pattern.
    An instance whose models, batches or rules no longer give a valid pattern is left out: it cannot stay."""
    from ..perf.capacity import all_points
    from .colgen import _colocated
    from .patterns import items_by_instance, mps_pattern, time_pattern

    shared = [(g.type, inst) for g in current.gpus for inst in g.instances if inst.sharing != "none"]
    if not shared:
        return []
    items = items_by_instance(problem, all_points(problem))
    pol, cat = problem.instance.policy, problem.catalog
    out: dict[str, Pattern] = {}
    for t, inst in shared:
        t = cat.resolve(t) or t
        its = {(it.model, it.batch): it for it in items.get((t, inst.profile), [])}
        chosen = [its.get((r.name, r.batch)) for r in inst.models]
        if any(c is None for c in chosen) or inst.sharing not in pol.sharing_modes:
            continue
        mem = cat.gpus[t].profile_memory_gb(inst.profile)
        if inst.sharing == "time":
            pat = time_pattern(t, inst.profile, chosen, pol, mem)
        elif len(chosen) == 2:
            lat = _colocated(problem, t, inst.profile)(chosen[0], chosen[1])
            pat = None if lat is None else mps_pattern(t, inst.profile, chosen[0], chosen[1], lat[0], lat[1],
                                                       lat[2], pol, mem)
        else:
            pat = None
        if pat is not None:
            out.setdefault(pat.name, pat)
    return list(out.values())


def _occupant(problem: Problem, table: dict[Key, Capacity], t: str, inst: PlanInstance,
              patterns: dict[str, Pattern]) -> tuple[str | Pattern | None, str | None]:
    """What ``decode`` would call this instance's occupant under the new problem, or (None, why it cannot stay)."""
    demand = {m.name for m in problem.instance.models}
    if inst.sharing == "none":
        run = inst.models[0]
        if run.name not in demand:
            return None, f"model '{run.name}' is not in the instance"
        best = table.get((run.name, t, inst.profile))
        if best is None:
            return None, f"{run.name} has no SLO-feasible point on {t} {inst.profile}"
        if (best.batch, best.processes) != (run.batch, run.processes):
            return None, (f"{run.name} on {t} {inst.profile}: best point is batch {best.batch} x {best.processes} "
                          f"processes, not {run.batch} x {run.processes}")
        return run.name, None
    want = [(r.name, r.batch) for r in inst.models]
    for p in patterns.values():
        if p.gpu == t and p.profile == inst.profile and p.mode == inst.sharing and \
                [(r.model, r.batch) for r in p.runs] == want:
            return p, None
    return None, f"no {inst.sharing}-shared pattern {want} on {t} {inst.profile} among the generated ones"


def groups_of(problem: Problem, table: dict[Key, Capacity], current: Plan, names: dict[str, str],
              patterns: dict[str, Pattern]) -> list[Group]:
    """The current GPUs grouped by layout (type resolved to the catalog's name), in order of first id."""
    by: dict[Signature, Group] = {}
    for g in sorted(current.gpus, key=lambda g: g.id):
        gg = g if names.get(g.type, g.type) == g.type else g.model_copy(update={"type": names[g.type]})
        sig = gpu_signature(gg)
        if sig in by:
            by[sig].ids.append(g.id)
            continue
        slots, why = [], None
        for inst in gg.instances:
            occ, why = _occupant(problem, table, gg.type, inst, patterns)
            if occ is None:
                break
            slots.append((inst.profile, occ))
        by[sig] = Group(sig, [g.id], gg, tuple(slots) if why is None else None, why)
    return list(by.values())


def _slot_capacity(table: dict[Key, Capacity], t: str, slots) -> dict[str, float]:
    cap: dict[str, float] = defaultdict(float)
    for p, occ in slots:
        if isinstance(occ, Pattern):
            for r in occ.runs:
                cap[r.model] += r.capacity_rps
        else:
            cap[occ] += table[(occ, t, p)].capacity_rps
    return cap


def _slot_instances(slots) -> Counter:
    """Instances per model on one kept GPU (a shared instance counts once for each of its models)."""
    out: Counter = Counter()
    for _, occ in slots:
        if isinstance(occ, Pattern):
            for r in occ.runs:
                out[r.model] += 1
        else:
            out[occ] += 1
    return out


def _add_keep_columns(f: Formulation, groups: list[Group], current_count: Counter, reconfig_cost: float
                      ) -> tuple[dict[int, pulp.LpVariable], dict[str, pulp.LpVariable]]:
    """k[L] for each keepable group, r[t] and b[t] per type, rows (10)-(11), and the objective of phase 1."""
    k: dict[int, pulp.LpVariable] = {}
    pools = {p.gpu.type: p for p in f.pools}
    cost = {t: p.cost / f.cost_scale for t, p in pools.items()}
    for i, g in enumerate(groups):
        t = g.template.type
        if g.slots is None or t not in pools:
            continue
        var = f.prob.add_variable(f"k_{i}_{safe(t)}", 0, len(g.ids), cat="Integer")
        k[i] = var
        f.prob.get_constraint_by_name(f"pool_{safe(t)}").addInPlace(var)  # (2): sum y + sum k - N_t <= 0
        for m, c in _slot_capacity(f.table, t, g.slots).items():
            if m not in f.s:
                continue
            coef = min(c / f.ref[m], f.clip[m])
            f.prob.get_constraint_by_name(f"capacity_{f.label[m]}").addInPlace(-coef * var)  # (3): (1+h)s - cap <= 0
            present = f.prob.get_constraint_by_name(f"present_{f.label[m]}")
            if present is not None:  # (9): s - share * (columns with m) <= 0
                share = min(f.demand[m] / f.ref[m], 1.0)
                present.addInPlace(-share * var)
        for m, n in _slot_instances(g.slots).items():  # (10) of formulation: a kept GPU's instances count too
            floor = f.prob.get_constraint_by_name(f"floor_{f.label[m]}") if m in f.label else None
            if floor is not None:
                floor.addInPlace(n * var)
    r: dict[str, pulp.LpVariable] = {}
    for t, pool in pools.items():
        n_t = current_count.get(t, 0)
        big = max(pool.count, n_t)
        r[t] = f.prob.add_variable(f"r_{safe(t)}", 0, None)
        b = f.prob.add_variable(f"b_{safe(t)}", 0, 1, cat="Integer")
        ys = pulp.lpSum(v for (tt, _), v in f.y.items() if tt == t)
        ks = pulp.lpSum(k[i] for i, g in enumerate(groups) if i in k and g.template.type == t)
        f.prob += r[t] >= ys - big * b, f"reconf_new_{safe(t)}"  # (10)
        f.prob += r[t] >= n_t - ks - big * (1 - b), f"reconf_old_{safe(t)}"  # (11)
    kept_cost = pulp.lpSum(cost[groups[i].template.type] * v for i, v in k.items())
    # W beyond the whole pool's cost orders plans exactly as that cap does (no cost difference between two plans
    # exceeds it), and keeps the coefficient within what the solver resolves (W = 1e9 made phase 2 "infeasible")
    w = min(reconfig_cost, sum(p.cost * p.count for p in f.pools) + max(p.cost for p in f.pools)) / f.cost_scale
    f.prob.setObjective(f.cost_expr() + kept_cost + w * pulp.lpSum(r.values()))
    return k, r


def replan(problem: Problem, current: Plan, reconfig_cost: float = 0.0, *, objective: str | None = None,
           time_limit: float | None = None, solver: str = "highs", file: str | None = None) -> Plan:
    """The least-cost plan for ``problem`` from the running ``current`` plan, charging ``reconfig_cost`` per
    reconfigured GPU (module docstring); its ``changes`` say what is kept, reconfigured, added and released
    and in which order to apply it. ``file`` names the current plan in errors."""
    obj = objective or problem.instance.objective
    if obj != "min_gpus":
        raise InputError(f"re-planning from a current plan answers min_gpus (cost against reconfiguration), not "
                         f"{obj}", field="objective")
    if not (isinstance(reconfig_cost, (int, float)) and math.isfinite(reconfig_cost) and reconfig_cost >= 0):
        raise InputError("must be a finite number >= 0", field="--reconfig-cost")
    names = check_current(problem, current, file)
    t0 = time.perf_counter()
    table = feasible_table(problem)
    pools = build_pools(problem, table)
    gen = None
    if sharing_on(problem):
        limit = SHARING_SECONDS if time_limit is None else time_limit / 2
        gen = generate(problem, table, "min_gpus", pools, deadline=time.perf_counter() + limit)
        names_seen = {p.name for p in gen.patterns}
        extra = [p for p in current_patterns(problem, current) if p.name not in names_seen]
        f = build(problem, "min_gpus", table, pools, patterns=gen.patterns + extra, present=True)
    else:
        f = build(problem, "min_gpus", table, pools)
    groups = groups_of(problem, table, current, names, f.patterns)
    current_count = Counter(g.template.type for g in groups for _ in g.ids)
    k, r = _add_keep_columns(f, groups, current_count, float(reconfig_cost))
    left = None if time_limit is None else max(0.05, time_limit - (time.perf_counter() - t0))
    first = run_once(f, solver, left)
    label = _solver_label(solver)
    if first.status == "infeasible":
        raise Infeasible([f"no plan of the pool serves every demand of '{problem.instance.name}' (min_gpus)"])
    if not has_solution(first.status):  # a time limit without an incumbent: a plan without a solution, as solve
        from .decode import empty_plan

        return empty_plan(problem, "min_gpus", status=first.status, solver=label,
                          seconds=time.perf_counter() - t0 + (gen.seconds if gen else 0.0),
                          bound=first.bound if reconfig_cost == 0 else None)
    status = first.status if gen is None or gen.enumerated else "feasible"
    y, x = counts(f)
    z = pattern_counts(f)
    kept = {i: int(round(v.varValue or 0)) for i, v in k.items()}
    tie = None
    if first.status == "optimal":  # phase 2: fewest reconfigured GPUs at the phase-1 value
        value = first.value / f.obj_scale
        f.prob += f.prob.objective <= value + 1e-7 * max(1.0, abs(value)), "keep_objective"  # (7)
        f.prob.setObjective(pulp.lpSum(r.values()))
        spent = time.perf_counter() - t0
        left2 = 2.0 + 2 * spent if time_limit is None else max(0.05, time_limit - spent)
        second = run_once(f, solver, left2)
        tie = {"optimal": None, "feasible": "fewest reconfigured GPUs at this objective: the best found within its "
               "time, not proven fewest"}.get(second.status, "fewest reconfigured GPUs: not applied (no solution "
                                                             "within its time)")
        if has_solution(second.status):
            y, x = counts(f)
            z = pattern_counts(f)
            kept = {i: int(round(v.varValue or 0)) for i, v in k.items()}
    plan = _decode(problem, table, f, groups, kept, y, x, z, current, status, label,
                   time.perf_counter() - t0 + (gen.seconds if gen else 0.0), float(reconfig_cost), first.bound)
    if tie:
        plan = plan.model_copy(update={"notes": plan.notes + (tie,)})
    return plan


def _solver_label(solver: str) -> str:
    from .backends import backend

    return backend(solver).label


def _decode(problem: Problem, table: dict[Key, Capacity], f: Formulation, groups: list[Group],
            kept: dict[int, int], y: dict, x: dict, z: dict, current: Plan, status: str, solver: str,
            seconds: float, reconfig_cost: float, solver_bound: float | None = None) -> Plan:
    """Counts and kept groups -> the plan with ids fixed, its ``changes`` and steps. ``solver_bound``: the ILP's
    dual bound, a bound on cost only when W = 0 (else on cost + W x reconfigured, said in the notes)."""
    fresh = assign(f.pools, y, x, z, f.patterns)
    keep_slots: list[GpuAssignment] = []
    free: dict[Signature, list[int]] = {}  # current ids of each group not (yet) kept
    kept_ids: list[tuple[int, Group]] = []
    for i, g in enumerate(groups):
        n = kept.get(i, 0)
        kept_ids += [(gid, g) for gid in g.ids[:n]]
        if g.slots is not None:
            free[g.signature] = list(g.ids[n:])
            keep_slots += [GpuAssignment(g.template.type, g.slots)] * n
    by_sig = {g.signature: g for g in groups}
    others: list[GpuAssignment] = []
    for a in fresh:  # a decoded GPU identical to a free current one is kept too
        sig = _assignment_signature(table, a)
        if free.get(sig):
            kept_ids.append((free[sig].pop(0), by_sig[sig]))
            keep_slots.append(GpuAssignment(by_sig[sig].template.type, by_sig[sig].slots))
        else:
            others.append(a)
    target, share = split_rates(problem, table, keep_slots + others, "min_gpus")
    built = build_gpus(problem, table, others, share)
    kept_set = {gid for gid, _ in kept_ids}
    cur_by_id = {g.id: g for g in current.gpus}
    type_of = {gid: g.template.type for g in groups for gid in g.ids}
    unkept: dict[str, list[int]] = defaultdict(list)
    for g in sorted(current.gpus, key=lambda g: g.id):
        if g.id not in kept_set:
            unkept[type_of[g.id]].append(g.id)
    next_id = max((g.id for g in current.gpus), default=-1) + 1
    out: list[PlanGpu] = [_kept_gpu(table, g, gid, share) for gid, g in kept_ids]
    reconfigured, added = [], []
    for gpu in built:
        if unkept[gpu.type]:
            gid = unkept[gpu.type].pop(0)
            reconfigured.append(gid)
        else:
            gid = next_id
            next_id += 1
            added.append(gid)
        out.append(gpu.model_copy(update={"id": gid}))
    released = sorted(i for ids in unkept.values() for i in ids)
    out.sort(key=lambda g: g.id)
    plan_gpus = tuple(out)
    models = build_models(problem, plan_gpus, target)
    value = objective_value(problem, "min_gpus", models, plan_gpus)
    new_by_id = {g.id: g for g in plan_gpus}
    created, destroyed = _instance_changes(cur_by_id, new_by_id, reconfigured, added, released)
    steps = plan_steps(cur_by_id, new_by_id, sorted(kept_set), reconfigured, added, released)
    changes = PlanChanges(kept=tuple(sorted(kept_set)), reconfigured=tuple(sorted(reconfigured)),
                          added=tuple(added), released=tuple(released), instances_created=created,
                          instances_destroyed=destroyed, steps=tuple(steps))
    notes = [f"re-planned from the current plan with reconfiguration cost {reconfig_cost:g} per GPU: "
             f"cost {value:g} + {reconfig_cost:g} x {len(reconfigured)} reconfigured = "
             f"{value + reconfig_cost * len(reconfigured):g}"]
    short = [s for s in steps if not s.ok]
    if short:
        notes.append(f"{len(short)} step(s) cannot keep every model at min(current, new) capacity: see "
                     "changes.steps (ok false)")
    if reconfig_cost > 0:
        notes.append(f"optimal means least cost + {reconfig_cost:g} x reconfigured GPUs, not least cost: the "
                     "plain optimum may be cheaper (W = 0 gives it, with the fewest changes)"
                     if status == "optimal" else "the bound is not reported: the solver bounds cost + W x "
                     "reconfigured, not the cost alone")
    bound = value if status == "optimal" else (solver_bound if reconfig_cost == 0 else None)
    return Plan(instance=problem.instance.name, objective=PlanObjective(kind="min_gpus", value=value, bound=bound),
                status=status, gap=relative_gap(value, bound), solver=solver, solve_seconds=max(0.0, seconds),
                gpus=plan_gpus, models=models, notes=tuple(notes), changes=changes)


def _assignment_signature(table: dict[Key, Capacity], a: GpuAssignment) -> Signature:
    """The signature ``gpu_signature`` would give the GPU ``decode`` builds from ``a``."""
    sigs = []
    for p, occ in a.slots:
        if isinstance(occ, Pattern):
            sigs.append((p, occ.mode, tuple((r.model, r.batch, 1) for r in occ.runs)))
        else:
            c = table[(occ, a.type, p)]
            sigs.append((p, "none", ((occ, c.batch, c.processes),)))
    return (a.type, tuple(sorted(sigs)))


def _kept_gpu(table: dict[Key, Capacity], group: Group, gid: int, share: dict[str, float]) -> PlanGpu:
    """A kept GPU: the current instances and starts, with the new capacities and rates."""
    t = group.template.type
    insts = []
    for inst, (p, occ) in zip(group.template.instances, group.slots):
        if isinstance(occ, Pattern):
            runs = tuple(PlanModelRun(name=r.model, batch=r.batch, processes=1, latency_ms=r.latency_ms,
                                      rate_rps=r.capacity_rps * share[r.model], capacity_rps=r.capacity_rps)
                         for r in occ.runs)
            insts.append(PlanInstance(profile=p, start=inst.start, sharing=occ.mode, cycle_ms=occ.cycle_ms,
                                      models=runs))
        else:
            c = table[(occ, t, p)]
            run = PlanModelRun(name=occ, batch=c.batch, processes=c.processes, latency_ms=c.latency_ms,
                               rate_rps=c.capacity_rps * share[occ], capacity_rps=c.capacity_rps)
            insts.append(PlanInstance(profile=p, start=inst.start, models=(run,)))
    return PlanGpu(id=gid, type=t, geometry=group.template.geometry, instances=tuple(insts))


def _inst_keys(gpu: PlanGpu | None) -> Counter:
    if gpu is None:
        return Counter()
    return Counter((i.start,) + instance_signature(i) for i in gpu.instances)


def _instance_changes(cur: dict[int, PlanGpu], new: dict[int, PlanGpu], reconfigured: list[int],
                      added: list[int], released: list[int]) -> tuple[int, int]:
    """Instances (start, profile, what runs) created and destroyed over the changed GPUs."""
    created = destroyed = 0
    for gid in [*reconfigured, *added, *released]:
        old, nw = _inst_keys(cur.get(gid)), _inst_keys(new.get(gid))
        created += sum((nw - old).values())
        destroyed += sum((old - nw).values())
    return created, destroyed


def gpu_capacity(gpu: PlanGpu | None) -> dict[str, float]:
    """Capacity per model of one GPU (requests/s)."""
    out: dict[str, float] = defaultdict(float)
    for inst in gpu.instances if gpu is not None else ():
        for r in inst.models:
            out[r.name] += r.capacity_rps
    return out


def plan_steps(cur: dict[int, PlanGpu], new: dict[int, PlanGpu], kept: list[int], reconfigured: list[int],
               added: list[int], released: list[int]) -> list[PlanStep]:
    """The order of operations of the module docstring, each step checked against the floors min(current, new).

    Reconfigured GPUs with the same old and new layout are one class, so the choice scans classes, not GPUs."""
    state: dict[str, float] = defaultdict(float)
    for gid, g in cur.items():
        for m, c in gpu_capacity(new[gid] if gid in kept else g).items():
            state[m] += c
    final: dict[str, float] = defaultdict(float)
    for g in new.values():
        for m, c in gpu_capacity(g).items():
            final[m] += c
    floor = {m: min(state.get(m, 0.0), final.get(m, 0.0)) for m in set(state) | set(final)}
    steps: list[PlanStep] = []

    def shortfall(after: dict[str, float]) -> list[tuple[str, float]]:
        return [(m, after.get(m, 0.0)) for m, lo in sorted(floor.items())
                if after.get(m, 0.0) < lo - TOL * max(1.0, lo)]

    def why(short: list[tuple[str, float]]) -> str:
        return "; ".join(f"{m} falls to {c:.6g} rps, below min(current, new) = {floor[m]:.6g}" for m, c in short)

    for gid in added:
        for m, c in gpu_capacity(new[gid]).items():
            state[m] += c
        steps.append(PlanStep(op="start", gpu=gid))
    classes: dict[tuple, list[int]] = defaultdict(list)
    for gid in sorted(reconfigured):
        classes[(gpu_signature(cur[gid]), gpu_signature(new[gid]))].append(gid)
    while classes:
        best = None
        for key, ids in classes.items():
            old, nw = gpu_capacity(cur[ids[0]]), gpu_capacity(new[ids[0]])
            after = dict(state)
            for m, c in old.items():
                after[m] = after.get(m, 0.0) - c
            short = shortfall(after)
            deficit = sum((floor[m] - c) / max(floor[m], 1e-300) for m, c in short)
            gain = sum((nw.get(m, 0.0) - old.get(m, 0.0)) / max(floor.get(m, 0.0), 1e-300)
                       for m in set(old) | set(nw))
            rank = (deficit, -gain, ids[0])
            if best is None or rank < best[0]:
                best = (rank, key, short, old, nw)
        _, key, short, old, nw = best
        gid = classes[key].pop(0)
        if not classes[key]:
            del classes[key]
        for m, c in old.items():
            state[m] -= c
        steps.append(PlanStep(op="drain", gpu=gid, ok=not short, reason=why(short) if short else None))
        steps.append(PlanStep(op="repartition", gpu=gid, ok=not short, reason=why(short) if short else None))
        for m, c in nw.items():
            state[m] += c
        steps.append(PlanStep(op="start", gpu=gid))
    for gid in sorted(released):
        for m, c in gpu_capacity(cur[gid]).items():
            state[m] -= c
        short = shortfall(state)
        steps.append(PlanStep(op="drain", gpu=gid, ok=not short, reason=why(short) if short else None))
        steps.append(PlanStep(op="release", gpu=gid))
    return steps
