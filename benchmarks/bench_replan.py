"""Re-planning a ~1,000-GPU plan after a +-20% demand change (``solve --from``, docs/replan.md).

The instance is ``instances/default.json`` with every demand x265 and a pool of 1,500 A100s (its min_gpus plan
has about 1,000 GPUs). Then resnet50 and mobilenetv2 grow 20% and vgg16 shrinks 20%, and the plan is re-planned
from the first one with W = 0 (plain optimum, fewest changes) and a large W, next to a fresh solve (how many
GPUs a from-scratch plan would change: its GPUs matched to the current ones by identical layout). Prints one
row per case: GPUs, cost, kept / reconfigured / added / released, instances created / destroyed, steps short
of capacity, and seconds.

    .venv/bin/python benchmarks/bench_replan.py [--factor 265] [--pool 1500] [--big-w 1000]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import replace

from majula_model import load_instance
from majula_model.placer import solve

CHANGE = {"resnet50": 1.2, "mobilenetv2": 1.2, "vgg16": 0.8}


def scaled(problem, factor: float, pool: int, change: dict[str, float] | None = None):
    models = tuple(m.model_copy(update={"demand_rps": m.demand_rps * factor * (change or {}).get(m.name, 1.0)})
                   for m in problem.instance.models)
    gpus = tuple(g.model_copy(update={"count": pool}) for g in problem.instance.gpus)
    return replace(problem, instance=problem.instance.model_copy(update={"models": models, "gpus": gpus}))


def layout(g) -> tuple:
    return (g.type, tuple(sorted((i.profile, i.sharing, tuple((r.name, r.batch, r.processes) for r in i.models))
                                 for i in g.instances)))


def fresh_changes(current, fresh) -> int:
    """GPUs a from-scratch plan changes: those not matched by an identical layout, capped at the current count."""
    cur, new = Counter(layout(g) for g in current.gpus), Counter(layout(g) for g in fresh.gpus)
    kept = sum(min(n, new[k]) for k, n in cur.items())
    return min(len(current.gpus), len(fresh.gpus)) - kept


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--factor", type=float, default=265.0)
    ap.add_argument("--pool", type=int, default=1500)
    ap.add_argument("--big-w", type=float, default=1000.0)
    ap.add_argument("--time-limit", type=float, default=300.0)
    args = ap.parse_args()
    base = load_instance("instances/default.json")
    first = scaled(base, args.factor, args.pool)
    t = time.perf_counter()
    current = solve(first, "min_gpus", time_limit=args.time_limit)
    print(f"current plan: {len(current.gpus)} GPUs, cost {current.objective.value:g}, {current.status}, "
          f"{time.perf_counter() - t:.2f} s")
    moved = scaled(base, args.factor, args.pool, CHANGE)
    print(f"demand change: {', '.join(f'{m} x{f:g}' for m, f in CHANGE.items())}")
    t = time.perf_counter()
    fresh = solve(moved, "min_gpus", time_limit=args.time_limit)
    print(f"{'case':<16}{'GPUs':>6}{'cost':>8}{'kept':>6}{'reconf':>8}{'added':>7}{'released':>9}"
          f"{'created':>9}{'destroyed':>10}{'short':>7}{'seconds':>9}  status")
    print(f"{'fresh solve':<16}{len(fresh.gpus):>6}{fresh.objective.value:>8g}{'':>6}"
          f"{fresh_changes(current, fresh):>8}{'':>7}{'':>9}{'':>9}{'':>10}{'':>7}"
          f"{time.perf_counter() - t:>9.2f}  {fresh.status}")
    for w in (0.0, args.big_w):
        t = time.perf_counter()
        plan = solve(moved, "min_gpus", time_limit=args.time_limit, current=current, reconfig_cost=w)
        dt = time.perf_counter() - t
        c = plan.changes
        short = sum(1 for s in c.steps if not s.ok)
        print(f"{f'--from W={w:g}':<16}{len(plan.gpus):>6}{plan.objective.value:>8g}{len(c.kept):>6}"
              f"{len(c.reconfigured):>8}{len(c.added):>7}{len(c.released):>9}{c.instances_created:>9}"
              f"{c.instances_destroyed:>10}{short:>7}{dt:>9.2f}  {plan.status}")


if __name__ == "__main__":
    main()
