"""``majula compare INSTANCE``: every serving strategy (whole GPUs, time sharing, MPS, MIG baselines, the MIG ILPs)
on the same measurements and SLO policy, side by side (docs/compare.md).

Exit 0 also when some strategies have no answer: their rows say why (``available`` false and ``reason``).
"""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import InputError

OBJECTIVES = ("min_gpus", "max_throughput")  # majula_model.compare.OBJECTIVES (checked by tests/cli/test_compare.py)


def _num(x, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def _saving(s, ref) -> str:
    from ..compare import saving

    if s.name == ref.name:
        return "reference" if s.available else "-"
    rel = saving(s, ref)
    return "-" if rel is None else f"{rel:+.0%} GPUs"


def table(comp) -> str:
    """The comparison for people: one row per strategy, then what each is and why a row has no answer."""
    ref = comp.strategy("exclusive")
    lines = [f"instance {comp.instance}: strategies compared ({comp.objective}); same measurements and SLO policy",
             f"  {'strategy':<16}{'gpus':>5}{'cost':>8}{'served':>10}{'util':>7}{'worst att':>10}  "
             f"{'status':<12}vs exclusive"]
    for s in comp.strategies:
        lines.append(f"  {s.name:<16}{_num(s.gpus, 'd'):>5}{_num(s.cost, '.6g'):>8}{_num(s.served_rps, '.1f'):>10}"
                     f"{_num(s.mean_utilisation, '.0%'):>7}{_num(s.sim_worst_attainment, '.2%'):>10}  "
                     f"{s.status:<12}{_saving(s, ref)}")
    lines.append("")
    for s in comp.strategies:
        lines.append(f"  {s.name}: {s.description}" + ("" if s.available else f"\n    not available: {s.reason}"))
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    # imported here, not at the top: every command registers this module (see cli/__init__.py)
    from ..compare import compare
    from ..problem.loading import load_instance, notes

    if args.time_limit is not None and not 0 < args.time_limit < float("inf"):
        raise InputError("must be positive", field="--time-limit")
    problem = load_instance(args.instance, args.cat, command="compare")
    for note in notes(problem):
        print(f"majula: note: {note}", file=sys.stderr)
    objective = args.objective
    if objective is None and problem.instance.objective not in OBJECTIVES:
        objective = "min_gpus"
        print(f"majula: note: the instance's objective is {problem.instance.objective}; comparing min_gpus "
              f"(--objective chooses)", file=sys.stderr)
    comp = compare(problem, objective, time_limit=args.time_limit)
    print(json.dumps(comp.to_dict(), indent=2) if args.json else table(comp), end="\n" if args.json else "")
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("compare", help="Compare serving strategies (whole GPUs, MPS, MIG) on one instance.")
    p.add_argument("instance", help="Instance JSON file.")
    p.add_argument("--json", action="store_true", help="Print the comparison as JSON.")
    p.add_argument("--objective", choices=OBJECTIVES, metavar="NAME",
                   help="What every strategy answers: %(choices)s (default: the instance's).")
    p.add_argument("--time-limit", type=float, metavar="S", help="Time limit of each ILP solve, in seconds.")
    p.set_defaults(func=run)
    return p
