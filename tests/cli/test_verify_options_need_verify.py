"""Finding B4 (issue 10): `--verify-load` and `--verify-duration` without `--verify` were silently ignored. They
are now exit 2 naming the flag, even when given their default value; with --verify the defaults still apply
(no --verify-duration: the simulator's default window, docs/simulator.md "Verdicts and confidence intervals")."""

from __future__ import annotations

import pytest

from majula_model import load_instance, solve
from majula_model.cli import main
from majula_model.cli.solve import VERIFY_DURATION, VERIFY_LOAD
from majula_model.simulator.confidence import required_requests

from conftest import ROOT

DEFAULT = str(ROOT / "instances" / "default.json")


@pytest.mark.parametrize("flag,value", [("--verify-load", "0.9"), ("--verify-load", str(VERIFY_LOAD)),
                                        ("--verify-duration", "5"), ("--verify-duration", "30")])
def test_verify_option_without_verify_is_exit_2(capsys, flag, value):
    assert main(["solve", DEFAULT, flag, value]) == 2
    out, err = capsys.readouterr()
    assert f"majula: error: {flag}: only means something with --verify" in err and out == ""


def test_verify_option_with_sweep_names_the_verify_flag(capsys):
    assert main(["solve", DEFAULT, "--sweep", "1", "--verify-duration", "5"]) == 2
    assert "--verify-duration: only means something with --verify" in capsys.readouterr().err


def test_verify_defaults_apply_when_not_given(capsys):
    """The default window gives the least-served model the requests that resolve the 99% target."""
    assert VERIFY_DURATION is None
    assert main(["solve", DEFAULT, "--verify"]) == 0
    out = capsys.readouterr().out
    problem = load_instance(DEFAULT)
    window = required_requests(problem.instance.policy.target_attainment) / min(
        m.served_rps for m in solve(problem).models)
    assert f"verify: simulated {window:g} s of Poisson arrivals at {VERIFY_LOAD:g} x served rate" in out


def test_verify_load_with_verify_is_used(capsys):
    assert main(["solve", DEFAULT, "--verify", "--verify-load", "0.5", "--verify-duration", "2"]) == 0
    assert "verify: simulated 2 s of Poisson arrivals at 0.5 x served rate" in capsys.readouterr().out
