"""``majula solve INSTANCE``: optimal MIG geometries and assignments, as a table, JSON or mig-parted YAML.

``--baseline NAME`` prints that baseline's plan instead of the ILP's; ``--baseline all`` compares the GPUs every
baseline needs with the ILP's min_gpus answer. Exit 1 with the reasons when the instance has no plan, or when
the time limit ran out before any solution was found.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import Infeasible, InputError, require
from .lists import LazyChoices, numbers

# Imported in the functions that use them, not here: the placer costs PuLP, numpy and pydantic, and every
# ``majula`` command (``--help`` included) registers this module. The choices come from majula_model.placer.
OBJECTIVES = LazyChoices("majula_model.placer", "OBJECTIVES")
SOLVERS = LazyChoices("majula_model.placer", "SOLVERS")
BASELINE_CHOICES = LazyChoices("majula_model.placer", "BASELINES", extra=("all",))
VERIFY_LOAD = 1.0
VERIFY_DURATION = None
"""Defaults of --verify-load and --verify-duration, applied after checking that --verify was given (no duration:
the simulator's default window, from the requests that resolve the target attainment)."""


def _inputs(args: argparse.Namespace, problem) -> list[str]:
    """The files this command read: an output must never be one of them (``outputs/files.py``)."""
    from ..outputs.files import problem_inputs

    return problem_inputs(problem, args.catalog) + ([args.from_plan] if getattr(args, "from_plan", None) else [])


def _write(args: argparse.Namespace, problem, path: str, text: str, flag: str) -> None:
    """Write an output atomically, refusing a path that is one of the command's inputs."""
    from ..outputs.files import write_output

    write_output(path, text, flag, _inputs(args, problem))


def _write_cluster_files(args: argparse.Namespace, problem, plan) -> None:
    """The files a cluster applies, next to --mig-parted: --k8s DIR and --triton DIR (docs/operator.md)."""
    from ..outputs.directory import write_output_dir

    for flag, path in (("--k8s", args.k8s), ("--triton", args.triton)):
        if not path:
            continue
        if flag == "--k8s":
            from ..outputs.k8s import k8s_files

            files, execs = k8s_files(problem, plan, args.cat, getattr(args, "current", None))
        else:
            from ..outputs.triton import triton_files

            files, execs = triton_files(problem, plan), []
        write_output_dir(path, files, flag, f"solve {flag}", _inputs(args, problem), _outputs(args, flag), execs)


def _outputs(args: argparse.Namespace, flag: str) -> list[str]:
    """This command's other outputs: a directory output must not contain (and so replace) one of them."""
    named = {"--mig-parted": args.mig_parted, "--plot": args.plot, "--k8s": args.k8s, "--triton": args.triton}
    return [p for f, p in named.items() if p and f != flag]


def _compare(args: argparse.Namespace, problem) -> int:
    """ILP min_gpus against every baseline (GPUs and cost; a baseline beyond the pool says so)."""
    from ..outputs.migparted import to_mig_parted
    from ..placer import BASELINES, baseline, solve

    ilp = solve(problem, "min_gpus", time_limit=args.time_limit, solver=args.solver)
    if args.mig_parted and ilp.gpus:  # the ILP's plan is the one worth applying
        _write(args, problem, args.mig_parted, to_mig_parted(ilp, problem.instance.gpus_per_node, args.cat),
               "--mig-parted")
        print(f"majula: note: {args.mig_parted} holds the ILP's plan (the baselines are for comparison)",
              file=sys.stderr)
    if (args.k8s or args.triton) and ilp.gpus:
        _write_cluster_files(args, problem, ilp)
        print(f"majula: note: {' and '.join(p for p in (args.k8s, args.triton) if p)} hold the ILP's plan",
              file=sys.stderr)
    rows = {"ilp": {**_summary(problem, ilp), "status": ilp.status}}
    if problem.instance.policy.tolerate_failures is not None:  # the price of protection: the same, unprotected
        from dataclasses import replace

        pol = problem.instance.policy.model_copy(update={"tolerate_failures": None})
        bare = replace(problem, instance=problem.instance.model_copy(update={"policy": pol}))
        plain = solve(bare, "min_gpus", time_limit=args.time_limit, solver=args.solver)
        rows["unprotected"] = {**_summary(problem, plain), "status": plain.status}
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
        extra = ""
        if r["gpus"] is not None and name != "ilp" and rows["ilp"]["gpus"] is not None:
            extra = f"  ({r['gpus'] - rows['ilp']['gpus']:+d} GPUs, {r['cost'] - rows['ilp']['cost']:+.6g} cost vs ilp)"
        cost = "-" if r["cost"] is None else f"{r['cost']:.6g}"
        print(f"  {name:<12} {r['status']:<11} gpus {r['gpus']}  cost {cost}{extra}")
    return 0


def _summary(problem, plan) -> dict:
    from ..placer import count_gpus

    count = count_gpus(problem, plan)
    return {"gpus": sum(count.values()), "cost": count.cost, "per_type": dict(count)}


def _verify(args: argparse.Namespace, problem, plan) -> tuple[str, list[str]]:
    """Simulate the fresh plan and put each model's attainment, its 95% interval and its verdict next to what
    the SLO rule promised (docs/simulator.md, "Verdicts and confidence intervals"); and the models that break,
    for the exit code. Notes (a bound on the window or the warm-up, inconclusive models) go to stderr."""
    from ..outputs.sim_report import interval_text
    from ..simulator import verify

    pol = problem.instance.policy
    res = verify(problem, plan, load=args.verify_load, duration_s=args.verify_duration, seed=0)
    if pol.arrivals == "poisson":
        promise = f"{pol.target_attainment:.2%} of requests within SLO under Poisson arrivals"
    else:
        promise = (f"batch latency <= {pol.latency_budget_fraction:g} x SLO (assumes smooth arrivals; "
                   f"Poisson bursts may break the tail: try policy.arrivals \"poisson\")")
    warm = f" after a {res.warmup_s:.3g} s warm-up" if res.warmup_s else ""
    lines = [f"verify: simulated {res.duration_s:g} s of Poisson arrivals at {args.verify_load:g} x served rate{warm}; "
             f"promise: {promise}; verdicts against {res.target_attainment:.2%} within SLO, 95% intervals",
             f"  {'model':<18}{'slo_ms':>8}{'offered':>11}{'attained':>10}  {'95% interval':<20}{'p99_ms':>9}  verdict"]
    for m in res.models:
        att = m.slo_attainment
        interval = interval_text(m.slo_attainment_ci)
        lines.append(f"  {m.name:<18}{m.slo_ms:>8g}{m.offered_rps:>11.1f}"
                     f"{'-' if att is None else f'{att:.2%}':>10}  {interval:<20}"
                     f"{'-' if m.p99_ms is None else f'{m.p99_ms:.1f}':>9}  {m.verdict or '-'}")
    for note in res.notes:
        print(f"majula: note: {note}", file=sys.stderr)
    undecided = res.with_verdict("inconclusive")
    if undecided:
        print(f"majula: note: verify is inconclusive for {', '.join(undecided)}: the 95% interval contains the "
              f"{res.target_attainment:.2%} target (or the window never settled); lengthen --verify-duration",
              file=sys.stderr)
    return "\n".join(lines) + "\n", res.with_verdict("breaks")


def _factors(text: str) -> list[float]:
    """The --sweep demand growth factors (an empty list is an error naming --sweep, not a plain solve)."""
    return numbers(text, "--sweep", float, low=1e-9, high=1000)


def _sweep(args: argparse.Namespace, problem) -> int:
    """GPUs needed (min_gpus) as every demand grows by each factor: the capacity planner's purchase table."""
    from ..placer import sweep

    points = sweep(problem, _factors(args.sweep), time_limit=args.time_limit, solver=args.solver,
                   unbounded_pool=args.unbounded_pool)
    if args.json:
        print(json.dumps({"instance": problem.instance.name, "sweep": [
            {"factor": p.factor, "gpus": p.gpus, "cost": p.cost, "status": p.status} for p in points]}, indent=2))
        return 0
    pool = "pool counts lifted" if args.unbounded_pool else "within the pool; --unbounded-pool lifts it"
    print(f"instance {problem.instance.name}: GPUs needed as demand grows (min_gpus, {pool})")
    print(f"  {'factor':>7}{'gpus':>8}{'cost':>10}  status")
    for p in points:
        print(f"  {p.factor:>7g}{'-' if p.gpus is None else p.gpus:>8}"
              f"{'-' if p.cost is None else f'{p.cost:g}':>10}  {p.status}")
    return 0


_ONE_PLAN_ONLY = (("--mig-parted", "mig_parted"), ("--k8s", "k8s"), ("--triton", "triton"), ("--verify", "verify"),
                  ("--plot", "plot"))
"""Options that act on one plan: meaningless with --sweep (many plans) or --baseline all (a comparison)."""
_ILP_FILES = ("--mig-parted", "--k8s", "--triton")
"""Files --baseline all still writes: the ILP's plan, the one worth applying."""


def _check_combinations(args: argparse.Namespace) -> None:
    """Exit 2 on options that would otherwise be silently ignored together."""
    sweeping = args.sweep is not None  # --sweep "" is a mistake to report, not a plain solve
    if sweeping:
        _factors(args.sweep)
    for mode, on in (("--sweep", sweeping), ("--baseline all", args.baseline == "all")):
        if not on:
            continue
        for flag, attr in _ONE_PLAN_ONLY:
            if getattr(args, attr) and not (flag in _ILP_FILES and mode == "--baseline all"):
                raise InputError(f"cannot combine {flag} with {mode} (it acts on one plan)", field=flag)
        if args.objective:
            raise InputError(f"cannot combine --objective with {mode} (it always answers min_gpus)",
                             field="--objective")
    if sweeping and args.baseline:
        raise InputError("cannot combine --sweep with --baseline", field="--baseline")
    if args.unbounded_pool and not sweeping:
        raise InputError("only means something with --sweep", field="--unbounded-pool")
    if args.reconfig_cost is not None and not args.from_plan:
        raise InputError("only means something with --from", field="--reconfig-cost")
    if args.from_plan and (sweeping or args.baseline):
        raise InputError(f"cannot combine --from with {'--sweep' if sweeping else '--baseline'} (it re-plans one "
                         "plan with the ILP)", field="--from")
    _check_verify_options(args)


def _check_verify_options(args: argparse.Namespace) -> None:
    """--verify-load and --verify-duration need --verify; then fill in their defaults (None means not given,
    which is how a given default value is told apart from an absent flag)."""
    for flag, attr in (("--verify-load", "verify_load"), ("--verify-duration", "verify_duration")):
        if getattr(args, attr) is not None and not args.verify:
            raise InputError("only means something with --verify", field=flag)
    args.verify_load = VERIFY_LOAD if args.verify_load is None else args.verify_load
    args.verify_duration = VERIFY_DURATION if args.verify_duration is None else args.verify_duration


def _plan(args: argparse.Namespace, problem):
    """The one plan asked for: a baseline's, or the ILP's."""
    from ..placer import baseline, solve

    if args.baseline:
        return baseline(problem, args.baseline, solver=args.solver)
    if args.current is not None:  # re-plan from the running plan (docs/replan.md)
        return solve(problem, args.objective, time_limit=args.time_limit, solver=args.solver, current=args.current,
                     reconfig_cost=0.0 if args.reconfig_cost is None else args.reconfig_cost,
                     current_file=args.from_plan)
    return solve(problem, args.objective, time_limit=args.time_limit, solver=args.solver)


def _print_plan(args: argparse.Namespace, problem, plan) -> list[str]:
    """Write the mig-parted file and the plot if asked, then the plan (JSON or table) and the verify report;
    return the models that --verify found breaking."""
    if args.mig_parted and plan.gpus:
        from ..outputs.migparted import to_mig_parted

        _write(args, problem, args.mig_parted, to_mig_parted(plan, problem.instance.gpus_per_node, args.cat,
                                                             previous=args.current), "--mig-parted")
    if (args.k8s or args.triton) and plan.status in ("optimal", "feasible"):  # an empty plan empties them too
        _write_cluster_files(args, problem, plan)
    if args.plot:
        from ..outputs.files import write_output_with
        from ..outputs.plan_plot import plot_plan

        write_output_with(args.plot, "--plot", _inputs(args, problem), lambda p: plot_plan(plan, str(p)))
    if args.json:
        print(plan.model_dump_json(indent=2))
    else:
        from ..outputs.plan_table import render

        print(render(plan), end="")
    if args.verify and plan.gpus:
        report, broken = _verify(args, problem, plan)
        print(("" if args.json else "\n") + report, end="", file=sys.stderr if args.json else sys.stdout)
        return broken
    return []


def run(args: argparse.Namespace) -> int:
    from ..problem.loading import load_instance, notes

    _check_combinations(args)
    if args.plot:
        require("matplotlib", "plot", "--plot")  # before solving and writing anything else
    problem = load_instance(args.instance, args.cat, command="solve")
    args.current = None
    if args.from_plan:  # the running plan; checked against the instance by the placer (``replan.check_current``)
        from ..problem.loading import load_plan

        args.current = load_plan(args.from_plan, command="solve --from")
    from ..outputs.files import check_output

    for flag, path in (("--mig-parted", args.mig_parted), ("--plot", args.plot)):
        if path:  # before solving: an output that is an input, or cannot be written, fails at once
            check_output(path, flag, _inputs(args, problem))
    from ..outputs.directory import check_output_dir

    for flag, path in (("--k8s", args.k8s), ("--triton", args.triton)):
        if path == "":
            raise InputError("needs a directory name", field=flag)
        if path:
            check_output_dir(path, flag, _inputs(args, problem), _outputs(args, flag), kind=f"solve {flag}")
    from ..perf.prediction import unmeasured_notes  # which numbers are predictions on never-measured GPU types

    for note in notes(problem) + unmeasured_notes(problem):
        print(f"majula: note: {note}", file=sys.stderr)
    if args.time_limit is not None and not 0 < args.time_limit < float("inf"):
        raise InputError("must be positive", field="--time-limit")
    if not (0 < args.verify_load <= 100 and (args.verify_duration is None or 0 < args.verify_duration <= 86_400)):
        raise InputError("must be positive", field="--verify-load/--verify-duration")
    if args.baseline == "all":
        return _compare(args, problem)
    if args.sweep is not None:
        return _sweep(args, problem)
    plan = _plan(args, problem)
    for note in plan.notes:  # what the solver could not prove or do (placer ``_audit``)
        print(f"majula: note: {note}", file=sys.stderr)
    broken = _print_plan(args, problem, plan)
    if plan.status in ("no_solution", "error"):
        limit = "no time limit" if args.time_limit is None else f"time limit {args.time_limit:g} s"
        print(f"majula: no plan: solver status {plan.status} ({limit})", file=sys.stderr)
        return 1
    if broken:  # the 95% interval of their attainment lies below the target
        print(f"majula: verify failed: {', '.join(broken)} {'breaks' if len(broken) == 1 else 'break'} the SLO "
              f"promise (95% interval below the target attainment)", file=sys.stderr)
        return 1
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("solve", help="Choose MIG geometries and what runs on every instance.")
    p.add_argument("instance", help="Instance JSON file.")
    p.add_argument("--objective", choices=OBJECTIVES, metavar="NAME",
                   help="Override the instance's objective: %(choices)s.")
    p.add_argument("--json", action="store_true", help="Print the plan as JSON (docs/data-format.md (data contract)).")
    p.add_argument("--time-limit", type=float, metavar="S", help="Solver time limit in seconds.")
    p.add_argument("--solver", choices=SOLVERS, default="highs", metavar="NAME",
                   help="MILP solver: %(choices)s (default highs).")
    p.add_argument("--mig-parted", metavar="FILE", help="Write the plan as a mig-parted config.")
    p.add_argument("--k8s", metavar="DIR", help="Write Kubernetes Deployments and node labels (docs/operator.md).")
    p.add_argument("--triton", metavar="DIR", help="Write a Triton config.pbtxt per model variant (docs/operator.md).")
    p.add_argument("--baseline", choices=BASELINE_CHOICES, metavar="NAME",
                   help="Report a baseline (or compare all): %(choices)s.")
    p.add_argument("--plot", metavar="FILE", help="Plot demand, served and capacity per model (PNG/SVG/PDF).")
    p.add_argument("--sweep", metavar="FACTORS",
                   help="GPUs needed (min_gpus) for each demand growth factor, e.g. 1,1.5,2.")
    p.add_argument("--unbounded-pool", action="store_true",
                   help="With --sweep: ignore pool counts (how many GPUs to buy, not whether the fleet suffices).")
    p.add_argument("--from", dest="from_plan", metavar="PLAN",
                   help="Re-plan from this running plan (majula solve --json): keep its GPU ids, change as few "
                        "GPUs as the cost allows, list the steps (docs/replan.md). min_gpus only.")
    p.add_argument("--reconfig-cost", type=float, metavar="W",
                   help="With --from: cost charged per reconfigured GPU, in GPU cost units (default 0: the plain "
                        "optimum with the fewest changes).")
    p.add_argument("--verify", action="store_true",
                   help="Simulate the plan: SLO attainment with 95%% intervals and verdicts next to the promise "
                        "(stderr with --json); exit 1 if a model breaks.")
    p.add_argument("--verify-load", type=float, metavar="X",
                   help=f"With --verify: load as a multiple of the planned rate (default {VERIFY_LOAD:g}).")
    p.add_argument("--verify-duration", type=float, metavar="S",
                   help="With --verify: measured seconds (default: enough requests to resolve the target "
                        "attainment, at most 3600).")
    p.set_defaults(func=run)
    return p
