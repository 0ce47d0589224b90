"""Majula: capacity planning for DNN serving on MIG-partitioned GPUs."""

from .catalog import FULL, Catalog, GpuType, Profile, default_catalog
from .errors import Infeasible, InputError, MajulaError
from .geometry import GeometryInfo, geometries, layout_problem, place
from .loading import Problem, load_calibration, load_instance
from .schema import CalibrationFile, Instance, MeasurementRecord, Plan

__all__ = [
    "FULL", "Catalog", "GpuType", "Profile", "default_catalog",
    "Infeasible", "InputError", "MajulaError",
    "GeometryInfo", "geometries", "layout_problem", "place",
    "Problem", "load_calibration", "load_instance",
    "CalibrationFile", "Instance", "MeasurementRecord", "Plan",
]
__version__ = "0.1.0"
