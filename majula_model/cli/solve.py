"""``majula solve INSTANCE``: optimal MIG geometries and assignments, as a table, JSON or mig-parted YAML.

``--baseline NAME`` prints that baseline's plan instead of the ILP's; ``--baseline all`` compares the GPUs every
baseline needs with the ILP's min_gpus answer. Exit 1 with the reasons when the instance has no plan, or when
the time limit ran out before any solution was found.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import Infeasible, InputError
from ..loading import load_instance
from ..placer import BASELINES, baseline, count_gpus, solve
from ..placer.formulation import OBJECTIVES
from ..placer.migparted import to_mig_parted
from ..placer.report import render
from ..placer.solver import SOLVERS


def _write(path: str, text: str, flag: str) -> None:
    try:
        Path(path).write_text(text)
    except OSError as e:
        raise InputError(f"cannot write: {e.strerror}", file=path, field=flag) from None


def _compare(args: argparse.Namespace, problem) -> int:
    """ILP min_gpus against every baseline (GPUs and cost; a baseline beyond the pool says so)."""
    ilp = solve(problem, "min_gpus", time_limit=args.time_limit, solver=args.solver)
    if args.mig_parted and ilp.gpus:  # the ILP's plan is the one worth applying
        _write(args.mig_parted, to_mig_parted(ilp, problem.instance.gpus_per_node, args.cat), "--mig-parted")
    rows = {"ilp": {**_summary(problem, ilp), "status": ilp.status}}
    for name in BASELINES:
        try:
            rows[name] = {**_summary(problem, baseline(problem, name, solver=args.solver)), "status": "feasible"}
        except Infeasible as e:
            rows[name] = {"gpus": None, "cost": None, "status": "infeasible", "reason": "; ".join(e.reasons)}
    if args.json:
        print(json.dumps({"instance": problem.instance.name, "min_gpus": rows}, indent=2))
        return 0
    print(f"instance {problem.instance.name}: GPUs to serve every demand")
    for name, r in rows.items():
        extra = f"  (+{r['gpus'] - rows['ilp']['gpus']} vs ilp)" if r["gpus"] is not None and name != "ilp" else ""
        print(f"  {name:<12} {r['status']:<11} gpus {r['gpus']}  cost {r['cost']}{extra}")
    return 0


def _summary(problem, plan) -> dict:
    count = count_gpus(problem, plan)
    return {"gpus": sum(count.values()), "cost": count.cost, "per_type": dict(count)}


def run(args: argparse.Namespace) -> int:
    problem = load_instance(args.instance, args.cat)
    if args.time_limit is not None and args.time_limit <= 0:
        raise InputError("must be positive", field="--time-limit")
    if args.baseline == "all":
        return _compare(args, problem)
    if args.baseline:
        plan = baseline(problem, args.baseline, solver=args.solver)
    else:
        plan = solve(problem, args.objective, time_limit=args.time_limit, solver=args.solver)
    if args.mig_parted and plan.gpus:
        _write(args.mig_parted, to_mig_parted(plan, problem.instance.gpus_per_node, args.cat), "--mig-parted")
    if args.plot:
        from ..placer.plot import plot_plan

        plot_plan(plan, args.plot)
    print(plan.model_dump_json(indent=2) if args.json else render(plan), end="\n" if args.json else "")
    if plan.status in ("no_solution", "error"):
        print(f"majula: no plan: solver status {plan.status} (time limit {args.time_limit} s)", file=sys.stderr)
        return 1
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("solve", help="Choose MIG geometries and what runs on every instance.")
    p.add_argument("instance", help="Instance JSON file.")
    p.add_argument("--objective", choices=OBJECTIVES, help="Override the instance's objective.")
    p.add_argument("--json", action="store_true", help="Print the plan as JSON (DESIGN.md section 3).")
    p.add_argument("--time-limit", type=float, metavar="S", help="Solver time limit in seconds.")
    p.add_argument("--solver", choices=SOLVERS, default="highs", help="MILP solver (default highs).")
    p.add_argument("--mig-parted", metavar="FILE", help="Write the plan as a mig-parted config.")
    p.add_argument("--baseline", choices=[*BASELINES, "all"], help="Report a baseline (or compare all).")
    p.add_argument("--plot", metavar="FILE", help="Plot demand, served and capacity per model (PNG/SVG/PDF).")
    p.set_defaults(func=run)
    return p
