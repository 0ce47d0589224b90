"""Small placement instances built in code, shared by the placer tests and ``regen.py``.

Synthetic records with round numbers, so that optima can be worked out by hand (each test says how); nothing
here is copied from ../shared/data.
"""

from __future__ import annotations

from majula_model.problem.loading import Problem, problem_from_instance
from majula_model.schema import Instance

A100 = "A100-SXM4-80GB"
H100 = "H100-SXM5-80GB"


def rec(model: str, profile: str, rps: float, *, gpu: str = A100, batch: int = 8, latency_ms: float = 20.0,
        processes: int = 1) -> dict:
    """One measurement record with an explicit throughput."""
    return {"model": model, "gpu": gpu, "profile": profile, "batch": batch, "processes": processes,
            "latency_ms": latency_ms, "throughput_rps": rps}


def problem(models: list[tuple[str, float, float]], records: list[dict], gpus: list[tuple[str, int, float]],
            objective: str = "min_gpus", name: str = "tiny", **extra) -> Problem:
    """A Problem from (name, slo_ms, demand_rps) models, records and (type, count, cost) pools."""
    inst = Instance(name=name, gpus=[{"type": t, "count": n, "cost": c} for t, n, c in gpus],
                    models=[{"name": m, "slo_ms": s, "demand_rps": d} for m, s, d in models],
                    measurements=records, objective=objective, **extra)
    return problem_from_instance(inst)


def two_models(demand_a: float = 300.0, demand_b: float = 500.0, count: int = 4,
               objective: str = "min_gpus") -> Problem:
    """Model a runs only on 3g.40gb (300 rps), model b only on 4g.40gb (500 rps), A100-80GB.

    Hand-worked: 4g + 3g fit on one GPU (4g at 0, 3g at 4), 3g + 3g fit on one GPU, 4g + 4g do not.
    """
    recs = [rec("a", "3g.40gb", 300.0), rec("b", "4g.40gb", 500.0)]
    return problem([("a", 100.0, demand_a), ("b", 100.0, demand_b)], recs, [(A100, count, 1.0)], objective)


def golden_problem() -> Problem:
    """The instance behind the golden files: three models, one with a whole-GPU (full) point, 2 GPUs/node."""
    recs = [rec("resnet", "1g.10gb", 110.0), rec("resnet", "3g.40gb", 360.0), rec("resnet", "7g.80gb", 800.0),
            rec("bert", "2g.20gb", 90.0, latency_ms=40.0), rec("bert", "4g.40gb", 200.0, latency_ms=35.0),
            rec("bert", "7g.80gb", 330.0, latency_ms=30.0), rec("bert", "full", 400.0, latency_ms=28.0),
            rec("tiny", "1g.10gb", 500.0, batch=4, latency_ms=5.0),
            rec("tiny", "1g.10gb", 900.0, batch=32, latency_ms=60.0),  # too slow for tiny's 50 ms SLO
            rec("tiny", "7g.80gb", 2600.0, batch=4, latency_ms=5.0)]
    return problem([("resnet", 100.0, 1500.0), ("bert", 100.0, 700.0), ("tiny", 50.0, 1200.0)], recs,
                   [(A100, 6, 1.0)], "min_gpus", name="golden-demo", gpus_per_node=2)


def hard_max_scale():
    """max_scale over 11 heterogeneous-rate models on 800 GPUs: a 0.5 s limit stops HiGHS and CBC before a
    proof (the placer's max_scale path proves it in about 3 s, see placer/scale.py)."""
    rates = [97.0, 131.0, 173.0, 211.0, 257.0, 307.0, 353.0, 401.0, 449.0, 503.0, 557.0]
    recs = []
    for i, r in enumerate(rates):
        for prof, k in (("1g.10gb", 1.0), ("2g.20gb", 2.13), ("3g.40gb", 3.31), ("4g.40gb", 4.17), ("7g.80gb", 7.4)):
            recs.append(rec(f"m{i}", prof, round(r * k * (1 + 0.03 * ((i * 7 + int(k * 10)) % 5)), 3)))
    models = [(f"m{i}", 100.0, 1000.0 + 37.0 * i) for i in range(len(rates))]
    return problem(models, recs, [(A100, 800, 1.0)], "max_scale")
