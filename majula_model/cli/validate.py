"""``majula validate INSTANCE``: check an instance file and say whether every model can meet its SLO.

Its notes say what the numbers rest on: prior files, conflicting duplicate measurements and which value was kept,
and, per pool GPU type a model was never measured on, whether its points are transferred or the prior, with the
held-out error of such predictions on the instance's own measurements (``perf.prediction.unmeasured_notes``).
"""

from __future__ import annotations

import argparse
import sys

from ..errors import Infeasible


def run(args: argparse.Namespace) -> int:
    # imported here, not at the top: every command registers this module (see cli/__init__.py)
    from ..perf.capacity import capacity_table, slo_problems
    from ..perf.prediction import unmeasured_notes
    from ..problem.loading import load_instance, notes

    problem = load_instance(args.instance, args.cat, command="validate")
    table = capacity_table(problem)
    problems = slo_problems(problem, table)
    said = notes(problem) + unmeasured_notes(problem)
    if problems:
        for note in said:  # what the verdict rests on, before it
            print(f"majula: note: {note}", file=sys.stderr)
        raise Infeasible(problems)
    inst = problem.instance
    print(f"{args.instance}: ok: instance '{inst.name}', {len(inst.models)} models, "
          f"{sum(g.count for g in inst.gpus)} GPUs in {len(inst.gpus)} pool(s), {len(problem.records)} measurements")
    for note in said:
        print(f"  note: {note}")
    for m in inst.models:
        caps = sorted((c for c in table.values() if c.model == m.name), key=lambda c: -c.capacity_rps)
        if not caps:  # only a retired model (demand 0) passes slo_problems without a feasible point
            print(f"  {m.name}: SLO {m.slo_ms:g} ms, demand 0 rps (retired: no instance); feasible on no profile")
            continue
        best = caps[0]
        label = best.source + (", emulated" if best.emulated else "")
        print(f"  {m.name}: SLO {m.slo_ms:g} ms, demand {m.demand_rps:g} rps; feasible on {len(caps)} profile(s); "
              f"best {best.capacity_rps:.1f} rps on {best.gpu} {best.profile} (batch {best.batch}, "
              f"{best.processes} proc; {label})")
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("validate", help="Check an instance file.")
    p.add_argument("instance", help="Instance JSON file.")
    p.set_defaults(func=run)
    return p
