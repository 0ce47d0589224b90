"""``majula compare INSTANCE``: every serving strategy (whole GPUs, time sharing, MPS, MIG baselines, the MIG ILPs)
on the same measurements and SLO policy, side by side (docs/compare.md).

Exit 0 also when some strategies have no answer: their rows say why (``available`` false and ``reason``).
The second table is predictability: what each plan's SLO rule promises against what the simulator measured, under
the policy's rule and under the SLO/2 rule peers use (``--per-model``: one line per model).
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

    if ref is None:
        return "-"
    if s.name == ref.name:
        return "reference" if s.available else "-"
    rel = saving(s, ref)
    return "-" if rel is None else f"{rel:+.0%} GPUs"


def _pct(x) -> str:
    return "-" if x is None else f"{x:.2%}"


def predictability_table(comp, per_model: bool = False) -> str:
    """Promised against simulated SLO attainment: per strategy and rule the worst model and how many models fall
    below the promise (``per_model``: every model on its own line)."""
    if not comp.predictability:
        return ""
    lines = ["predictability: SLO attainment each plan's rule promises vs what the simulator measured (Poisson "
             "arrivals at the plan's served rate)"]
    lines += [f"  rule {name}: {words}" for name, words in comp.rules.items()]
    lines.append(f"  {'strategy':<16}{'rule':<8}{'gpus':>5}{'promised':>10}{'simulated':>11}  "
                 f"{'model' if per_model else 'worst model':<16}{'' if per_model else 'below promise':<15}"
                 f"interference")
    if per_model:
        for r in comp.predictability:
            lines.append(f"  {r.strategy:<16}{r.rule:<8}{r.gpus:>5}{_pct(r.promised):>10}{_pct(r.simulated):>11}  "
                         f"{r.model:<16}{r.interference_source}" + ("  below" if r.below_promise else ""))
    else:
        for t in comp.summary():
            lines.append(f"  {t.strategy:<16}{t.rule:<8}{t.gpus:>5}{_pct(t.promised):>10}{_pct(t.worst_simulated):>11}"
                         f"  {t.worst_model:<16}{f'{t.below} of {t.models}':<15}{t.interference}")
    unanswered = [s.name for s in comp.strategies if not s.available]
    if unanswered:
        lines.append(f"  no rows for: {', '.join(unanswered)} (no plan under the policy's rule; see above)")
    return "\n".join(lines) + "\n"


def table(comp, per_model: bool = False) -> str:
    """The comparison for people: one row per strategy, then what each is and why a row has no answer, then the
    predictability table."""
    ref = comp.get("exclusive")
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
    pred = predictability_table(comp, per_model)
    return "\n".join(lines) + "\n" + ("\n" + pred if pred else "")


def run(args: argparse.Namespace) -> int:
    # imported here, not at the top: every command registers this module (see cli/__init__.py)
    from ..compare import compare, objective_for
    from ..problem.loading import load_instance, notes

    if args.time_limit is not None and not 0 < args.time_limit < float("inf"):
        raise InputError("must be positive", field="--time-limit")
    problem = load_instance(args.instance, args.cat, command="compare")
    for note in notes(problem):
        print(f"majula: note: {note}", file=sys.stderr)
    objective, note = objective_for(problem, args.objective, "comparing")
    if note:
        print(f"majula: note: {note}", file=sys.stderr)
    comp = compare(problem, objective, time_limit=args.time_limit)
    print(json.dumps(comp.to_dict(), indent=2) if args.json else table(comp, args.per_model),
          end="\n" if args.json else "")
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("compare", help="Compare serving strategies (whole GPUs, MPS, MIG) on one instance.")
    p.add_argument("instance", help="Instance JSON file.")
    p.add_argument("--json", action="store_true", help="Print the comparison as JSON.")
    p.add_argument("--objective", choices=OBJECTIVES, metavar="NAME",
                   help="What every strategy answers: %(choices)s (default: the instance's).")
    p.add_argument("--time-limit", type=float, metavar="S", help="Time limit of each ILP solve, in seconds.")
    p.add_argument("--per-model", action="store_true",
                   help="Predictability table: one line per model (default: the worst model per strategy and rule).")
    p.set_defaults(func=run)
    return p
