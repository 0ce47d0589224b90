"""The placer API's docstring example runs as written, from the repository root (issue 10: it used to load an
instance file that does not exist)."""

from __future__ import annotations

import doctest

import majula_model.placer.api as api

from conftest import ROOT


def test_api_docstring_example(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = doctest.testmod(api, verbose=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0
