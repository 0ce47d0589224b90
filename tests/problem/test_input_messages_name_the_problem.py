"""Issue 11, "Messages": each finding reproduced, now a one-line InputError (exit 2) naming file, field or flag."""

from __future__ import annotations

import json

import pytest

from majula_model.cli import main
from majula_model.cli.lists import MAX_INTEGER, numbers
from majula_model.errors import InputError, format_loc
from majula_model.jsonfile import MAX_JSON_DEPTH, SHOWN_PATH_CHARS
from majula_model.problem.loading import load_instance, parse
from majula_model.schema import Instance

from conftest import ROOT
from instance_files import BASE, _mutate, _write

PRIOR = ROOT / "calibration" / "prior-a100-sxm4-80gb.json"


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("depth", [100_000, 500, MAX_JSON_DEPTH + 1])
def test_deep_nesting_is_an_input_error_naming_the_file(capsys, tmp_path, depth):
    p = _write(tmp_path, '{"name": ' + "[" * depth + "]" * depth + "}")
    code, _, err = cli(capsys, "validate", p)
    assert code == 2 and f"{p}: nested too deeply (more than {MAX_JSON_DEPTH} levels" in err
    assert "RecursionError" not in err and "gap in majula" not in err


def test_nesting_within_the_limit_reaches_the_schema(tmp_path):
    p = _write(tmp_path, _mutate("name", json.loads("[" * (MAX_JSON_DEPTH - 2) + "]" * (MAX_JSON_DEPTH - 2))))
    with pytest.raises(InputError) as e:
        load_instance(p)
    assert e.value.field == "name" and "expected a string" in e.value.reason


def test_deep_data_given_to_parse_has_no_position_of_re_serialised_text():
    deep: list = []
    node = deep
    for _ in range(300):
        node.append([])
        node = node[0]
    with pytest.raises(InputError) as e:
        parse(Instance, {**BASE, "name": deep}, "api.json")
    assert e.value.file == "api.json" and e.value.reason.startswith("nested too deeply")
    assert "line 1 column" not in e.value.message and "(top level)" not in e.value.message


def test_huge_batch_flag_is_exit_2_naming_the_flag_and_bound(capsys):
    code, _, err = cli(capsys, "predict", PRIOR, "--model", "resnet50", "--gpu", "A100-SXM4-80GB",
                       "--profile", "1g.10gb", "--batch", "1" + "0" * 400)
    assert code == 2 and f"--batch: expected comma-separated integers between 1 and {MAX_INTEGER}" in err
    assert "OverflowError" not in err and len(err) < 300
    with pytest.raises(InputError, match="between 1 and"):
        numbers(str(MAX_INTEGER + 1), "--batches")
    assert numbers(str(MAX_INTEGER), "--batches") == [MAX_INTEGER]


def test_float_where_an_object_is_expected_gets_no_integer_hint(tmp_path):
    with pytest.raises(InputError) as e:
        load_instance(_write(tmp_path, _mutate("models", [5.0])))
    assert e.value.field == "models[0]" and e.value.reason == "expected an object, got a number (5.0)"
    with pytest.raises(InputError) as e:  # the hint stays where it applies: an integer field
        load_instance(_write(tmp_path, _mutate("gpus.0.count", 2.0)))
    assert "an integer must be written without a decimal point" in e.value.reason


def test_empty_key_is_named_not_top_level(tmp_path):
    assert format_loc(("",)) == '[""]' and format_loc(("policy", "")) == 'policy[""]'
    assert format_loc(()) == "(top level)"
    with pytest.raises(InputError) as e:
        load_instance(_write(tmp_path, {**BASE, "": 1}))
    assert e.value.field == '[""]' and e.value.reason == "unknown field"


def test_invalid_json_position_is_in_the_users_file(tmp_path):
    text = '{\n  "name": "t",\n  "gpus": [1,,2]\n}\n'
    with pytest.raises(InputError) as e:
        load_instance(_write(tmp_path, text))
    assert "(line 3, column 14)" in e.value.reason and text.splitlines()[2][13] == ","


def test_long_calibration_path_names_instance_and_field_shortened(capsys, tmp_path):
    long = "d/" * 3000 + "cal.json"   # 6,008 characters
    inst = _write(tmp_path, {**BASE, "calibration": [long]})
    code, _, err = cli(capsys, "validate", inst)
    assert code == 2 and err.startswith(f"majula: error: {inst}: calibration[0]: ")
    assert f"({len(str(tmp_path / long))} characters)" in err and len(err) < len(str(inst)) + SHOWN_PATH_CHARS + 150
    assert "gap in majula" not in err


def test_unreadable_calibration_file_names_instance_and_field(tmp_path):
    (tmp_path / "cal.json").mkdir()
    inst = _write(tmp_path, {**BASE, "calibration": ["cal.json"]})
    with pytest.raises(InputError) as e:
        load_instance(inst)
    assert e.value.file == str(inst) and e.value.field == "calibration[0]" and "is a directory" in e.value.reason
