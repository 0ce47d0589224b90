"""The planning problem: instance and calibration files read and validated, with their measurements resolved,
and importers for measurements people already have."""
