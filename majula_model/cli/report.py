"""``majula report INSTANCE --out DIR``: a page a person can read offline, ``DIR/index.html`` with PNG figures:
the plan as a picture, demand against capacity, the serving strategies compared, their promised against simulated
SLO attainment, GPUs needed as demand grows, simulated latency against the SLO, and each model's latency records
against the fitted curve (docs/report.md).

Exit 2 for an ``--out`` that is a file or an input (checked before any work); 0 also when some strategies have no
answer (the page says why). Needs the ``plot`` extra (matplotlib).
"""

from __future__ import annotations

import argparse
import sys

from ..errors import InputError
from .lists import numbers

OBJECTIVES = ("min_gpus", "max_throughput")  # majula_model.compare.OBJECTIVES (checked by tests/cli/test_report.py)
FACTORS = "1,2,3,4,5,6,7,8,9,10"
SIM_SECONDS = 10.0


def run(args: argparse.Namespace) -> int:
    # imported here, not at the top: every command registers this module (see cli/__init__.py)
    from ..compare import compare, objective_for, demand_sweep
    from ..errors import require
    from ..outputs.files import problem_inputs
    from ..outputs.report import check_out_dir, write_report
    from ..problem.loading import load_instance, notes

    require("matplotlib", "plot", "majula report")
    if args.time_limit is not None and not 0 < args.time_limit < float("inf"):
        raise InputError("must be positive", field="--time-limit")
    if not 0 < args.sim_seconds <= 3600:
        raise InputError("must be positive (at most 3600)", field="--sim-seconds")
    factors = numbers(args.factors, "--factors", float, low=1e-3, high=1e3, unique=True)
    problem = load_instance(args.instance, args.cat, command="report")
    inputs = problem_inputs(problem, args.catalog)
    check_out_dir(args.out, inputs)  # before minutes of solving
    said = notes(problem)
    for note in said:
        print(f"majula: note: {note}", file=sys.stderr)
    objective, note = objective_for(problem, args.objective, "reporting")
    if note:
        print(f"majula: note: {note}", file=sys.stderr)
    comp = compare(problem, objective, time_limit=args.time_limit, sim_seconds=args.sim_seconds)
    sweep = demand_sweep(problem, sorted(factors), time_limit=args.time_limit)
    how = (f"<code>majula report</code> on <code>{_e(args.instance)}</code>: objective {_e(comp.objective)}; "
           f"every plan simulated for {args.sim_seconds:g} s of Poisson arrivals at its served rate (seed 0); "
           f"demand factors {_e(', '.join(f'{f:g}' for f in sorted(factors)))}"
           + (f"; solver time limit {args.time_limit:g} s per solve" if args.time_limit else "")
           + ". The same numbers come as text from <code>majula compare</code>, and as JSON from "
           "<code>majula compare --json</code>.")
    written = write_report(args.out, problem, comp, sweep, inputs=inputs, notes=said, how=how)
    print(f"wrote {written[-1]} and {len(written) - 1} figures")
    return 0


def _e(text) -> str:
    import html

    return html.escape(str(text))


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("report", help="Write an HTML report with figures (plan, strategies, growth) to a directory.")
    p.add_argument("instance", help="Instance JSON file.")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="Directory for index.html and the PNG figures: new, empty, or an earlier report's.")
    p.add_argument("--objective", choices=OBJECTIVES, metavar="NAME",
                   help="What every strategy answers: %(choices)s (default: the instance's).")
    p.add_argument("--factors", default=FACTORS, metavar="LIST",
                   help="Demand factors of the growth figure (default: %(default)s).")
    p.add_argument("--sim-seconds", type=float, default=SIM_SECONDS, metavar="S",
                   help="Simulated seconds per plan (default: %(default)s).")
    p.add_argument("--time-limit", type=float, metavar="S", help="Time limit of each ILP solve, in seconds.")
    p.set_defaults(func=run)
    return p
