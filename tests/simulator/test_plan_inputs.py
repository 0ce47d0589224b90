"""`majula simulate` on bad plans and flags (review regressions): exit 2 naming the field, never a crash."""

from __future__ import annotations

import json

import pytest

from majula_model.cli import main

from conftest import ROOT

DEFAULT = str(ROOT / "instances" / "default.json")


@pytest.fixture(scope="module")
def plan_doc(tmp_path_factory):
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["solve", DEFAULT, "--json"]) == 0
    return json.loads(buf.getvalue())


def _run(capsys, tmp_path, doc, *flags):
    p = tmp_path / "plan.json"
    p.write_text(json.dumps(doc))
    code = main(["simulate", DEFAULT, "--plan", str(p), "--duration", "2", *flags])
    return code, capsys.readouterr().err


def test_valid_plan_simulates(capsys, tmp_path, plan_doc):
    assert _run(capsys, tmp_path, plan_doc)[0] == 0


def test_invalid_mig_layout_is_rejected(capsys, tmp_path, plan_doc):
    doc = json.loads(json.dumps(plan_doc))
    gpu = next(g for g in doc["gpus"] if len(g["instances"]) > 1)
    gpu["instances"][1]["start"] = gpu["instances"][0]["start"]  # two instances on the same memory slice
    code, err = _run(capsys, tmp_path, doc)
    assert code == 2 and "invalid MIG layout" in err and "instances" in err


@pytest.mark.parametrize("flags,field", [
    (["--load", "inf"], "--load"), (["--load", "1e9"], "--load"), (["--seed", "-1"], "--seed"),
    (["--duration", "1e12"], "--duration"), (["--duration", "80000", "--load", "90"], "--duration"),
])
def test_absurd_flags_are_exit_2(capsys, tmp_path, plan_doc, flags, field):
    code, err = _run(capsys, tmp_path, plan_doc, *flags)
    assert code == 2 and field in err
