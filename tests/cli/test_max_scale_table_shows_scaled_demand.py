"""Finding B6 (issue 10): the max_scale table put base demand next to served values a factor higher. Max_scale
plans now show the scaled demand (demand x the plan's factor) that served is measured against."""

from __future__ import annotations

import pytest

from majula_model.outputs.plan_table import model_lines, render
from majula_model.schema import Plan


def _plan(kind: str, value: float) -> Plan:
    served = 100.0 * value if kind == "max_scale" else 100.0
    return Plan.model_validate({
        "instance": "t", "objective": {"kind": kind, "value": value, "bound": value}, "status": "optimal",
        "gap": 0.0, "solver": "highs", "solve_seconds": 0.1, "gpus": [],
        "models": [{"name": "a", "demand_rps": 100.0, "served_rps": served, "capacity_rps": served + 5},
                   {"name": "b", "demand_rps": 40.0, "served_rps": 0.4 * served, "capacity_rps": 0.4 * served}]})


def _row(lines: list[str], name: str) -> list[str]:
    return next(line.split() for line in lines if line.split() and line.split()[0] == name)


def test_max_scale_rows_show_demand_times_the_factor():
    lines = model_lines(_plan("max_scale", 3.0))
    head = lines[0].split()
    assert head[:5] == ["model", "demand", "scaled", "served", "capacity"]
    a, b = _row(lines, "a"), _row(lines, "b")
    assert a[1:4] == ["100.0", "300.0", "300.0"] and b[1:4] == ["40.0", "120.0", "120.0"]
    assert "scaled = demand x 3" in render(_plan("max_scale", 3.0))


@pytest.mark.parametrize("kind,value", [("min_gpus", 2.0), ("max_throughput", 140.0)])
def test_other_objectives_keep_their_columns(kind, value):
    lines = model_lines(_plan(kind, value))
    assert "scaled" not in lines[0] and lines[0].split()[:4] == ["model", "demand", "served", "capacity"]
    assert _row(lines, "a")[1:3] == ["100.0", "100.0"]
