"""Simulator speed: simulated requests per second of wall time (target: 10 million requests in under 10 s).

The plan is realistic: the 11 ParvaGPU models (A100 80GB measurements, read at run time from
``<repo>/../shared/data``) with SLOs of 10-20x their fastest batch-1 latency, solved for ``min_gpus`` under
``arrivals: "poisson"`` by the placer when it is installed, otherwise by a hand rule (each model on its best 3g
point). Demand is scaled so that ``--requests`` arrive in ``--duration`` seconds at load 1. Also timed: the
drop policy, jitter (a no-op here: ParvaGPU has no p50), overload, JSQ routing on a tenth of the volume, and
``poisson_capacity`` over every ParvaGPU point (cold cache).

Time-shared instances (issue 12): a second, hand-built plan puts the models, paired in SLO order, on
time-shared 3g.40gb instances, two per GPU; each model runs one process at the largest measured batch whose
latency is within a sixth of its SLO and is planned at most ``min(b * 1000 / cycle, poisson_capacity(b, 1,
cycle, slo, 0.99))`` per instance, the placer's Poisson rule for a duty cycle; each pair gets as many instances as
its more demanding model needs. A model with no batch that fast (bert) keeps solo instances (the hand rule).

Default window (issue 14): each bundled instance (``instances/*.json``) solved by the placer, then simulated at
load 1 over the default window (``simulator/confidence.py``: the requests that resolve the target attainment for
the least-served model, at most an hour or 2e7 requests) with its warm-up, seeds 0-2: wall time, window,
warm-up, requests simulated (warm-up included) and the verdicts.

The throughput cases above pass ``warmup_s=0`` so that their requests are all the requests simulated.

Run: ``.venv/bin/python benchmarks/bench_simulator.py [--requests 10000000] [--duration 60] [--shared-only]
[--bundled-only]``
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine import machine  # noqa: E402
from majula_model.perf.capacity import capacity_table, measured_points  # noqa: E402
from majula_model.perf.points import service_ms  # noqa: E402
from majula_model.perf.queueing import poisson_capacity  # noqa: E402
from majula_model.hardware.catalog import default_catalog  # noqa: E402
from majula_model.problem.importers import read_parvagpu  # noqa: E402
from majula_model.problem.loading import Problem, problem_from_instance  # noqa: E402
from majula_model.schema import Instance, Plan  # noqa: E402
from majula_model.simulator import SimOptions, simulate  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "parvagpu-a100-80gb"
SLO_FACTOR = {"bert": 4.0}  # bert's batch-1 latency is already long; other models get 15x


def build_problem(total_rps: float) -> Problem:
    """All ParvaGPU models, SLO = 15x fastest batch-1 latency (4x for bert), demand sharing ``total_rps``."""
    cal = read_parvagpu(DATA)
    fastest: dict[str, float] = {}
    for r in cal.measurements:
        if r.batch == 1 and r.processes == 1:
            fastest[r.model] = min(fastest.get(r.model, math.inf), r.latency_ms)
    models = [{"name": m, "slo_ms": max(20.0, SLO_FACTOR.get(m, 15.0) * lat), "demand_rps": total_rps / len(fastest)}
              for m, lat in sorted(fastest.items())]
    inst = Instance(name="bench", gpus=[{"type": "A100-SXM4-80GB", "count": 512}], models=models,
                    measurements=cal.measurements, policy={"arrivals": "poisson"}, objective="min_gpus")
    return problem_from_instance(inst, catalog=default_catalog())


def hand_plan(problem: Problem, models_to_place: list | None = None) -> Plan:
    """Fallback without the placer: each model (all, or ``models_to_place``) on as many 3g.40gb instances (two
    per GPU) as its demand needs."""
    table = capacity_table(problem)
    gpus, models, gid = [], [], 0
    for m in problem.instance.models if models_to_place is None else models_to_place:
        cap = table[(m.name, "A100-SXM4-80GB", "3g.40gb")]
        n = math.ceil(m.demand_rps / cap.capacity_rps)
        run = {"name": m.name, "batch": cap.batch, "processes": cap.processes, "latency_ms": cap.latency_ms,
               "rate_rps": m.demand_rps / n, "capacity_rps": cap.capacity_rps}
        for k in range(0, n, 2):
            insts = [{"profile": "3g.40gb", "start": 4 * j, "models": [run]} for j in range(min(2, n - k))]
            gpus.append({"id": gid, "type": "A100-SXM4-80GB", "geometry": ["3g.40gb"] * len(insts),
                         "instances": insts})
            gid += 1
        models.append({"name": m.name, "demand_rps": m.demand_rps, "served_rps": m.demand_rps,
                       "capacity_rps": n * cap.capacity_rps})
    return Plan.model_validate({"instance": "bench", "objective": {"kind": "min_gpus", "value": gid, "bound": None},
                                "status": "feasible", "gap": None, "solver": "hand", "solve_seconds": 0.0,
                                "gpus": gpus, "models": models})


def _time_shared_point(problem: Problem, name: str, slo_ms: float) -> tuple[int, float] | None:
    """(batch, service ms) of the largest one-process 3g.40gb batch within slo / 6, or None."""
    pts = measured_points(problem)[(name, "A100-SXM4-80GB", "3g.40gb")]
    sel = pts.processes == 1
    fits = sorted(p for p in zip(pts.batch[sel].tolist(), service_ms(pts)[sel].tolist()) if p[1] <= slo_ms / 6)
    return fits[-1] if fits else None


def _time_shared_pair(problem: Problem, pair: list, gid: int) -> tuple[list[dict], list[dict]]:
    """GPUs (from id ``gid``) of two models on time-shared instances, and the models' totals."""
    points = [_time_shared_point(problem, m.name, m.slo_ms) for m in pair]
    cycle = sum(lat for _, lat in points)
    caps = [min(b * 1000.0 / cycle, poisson_capacity(b, 1, cycle, m.slo_ms, 0.99))
            for m, (b, _) in zip(pair, points)]
    n = max(math.ceil(m.demand_rps / cap) for m, cap in zip(pair, caps))
    runs = [{"name": m.name, "batch": b, "processes": 1, "latency_ms": lat, "rate_rps": m.demand_rps / n,
             "capacity_rps": cap} for m, (b, lat), cap in zip(pair, points, caps)]
    inst = {"profile": "3g.40gb", "sharing": "time", "cycle_ms": cycle, "models": runs}
    gpus = [{"id": gid + k // 2, "type": "A100-SXM4-80GB", "geometry": ["3g.40gb"] * min(2, n - k),
             "instances": [{**inst, "start": 4 * j} for j in range(min(2, n - k))]} for k in range(0, n, 2)]
    totals = [{"name": m.name, "demand_rps": m.demand_rps, "served_rps": m.demand_rps, "capacity_rps": n * cap}
              for m, cap in zip(pair, caps)]
    return gpus, totals


