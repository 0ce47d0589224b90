"""Hardware: the GPU catalog (types, MIG profiles, placement rules) and the geometries derived from it."""

from .catalog import FULL, Catalog, GpuType, Profile, default_catalog
from .geometry import GeometryInfo, geometries, layout_problem, place

__all__ = ["FULL", "Catalog", "GpuType", "Profile", "default_catalog", "GeometryInfo", "geometries",
           "layout_problem", "place"]
