"""The ILP placer: MIG geometries and model-to-instance assignments (see ``formulation`` for the ILP)."""

from .api import GpuCount, SweepPoint, baseline, count_gpus, gpus_needed, scaled, solve, sweep
from .baselines import BASELINES
from .formulation import OBJECTIVES
from .backends import SOLVERS

__all__ = ["solve", "gpus_needed", "sweep", "baseline", "count_gpus", "scaled", "GpuCount", "SweepPoint",
           "BASELINES", "OBJECTIVES", "SOLVERS"]
