"""Majula: capacity planning for DNN serving on MIG-partitioned GPUs.

The public API in one import::

    from majula_model import load_instance, solve, gpus_needed, sweep, verify

    problem = load_instance("instances/default.json")
    plan = solve(problem)                     # schema.Plan, docs/data-format.md (data contract)
    need = gpus_needed(problem)               # {"A100-SXM4-80GB": 5}, need.cost
    growth = sweep(problem, [1.0, 1.5, 2.0])  # GPUs needed per demand growth factor
    check = verify(problem, plan, load=0.9)   # simulated SLO attainment per model
"""

from .hardware.catalog import FULL, Catalog, GpuType, Profile, default_catalog
from .errors import Infeasible, InputError, MajulaError
from .hardware.geometry import GeometryInfo, geometries, layout_problem, place
from .problem.loading import Problem, load_calibration, load_instance, problem_from_instance
from .placer import baseline, gpus_needed, solve, sweep
from .perf.prediction import predict
from .schema import CalibrationFile, Instance, MeasurementRecord, Plan
from .simulator import simulate, verify

__all__ = [
    "FULL", "Catalog", "GpuType", "Profile", "default_catalog",
    "Infeasible", "InputError", "MajulaError",
    "GeometryInfo", "geometries", "layout_problem", "place",
    "Problem", "load_calibration", "load_instance", "problem_from_instance",
    "baseline", "gpus_needed", "solve", "sweep", "predict", "simulate", "verify",
    "CalibrationFile", "Instance", "MeasurementRecord", "Plan",
]
__version__ = "0.1.0"
