"""Replay a plan: arrivals per model, routing to its runs, one batch queue per run (one duty cycle per
time-shared instance), statistics per model.

Why a pure function of (problem, plan, options): ``majula simulate`` and ``majula solve --verify`` share it, and a
seed fixes every random draw (one child seed per model stream and per run, so adding a model does not reshuffle
the others).

The window and the warm-up (``confidence.py``): without ``duration_s`` the window gives the least-offered model
the requests that resolve the policy's target attainment; a warm-up of five relaxation times of the slowest run
is simulated first and its arrivals left out of the statistics, which carry a 95% interval and a verdict per
model.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..problem.loading import Problem
from ..schema import Plan
from .options import MAX_REQUESTS, SimOptions
from .arrivals import poisson_arrivals, read_trace, split_proportional
from .confidence import WARMUP_CAP_SHARE, WARMUP_RELAXATIONS, default_duration, relaxation_ms, warmup_ms
from .duty_cycle import CycleResult, simulate_duty_cycle
from .queue import simulate_queue
from .plan_validation import validate_plan
from .service import Z99, Run, build_runs, runs_by_instance, runs_by_model
from .stats import InstanceStats, ModelStats, SimResult, instance_stats, model_stats


MAX_EXTENSIONS = 6
"""Most doublings of an inconclusive model's window (64 x the default window at most)."""
EXTENSION_REQUESTS = 20_000_000
"""Most requests one extended simulation of a group may draw (a couple of seconds here)."""
EXTENSION_TOTAL = 60_000_000
"""Most requests all extensions of one simulation may draw together."""
EXTENSION_CONFIDENCE = 0.99
"""Confidence of an extended window's interval: each extension is one more look at the same model."""


def _offered(problem: Problem, plan: Plan, runs: list[Run], load: float) -> dict[str, float]:
    """Each model's Poisson rate (requests/s): ``load x served_rps`` of the plan (or its runs' rates)."""
    served = {m.name: m.served_rps for m in plan.models}
    return {m.name: load * served.get(m.name, sum(r.rate_rps for r in runs if r.model == m.name))
            for m in problem.instance.models}


def _arrivals(problem: Problem, offered: dict[str, float], horizon_s: float,
              seeds: list[np.random.SeedSequence]) -> dict[str, np.ndarray]:
    """Poisson arrivals per model (ms) over ``[0, horizon_s)``."""
    names = [m.name for m in problem.instance.models]
    return {name: poisson_arrivals(offered[name], horizon_s, np.random.default_rng(seed))
            for name, seed in zip(names, seeds)}


def _relaxations(runs: list[Run], offered: dict[str, float]) -> list[float]:
    """Each run's relaxation time (ms) at the rate routed to it (its share of its model's stream by planned rate).

    A run that is not time-shared pools its processes into one batch of ``batch x processes`` with its full-batch
    latency. A time-shared run is a batch queue whose service is its effective cycle: its own latency plus each
    partner's latency times the share of turns the partner uses (its utilisation alone, at most 1). Backlogged
    partners make it the planned cycle (the placer's rule); an idle partner takes no time, and the run relaxes
    like a solo one.
    """
    rate = [0.0] * len(runs)
    for name, idx in runs_by_model(runs).items():
        total = sum(runs[i].rate_rps for i in idx)
        for i in idx:
            rate[i] = offered.get(name, 0.0) * (runs[i].rate_rps / total if total > 0 else 1.0 / len(idx))
    out = [0.0] * len(runs)
    for group in runs_by_instance(runs):
        if runs[group[0]].sharing != "time":
            i = group[0]
            out[i] = relaxation_ms(rate[i], runs[i].batch * runs[i].processes, runs[i].latency_ms)
            continue
        busy = {j: min(1.0, rate[j] * runs[j].latency_ms / (1000.0 * runs[j].batch)) for j in group}
        for i in group:
            cycle = runs[i].latency_ms + sum(runs[j].latency_ms * busy[j] for j in group if j != i)
            out[i] = relaxation_ms(rate[i], runs[i].batch, cycle)
    return out


