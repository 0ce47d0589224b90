"""``majula simulate INSTANCE --plan PLAN``: replay a plan under load and report SLO attainment per model, with a
95% interval and a verdict against the policy's target (docs/simulator.md, "Verdicts and confidence
intervals")."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import require


def run(args: argparse.Namespace) -> int:
    # imported here, not at the top: every command registers this module (see cli/__init__.py)
    from ..outputs.files import check_output, problem_inputs, write_output_with
    from ..outputs.sim_report import plot_cdfs, table
    from ..problem.loading import load_instance, load_plan, notes
    from ..simulator import SimOptions, simulate

    if args.plot:
        require("matplotlib", "plot", "--plot")
    problem = load_instance(args.instance, args.cat, command="simulate")
    plan = load_plan(args.plan, command="simulate --plan")
    inputs = [*problem_inputs(problem, args.catalog), args.plan, args.trace]
    if args.plot:
        check_output(args.plot, "--plot", inputs)  # before simulating: --plot must not name an input
    opts = SimOptions(load=args.load, duration_s=args.duration, seed=args.seed, trace=args.trace,
                      routing=args.routing, late=args.late, jitter=args.jitter, warmup_s=args.warmup,
                      plan_file=args.plan)
    from ..perf.prediction import unmeasured_notes  # which numbers are predictions on never-measured GPU types

    for note in notes(problem) + unmeasured_notes(problem):
        print(f"majula: note: {note}", file=sys.stderr)
    res = simulate(problem, plan, opts)
    for note in res.notes:
        print(f"majula: note: {note}", file=sys.stderr)
    if args.plot:  # atomically, through a temporary file with the same suffix (the format comes from it)
        write_output_with(args.plot, "--plot", inputs, lambda path: plot_cdfs(res, path))
    print(json.dumps(res.to_dict(), indent=2) if args.json else table(res))
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("simulate", help="Replay a plan under load and measure SLO attainment.")
    p.add_argument("instance", help="Instance JSON file (SLOs and measurements).")
    p.add_argument("--plan", required=True, metavar="PLAN", help="Plan JSON (majula solve --json).")
    p.add_argument("--load", type=float, default=1.0, metavar="X", help="Arrival rate = X x served_rps (default 1).")
    p.add_argument("--duration", type=float, metavar="S",
                   help="Measured seconds (default: enough requests to resolve the target attainment, at most 3600).")
    p.add_argument("--warmup", type=float, metavar="S",
                   help="Seconds simulated first and discarded (default: 5 relaxation times of the slowest run).")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="Random seed (default 0).")
    p.add_argument("--trace", metavar="CSV", help="Arrivals from a CSV of timestamp (s),model instead of Poisson.")
    p.add_argument("--routing", choices=["proportional", "jsq"], default="proportional",
                   help="Split by planned rate (default) or join the shortest queue.")
    p.add_argument("--late", choices=["serve", "drop"], default="serve",
                   help="Serve requests whose deadline has passed (default) or drop them.")
    p.add_argument("--jitter", action="store_true", help="Service times vary between p50 and p99 where p50 is known.")
    p.add_argument("--json", action="store_true", help="JSON on stdout.")
    p.add_argument("--plot", metavar="FILE", help="Write latency CDFs to FILE (png, pdf, svg).")
    p.set_defaults(func=run)
    return p
