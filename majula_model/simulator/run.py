"""Replay a plan: arrivals per model, routing to its runs, one batch queue per run (one duty cycle per
time-shared instance), statistics per model.

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
from .duty_cycle import CycleResult, simulate_duty_cycle
from .queue import simulate_queue
from .service import Z99, Run, build_runs, runs_by_instance, runs_by_model
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


def _split(arrivals: dict[str, np.ndarray], runs: list[Run], seeds: list[np.random.SeedSequence]
           ) -> list[np.ndarray]:
    """Each run's arrivals: its model's stream split over the model's runs by planned rate (empty for a run
    whose model has no arrivals)."""
    parts = [np.empty(0)] * len(runs)
    for name, idx in runs_by_model(runs).items():
        arr = arrivals.get(name)
        if arr is None:
            continue
        weights = np.array([runs[i].rate_rps for i in idx], dtype=float)
        for i, part in zip(idx, split_proportional(arr, weights, np.random.default_rng(seeds[idx[0]]))):
            parts[i] = part
    return parts


def _cycle(group: list[int], runs: list[Run], parts: list[np.ndarray], opts: SimOptions,
           seeds: list[np.random.SeedSequence], horizon_ms: float) -> CycleResult:
    """The runs of one time-shared instance, in one duty-cycle loop."""
    jit = [_jitter(runs[i], len(parts[i]), opts.jitter, seeds[i].spawn(1)[0]) for i in group]
    return simulate_duty_cycle([parts[i] for i in group], [runs[i].batch for i in group],
                               [runs[i].service_ms for i in group], [runs[i].slo_ms for i in group],
                               opts.late == "drop", jit, horizon_ms)


def _proportional(arrivals: dict[str, np.ndarray], runs: list[Run], opts: SimOptions,
                  seeds: list[np.random.SeedSequence], horizon_ms: float
                  ) -> tuple[dict[int, np.ndarray], dict[int, tuple], dict[int, CycleResult]]:
    """Split each model's stream over its runs by planned rate, then simulate each time-shared instance's runs
    together and every other run alone."""
    latency: dict[int, np.ndarray] = {}
    per_run: dict[int, tuple] = {}
    cycles: dict[int, CycleResult] = {}
    parts = _split(arrivals, runs, seeds)
    for group in runs_by_instance(runs):
        if runs[group[0]].sharing == "time":
            res = _cycle(group, runs, parts, opts, seeds, horizon_ms)
            for k, i in enumerate(group):
                latency[i] = res.done_ms[k] - parts[i]
                per_run[i] = (len(parts[i]), res.busy_ms[k], res.batches[k])
                cycles[i] = res
            continue
        i = group[0]
        run, part = runs[i], parts[i]
        jit = _jitter(run, len(part), opts.jitter, seeds[i].spawn(1)[0])
        q = simulate_queue(part, run.batch, run.processes, run.service_ms, run.slo_ms, opts.late == "drop", jit,
                           horizon_ms)
        latency[i] = q.done_ms - part
        per_run[i] = (len(part), q.busy_ms, q.batches)
    return latency, per_run, cycles


def _check_routing(runs: list[Run], opts: SimOptions) -> None:
    """JSQ simulates each model's runs on their own; a duty cycle couples the queues of different models."""
    shared = next((r for r in runs if r.sharing == "time"), None)
    if opts.routing == "jsq" and shared is not None:
        raise InputError(f"jsq does not support time-shared instances (the plan's {shared.where}): it simulates "
                         f"each model's runs on their own, while a duty cycle couples the queues of several "
                         f"models; use --routing proportional", field="--routing")


def simulate(problem: Problem, plan: Plan, opts: SimOptions | None = None) -> SimResult:
    """Simulate ``plan`` serving ``problem``'s models; see the package docstring for the semantics."""
    opts = opts or SimOptions()
    opts.check()
    runs = build_runs(problem, plan, opts.plan_file)
    _check_routing(runs, opts)
    expected = opts.load * opts.duration_s * sum(r.rate_rps for r in runs)
    if opts.trace is None and expected > MAX_REQUESTS:
        raise InputError(f"would simulate about {expected:.3g} requests (limit {MAX_REQUESTS:.0e}); "
                         f"shorten --duration or lower --load", field="--duration")
    root = np.random.SeedSequence(opts.seed)
    model_seeds, run_seeds = root.spawn(2)
    arrivals, duration_s = _arrivals(problem, plan, runs, opts, model_seeds.spawn(len(problem.instance.models)))
    rseeds = run_seeds.spawn(max(1, len(runs)))
    cycles: dict[int, CycleResult] = {}
    if opts.routing == "jsq":
        from .jsq import simulate_jsq

        latency, per_run = simulate_jsq(arrivals, runs, opts.late == "drop", opts.jitter, rseeds, duration_s * 1e3)
    else:
        latency, per_run, cycles = _proportional(arrivals, runs, opts, rseeds, duration_s * 1e3)
    by_model = runs_by_model(runs)
    models = [model_stats(m, arrivals.get(m.name, np.empty(0)),
                          [latency[i] for i in by_model.get(m.name, []) if i in latency], duration_s, plan)
              for m in problem.instance.models]
    instances = [instance_stats(r, per_run.get(i, (0, 0.0, 0)), duration_s, cycles.get(i))
                 for i, r in enumerate(runs)]
    return SimResult(problem.instance.name, opts, duration_s, models, instances)


def verify(problem: Problem, plan: Plan, load: float = 1.0, duration_s: float = 60.0, seed: int = 0,
           **options) -> SimResult:
    """Simulate a fresh plan (``majula solve --verify``): Poisson arrivals at ``load x served_rps``."""
    return simulate(problem, plan, SimOptions(load=load, duration_s=duration_s, seed=seed, **options))


__all__ = ["SimOptions", "simulate", "verify", "SimResult", "ModelStats", "InstanceStats"]
