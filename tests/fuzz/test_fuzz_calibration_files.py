"""Fuzzing calibration files (issue 11): mutations of the bundled calibration data through the CLI.

The files mutated are ``calibration/cpu-2026-12-01.json`` (measured on a CPU) and the calibration of the bundled
``instances/default.json`` (``calibration/prior-a100-sxm4-80gb.json``). Each example drops, duplicates or alters
fields or records (numbers from 5e-324 to 1e300 and negative, wrong types, deep nesting, odd and unicode
strings, unicode and empty keys, NaN, a record repeated with other numbers), writes the file and runs
``majula predict`` on it (a measured GPU type and one it was never measured on), and ``majula validate`` and
``majula solve`` on an instance that names it, through ``majula_model.cli.main``. Invariant (docs/cli.md): exit
0, 1 or 2, never a traceback, never the catch-all "gap in majula's input checks". Plan correctness is not judged
(numeric scaling of tiny or huge numbers is another issue's).
"""

from __future__ import annotations

import importlib.util
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import ROOT


def _instance_fuzz():
    """The instance fuzz module, for its mutations and CLI runner (loaded by path: however tests/fuzz is
    imported, as a package or not, this finds it)."""
    spec = importlib.util.spec_from_file_location("_fuzz_mutations", Path(__file__).with_name(
        "test_fuzz_instance_files.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


fuzz = _instance_fuzz()

TARGETS = {
    "cpu": {"file": "cpu-2026-12-01.json",
            "instance": {"name": "cpu", "gpus": [{"type": "cpu", "count": 2}],
                         "models": [{"name": "cnn", "slo_ms": 100.0, "demand_rps": 200.0},
                                    {"name": "mlp", "slo_ms": 50.0, "demand_rps": 500.0}],
                         "policy": {"use_predictions": True}},
            "predict": [["--model", "cnn", "--gpu", "cpu", "--profile", "full", "--batch", "1,3,64"],
                        ["--model", "mlp", "--gpu", "H100", "--profile", "3g.40gb", "--batch", "1,8"]]},
    "default": {"file": "prior-a100-sxm4-80gb.json", "instance": None,
                "predict": [["--model", "resnet50", "--gpu", "A100-SXM4-80GB", "--profile", "3g.40gb", "--batch",
                             "1,3,32", "--processes", "2"],
                            ["--model", "bert", "--gpu", "H100-SXM5-80GB", "--profile", "1g.10gb", "--batch", "1,8"]]},
}
_TEXT: dict[str, str] = {}


def original(name: str):
    """The bundled file's parsed JSON (read once; a fresh copy each call)."""
    if name not in _TEXT:
        _TEXT[name] = (ROOT / "calibration" / TARGETS[name]["file"]).read_text()
    return json.loads(_TEXT[name])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_mutated_calibration_files_get_a_defined_answer(data):
    name = data.draw(st.sampled_from(sorted(TARGETS)), label="file")
    target = TARGETS[name]
    doc = original(name)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        doc = fuzz.mutate(doc, data)
    with tempfile.TemporaryDirectory() as tmp:
        cal = Path(tmp) / "cal.json"
        cal.write_text(fuzz.dump(doc), encoding="utf-8")
        inst = target["instance"] or fuzz.bundled_default()
        inst = {**inst, "calibration": [str(cal)]}
        inst_path = Path(tmp) / "inst.json"
        inst_path.write_text(json.dumps(inst), encoding="utf-8")
        commands = [["predict", str(cal), *args] for args in target["predict"]]
        commands += [["validate", str(inst_path)], ["solve", str(inst_path), "--time-limit", "5"]]
        for command in commands:
            fuzz.assert_contract(*fuzz.run_cli(*command), f"{' '.join(command)} on a mutated {target['file']}")
