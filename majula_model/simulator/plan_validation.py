"""``validate_plan(problem, plan)``: can this instance hold this plan? Checked once, before a plan is replayed.

Why one function: ``majula simulate`` reads plans written by hand or by other tools, not only by the placer, and
the schema (``schema.Plan``) only says that a plan is well formed. A well-formed plan can still ask for 15 GPUs
of an 8-GPU pool, a profile at a start the catalog does not allow, a batch that was never measured, or rates
made for another demand, and the simulator would replay it without a word (a fuzzing run found 242 of 490
corrupted plans simulated with exit 0). Every check here names the plan file, the JSON path of the field
(``gpus[3].instances[1].start``) and the reason, as ``InputError`` (exit 2). docs/simulator.md ("What a plan is
checked for") lists the checks; in order:

1. **The plan is for this instance and has a solution**: ``instance`` is the instance's name; ``status`` is
   ``optimal`` or ``feasible`` (an ``infeasible``, ``no_solution`` or ``error`` plan has nothing to replay).
2. **Per-model totals** (``models``): models of the instance, each listed once, every model with a run among
   them (a model of the instance that is left out gets no arrivals, as with ``served_rps`` 0); ``demand_rps``
   equal to the instance's within ``REL`` (a plan made for another demand is refused, naming the model);
   ``served_rps`` and ``capacity_rps`` finite, >= 0 and equal to the sums of the model's runs' ``rate_rps`` and
   ``capacity_rps`` within ``REL``.
3. **GPUs** (``gpus``): distinct ids; a type of the catalog that is in the instance's pools, no more GPUs of a
   type than its pool has; at least one instance; ``geometry`` the multiset of the instances' profiles; every
   profile a profile of the type (``full`` = MIG disabled: alone, at start 0), at one of the starts the catalog's
   placement table allows; the instances together a valid layout (``hardware.geometry.layout_problem``: no
   overlapping memory slices, ``max_count``, compute slices).
4. **Policy**: at most ``max_models_per_instance`` models in an instance, a shared instance's mode in
   ``sharing_modes``, at most ``max_processes`` processes.
5. **Points the plan claims** (``perf.capacity.all_points``: measurements, and predictions where
   ``policy.use_predictions`` allows them, by ``perf.sources``' rule): every run's (model, GPU type, profile,
   batch, processes) is such a point, with a record that fits the profile's memory (a shared instance: the
   models' solo points together, unknown memory counting 0, as the placer does); a time-shared instance's
   ``cycle_ms`` is the sum of its runs' ``latency_ms``; every run of an MPS instance has its co-location
   measured (a record of the model at its batch next to exactly the other runs at theirs) or predictable (the
   GPU type's interference fit, or ``policy.interference_prior``), as the placer offers MPS (``placer.colgen``).
6. **Work the simulator can hold**: one simulated second at load 1 draws ``sum(served_rps)`` requests, which
   must not exceed ``options.MAX_REQUESTS``; with ``load`` and ``duration_s`` given, ``load x duration_s x
   sum(served_rps)`` must not either (the rates actually drawn: arrivals come from ``served_rps``).

What is *not* checked, on purpose: whether a point meets the SLO rule, whether ``rate_rps`` exceeds
``capacity_rps`` or ``served_rps`` the demand (finding out what such a plan does is what simulating is for), a
run's ``latency_ms`` against the measurement (the simulator takes the slower of the two, docs/simulator.md), and
the fields that describe the solve (``objective``, ``gap``, ``solver``, ``solve_seconds``).
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from ..errors import InputError
from ..hardware.catalog import FULL, GpuType
from ..hardware.geometry import layout_problem
from ..perf.points import Key, Points
from ..problem.problem import Problem
from ..schema import Plan, PlanInstance
from .options import MAX_REQUESTS

REL = 1e-6
"""Relative tolerance for totals and demands: what the placer's sums can differ by in floating point, far
below any change of demand a person makes."""

PLANNED = ("optimal", "feasible")
"""Statuses of plans that have a solution to replay."""


def close(a: float, b: float, rel: float = REL) -> bool:
    """Equal within ``rel`` of the larger magnitude (exactly equal at zero: a rate of 0 is not a rounding)."""
    return abs(a - b) <= rel * max(abs(a), abs(b))


class _Checker:
    """One validation: the problem's lookups built once, errors naming ``file`` and the field's JSON path."""

    def __init__(self, problem: Problem, plan: Plan, file: str | None) -> None:
        self.problem, self.plan, self.file = problem, plan, file
        self.inst, self.cat = problem.instance, problem.catalog
        self.policy = self.inst.policy
        self._points: dict[Key, Points] | None = None
        self._mps: dict[str, bool] = {}

    def fail(self, field: str, reason: str) -> None:
        raise InputError(reason, file=self.file, field=field)

    # --- 1, 2: what the plan is for ---------------------------------------------------------------------------

    def header(self) -> None:
        if self.plan.instance != self.inst.name:
            self.fail("instance", f"plan is for instance '{self.plan.instance}', not '{self.inst.name}'")
        if self.plan.status not in PLANNED:
            self.fail("status", f"status '{self.plan.status}': the plan has no solution to simulate (only "
                                f"{' or '.join(PLANNED)} plans can be replayed)")

    def models(self) -> None:
        demand = {m.name: m.demand_rps for m in self.inst.models}
        seen: dict[str, int] = {}
        for i, pm in enumerate(self.plan.models):
            where = f"models[{i}]"
            if pm.name not in demand:
                self.fail(f"{where}.name", f"model '{pm.name}' is not in the instance")
            if pm.name in seen:
                self.fail(f"{where}.name", f"model '{pm.name}' is listed twice (also models[{seen[pm.name]}])")
            seen[pm.name] = i
            for name in ("demand_rps", "served_rps", "capacity_rps"):
                v = getattr(pm, name)
                if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                    self.fail(f"{where}.{name}", f"must be a finite number >= 0, got {v!r}")
            want = demand[pm.name]
            if not close(pm.demand_rps, want):
                self.fail(f"{where}.demand_rps",
                          f"the plan was made for a demand of {pm.demand_rps:g} requests/s of '{pm.name}', the "
                          f"instance asks {want:g}: solve again for this instance")

    # --- 3, 4, 5: GPUs, instances, runs -----------------------------------------------------------------------

    def gpus(self) -> tuple[Counter, Counter]:
        """Check every GPU; the per-model sums of ``rate_rps`` and ``capacity_rps`` over the runs."""
        pools = {self.cat.resolve(p.type): p for p in self.inst.gpus}
        ids: dict[int, int] = {}
        used: Counter[str] = Counter()
        rate: Counter[str] = Counter()
        cap: Counter[str] = Counter()
        for gi, g in enumerate(self.plan.gpus):
            where = f"gpus[{gi}]"
            if g.id in ids:
                self.fail(f"{where}.id", f"GPU id {g.id} is also gpus[{ids[g.id]}]'s (ids are distinct)")
            ids[g.id] = gi
            canon = self.cat.resolve(g.type)
            if canon is None:
                self.fail(f"{where}.type", f"unknown GPU type '{g.type}'")
            if canon not in pools:
                self.fail(f"{where}.type", f"GPU type '{g.type}' is not in the instance's pools "
                                           f"({', '.join(p.type for p in self.inst.gpus)})")
            used[canon] += 1
            if used[canon] > pools[canon].count:
                self.fail(f"{where}", f"GPU {used[canon]} of type {canon}: the pool has {pools[canon].count}")
            self.layout(self.cat.gpus[canon], g.geometry, g.instances, where)
            for ii, ins in enumerate(g.instances):
                self.instance(canon, ins, f"{where}.instances[{ii}]")
                for run in ins.models:
                    rate[run.name] += run.rate_rps
                    cap[run.name] += run.capacity_rps
        return rate, cap

    def layout(self, gpu: GpuType, geometry: tuple[str, ...], instances: tuple[PlanInstance, ...],
               where: str) -> None:
        if not instances:
            self.fail(f"{where}.instances", "a GPU with no instance (unused GPUs are left out of a plan)")
        for ii, ins in enumerate(instances):
            here = f"{where}.instances[{ii}]"
            if not gpu.has_profile(ins.profile):
                offered = ", ".join([p.name for p in gpu.profiles] + [FULL]) if gpu.mig else FULL
                self.fail(f"{here}.profile", f"{gpu.type} has no profile '{ins.profile}' (it has {offered})")
            if ins.profile == FULL:
                if len(instances) != 1:
                    self.fail(f"{here}.profile", "'full' (MIG disabled) is the whole GPU: it is the GPU's only "
                                                 "instance")
                if ins.start != 0:
                    self.fail(f"{here}.start", f"'full' (MIG disabled) starts at 0, got {ins.start}")
            else:
                starts = gpu.profile(ins.profile).starts
                if ins.start not in starts:
                    self.fail(f"{here}.start", f"{ins.profile} on {gpu.type} cannot start at memory slice "
                                               f"{ins.start} (allowed: {', '.join(map(str, starts))})")
        if Counter(geometry) != Counter(i.profile for i in instances):
            self.fail(f"{where}.geometry", f"geometry {list(geometry)} does not list the GPU's instances "
                                           f"{[i.profile for i in instances]}")
        if instances[0].profile != FULL:
            problem = layout_problem(gpu, [(i.profile, i.start) for i in instances])
            if problem is not None:
                self.fail(f"{where}.instances", f"invalid MIG layout on {gpu.type}: {problem}")

    def instance(self, gpu: str, ins: PlanInstance, where: str) -> None:
        pol = self.policy
        demand = {m.name for m in self.inst.models}
        if len(ins.models) > pol.max_models_per_instance:
            self.fail(f"{where}.models", f"{len(ins.models)} models in one instance; policy.max_models_per_instance "
                                         f"is {pol.max_models_per_instance}")
        if ins.sharing != "none" and ins.sharing not in pol.sharing_modes:
            self.fail(f"{where}.sharing", f"sharing '{ins.sharing}' is not in policy.sharing_modes "
                                          f"{list(pol.sharing_modes)}")
        memory = 0.0
        for mi, run in enumerate(ins.models):
            here = f"{where}.models[{mi}]"
            if run.name not in demand:
                self.fail(f"{here}.name", f"model '{run.name}' is not in the instance")
            if pol.max_processes is not None and run.processes > pol.max_processes:
                self.fail(f"{here}.processes", f"{run.processes} processes; policy.max_processes is "
                                               f"{pol.max_processes}")
            if ins.sharing != "none" and run.processes != 1:
                self.fail(f"{here}.processes", f"a shared instance runs one process per model, got {run.processes}")
            memory += self.point(gpu, ins.profile, run.name, run.batch, run.processes, here,
                                 alone=ins.sharing == "none")
        cap = self.cat.gpus[gpu].profile_memory_gb(ins.profile)
        if ins.sharing != "none" and memory > cap * (1 + 1e-12):
            self.fail(f"{where}.models", f"the models' points need {memory:g} GB together; {ins.profile} on {gpu} "
                                         f"has {cap:g} GB")
        if ins.sharing == "time":
            total = math.fsum(m.latency_ms for m in ins.models)
            if ins.cycle_ms is None or not close(ins.cycle_ms, total):
                got = "none" if ins.cycle_ms is None else f"{ins.cycle_ms:g} ms"
                self.fail(f"{where}.cycle_ms", f"must equal the sum of the models' latency_ms ({total:g} ms), got {got}")
        elif ins.cycle_ms is not None:
            self.fail(f"{where}.cycle_ms", f"only a time-shared instance has a cycle_ms (sharing is '{ins.sharing}')")
        if ins.sharing == "mps":
            for mi, run in enumerate(ins.models):
                others = [(o.name, o.batch) for o in ins.models if o is not run]
                self.colocated(gpu, ins.profile, run.name, run.batch, others, f"{where}.models[{mi}]")

    def points(self) -> dict[Key, Points]:
        if self._points is None:
            from ..perf.capacity import all_points

            self._points = all_points(self.problem)
        return self._points

    def point(self, gpu: str, profile: str, model: str, batch: int, processes: int, where: str,
              alone: bool) -> float:
        """Fail unless (model, gpu, profile, batch, processes) is a known point that fits the profile's memory;
        the least memory its records need (unknown = 0)."""
        pts = self.points().get((model, gpu, profile))
        kinds = "measured or predicted" if self.policy.use_predictions else \
            "measured (and policy.use_predictions is off)"
        if pts is None or len(pts) == 0:
            self.fail(where, f"model '{model}' has no point on {gpu} {profile}: nothing {kinds} there")
        at = (pts.batch == batch) & (pts.processes == processes)
        if not np.any(at):
            known = sorted(set(zip(pts.batch.tolist(), pts.processes.tolist())))
            shown = ", ".join(f"{b}x{k}" for b, k in known[:12]) + (", ..." if len(known) > 12 else "")
            self.fail(where, f"model '{model}' on {gpu} {profile}: batch {batch} with {processes} process(es) is not "
                             f"{kinds}; known batch x processes: {shown}")
        mem = pts.memory_gb[at]
        need = float(np.min(np.where(np.isnan(mem), 0.0, mem)))
        cap = self.cat.gpus[gpu].profile_memory_gb(profile)
        if alone and need > cap:
            self.fail(where, f"model '{model}' at batch {batch} x {processes} needs {need:g} GB; {profile} on {gpu} "
                             f"has {cap:g} GB")
        return need

    def colocated(self, gpu: str, profile: str, model: str, batch: int, others: list[tuple[str, int]],
                  where: str) -> None:
        """Fail unless this co-location was measured or the placer could predict it (``placer.colgen``)."""
        from ..perf import interference as itf

        gtype = self.cat.gpus[gpu]
        mine = itf.on_type(list(self.problem.measurements), gtype)
        want = sorted(others)
        for r in itf.colocated_records(mine):
            if (r.model, r.batch, r.profile) == (model, batch, profile) and \
                    sorted((c.model, c.batch) for c in r.colocated) == want:
                return
        if self.policy.interference_prior:
            return
        if gpu not in self._mps:
            self._mps[gpu] = itf.fit_interference(mine, gtype) is not None
        if not self._mps[gpu]:
            partners = ", ".join(f"{m} at batch {b}" for m, b in others)
            self.fail(where, f"MPS: '{model}' at batch {batch} next to {partners} on {gpu} {profile} was not "
                             f"measured, {gpu} has no co-located measurements to predict it from, and "
                             f"policy.interference_prior is off")

    # --- 2 (sums), 6 ------------------------------------------------------------------------------------------

    def totals(self, rate: Counter, cap: Counter) -> None:
        listed = {pm.name for pm in self.plan.models}
        for name in rate:
            if name not in listed:
                self.fail("models", f"model '{name}' has runs but no entry in models (its served_rps is what "
                                    f"the simulator draws arrivals at)")
        for i, pm in enumerate(self.plan.models):
            if not close(pm.served_rps, rate[pm.name]):
                self.fail(f"models[{i}].served_rps", f"{pm.served_rps:g} requests/s, but the runs of '{pm.name}' add "
                                                     f"up to {rate[pm.name]:g} (the sum of their rate_rps)")
            if not close(pm.capacity_rps, cap[pm.name]):
                self.fail(f"models[{i}].capacity_rps", f"{pm.capacity_rps:g} requests/s, but the runs of '{pm.name}' "
                                                       f"add up to {cap[pm.name]:g} (the sum of their capacity_rps)")

    def work(self, load: float | None, duration_s: float | None) -> None:
        served = [pm.served_rps for pm in self.plan.models]
        if not served:
            return
        top = int(np.argmax(served))
        field = f"models[{top}].served_rps"
        per_second = math.fsum(served)
        if per_second > MAX_REQUESTS:
            self.fail(field, f"the plan's served rates add up to {per_second:.3g} requests/s: one simulated second "
                             f"would draw more than the {MAX_REQUESTS:.3g} requests the simulator holds")
        if load is not None and duration_s is not None and load * duration_s * per_second > MAX_REQUESTS:
            self.fail(field, f"at --load {load:g} over --duration {duration_s:g} s the plan's rates (up to "
                             f"{served[top]:g} requests/s here) draw about {load * duration_s * per_second:.3g} "
                             f"requests, more than the {MAX_REQUESTS:.3g} the simulator holds: shorten --duration "
                             f"or lower --load")


def validate_plan(problem: Problem, plan: Plan, *, file: str | None = None, load: float | None = None,
                  duration_s: float | None = None) -> None:
    """Raise ``InputError`` (``file: JSON path: reason``) unless ``problem``'s instance can hold ``plan`` and the
    simulator can replay it (module docstring); ``load`` and ``duration_s``, when both given, also bound the
    requests the replay draws."""
    c = _Checker(problem, plan, file)
    c.header()
    c.models()
    rate, cap = c.gpus()
    c.totals(rate, cap)
    c.work(load, duration_s)
