"""Calibration: measure DNN models on GPUs, MIG instances, emulated slices or the CPU; write calibration files.

The public entry points; torch is imported only when something is measured, so importing this package is cheap.
"""

from .devices import GpuDevice, Inventory, MigInstance, discover, instance_env
from .models import DTYPES, SPECS, available_models, check_names, load
from .plan import Point, Settings, Target, estimate_seconds, plan_points
from .runner import RunConfig, make_plan, run, sidecar_path

__all__ = ["DTYPES", "SPECS", "GpuDevice", "Inventory", "MigInstance", "Point", "RunConfig", "Settings", "Target",
           "available_models", "check_names", "discover", "estimate_seconds", "instance_env", "load", "make_plan",
           "plan_points", "run", "sidecar_path"]
