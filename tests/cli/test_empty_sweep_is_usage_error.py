"""Finding B3 (issue 10): `--sweep ""` ran a plain solve and exited 0. An empty (or blank) factor list is a usage
error naming --sweep, reported before the instance is even read."""

from __future__ import annotations

import pytest

from majula_model.cli import main

from conftest import ROOT

DEFAULT = str(ROOT / "instances" / "default.json")


@pytest.mark.parametrize("factors", ["", " ", ",", " , "])
def test_empty_sweep_is_exit_2_naming_the_flag(capsys, factors):
    assert main(["solve", DEFAULT, "--sweep", factors]) == 2
    out, err = capsys.readouterr()
    assert "majula: error: --sweep: expected comma-separated numbers" in err and out == ""


def test_empty_sweep_is_reported_before_reading_the_instance(capsys, tmp_path):
    assert main(["solve", str(tmp_path / "missing.json"), "--sweep", ""]) == 2
    err = capsys.readouterr().err
    assert "--sweep" in err and "missing.json" not in err


def test_empty_sweep_still_refuses_one_plan_options(capsys):
    assert main(["solve", DEFAULT, "--sweep", "", "--unbounded-pool"]) == 2
    assert "--sweep" in capsys.readouterr().err
