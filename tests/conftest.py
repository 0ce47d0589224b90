"""Shared test fixtures: the repository root, the public data in ../shared/data, small instances."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MAJULA_SHARED_DATA", ROOT.parent / "shared" / "data"))
PARVAGPU_DIR = SHARED_DATA / "parvagpu-a100-80gb"

needs_matplotlib = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                                      reason="plot extras not installed: pip install -e '.[plot]'")
"""Marks a test that draws a plot (the `plot` extra); it is skipped, not failed, where matplotlib is absent."""

settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True)
settings.register_profile("explore", max_examples=40, deadline=None)
settings.load_profile(os.environ.get("MAJULA_HYPOTHESIS", "ci"))
"""The suite is derandomized (the same examples every run, so CI lands or fails for a reason);
``MAJULA_HYPOTHESIS=explore`` draws fresh examples, the way to hunt for new defects."""


@pytest.fixture(scope="session")
def parvagpu_dir() -> Path:
    """The ParvaGPU A100 80GB CSVs (read at run time; never copied into the repository)."""
    if not PARVAGPU_DIR.is_dir():
        pytest.skip(f"public data not found at {PARVAGPU_DIR}")
    return PARVAGPU_DIR


@pytest.fixture(scope="session")
def parvagpu_calibration(parvagpu_dir):
    """All ParvaGPU measurements as a CalibrationFile."""
    from majula_model.problem.importers import read_parvagpu

    return read_parvagpu(parvagpu_dir)
