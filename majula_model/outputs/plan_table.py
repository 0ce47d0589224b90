"""A plan as text for people: a summary, what runs where, and per-model totals with the Kubernetes resource.

GPUs with the same type and the same instances (profile, start, model) are printed once with their ids, so a
10,000-GPU plan reads in a screen. Under the ``mixed`` MIG strategy a pod requests ``nvidia.com/mig-<profile>``
(docs/ecosystem.md (ecosystem rules)); a whole GPU is ``nvidia.com/gpu``.
"""

from __future__ import annotations

from collections import defaultdict

from ..hardware.catalog import FULL
from ..schema import Plan, PlanGpu


def k8s_resource(profile: str) -> str:
    """The extended resource a pod requests for an instance of ``profile`` (mixed strategy)."""
    return "nvidia.com/gpu" if profile == FULL else f"nvidia.com/mig-{profile}"


def _ids(ids: list[int]) -> str:
    """Compact id ranges: 0-3,7,9-10."""
    parts, start = [], ids[0]
    for a, b in zip(ids, ids[1:] + [None]):
        if b != a + 1:
            parts.append(str(start) if start == a else f"{start}-{a}")
            start = b
    return ",".join(parts)


def _signature(g: PlanGpu) -> tuple:
    return (g.type, tuple((i.profile, i.start, i.sharing, tuple((r.name, r.batch) for r in i.models))
                          for i in g.instances))


def gpu_lines(plan: Plan) -> list[str]:
    """One block per distinct GPU configuration: ids, geometry, and each instance with its model."""
    groups: dict[tuple, list[PlanGpu]] = defaultdict(list)
    for g in plan.gpus:
        groups[_signature(g)].append(g)
    lines = []
    for gs in sorted(groups.values(), key=lambda v: v[0].id):
        g = gs[0]
        lines.append(f"  {len(gs)} x {g.type} [{' + '.join(g.geometry)}]  (GPU ids {_ids([x.id for x in gs])})")
        for inst in g.instances:
            if inst.sharing != "none":
                how = (f"time-shared by {len(inst.models)} models, cycle {inst.cycle_ms:g} ms" if inst.sharing == "time"
                       else f"MPS, {len(inst.models)} models side by side (co-located latencies)")
                lines.append(f"      {inst.profile:>9} @{inst.start}: {how}")
            for r in inst.models:
                where = f"{inst.profile:>9} @{inst.start}:" if inst.sharing == "none" else f"{'':>9}   -"
                label = ", ".join(x for x in (r.source and f"{r.source}, not measured",
                                              "emulated slice" if r.emulated else None) if x)
                lines.append(f"      {where} {r.name} batch {r.batch} x{r.processes} proc, "
                             f"{r.latency_ms:g} ms, {r.rate_rps:.1f}/{r.capacity_rps:.1f} rps"
                             + (f"  [{label}]" if label else ""))
    return lines


def _scale_factor(plan: Plan) -> float | None:
    """The demand factor a max_scale plan serves (None for other objectives, or without a value)."""
    return plan.objective.value if plan.objective.kind == "max_scale" else None


def model_lines(plan: Plan) -> list[str]:
    """Per model: demand, served, capacity, headroom (capacity / demand - 1) and the resources it requests.

    A max_scale plan serves every demand times its factor, so served would read as far above demand: the table
    then adds the scaled demand (demand x factor) that served is measured against."""
    res: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for g in plan.gpus:
        for inst in g.instances:
            for r in inst.models:
                res[r.name][k8s_resource(inst.profile)] += 1
    factor = _scale_factor(plan)
    scaled = "" if factor is None else f" {'scaled':>11}"
    lines = [f"  {'model':<16} {'demand':>11}{scaled} {'served':>11} {'capacity':>11} {'headroom':>9}  resources"]
    for m in plan.models:
        room = f"{(m.capacity_rps / m.demand_rps - 1) * 100:+.1f}%" if m.demand_rps else "-"
        use = ", ".join(f"{n} x {k}" for k, n in sorted(res[m.name].items())) or "none"
        scaled = "" if factor is None else f" {m.demand_rps * factor:>11.1f}"
        lines.append(f"  {m.name:<16} {m.demand_rps:>11.1f}{scaled} {m.served_rps:>11.1f} {m.capacity_rps:>11.1f} "
                     f"{room:>9}  {use}")
    if factor is not None:
        lines.append(f"  scaled = demand x {factor:.6g}, the plan's demand factor (what served is measured against)")
    return lines


def render(plan: Plan) -> str:
    """The whole report."""
    o = plan.objective
    gap = "-" if plan.gap is None else f"{plan.gap:.2e}"
    types = defaultdict(int)
    for g in plan.gpus:
        types[g.type] += 1
    used = ", ".join(f"{n} x {t}" for t, n in types.items()) or "none"
    what = {"min_gpus": "min_gpus, cost of the GPUs used", "max_throughput": "max_throughput, rps served",
            "max_scale": "max_scale, demand factor"}.get(o.kind, o.kind)
    lines = [f"instance {plan.instance}: {what} = {o.value if o.value is None else f'{o.value:.6g}'} "
             f"(bound {o.bound if o.bound is None else f'{o.bound:.6g}'}, gap {gap}), status {plan.status}, "
             f"{plan.solver}, {plan.solve_seconds:.3f} s",
             f"GPUs used: {len(plan.gpus)} ({used})", "", "GPUs:"]
    lines += gpu_lines(plan) or ["  none"]
    lines += ["", "Models:"] + model_lines(plan)
    if plan.changes is not None:
        lines += ["", "Changes against the running plan:"] + change_lines(plan)
    return "\n".join(lines) + "\n"


def change_lines(plan: Plan) -> list[str]:
    """A re-plan's changes (``solve --from``): GPUs kept, reconfigured, added, released, and the steps in order,
    the ones that cannot keep every model's capacity marked."""
    c = plan.changes
    def some(ids: tuple[int, ...]) -> str:
        return f"{len(ids)} (GPU ids {_ids(sorted(ids))})" if ids else "0"

    lines = [f"  kept {some(c.kept)}, reconfigured {some(c.reconfigured)}, added {some(c.added)}, "
             f"released {some(c.released)}; instances created {c.instances_created}, "
             f"destroyed {c.instances_destroyed}"]
    if c.steps:
        lines.append(f"  steps ({len(c.steps)}, in order):")
        lines += [f"    {i + 1:>3}. {s.op:<11} GPU {s.gpu}" + ("" if s.ok else f"  NOT OK: {s.reason}")
                  for i, s in enumerate(c.steps)]
    return lines
