"""``majula validate INSTANCE``: check an instance file and say whether every model can meet its SLO."""

from __future__ import annotations

import argparse

from ..errors import Infeasible


def run(args: argparse.Namespace) -> int:
    # imported here, not at the top: every command registers this module (see cli/__init__.py)
    from ..perf.capacity import capacity_table, slo_problems
    from ..problem.loading import load_instance, notes

    problem = load_instance(args.instance, args.cat, command="validate")
    table = capacity_table(problem)
    problems = slo_problems(problem, table)
    if problems:
        raise Infeasible(problems)
    inst = problem.instance
    print(f"{args.instance}: ok: instance '{inst.name}', {len(inst.models)} models, "
          f"{sum(g.count for g in inst.gpus)} GPUs in {len(inst.gpus)} pool(s), {len(problem.records)} measurements")
    for note in notes(problem):
        print(f"  note: {note}")
    for m in inst.models:
        caps = sorted((c for c in table.values() if c.model == m.name), key=lambda c: -c.capacity_rps)
        best = caps[0]
        print(f"  {m.name}: SLO {m.slo_ms:g} ms, demand {m.demand_rps:g} rps; feasible on {len(caps)} profile(s); "
              f"best {best.capacity_rps:.1f} rps on {best.gpu} {best.profile} (batch {best.batch}, "
              f"{best.processes} proc)")
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("validate", help="Check an instance file.")
    p.add_argument("instance", help="Instance JSON file.")
    p.set_defaults(func=run)
    return p
