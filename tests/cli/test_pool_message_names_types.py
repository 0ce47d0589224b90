"""An infeasible min_gpus names the pool by type, and the types no model can use (issue 11: "the pool has 4")."""

from __future__ import annotations

import json

from majula_model.cli import main


def test_pool_of_usable_and_unusable_types_is_named_by_type(tmp_path, capsys):
    inst = {"name": "mix", "objective": "min_gpus",
            "gpus": [{"type": "A30-24GB", "count": 3}, {"type": "H100-SXM5-80GB", "count": 10}],
            "models": [{"name": "m", "slo_ms": 10, "demand_rps": 5000}],
            "measurements": [{"model": "m", "gpu": "A30-24GB", "profile": "4g.24gb", "batch": 1, "latency_ms": 2}]}
    path = tmp_path / "mix.json"
    path.write_text(json.dumps(inst))
    assert main(["solve", str(path)]) == 1
    err = capsys.readouterr().err
    assert "3 A30-24GB serve at most" in err
    assert "10 H100-SXM5-80GB serve no model" in err
    assert "min_gpus needs 10 GPU(s)" in err and "the usable pool has 3 (3 A30-24GB)" in err
