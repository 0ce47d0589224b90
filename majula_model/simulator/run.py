"""Replay a plan: arrivals per model, routing to its runs, one batch queue per run, statistics per model.

Why a pure function of (problem, plan, options): ``majula simulate`` and ``majula solve --verify`` share it, and a
seed fixes every random draw (one child seed per model stream and per run, so adding a model does not reshuffle
the others).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..problem.loading import Problem
from ..schema import Plan
from .options import MAX_REQUESTS, SimOptions
from .arrivals import poisson_arrivals, read_trace, split_proportional
from .queue import simulate_queue
from .service import Z99, Run, build_runs, runs_by_model
from .stats import InstanceStats, ModelStats, SimResult, instance_stats, model_stats

def _arrivals(problem: Problem, plan: Plan, runs: list[Run], opts: SimOptions,
              seeds: list[np.random.SeedSequence]) -> tuple[dict[str, np.ndarray], float]:
    """Arrivals per model (ms): the trace, or Poisson at ``load x served_rps`` of the plan."""
    names = [m.name for m in problem.instance.models]
    if opts.trace is not None:
        return read_trace(opts.trace, set(names))
    served = {m.name: m.served_rps for m in plan.models}
    out = {}
    for name, seed in zip(names, seeds):
        rate = served.get(name, sum(r.rate_rps for r in runs if r.model == name))
        out[name] = poisson_arrivals(opts.load * rate, opts.duration_s, np.random.default_rng(seed))
    return out, opts.duration_s


def _jitter(run: Run, n: int, enabled: bool, seed: np.random.SeedSequence) -> np.ndarray | None:
    """Per-batch lognormal factors (median p50/p99, 99th percentile 1), or None."""
    if not enabled or run.jitter_sigma is None or n == 0:
        return None
    z = np.random.default_rng(seed).standard_normal(n)
    return np.exp(run.jitter_sigma * (z - Z99))


def _proportional(arrivals: dict[str, np.ndarray], runs: list[Run], opts: SimOptions,
                  seeds: list[np.random.SeedSequence], horizon_ms: float
                  ) -> tuple[dict[int, np.ndarray], dict[int, tuple]]:
    """Split each model's stream over its runs by planned rate, then simulate each run alone."""
    latency: dict[int, np.ndarray] = {}
    per_run: dict[int, tuple] = {}
    by_model = runs_by_model(runs)
    for name, arr in arrivals.items():
        idx = by_model.get(name)
        if not idx:
            continue
        weights = np.array([runs[i].rate_rps for i in idx], dtype=float)
        parts = split_proportional(arr, weights, np.random.default_rng(seeds[idx[0]]))
        for i, part in zip(idx, parts):
            run = runs[i]
            jit = _jitter(run, len(part), opts.jitter, seeds[i].spawn(1)[0])
            q = simulate_queue(part, run.batch, run.processes, run.service_ms, run.slo_ms, opts.late == "drop", jit,
                               horizon_ms)
            latency[i] = q.done_ms - part
            per_run[i] = (len(part), q.busy_ms, q.batches)
    return latency, per_run


def simulate(problem: Problem, plan: Plan, opts: SimOptions | None = None) -> SimResult:
    """Simulate ``plan`` serving ``problem``'s models; see the package docstring for the semantics."""
    opts = opts or SimOptions()
    opts.check()
    runs = build_runs(problem, plan, opts.plan_file)
    expected = opts.load * opts.duration_s * sum(r.rate_rps for r in runs)
    if opts.trace is None and expected > MAX_REQUESTS:
        raise InputError(f"would simulate about {expected:.3g} requests (limit {MAX_REQUESTS:.0e}); "
                         f"shorten --duration or lower --load", field="--duration")
    root = np.random.SeedSequence(opts.seed)
    model_seeds, run_seeds = root.spawn(2)
    arrivals, duration_s = _arrivals(problem, plan, runs, opts, model_seeds.spawn(len(problem.instance.models)))
    rseeds = run_seeds.spawn(max(1, len(runs)))
    if opts.routing == "jsq":
        from .jsq import simulate_jsq

        latency, per_run = simulate_jsq(arrivals, runs, opts.late == "drop", opts.jitter, rseeds, duration_s * 1e3)
    else:
        latency, per_run = _proportional(arrivals, runs, opts, rseeds, duration_s * 1e3)
    by_model = runs_by_model(runs)
    models = [model_stats(m, arrivals.get(m.name, np.empty(0)),
                          [latency[i] for i in by_model.get(m.name, []) if i in latency], duration_s, plan)
              for m in problem.instance.models]
    instances = [instance_stats(r, per_run.get(i, (0, 0.0, 0)), duration_s) for i, r in enumerate(runs)]
    return SimResult(problem.instance.name, opts, duration_s, models, instances)


def verify(problem: Problem, plan: Plan, load: float = 1.0, duration_s: float = 60.0, seed: int = 0,
           **options) -> SimResult:
    """Simulate a fresh plan (``majula solve --verify``): Poisson arrivals at ``load x served_rps``."""
    return simulate(problem, plan, SimOptions(load=load, duration_s=duration_s, seed=seed, **options))


__all__ = ["SimOptions", "simulate", "verify", "SimResult", "ModelStats", "InstanceStats"]
