"""Sharing on low-rate mixes: GPUs with sharing off, time-only, MPS-only and both; solve time; simulated attainment.

The mix (issue 12): N fine-tuned variants of the 11 ParvaGPU models (A100 80GB, read at run time from
``<repo>/../shared/data``; variant i has model i mod 11's measured curves), Zipf-distributed demand
``rate_i = R / (i + 1) ** s``, one SLO for all. Policy: ``max_models_per_instance`` K, smooth or Poisson arrivals.
MPS needs co-located measurements, which the public data lacks, so MPS rows use the stated interference prior
(``policy.interference_prior``: every co-runner doubles the latency) and are labelled as predictions.

For each mode set: min_gpus GPUs, status, gap against the LP bound of every pattern, solve seconds; then the
Poisson-policy plan is replayed at 0.9 and 1.0 of its planned rate (the simulator) and the worst model's SLO
attainment is reported.

Run: ``.venv/bin/python benchmarks/bench_sharing.py [--models 30,100] [--k 4] [--slo 100] [--sim 60]``
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine import machine  # noqa: E402
from majula_model.placer import solve  # noqa: E402
from majula_model.problem.importers import read_parvagpu  # noqa: E402
from majula_model.problem.loading import Problem, problem_from_instance  # noqa: E402
from majula_model.schema import Instance  # noqa: E402
from majula_model.simulator import verify  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "parvagpu-a100-80gb"
GPU = "A100-SXM4-80GB"
MODES = {"off": None, "time": ["time"], "mps": ["mps"], "both": ["time", "mps"]}


def mix(records, n: int, k: int, slo_ms: float, top_rps: float, zipf: float, arrivals: str,
        modes: list[str] | None) -> Problem:
    """N variants with Zipf demand; ``modes`` None = sharing off (max_models_per_instance 1)."""
    archs = sorted({r.model for r in records})
    models, recs = [], []
    for i in range(n):
        arch = archs[i % len(archs)]
        name = f"{arch}-v{i}"
        models.append({"name": name, "slo_ms": slo_ms, "demand_rps": round(top_rps / (i + 1) ** zipf, 4)})
        recs += [r.model_copy(update={"model": name}) for r in records if r.model == arch]
    policy = {"arrivals": arrivals, "max_models_per_instance": 1 if modes is None else k,
              "sharing_modes": modes or ["time", "mps"], "interference_prior": True}
    inst = Instance(name=f"lowrate-{n}", gpus=[{"type": GPU, "count": 2 * n}], models=models, measurements=recs,
                    policy=policy, objective="min_gpus")
    return problem_from_instance(inst)


def row(problem: Problem, sim_s: float) -> dict:
    t0 = time.perf_counter()
    plan = solve(problem)
    seconds = time.perf_counter() - t0
    shared = sum(1 for g in plan.gpus for i in g.instances if i.sharing != "none")
    out = {"gpus": len(plan.gpus), "status": plan.status, "gap": plan.gap, "bound": plan.objective.bound,
           "seconds": seconds, "shared_instances": shared}
    if sim_s > 0 and problem.instance.policy.arrivals == "poisson":
        for load in (0.9, 1.0):
            res = verify(problem, plan, load=load, duration_s=sim_s, seed=1)
            out[f"worst_attainment_{load:g}"] = res.min_attainment
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="30,100")
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--slo", type=float, default=100.0)
    ap.add_argument("--top", type=float, default=200.0, help="demand of the most popular model, rps")
    ap.add_argument("--zipf", type=float, default=1.1)
    ap.add_argument("--sim", type=float, default=60.0, help="simulated seconds per Poisson check (0: none)")
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"public data not found at {DATA}", file=sys.stderr)
        return 2
    records = list(read_parvagpu(DATA).measurements)
    print(f"# bench_sharing {date.today()} on {machine()}")
    print(f"# {args.k} models per instance at most, SLO {args.slo:g} ms, demand {args.top:g}/(i+1)^{args.zipf:g} rps; "
          f"MPS on the interference prior (prediction)")
    for n in (int(x) for x in args.models.split(",")):
        for arrivals in ("smooth", "poisson"):
            base = None
            for label, modes in MODES.items():
                r = row(mix(records, n, args.k, args.slo, args.top, args.zipf, arrivals, modes), args.sim)
                base = base or r["gpus"]
                cut = 100.0 * (1 - r["gpus"] / base)
                sim = "".join(f", worst attainment at {x} load {r[f'worst_attainment_{x}']:.2%}"
                              for x in ("0.9", "1") if r.get(f"worst_attainment_{x}") is not None)
                gap = "-" if r["gap"] is None else f"{r['gap']:.3f}"
                print(f"N={n:<4} {arrivals:<8} sharing {label:<5} GPUs {r['gpus']:>4} ({cut:.0f}% fewer than off), "
                      f"{r['shared_instances']} shared instances, status {r['status']}, "
                      f"gap {gap}, bound {r['bound']}, {r['seconds']:.1f} s{sim}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