def _window(problem: Problem, runs: list[Run], offered: dict[str, float], opts: SimOptions
            ) -> tuple[float, dict[str, float], set[str], list[str]]:
    """The measured window (s), each model's warm-up before it (s), the models whose warm-up was capped, and
    notes on the bounds that bound.

    Why a warm-up per model: a model's figures should not move when another model's load does (its queues are
    its own, except on a time-shared instance, where the partners' load enters through the effective cycle of
    ``_relaxations``). Each model's window is ``[warm-up, warm-up + window)``; the arrivals are one prefix-stable
    stream per model, so simulating past a model's window changes none of its requests in it.
    """
    notes = []
    target = problem.instance.policy.target_attainment
    if opts.duration_s is None:
        window, note = default_duration(list(offered.values()), target)
        notes += [note] if note else []
    else:
        window = opts.duration_s
    names = [m.name for m in problem.instance.models]
    relax = _relaxations(runs, offered)
    by_model = runs_by_model(runs)
    if opts.warmup_s is not None:  # chosen by the caller: the start is taken as settled, the window is not
        short = {}
        for name in names:
            mine = [relax[i] for i in by_model.get(name, [])]
            if mine and window * 1000.0 * WARMUP_CAP_SHARE < WARMUP_RELAXATIONS * max(mine):
                short[name] = f"{name} ({'saturated' if max(mine) == float('inf') else f'{max(mine) / 1000:.3g} s'})"
        if short:
            notes.append(f"the window is shorter than {WARMUP_RELAXATIONS / WARMUP_CAP_SHARE:g} relaxation times for "
                         f"{', '.join(short.values())}: its slices are not independent, so the interval may be too "
                         f"narrow; these models can break but not hold (a longer --duration settles them)")
        return window, {n: opts.warmup_s for n in names}, set(short), notes
    warm, capped = {}, {}
    for name in names:
        mine = [relax[i] for i in by_model.get(name, [])]
        ms, cap = warmup_ms(mine, window * 1000.0)
        warm[name] = ms / 1000.0
        if cap:
            capped[name] = (f"{name} ({'saturated' if max(mine) == float('inf') else f'{max(mine) / 1000:.3g} s'})")
    if capped:
        notes.append(f"warm-up capped at {window * WARMUP_CAP_SHARE:.4g} s (half the window) for "
                     f"{', '.join(capped.values())}: 5 relaxation times of a run exceed it, or a run is offered at "
                     f"least its peak rate and never settles; their windows overstate the long-run attainment, so "
                     f"they can break but not hold (a longer duration or a lower load settles them)")
    return window, warm, set(capped), notes


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
                  ) -> tuple[dict[int, np.ndarray], dict[int, tuple], dict[int, CycleResult], dict[int, np.ndarray]]:
    """Split each model's stream over its runs by planned rate, then simulate each time-shared instance's runs
    together and every other run alone; latencies, figures, duty cycles and arrival times per run."""
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
    return latency, per_run, cycles, dict(enumerate(parts))


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
    poisson = opts.trace is None  # a trace's arrivals do not come from the plan's rates
    validate_plan(problem, plan, file=opts.plan_file, load=opts.load if poisson else None,
                  duration_s=opts.duration_s if poisson else None)
    runs = build_runs(problem, plan, opts.plan_file)
    _check_routing(runs, opts)
    root = np.random.SeedSequence(opts.seed)
    model_seeds, run_seeds = root.spawn(2)
    mseeds = model_seeds.spawn(len(problem.instance.models))
    notes: list[str] = []
    names = [m.name for m in problem.instance.models]
    if opts.trace is not None:
        arrivals, span_s = read_trace(opts.trace, set(names))
        w = opts.warmup_s or 0.0
        if w >= span_s:
            raise InputError(f"must be shorter than the trace ({span_s:g} s), got {w:g} s", field="--warmup")
        window_s, warmups, horizon_s, capped = span_s - w, {n: w for n in names}, span_s, set()
    else:
        offered = _offered(problem, plan, runs, opts.load)
        window_s, warmups, capped, notes = _window(problem, runs, offered, opts)
        horizon_s = window_s + max(warmups.values(), default=0.0)
        expected = horizon_s * sum(offered.values())
        if expected > MAX_REQUESTS:
            raise InputError(f"would simulate about {expected:.3g} requests (limit {MAX_REQUESTS:.0e}); "
                             f"shorten --duration or lower --load", field="--duration")
        arrivals = _arrivals(problem, offered, horizon_s, mseeds)
    rseeds = run_seeds.spawn(max(1, len(runs)))
    latency, per_run, cycles, arrived = _simulate_runs(arrivals, runs, opts, rseeds, horizon_s)
    by_model = runs_by_model(runs)
    target = problem.instance.policy.target_attainment
    models = []
    for m in problem.instance.models:
        mine = [i for i in by_model.get(m.name, []) if i in latency]
        if mine:
            times, lat = np.concatenate([arrived[i] for i in mine]), np.concatenate([latency[i] for i in mine])
        else:  # a model the plan does not serve: every request is a drop
            times = arrivals.get(m.name, np.empty(0))
            lat = np.full(len(times), np.nan)
        start_ms = warmups[m.name] * 1e3
        models.append(model_stats(m, times, lat, (start_ms, start_ms + window_s * 1e3), plan, target,
                                  m.name in capped))
    instances = [instance_stats(r, per_run.get(i, (0, 0.0, 0)), horizon_s, cycles.get(i))
                 for i, r in enumerate(runs)]
    if poisson and opts.duration_s is None and opts.warmup_s is None:
        notes += _extend(problem, plan, runs, offered, opts, mseeds, rseeds, window_s, models, instances)
    return SimResult(problem.instance.name, opts, window_s, models, instances, target,
                     max(warmups.values(), default=0.0), tuple(notes))


