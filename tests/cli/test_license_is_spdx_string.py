"""Finding B5 (issue 10): `make demo` printed setuptools' deprecation warning for `project.license` as a TOML table
(once per build step). pyproject.toml now gives the SPDX expression as a string, which setuptools >= 77 reads
without a warning."""

from __future__ import annotations

import warnings

import pytest

from conftest import ROOT

PYPROJECT = ROOT / "pyproject.toml"


def test_license_is_an_spdx_string():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    doc = tomllib.loads(PYPROJECT.read_text())
    assert doc["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in doc["build-system"]["requires"]


def test_setuptools_reads_the_project_table_without_a_warning(monkeypatch):
    pyprojecttoml = pytest.importorskip("setuptools.config.pyprojecttoml")
    from setuptools.dist import Distribution

    monkeypatch.chdir(ROOT)  # readme and package paths are relative to the project
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dist = pyprojecttoml.apply_configuration(Distribution(), str(PYPROJECT))
    assert getattr(dist.metadata, "license_expression", "Apache-2.0") == "Apache-2.0"
