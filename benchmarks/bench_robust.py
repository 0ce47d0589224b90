"""The price of protection: GPUs a failure-tolerant plan needs (``policy.tolerate_failures``,
``placer/robust.py``) against the unprotected min_gpus plan, and the time to prove it.

Instances: the bundled ``instances/*.json`` (pools lifted to 4x their count, so that protection is never
refused for lack of GPUs), and 3 ParvaGPU models (bert, resnet50, vgg16 on A100 80GB, read at run time from
``<repo>/../shared/data``; SLO 150 ms, demand ~80% of what 10 or 100 GPUs give). Each is solved unprotected,
then with the loss of 1 GPU, 2 GPUs and 1 node of ``gpus_per_node`` GPUs tolerated (min_gpus, HiGHS, time
limit per solve). Columns: GPUs (status when not proven optimal), seconds of the tolerant solve (the
unprotected solve for the note and the survivors' bound, columns enumerated or generated, ILP, decode), and
"generated" where the configurations were too many to list and column generation (``robust_colgen``) made
them.

A second table solves the instances whose own policy shares instances (``lowrate``) with sharing on.

Run: ``.venv/bin/python benchmarks/bench_robust.py [--limit 60] [--nodes 8]``
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine import machine  # noqa: E402
from majula_model import load_instance  # noqa: E402
from majula_model.errors import Infeasible, InputError  # noqa: E402
from majula_model.perf.capacity import capacity_table  # noqa: E402
from majula_model.placer import solve  # noqa: E402
from majula_model.problem.importers import read_parvagpu  # noqa: E402
from majula_model.problem.loading import Problem, problem_from_instance  # noqa: E402
from majula_model.schema import FailureTolerance, Instance  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "parvagpu-a100-80gb"
GPU = "A100-SXM4-80GB"
PARVA_MODELS = ["bert", "resnet50", "vgg16"]


def parva(n_gpus: int) -> Problem:
    records = read_parvagpu(DATA, models=PARVA_MODELS).measurements
    probe = problem_from_instance(Instance(name="probe", gpus=[{"type": GPU, "count": 1}], measurements=records,
                                           models=[{"name": m, "slo_ms": 150.0, "demand_rps": 1.0}
                                                   for m in PARVA_MODELS]))
    per_gpu: dict[str, float] = {}
    for (m, _, p), c in capacity_table(probe).items():
        per_gpu[m] = max(per_gpu.get(m, 0.0), c.capacity_rps * 7 / int(p[0]))
    models = [{"name": m, "slo_ms": 150.0, "demand_rps": round(0.8 * n_gpus * per_gpu[m] / 3, 3)}
              for m in PARVA_MODELS]
    return problem_from_instance(Instance(name=f"parvagpu3-{n_gpus}", gpus=[{"type": GPU, "count": 4 * n_gpus}],
                                          models=models, measurements=records, objective="min_gpus"))


def lifted(problem: Problem) -> Problem:
    gpus = tuple(g.model_copy(update={"count": 4 * g.count}) for g in problem.instance.gpus)
    return replace(problem, instance=problem.instance.model_copy(update={"gpus": gpus}))


def protect(problem: Problem, domain: str | None, k: int, nodes: int, share: bool = False) -> Problem:
    upd = {"tolerate_failures": None if domain is None else FailureTolerance(domain=domain, count=k)}
    if not share:
        upd["max_models_per_instance"] = 1
    pol = problem.instance.policy.model_copy(update=upd)
    return replace(problem, instance=problem.instance.model_copy(update={"policy": pol, "gpus_per_node": nodes}))


def cell(problem: Problem, limit: float) -> str:
    t0 = time.perf_counter()
    try:
        plan = solve(problem, "min_gpus", time_limit=limit)
    except Infeasible:
        return f"infeasible ({time.perf_counter() - t0:.2f} s)"
    except InputError as e:
        return f"refused: {e.reason[:60]}"
    seconds = time.perf_counter() - t0
    state = "" if plan.status == "optimal" else f" {plan.status}, gap {plan.gap:.2f}" if plan.gap is not None \
        else f" {plan.status}"
    how = ", generated" if any("unit configurations generated" in n for n in plan.notes) else ""
    return f"{len(plan.gpus)}{state} ({seconds:.2f} s{how})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=float, default=60.0, help="Time limit per solve, s.")
    ap.add_argument("--nodes", type=int, default=8, help="gpus_per_node for the node domain.")
    args = ap.parse_args()
    problems = [lifted(load_instance(str(p))) for p in sorted((ROOT / "instances").glob("*.json"))]
    if DATA.is_dir():
        problems += [parva(10), parva(100)]
    else:
        print(f"public data not found at {DATA}: ParvaGPU rows skipped", file=sys.stderr)
    print(f"machine: {machine()}; date {date.today()}; time limit {args.limit:g} s; nodes of {args.nodes}")
    print("| instance | unprotected | 1 GPU | 2 GPUs | 1 node |")
    print("|---|---|---|---|---|")
    for p in problems:
        cells = [cell(protect(p, d, k, args.nodes), args.limit) for d, k in ((None, 0), ("gpu", 1), ("gpu", 2),
                                                                              ("node", 1))]
        print(f"| {p.instance.name} | " + " | ".join(cells) + " |", flush=True)
    shared = [p for p in problems if p.instance.policy.max_models_per_instance > 1 and p.instance.policy.sharing_modes]
    print("\nWith the instance's own sharing policy (shared instances allowed):")
    print("| instance | unprotected | 1 GPU | 2 GPUs | 1 node |")
    print("|---|---|---|---|---|")
    for p in shared:
        cells = [cell(protect(p, d, k, args.nodes, share=True), args.limit) for d, k in (
            (None, 0), ("gpu", 1), ("gpu", 2), ("node", 1))]
        print(f"| {p.instance.name} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
