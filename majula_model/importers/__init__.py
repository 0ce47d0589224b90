"""Importers: measurements people already have, turned into calibration files (DESIGN.md section 3)."""

from .parvagpu import PARVAGPU_PROFILES, read_parvagpu

__all__ = ["PARVAGPU_PROFILES", "read_parvagpu"]
