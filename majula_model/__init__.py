"""Majula: capacity planning for DNN serving on MIG-partitioned GPUs.

The public API in one import::

    from majula_model import load_instance, solve, gpus_needed, sweep, verify

    problem = load_instance("instances/default.json")
    plan = solve(problem)                     # schema.Plan, docs/data-format.md (data contract)
    need = gpus_needed(problem)               # {"A100-SXM4-80GB": 5}, need.cost
    growth = sweep(problem, [1.0, 1.5, 2.0])  # GPUs needed per demand growth factor
    check = verify(problem, plan, load=0.9)   # simulated SLO attainment per model
    comp = compare_strategies(problem)        # exclusive GPUs vs time sharing vs MPS vs MIG, simulated
    needs = demand_sweep(problem, [1, 2, 4])  # GPUs per strategy as demand grows

``compare_strategies`` is ``majula_model.compare.compare`` under another name: ``majula_model.compare`` is the
module (``import majula_model.compare`` sets that attribute), so the package never binds the function there.

Why the names are lazy (PEP 562 ``__getattr__``): importing any submodule (``majula_model.cli`` for every
``majula`` command) runs this file first, and importing everything here eagerly pulls in PuLP and scipy.optimize
(about a second), even for ``majula --help``. Each name is imported from its module on first use instead.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the eager imports, for type checkers and IDEs only
    from .errors import Infeasible, InputError, MajulaError
    from .hardware.catalog import FULL, Catalog, GpuType, Profile, default_catalog
    from .hardware.geometry import GeometryInfo, geometries, layout_problem, place
    from .perf.prediction import predict
    from .placer import baseline, gpus_needed, solve, sweep
    from .problem.loading import Problem, load_calibration, load_instance, problem_from_instance
    from .schema import CalibrationFile, Instance, MeasurementRecord, Plan
    from .simulator import simulate, verify
    from .compare import Comparison, DemandSweep, compare_strategies, demand_sweep

_HOME = {
    ".hardware.catalog": ["FULL", "Catalog", "GpuType", "Profile", "default_catalog"],
    ".errors": ["Infeasible", "InputError", "MajulaError"],
    ".hardware.geometry": ["GeometryInfo", "geometries", "layout_problem", "place"],
    ".problem.loading": ["Problem", "load_calibration", "load_instance", "problem_from_instance"],
    ".placer": ["baseline", "gpus_needed", "solve", "sweep"],
    ".perf.prediction": ["predict"],
    ".simulator": ["simulate", "verify"],
    ".schema": ["CalibrationFile", "Instance", "MeasurementRecord", "Plan"],
    ".compare": ["compare_strategies", "demand_sweep", "Comparison", "DemandSweep"],
}
"""Where each public name lives (module relative to this package)."""

_MODULE_OF = {name: module for module, names in _HOME.items() for name in names}

__all__ = [
    "FULL", "Catalog", "GpuType", "Profile", "default_catalog",
    "Infeasible", "InputError", "MajulaError",
    "GeometryInfo", "geometries", "layout_problem", "place",
    "Problem", "load_calibration", "load_instance", "problem_from_instance",
    "baseline", "gpus_needed", "solve", "sweep", "predict", "simulate", "verify",
    "CalibrationFile", "Instance", "MeasurementRecord", "Plan",
    "compare_strategies", "demand_sweep", "Comparison", "DemandSweep",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first access, and keep it here (later accesses are plain)."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
