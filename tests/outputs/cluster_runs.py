"""One ``majula solve --json --mig-parted --k8s --triton`` run per bundled instance, shared by the tests of the
cluster files (not a test module of its own). The plan comes back as the JSON the command printed, so the
tests compute what the files must hold from the plan, independently of the writers."""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from conftest import ROOT
from majula_model.cli import main

INSTANCES = sorted(p.stem for p in (ROOT / "instances").glob("*.json"))


@dataclass(frozen=True)
class Solved:
    instance: Path
    plan: dict
    mig_parted: Path
    k8s: Path
    triton: Path


_TMP = Path(tempfile.mkdtemp(prefix="majula-cluster-tests-"))
atexit.register(shutil.rmtree, _TMP, True)


@lru_cache(maxsize=None)
def solved(name: str) -> Solved:
    """Solve ``instances/<name>.json`` once per test session and write every cluster file."""
    out = _TMP / name
    out.mkdir()
    inst = ROOT / "instances" / f"{name}.json"
    argv = ["solve", str(inst), "--json", "--mig-parted", str(out / "mp.yaml"), "--k8s", str(out / "k8s"),
            "--triton", str(out / "triton")]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(argv)
    assert code == 0, stderr.getvalue()
    return Solved(inst, json.loads(stdout.getvalue()), out / "mp.yaml", out / "k8s", out / "triton")


ODD = {"name": "Odd Fleet/2026", "gpus": [{"type": "A100-SXM4-80GB", "count": 2}, {"type": "cpu", "count": 1,
                                                                                     "cost": 0.1}],
       "models": [{"name": "Org/ResNet 50", "slo_ms": 100.0, "demand_rps": 250.0},
                  {"name": "tiny", "slo_ms": 100.0, "demand_rps": 5.0}],
       "measurements": [{"model": "Org/ResNet 50", "gpu": "A100-SXM4-80GB", "profile": "full", "batch": 4,
                         "latency_ms": 5.0},
                        {"model": "tiny", "gpu": "cpu", "profile": "full", "batch": 1, "latency_ms": 10.0}],
       "objective": "min_gpus"}
"""Names that are not DNS labels, label values or directory names, and a model on the ``cpu`` device: the plan
is one whole A100 for ``Org/ResNet 50`` (smooth policy, f = 0.5) and the CPU for ``tiny``."""


def solve_odd(tmp_path) -> Solved:
    """Solve ``ODD`` into ``tmp_path`` with every cluster file."""
    inst = tmp_path / "odd.json"
    inst.write_text(json.dumps(ODD))
    argv = ["solve", str(inst), "--json", "--mig-parted", str(tmp_path / "mp.yaml"), "--k8s",
            str(tmp_path / "k8s"), "--triton", str(tmp_path / "triton")]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(argv)
    assert code == 0, stderr.getvalue()
    return Solved(inst, json.loads(stdout.getvalue()), tmp_path / "mp.yaml", tmp_path / "k8s", tmp_path / "triton")
