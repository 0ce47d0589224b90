"""Helpers for the simulator tests: tiny problems and hand-built plans (no placer needed).

Not a test module of its own (no tests here); named so that it belongs to the simulator's files.
"""

from __future__ import annotations

from majula_model.hardware.catalog import default_catalog
from majula_model.problem.loading import Problem, problem_from_instance
from majula_model.schema import Instance, MeasurementRecord, Plan

GPU = "A100-SXM4-80GB"
DEMAND_RPS = 1.0
"""Every model's demand in :func:`problem`; the plans built here are made for it."""


def problem(models: dict[str, float], records: list[MeasurementRecord], arrivals: str = "smooth") -> Problem:
    """An instance with the given {model: slo_ms} and inline records on one A100 80GB pool."""
    inst = Instance(name="t", gpus=[{"type": GPU, "count": 8}],
                    models=[{"name": m, "slo_ms": s, "demand_rps": DEMAND_RPS} for m, s in models.items()],
                    measurements=records,
                    # the plans built below may share an instance by any mode (MPS on the stated prior)
                    policy={"arrivals": arrivals, "max_models_per_instance": min(64, max(1, len(models))),
                            "interference_prior": True})
    return problem_from_instance(inst, catalog=default_catalog())


def record(model: str, profile: str, batch: int, processes: int, latency_ms: float, **kw) -> MeasurementRecord:
    return MeasurementRecord(model=model, gpu=GPU, profile=profile, batch=batch, processes=processes,
                             latency_ms=latency_ms, **kw)


def _run_doc(r: dict) -> dict:
    run = {k: r[k] for k in ("name", "batch", "processes", "latency_ms", "rate_rps")}
    run["capacity_rps"] = r.get("capacity_rps", r["rate_rps"])
    return run


def _plan(gpus: list[dict], runs: list[dict], name: str) -> Plan:
    served: dict[str, float] = {}
    cap: dict[str, float] = {}
    for r in runs:
        served[r["name"]] = served.get(r["name"], 0.0) + r["rate_rps"]
        cap[r["name"]] = cap.get(r["name"], 0.0) + r.get("capacity_rps", r["rate_rps"])
    # totals as the simulator's plan check wants them: made for problem()'s demand, summed from the runs
    models = [{"name": m, "demand_rps": DEMAND_RPS, "served_rps": v, "capacity_rps": cap[m]}
              for m, v in served.items()]
    return Plan.model_validate({"instance": name, "objective": {"kind": "max_throughput", "value": None,
                                "bound": None}, "status": "optimal", "gap": 0.0, "solver": "hand",
                                "solve_seconds": 0.0, "gpus": gpus, "models": models})


def plan(runs: list[dict], name: str = "t") -> Plan:
    """A plan with one 7g.80gb GPU per run dict {name, batch, processes, latency_ms, rate_rps[, profile]}."""
    gpus = []
    for i, r in enumerate(runs):
        prof = r.get("profile", "7g.80gb")
        gpus.append({"id": i, "type": GPU, "geometry": [prof],
                     "instances": [{"profile": prof, "start": 0, "models": [_run_doc(r)]}]})
    return _plan(gpus, runs, name)


def shared_plan(sharing: str, runs: list[dict], solo: list[dict] = (), cycle_ms: float | None = None,
                profile: str = "7g.80gb", name: str = "t") -> Plan:
    """A plan whose GPU 0 has one instance shared by ``runs`` (in turn order; ``processes`` defaults to 1) with
    ``sharing`` "time" or "mps" (``cycle_ms`` defaults to the sum of the latencies for "time"), then one 7g.80gb
    GPU per ``solo`` run as in :func:`plan`."""
    runs = [{"processes": 1, **r} for r in runs]
    inst = {"profile": profile, "start": 0, "sharing": sharing, "models": [_run_doc(r) for r in runs]}
    if sharing == "time":
        inst["cycle_ms"] = cycle_ms if cycle_ms is not None else sum(r["latency_ms"] for r in runs)
    gpus = [{"id": 0, "type": GPU, "geometry": [profile], "instances": [inst]}]
    for r in solo:
        gpus += [{**g, "id": len(gpus)} for g in plan([r]).model_dump()["gpus"]]
    return _plan(gpus, runs + list(solo), name)
