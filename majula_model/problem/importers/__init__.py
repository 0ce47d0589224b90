"""Importers: measurements people already have, turned into calibration files (docs/data-format.md (data contract))."""

from .parvagpu import PARVAGPU_PROFILES, read_parvagpu, write_parvagpu_csv
from .perf_analyzer import read_perf_analyzer, write_perf_analyzer_csv

__all__ = ["PARVAGPU_PROFILES", "read_parvagpu", "read_perf_analyzer", "write_parvagpu_csv",
           "write_perf_analyzer_csv"]