def _simulate_runs(arrivals: dict[str, np.ndarray], runs: list[Run], opts: SimOptions,
                   rseeds: list[np.random.SeedSequence], horizon_s: float):
    """Latencies, (requests, busy ms, batches), duty cycles and arrival times per run (indices into ``runs``)."""
    if opts.routing == "jsq":
        from .jsq import simulate_jsq

        latency, per_run, arrived = simulate_jsq(arrivals, runs, opts.late == "drop", opts.jitter, rseeds,
                                                 horizon_s * 1e3)
        return latency, per_run, {}, arrived
    return _proportional(arrivals, runs, opts, rseeds, horizon_s * 1e3)


def _components(runs: list[Run]) -> list[list[int]]:
    """Run indices grouped by the models they serve, models joined where a time-shared instance couples them
    (each group is simulated on its own: nothing else enters its queues)."""
    parent: dict[str, str] = {r.model: r.model for r in runs}

    def root(m: str) -> str:
        while parent[m] != m:
            parent[m] = parent[parent[m]]
            m = parent[m]
        return m

    for group in runs_by_instance(runs):
        for i in group[1:]:
            parent[root(runs[i].model)] = root(runs[group[0]].model)
    out: dict[str, list[int]] = {}
    for i, r in enumerate(runs):
        out.setdefault(root(r.model), []).append(i)
    return list(out.values())


def _extend(problem: Problem, plan: Plan, runs: list[Run], offered: dict[str, float], opts: SimOptions,
            mseeds: list, rseeds: list, window_s: float, models: list[ModelStats],
            instances: list[InstanceStats]) -> list[str]:
    """Extension of the default window (module docstring of ``confidence``, "Extension"): each group of models
    with an ``inconclusive`` verdict is simulated again on its own with its window doubled (and the warm-up its
    relaxation wants, within half the window), until every member's 99% interval decides or the requests would
    pass ``EXTENSION_REQUESTS`` (per group) or ``EXTENSION_TOTAL`` (in all). Every member of the group is
    scored again over the longer window (a time-shared partner decided at 95% is re-decided at 99%: one window
    per group). The arrival streams are prefix-stable; a run's jitter draws are not (its seed spawns a new
    child), so an extended window is a fresh draw of the service noise. ``models`` and ``instances`` are
    updated in place; returns the notes."""
    names = [m.name for m in problem.instance.models]
    index = {n: i for i, n in enumerate(names)}
    target = problem.instance.policy.target_attainment
    relax = _relaxations(runs, offered)
    by_model = runs_by_model(runs)
    spent, extended, left = 0.0, {}, []
    for comp in _components(runs):
        members = sorted({runs[i].model for i in comp}, key=index.get)
        if not any(models[index[n]].verdict == "inconclusive" for n in members):
            continue
        window = window_s
        for _ in range(MAX_EXTENSIONS):
            window *= 2
            warm = {n: warmup_ms([relax[i] for i in by_model[n]], window * 1000.0) for n in members}
            horizon = window + max(w for w, _ in warm.values()) / 1000.0
            need = horizon * sum(offered[n] for n in members)
            if need > EXTENSION_REQUESTS or spent + need > EXTENSION_TOTAL:
                break
            spent += need
            arrivals = {n: poisson_arrivals(offered[n], horizon, np.random.default_rng(mseeds[index[n]]))
                        for n in members}
            sub = [runs[i] for i in comp]
            latency, per_run, cycles, arrived = _simulate_runs(arrivals, sub, opts, [rseeds[i] for i in comp],
                                                               horizon)
            mine = runs_by_model(sub)
            for n in members:
                times = np.concatenate([arrived[j] for j in mine[n]])
                lat = np.concatenate([latency[j] for j in mine[n]])
                start = warm[n][0]
                models[index[n]] = model_stats(problem.instance.models[index[n]], times, lat,
                                               (start, start + window * 1e3), plan, target, warm[n][1],
                                               EXTENSION_CONFIDENCE)
                extended[n] = window
            for j, i in enumerate(comp):
                instances[i] = instance_stats(runs[i], per_run.get(j, (0, 0.0, 0)), horizon, cycles.get(j))
            if not any(models[index[n]].verdict == "inconclusive" for n in members):
                break
        left += [n for n in members if models[index[n]].verdict == "inconclusive"]
    notes = []
    if extended:
        notes.append("inconclusive at the default window, simulated again with longer windows (99% intervals): "
                     + ", ".join(f"{n} {w:.4g} s -> {models[index[n]].verdict}" for n, w in extended.items()))
    if left:
        notes.append(f"still inconclusive within the extension budget ({EXTENSION_REQUESTS:.3g} requests per "
                     f"group, {EXTENSION_TOTAL:.3g} in all): {', '.join(left)}")
    return notes


def verify(problem: Problem, plan: Plan, load: float = 1.0, duration_s: float | None = None, seed: int = 0,
           **options) -> SimResult:
    """Simulate a fresh plan (``majula solve --verify``): Poisson arrivals at ``load x served_rps``, over the
    default window (``confidence.default_duration``) unless ``duration_s`` is given."""
    return simulate(problem, plan, SimOptions(load=load, duration_s=duration_s, seed=seed, **options))


__all__ = ["SimOptions", "simulate", "verify", "SimResult", "ModelStats", "InstanceStats"]
