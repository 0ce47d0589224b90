"""End to end: solve a small ParvaGPU instance with ``arrivals: "poisson"`` and replay the plan in the simulator.

Issue 6's promise: plans made with Poisson capacities keep >= 99% of requests within the SLO at 0.9 and 1.0 of
their served rates; the same plan driven 1.3x past its instances' peak rates collapses.
"""

from __future__ import annotations

import pytest

from majula_model.hardware.catalog import default_catalog
from majula_model.problem.loading import problem_from_instance
from majula_model.schema import Instance
from majula_model.simulator import SimOptions, simulate, verify

placer = pytest.importorskip("majula_model.placer")

MODELS = {"resnet50": (100.0, 3000.0), "bert": (200.0, 400.0), "mobilenetv2": (50.0, 2000.0),
          "vgg16": (150.0, 800.0)}


def solved(calibration, arrivals: str):
    inst = Instance(name="e2e", gpus=[{"type": "A100-SXM4-80GB", "count": 16}],
                    models=[{"name": m, "slo_ms": s, "demand_rps": d} for m, (s, d) in MODELS.items()],
                    measurements=calibration.measurements, policy={"arrivals": arrivals}, objective="min_gpus")
    problem = problem_from_instance(inst, catalog=default_catalog())
    return problem, placer.solve(problem, time_limit=60)


@pytest.fixture(scope="module")
def poisson_plan(parvagpu_calibration):
    return solved(parvagpu_calibration, "poisson")


@pytest.mark.parametrize("load", [0.9, 1.0])
def test_poisson_plan_holds_its_slos(poisson_plan, load):
    problem, plan = poisson_plan
    assert plan.status == "optimal"
    res = verify(problem, plan, load=load, duration_s=60, seed=1)
    for m in res.models:
        assert m.slo_attainment >= 0.99, (m.name, m.slo_attainment)
        assert m.offered_rps == pytest.approx(load * MODELS[m.name][1], rel=0.03)


def test_overload_is_detected(poisson_plan):
    problem, plan = poisson_plan
    peak = max(r.batch * r.processes * 1000.0 / r.latency_ms / r.rate_rps
               for g in plan.gpus for i in g.instances for r in i.models)
    res = simulate(problem, plan, SimOptions(load=1.3 * peak, duration_s=20, seed=1))
    assert res.min_attainment < 0.5
