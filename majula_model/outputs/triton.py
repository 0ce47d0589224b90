"""Triton Inference Server model configurations for a plan (``solve --triton DIR``), docs/operator.md.

One ``config.pbtxt`` per *variant*: a (model, batch, processes) the plan runs, and whether the model takes turns
on a time-shared instance. A model that runs one variant gets the directory ``<model>``; a model with several
gets one directory per variant, ``<model>-b<batch>-p<processes>`` (``-time`` when it takes turns), because one
Triton model has one ``max_batch_size`` and one ``instance_group``. Each file holds what the plan decides:

- ``max_batch_size`` = the planned batch, ``dynamic_batching.preferred_batch_size`` = ``[batch]``;
- ``instance_group`` = ``count: processes``, ``kind: KIND_GPU`` (``KIND_CPU`` on the ``cpu`` device). Triton
  runs model instances as threads of one server on the container's one device; the plan's processes were
  measured as MPS processes, which is the assumption docs/operator.md states;
- time-shared runs: a ``rate_limiter`` resource ``majula-turn`` (count 1) that every model of the instance
  needs, so with ``--rate-limit=execution_count`` Triton runs one of them at a time, the duty cycle the plan
  priced (docs/sharing.md);
- ``max_queue_delay_microseconds``: the queueing budget left within the SLO (``queue_budget_ms``), the
  smallest over the plan instances the variant runs on, rounded down to a microsecond.

Backend, inputs and outputs are the model's, not the plan's: the file leaves them out (Triton fills them in for
ONNX, TensorRT and TensorFlow models; PyTorch models need them added). The text is written by hand, so it is
deterministic; the tests parse it with Triton's own ``model_config.proto``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass

from ..hardware.catalog import FULL
from ..schema import Plan, Policy
from ..simulator.service import build_runs

TURN_RESOURCE = "majula-turn"
"""Rate-limiter resource every model of a time-shared instance needs one of (the instance has one)."""

CPU_TYPE = "cpu"
"""The catalog's device used whole by the CPU: its runs are KIND_CPU."""


@dataclass(frozen=True)
class Use:
    """Plan instances one variant runs on that share a (GPU type, profile, sharing) and a queue budget."""

    gpu: str
    profile: str
    sharing: str
    count: int
    budget_ms: float


@dataclass(frozen=True)
class Variant:
    """One Triton model: a (model, batch, processes) of the plan, and whether it takes turns."""

    name: str
    model: str
    batch: int
    processes: int
    takes_turns: bool
    kind: str
    delay_us: int
    uses: tuple[Use, ...]


def queue_budget_ms(policy: Policy, slo_ms: float, service_ms: float, batch: int, processes: int,
                    rate_rps: float, cycle_ms: float | None = None) -> float:
    """The most a request may wait for its batch to fill and the run still meet the policy's SLO rule.

    The delay is taken as time added to every request's latency, so it is the most the SLO can shrink with the
    planned point still passing the rule at the rate the plan routes to it (times ``1 + headroom``):

    - smooth: ``S <= f (slo - d)``, so ``d = slo - S / f`` (``f`` = latency_budget_fraction, ``S`` the full-batch
      service time); time-shared, ``c + S <= 2 f (slo - d)``, so ``d = slo - (c + S) / (2 f)`` (``c`` the cycle);
    - poisson: the largest ``d`` with ``rate (1 + headroom) <= poisson_capacity(batch, processes, S, slo - d,
      target)`` (time-shared: ``poisson_capacity(batch, 1, c, slo - d, target)``), by bisection;

    never below 0, nor above ``slo - S`` (``slo - c`` time-shared: a lone request still has to run).
    """
    span = service_ms if cycle_ms is None else cycle_ms
    top = max(0.0, slo_ms - span)
    if policy.arrivals == "smooth":
        f = policy.latency_budget_fraction
        d = slo_ms - service_ms / f if cycle_ms is None else slo_ms - (cycle_ms + service_ms) / (2 * f)
        return min(max(0.0, d), top)
    from ..perf.queueing import poisson_capacity

    need = rate_rps * (1 + policy.headroom)
    k = processes if cycle_ms is None else 1

    def holds(d: float) -> bool:
        return need <= poisson_capacity(batch, k, span, slo_ms - d, policy.target_attainment) * (1 + 1e-12)

    if top <= 0 or not holds(0.0):
        return 0.0
    if holds(top):
        return top
    lo, hi = 0.0, top
    while hi - lo > 1e-4:  # 0.1 microsecond
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if holds(mid) else (lo, mid)
    return lo


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(text: str) -> str:
    """A directory (and Triton model) name for ``text``: characters outside ``[A-Za-z0-9_.-]`` become ``-``, no
    leading dot; when that changes ``text``, a short hash of it keeps distinct names distinct."""
    out = _UNSAFE.sub("-", text).lstrip(".-") or "model"
    if out != text:
        out = f"{out[:80]}-{hashlib.sha1(text.encode()).hexdigest()[:6]}"
    return out


