"""Finding B2 (issue 10): `majula solve PLAN.json` said "name: required field missing". A file of another contract
kind (plan, calibration, GPU catalog) is now named as such, with what the command takes."""

from __future__ import annotations

import json

import pytest

from majula_model.cli import main
from majula_model.problem.loading import contract_kind, load_calibration, load_instance, load_plan
from majula_model.errors import InputError

from conftest import ROOT
from instance_files import BASE, _write

DEFAULT = str(ROOT / "instances" / "default.json")
PRIOR = str(ROOT / "calibration" / "prior-a100-sxm4-80gb.json")
CATALOG = str(ROOT / "majula_model" / "hardware" / "gpus.json")


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory):
    from majula_model import load_instance as load, solve

    path = tmp_path_factory.mktemp("plan") / "plan.json"
    path.write_text(solve(load(DEFAULT), "min_gpus").model_dump_json())
    return str(path)


@pytest.mark.parametrize("command", ["solve", "validate"])
def test_plan_file_where_an_instance_is_expected(capsys, plan_file, command):
    assert main([command, plan_file]) == 2
    err = capsys.readouterr().err
    assert f"{plan_file}: this is a plan file; `majula {command}` takes an instance file" in err
    assert "required field" not in err


def test_calibration_and_catalog_files_where_an_instance_is_expected(capsys):
    assert main(["solve", PRIOR]) == 2
    assert f"{PRIOR}: this is a calibration file; `majula solve` takes an instance file" in capsys.readouterr().err
    assert main(["solve", CATALOG]) == 2
    err = capsys.readouterr().err
    assert f"{CATALOG}: this is a GPU catalog file; `majula solve` takes an instance file" in err and "--catalog" in err


def test_simulate_names_swapped_files(capsys, plan_file):
    assert main(["simulate", plan_file, "--plan", plan_file]) == 2
    assert "this is a plan file; `majula simulate` takes an instance file" in capsys.readouterr().err
    assert main(["simulate", DEFAULT, "--plan", DEFAULT]) == 2
    assert f"{DEFAULT}: this is an instance file; `majula simulate --plan` takes a plan file" in capsys.readouterr().err


def test_api_loaders_name_the_kind_without_a_command(plan_file):
    with pytest.raises(InputError, match="this is a plan file; expected an instance file"):
        load_instance(plan_file)
    with pytest.raises(InputError, match="this is an instance file; expected a calibration file"):
        load_calibration(DEFAULT)
    with pytest.raises(InputError, match="this is a calibration file; expected a plan file"):
        load_plan(PRIOR)


def test_broken_files_of_the_right_kind_keep_field_errors(capsys, tmp_path):
    """The kind is only claimed when clear: a half-written instance still gets its field-level error."""
    for doc, field in (({"name": "t", "measurements": []}, "gpus"), ({"gpus": BASE["gpus"]}, "name"),
                       ({k: v for k, v in BASE.items() if k != "models"}, "models")):
        assert contract_kind(doc) is None
        assert main(["validate", str(_write(tmp_path, doc))]) == 2
        err = capsys.readouterr().err
        assert f"{field}: " in err and "this is" not in err


@pytest.mark.parametrize("doc,kind", [
    ({"instance": "x", "objective": {}, "status": "optimal", "gpus": [], "models": []}, "plan"),
    ({"measurements": []}, "calibration"),
    ({"measurements": [], "meta": {}}, "calibration"),
    (BASE, "instance"),
    ({"gpus": [{"type": "X", "compute_slices": 1}]}, "catalog"),
    ([], None), ("text", None), ({}, None),
])
def test_contract_kind_by_top_level_keys(doc, kind):
    assert contract_kind(json.loads(json.dumps(doc))) == kind