def time_shared_plan(problem: Problem) -> Plan:
    """Models paired in SLO order on time-shared instances; models without a fast enough batch (and an odd one
    out) on solo instances, as ``hand_plan`` places them."""
    models = sorted(problem.instance.models, key=lambda m: (m.slo_ms, m.name))
    shareable = [m for m in models if _time_shared_point(problem, m.name, m.slo_ms) is not None]
    shareable = shareable[: len(shareable) // 2 * 2]
    gpus: list[dict] = []
    totals: list[dict] = []
    for k in range(0, len(shareable), 2):
        g, t = _time_shared_pair(problem, shareable[k:k + 2], len(gpus))
        gpus += g
        totals += t
    solo = hand_plan(problem, [m for m in models if m not in shareable])
    gpus += [{**g.model_dump(), "id": len(gpus) + g.id} for g in solo.gpus]
    totals += [m.model_dump() for m in solo.models]
    return Plan.model_validate({"instance": "bench", "objective": {"kind": "min_gpus", "value": len(gpus),
                                "bound": None}, "status": "feasible", "gap": None, "solver": "hand",
                                "solve_seconds": 0.0, "gpus": gpus, "models": totals})


def make_plan(problem: Problem) -> tuple[Plan, str]:
    try:
        from majula_model.placer import solve
    except ImportError:
        return hand_plan(problem), "hand rule (placer not installed)"
    return solve(problem, "min_gpus", time_limit=60), "placer min_gpus"


HEADER = f"{'case':<44}{'requests':>12}{'wall s':>9}{'M req/s':>10}{'min attain':>12}"


def timed(problem: Problem, plan: Plan, label: str, **opts) -> None:
    t = time.perf_counter()
    res = simulate(problem, plan, SimOptions(**{"warmup_s": 0.0, **opts}))
    wall = time.perf_counter() - t
    n = sum(m.requests for m in res.models)
    print(f"{label:<44}{n:>12,d}{wall:>9.2f}{n / wall / 1e6:>10.2f}{100 * (res.min_attainment or 0):>11.2f}%")



def solo_cases(problem: Problem, d: float) -> None:
    """The placer's plan (or the hand rule's): every instance serves one model."""
    plan, how = make_plan(problem)
    runs = sum(len(i.models) for g in plan.gpus for i in g.instances)
    print(f"plan: {how}, {len(plan.gpus)} GPUs, {runs} runs\n{HEADER}")
    timed(problem, plan, "load 1.0, serve (default)", load=1.0, duration_s=d, seed=1)
    timed(problem, plan, "load 0.9, serve", load=0.9, duration_s=d, seed=1)
    timed(problem, plan, "load 1.0, drop late", load=1.0, duration_s=d, seed=1, late="drop")
    timed(problem, plan, "load 1.0, jitter p50..p99 (none known: same)", load=1.0, duration_s=d, seed=1, jitter=True)
    timed(problem, plan, "load 1.3, drop late (overload)", load=1.3, duration_s=d, seed=1, late="drop")
    timed(problem, plan, "load 1.0, jsq routing (1/10 of the volume)", load=1.0, duration_s=d / 10, seed=1,
          routing="jsq")


def shared_cases(problem: Problem, d: float) -> None:
    """The hand-built plan of time-shared instances (module docstring)."""
    shared = time_shared_plan(problem)
    insts = [i for g in shared.gpus for i in g.instances]
    print(f"time-shared plan: hand rule, {len(shared.gpus)} GPUs, {sum(i.sharing == 'time' for i in insts)} "
          f"time-shared instances of {len(insts)}, {sum(len(i.models) for i in insts)} runs\n{HEADER}")
    timed(problem, shared, "time-shared, load 1.0, serve", load=1.0, duration_s=d, seed=1)
    timed(problem, shared, "time-shared, load 1.0, drop late", load=1.0, duration_s=d, seed=1, late="drop")
    timed(problem, shared, "time-shared, load 1.3, drop late (overload)", load=1.3, duration_s=d, seed=1,
          late="drop")


def bundled_cases(seeds: range = range(3)) -> None:
    """``simulate`` at the default window on every bundled instance's plan (module docstring)."""
    from majula_model.placer import solve
    from majula_model.problem.loading import load_instance

    print(f"{'instance':<12}{'seed':>5}{'window s':>10}{'warm-up s':>11}{'simulated':>12}{'wall s':>8}  verdicts")
    for path in sorted((ROOT / "instances").glob("*.json")):
        problem = load_instance(path)
        plan = solve(problem)
        for seed in seeds:
            t = time.perf_counter()
            res = simulate(problem, plan, SimOptions(seed=seed))
            wall = time.perf_counter() - t
            simulated = round(sum(i.offered_rps for i in res.instances) * (res.duration_s + res.warmup_s))
            counts = {v: len(res.with_verdict(v)) for v in ("holds", "inconclusive", "breaks")}
            print(f"{path.stem:<12}{seed:>5}{res.duration_s:>10.4g}{res.warmup_s:>11.3g}{simulated:>12,d}"
                  f"{wall:>8.2f}  " + ", ".join(f"{n} {v}" for v, n in counts.items() if n)
                  + ("  (bound: " + res.notes[0].split(": ")[1].split(";")[0] + ")" if any(
                      "default window" in n for n in res.notes) else ""))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=float, default=10e6)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--shared-only", action="store_true", help="Only the time-shared plan (no placer solve).")
    ap.add_argument("--bundled-only", action="store_true", help="Only the bundled instances at the default window.")
    args = ap.parse_args()
    if args.bundled_only:
        print(f"machine: {machine()}; date {time.strftime('%Y-%m-%d %H:%M %Z')}")
        bundled_cases()
        return 0
    if not DATA.is_dir():
        print(f"public data not found at {DATA}", file=sys.stderr)
        return 2
    print(f"machine: {machine()}; date {time.strftime('%Y-%m-%d %H:%M %Z')}")
    t = time.perf_counter()
    problem = build_problem(args.requests / args.duration)
    poisson_capacity.cache_clear()
    capacity_table(problem)
    print(f"poisson capacity table ({len(problem.measurements)} points, cold cache): {time.perf_counter() - t:.2f} s")
    if not args.shared_only:
        solo_cases(problem, args.duration)
    shared_cases(problem, args.duration)
    if not args.shared_only:
        bundled_cases()
    return 0


if __name__ == "__main__":
    sys.exit(main())