def variant_key(model: str, batch: int, processes: int, sharing: str, gpu: str) -> tuple:
    """What makes two plan runs the same Triton model."""
    return (model, batch, processes, sharing == "time", "KIND_CPU" if gpu == CPU_TYPE else "KIND_GPU")


def _variant_name(key: tuple, several: bool) -> str:
    model, batch, processes, turns, kind = key
    base = safe_name(model)
    if not several:
        return base
    return f"{base}-b{batch}-p{processes}" + ("-time" if turns else "") + ("-cpu" if kind == "KIND_CPU" else "")


def variants(problem, plan: Plan) -> list[Variant]:
    """Every variant the plan runs, sorted by name, with its uses and its queue delay (module docstring).

    ``problem`` gives the policy, the SLOs and (through the simulator's ``build_runs``) the full-batch service
    time of every run: the slower of the plan's latency and the measurement."""
    policy = problem.instance.policy
    runs = build_runs(problem, plan)
    cycles: dict[tuple[int, int], float] = defaultdict(float)
    for r in runs:
        if r.sharing == "time":
            cycles[r.instance] += r.latency_ms
    uses: dict[tuple, dict[tuple, list]] = defaultdict(lambda: defaultdict(lambda: [0, float("inf")]))
    for r in runs:
        cycle = max(cycles[r.instance], r.cycle_ms or 0.0) if r.sharing == "time" else None
        budget = queue_budget_ms(policy, r.slo_ms, r.latency_ms, r.batch, r.processes, r.rate_rps, cycle)
        slot = uses[variant_key(r.model, r.batch, r.processes, r.sharing, r.gpu_type)][
            (r.gpu_type, r.profile, r.sharing)]
        slot[0] += 1
        slot[1] = min(slot[1], budget)
    per_model: dict[str, int] = defaultdict(int)
    for key in uses:
        per_model[key[0]] += 1
    out = []
    for key, by_use in uses.items():
        us = tuple(Use(g, p, s, n, b) for (g, p, s), (n, b) in sorted(by_use.items()))
        delay = int(min(u.budget_ms for u in us) * 1000)
        out.append(Variant(_variant_name(key, per_model[key[0]] > 1), key[0], key[1], key[2], key[3], key[4],
                           delay, us))
    return _distinct(sorted(out, key=lambda v: v.name))


def _distinct(vs: list[Variant]) -> list[Variant]:
    """Names made distinct where sanitising made two equal (a hash of the variant's key is appended)."""
    count: dict[str, int] = defaultdict(int)
    for v in vs:
        count[v.name] += 1
    out = []
    for v in vs:
        if count[v.name] > 1:
            tag = hashlib.sha1(repr((v.model, v.batch, v.processes, v.takes_turns, v.kind)).encode()).hexdigest()
            v = Variant(f"{v.name}-{tag[:6]}", *(getattr(v, f) for f in
                                                 ("model", "batch", "processes", "takes_turns", "kind",
                                                  "delay_us", "uses")))
        out.append(v)
    return sorted(out, key=lambda v: v.name)


def config_pbtxt(plan: Plan, v: Variant) -> str:
    """The ``config.pbtxt`` of one variant (protobuf text format of Triton's ``ModelConfig``)."""
    lines = [f"# Triton model configuration written by majula solve for instance {json.dumps(plan.instance)}, "
             f"plan status {plan.status}",
             f"# model {json.dumps(v.model)}: batch {v.batch}, {v.processes} process(es) -> {v.processes} model "
             f"instance(s){'; takes turns on a time-shared instance' if v.takes_turns else ''}"]
    for u in v.uses:
        where = "whole device" if u.profile == FULL else u.profile
        lines.append(f"# runs on {u.count} x {u.gpu} {where} (sharing {u.sharing}): queue budget "
                     f"{u.budget_ms:.3f} ms")
    lines += ["# max_queue_delay_microseconds = the smallest budget above (docs/operator.md); backend, inputs and",
              "# outputs are the model's: add them, or let Triton's auto-complete fill them in",
              f"name: {json.dumps(v.name)}",
              f"max_batch_size: {v.batch}",
              "instance_group [",
              "  {",
              f"    count: {v.processes}",
              f"    kind: {v.kind}"]
    if v.takes_turns:
        lines += ["    rate_limiter {",
                  "      resources [",
                  "        {",
                  f"          name: {json.dumps(TURN_RESOURCE)}",
                  "          count: 1",
                  "        }",
                  "      ]",
                  "    }"]
    lines += ["  }",
              "]",
              "dynamic_batching {",
              f"  preferred_batch_size: [ {v.batch} ]",
              f"  max_queue_delay_microseconds: {v.delay_us}",
              "}"]
    return "\n".join(lines) + "\n"


def triton_files(problem, plan: Plan) -> dict[str, str]:
    """``<variant>/config.pbtxt`` -> text for every variant of the plan (a Triton model repository's configs)."""
    return {f"{v.name}/config.pbtxt": config_pbtxt(plan, v) for v in variants(problem, plan)}
