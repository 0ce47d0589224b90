"""Issue 10, section 5: a CLI that starts fast. `import majula_model` and building the `majula` parser import no
solver, numeric or fitting library (PuLP, highspy, numpy, scipy); the public names still import from the package.

Checked in a fresh interpreter (this test process has imported everything already); timings are measured by
benchmarks/bench_cli.py, not here."""

from __future__ import annotations

import json
import subprocess
import sys

import majula_model
from majula_model.cli import build_parser
from majula_model.cli import solve as solve_cli

HEAVY = ("pulp", "highspy", "numpy", "scipy", "majula_model.placer", "majula_model.perf.prediction",
         "majula_model.simulator")


def _imported_after(code: str) -> list[str]:
    """Heavy modules present in a fresh interpreter after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def test_importing_the_package_imports_nothing_heavy():
    assert _imported_after("import majula_model") == []


def test_building_the_parser_and_printing_help_import_nothing_heavy():
    code = ("import contextlib, io\nfrom majula_model.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        main(['--help'])\n    except SystemExit:\n        pass")
    assert _imported_after(code) == []


def test_public_names_resolve_lazily_and_all_is_complete():
    assert set(majula_model.__all__) <= set(dir(majula_model))
    for name in majula_model.__all__:
        assert getattr(majula_model, name) is not None
    from majula_model import load_instance, solve  # noqa: F401 - the documented import keeps working
    from majula_model.placer import solve as placer_solve

    assert solve is placer_solve


def test_unknown_names_are_attribute_errors():
    try:
        majula_model.no_such_name  # noqa: B018
    except AttributeError as e:
        assert "no_such_name" in str(e)
    else:
        raise AssertionError("expected AttributeError")


def test_cli_choices_are_the_placers():
    from majula_model.placer import BASELINES, OBJECTIVES, SOLVERS

    assert list(solve_cli.OBJECTIVES) == list(OBJECTIVES) and list(solve_cli.SOLVERS) == list(SOLVERS)
    assert list(solve_cli.BASELINE_CHOICES) == [*BASELINES, "all"]
    help_text = build_parser()._subparsers._group_actions[0].choices["solve"].format_help()
    assert all(name in help_text for name in (*OBJECTIVES, *SOLVERS, *BASELINES))
