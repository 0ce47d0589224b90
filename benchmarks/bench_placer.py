"""Placer speed and quality: solve time and GPUs needed against the baselines, 10 to 10,000 GPUs.

Instances: the 11 ParvaGPU models (A100 80GB, read at run time from ``<repo>/../shared/data``), SLO 150 ms for
every model, demand shares fixed by a deterministic weight per model and scaled so that a pool of N GPUs is about
80% used by the best throughput-per-slice segments. Timed: ``solve(problem, "min_gpus")`` end to end (capacity
table, ILP build, HiGHS, decode to N concrete GPUs), the ILP solve alone, ``max_throughput`` on the same pool,
``max_scale`` (proven through cover ILPs, ``placer/scale.py``; under a time limit: it is the harder, bottleneck
objective) and the three baselines (given a pool 3x
larger, so that they report how many GPUs they need rather than failing).

Target (issue 4): the 10,000-GPU, 11-model instance proven optimal in under 2 s on the 2-core dev machine.

Run: ``.venv/bin/python benchmarks/bench_placer.py [--sizes 10,100,1000,10000] [--scale-limit 60]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine import machine  # noqa: E402
from majula_model.perf.capacity import capacity_table  # noqa: E402
from majula_model.problem.importers import read_parvagpu  # noqa: E402
from majula_model.problem.loading import Problem, problem_from_instance  # noqa: E402
from majula_model.placer import BASELINES, baseline, solve  # noqa: E402
from majula_model.placer.formulation import build  # noqa: E402
from majula_model.placer.solver import solve_formulation  # noqa: E402
from majula_model.schema import Instance  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "parvagpu-a100-80gb"
GPU = "A100-SXM4-80GB"
SLO_MS = 150.0


def build_problem(n_gpus: int, records, pool_factor: float = 1.0) -> Problem:
    """11 models; demand ~80% of what n_gpus give at each model's best rps per compute slice."""
    probe = problem_from_instance(Instance(
        name="probe", gpus=[{"type": GPU, "count": 1}], measurements=records,
        models=[{"name": m, "slo_ms": SLO_MS, "demand_rps": 1.0} for m in sorted({r.model for r in records})]))
    per_gpu: dict[str, float] = {}
    for (m, _, p), c in capacity_table(probe).items():
        per_gpu[m] = max(per_gpu.get(m, 0.0), c.capacity_rps * 7 / int(p[0]))
    names = sorted(per_gpu)
    weight = {m: 1.0 + ((i * 7) % 11) / 10.0 for i, m in enumerate(names)}
    total = sum(weight.values())
    models = [{"name": m, "slo_ms": SLO_MS, "demand_rps": round(0.8 * n_gpus * per_gpu[m] * weight[m] / total, 3)}
              for m in names]
    inst = Instance(name=f"parvagpu-{n_gpus}", gpus=[{"type": GPU, "count": int(n_gpus * pool_factor)}],
                    models=models, measurements=records, objective="min_gpus")
    return problem_from_instance(inst)


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def row(n: int, records, scale_limit: float, repeat: int) -> str:
    p = build_problem(n, records)
    runs = [timed(lambda: solve(p, "min_gpus")) for _ in range(repeat)]
    plan, total_s = runs[0][0], statistics.median(t for _, t in runs)
    table = capacity_table(p)
    ilps = [solve_formulation(build(p, "min_gpus", table), "highs") for _ in range(repeat)]
    ilp = ilps[0]
    ilp.seconds = statistics.median(o.seconds for o in ilps)
    thr, thr_s = timed(lambda: solve(p, "max_throughput"))
    scale, scale_s = timed(lambda: solve(p, "max_scale", time_limit=scale_limit))
    big = build_problem(n, records, pool_factor=3.0)
    base = {name: len(baseline(big, name).gpus) for name in BASELINES}
    ours = len(plan.gpus)
    cells = [f"{n:,}", f"{ours:,}", plan.status, f"{ilp.seconds:.2f}", f"{total_s:.2f}",
             f"{thr.status} {thr_s:.2f}",
             f"{scale.status} {scale_s:.2f} (a {scale.objective.value:.7f}, gap {scale.gap or 0:.1e})"]
    cells += [f"{base[b]:,} (+{(base[b] - ours) / ours:.1%})" for b in BASELINES]
    return "| " + " | ".join(cells) + " |"



def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,100,1000,10000", help="Pool sizes (GPUs), comma separated.")
    ap.add_argument("--scale-limit", type=float, default=60.0, help="Time limit for max_scale, s.")
    ap.add_argument("--repeat", type=int, default=3, help="min_gpus timings: median of this many runs.")
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"public data not found at {DATA}", file=sys.stderr)
        return 2
    import pulp

    records = read_parvagpu(DATA).measurements
    from importlib.metadata import version

    print(f"machine: {machine()}; date {date.today()}; pulp {pulp.__version__}, highspy {version('highspy')}")
    head = ["pool GPUs", "ILP GPUs", "status", "ILP s (median)", "solve() s (median)", "max_throughput s",
            "max_scale s"]
    head += [f"{b} GPUs" for b in BASELINES]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for n in (int(s) for s in args.sizes.split(",")):
        print(row(n, records, args.scale_limit, args.repeat), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
