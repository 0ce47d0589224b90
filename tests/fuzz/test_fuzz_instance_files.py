"""Fuzzing instance files (issue 11): mutations of the bundled ``instances/default.json`` through the CLI.

Each example drops, duplicates or alters fields of the valid instance (numbers from 5e-324 to 1e300 and
negative, wrong types, deep nesting, odd and unicode strings, unicode and empty keys, NaN), writes it and runs
``majula validate`` and ``majula solve`` through ``majula_model.cli.main``. The invariant is the CLI contract
(docs/cli.md): exit 0, 1 or 2, never a traceback, never the catch-all "gap in majula's input checks" (which
means an input reached code that did not expect it). Plan correctness is not judged here: tiny or huge numbers
are another issue's (numeric scaling in the placer); only that every input gets a defined answer.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import ROOT
from majula_model.cli import main

EXTREMES = [5e-324, 1e-320, 1e-300, 1e-12, 1e-9, 1e-3, 0.0, -0.0, -1.0, -1e300, 1e300, 1e308, 65537, 2 ** 31,
            2 ** 63, -(2 ** 63), 10 ** 30, 0.5, 1.5, 3.0]
ODD = ["", " ", "\x00", "\u202e", "\ud800", "ø", "💥", "../../etc/passwd", "/dev/zero", "1e999", "NaN", "full",
       "cpu", "3g.40gb", "A100-80GB", "H100", "poisson", "min_gpus", "a" * 300]
leaves = st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 70), 2 ** 70), st.sampled_from(EXTREMES),
                   st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12), st.sampled_from(ODD))
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=4) | st.sampled_from(ODD), inner, max_size=3),
                      max_leaves=6)
OPS = ("drop", "replace", "duplicate", "add_key", "deep", "number", "nan", "same_type", "same_type", "same_type")
"""``same_type`` (drawn most often) keeps the JSON type of what it replaces, so the file still parses as an
instance and the odd value reaches the checks and the stages behind them."""


DEEP = "\x00deep:"
"""A string that ``dump`` replaces with nesting deeper than Python's json writer can produce."""


def paths(doc, prefix=(), limit=8) -> list[tuple]:
    """Every path into ``doc`` (keys and list indices) down to ``limit`` levels, the root excluded."""
    out = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for k, v in items:
        out.append(prefix + (k,))
        if limit > 1:
            out += paths(v, prefix + (k,), limit - 1)
    return out


def dump(doc) -> str:
    """JSON text of ``doc``, with every ``DEEP`` marker replaced by its nesting (``"\x00deep:list:3000"``)."""
    text = json.dumps(doc)
    marker = json.dumps(DEEP)[:-1]
    while (i := text.find(marker)) >= 0:
        j = text.index('"', i + 1)
        _, kind, depth = json.loads(text[i:j + 1]).split(":")
        opener, closer = ("[", "]") if kind == "list" else ('{"a":', "}")
        text = text[:i] + opener * int(depth) + "1" + closer * int(depth) + text[j + 1:]
    return text


def mutate(doc, data) -> object:
    """Apply one drawn mutation to ``doc`` (in place where possible; the root may be replaced)."""
    op = data.draw(st.sampled_from(OPS), label="op")
    where = paths(doc)
    if not where or data.draw(st.integers(0, 20), label="at root") == 0:
        return data.draw(values, label="root") if op == "replace" else doc
    path = data.draw(st.sampled_from(where), label="path")
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1]
    if op == "drop":
        del parent[key]
    elif op == "duplicate":
        if isinstance(parent, list):
            parent.insert(key, json.loads(json.dumps(parent[key])))
        else:
            parent[f"{key}_copy"] = parent[key]
    elif op == "add_key":
        target = parent[key] if isinstance(parent[key], dict) else parent
        if isinstance(target, dict):
            target[data.draw(st.sampled_from(["", "\u00e9", "💥", " ", "name"]) | st.text(max_size=3), label="k")] = \
                data.draw(values, label="v")
    elif op == "deep":
        parent[key] = f"{DEEP}{data.draw(st.sampled_from(['list', 'dict']), label='kind')}:" \
                      f"{data.draw(st.sampled_from([50, 300, 3000]), label='depth')}"
    elif op == "number":
        parent[key] = data.draw(st.sampled_from(EXTREMES) | st.floats(allow_nan=False, allow_infinity=False),
                                label="number")
    elif op == "same_type":
        parent[key] = same_type(parent[key], data)
    elif op == "nan":
        parent[key] = data.draw(st.sampled_from([math.nan, math.inf, -math.inf]), label="nan")
    else:
        parent[key] = data.draw(values, label="value")
    return doc


def same_type(old, data):
    """A value of the JSON type of ``old``: an extreme number for a number, an odd string for a string."""
    if isinstance(old, bool):
        return not old
    if isinstance(old, int):
        return data.draw(st.sampled_from([0, 1, -1, 2, 7, 64, 1000, 65536, 65537, 10 ** 6, 2 ** 31, -(2 ** 63)]),
                         label="int")
    if isinstance(old, float):
        return data.draw(st.sampled_from(EXTREMES) | st.floats(-1e6, 1e6), label="float")
    if isinstance(old, str):
        return data.draw(st.sampled_from(ODD) | st.text(max_size=8), label="str")
    if isinstance(old, list):
        return old[:data.draw(st.integers(0, len(old)), label="keep")] * data.draw(st.integers(1, 2), label="times")
    return old


def run_cli(*argv: str) -> tuple[int, str]:
    """``majula_model.cli.main`` with stdout and stderr as a terminal has them (UTF-8; stdout strict, stderr
    backslash-replacing, as Python sets them up): (exit code, stderr). A lone surrogate printed to stdout fails
    as it would in a terminal."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace")
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    err.seek(0)
    return code, err.read()


def assert_contract(code: int, err: str, what: str) -> None:
    assert code in (0, 1, 2), f"{what}: exit {code}: {err}"
    assert "Traceback" not in err, f"{what}: {err}"
    assert "gap in majula's input checks" not in err, f"{what}: {err}"


def bundled_default() -> dict:
    """``instances/default.json`` with its calibration path made absolute (the mutant lives elsewhere)."""
    doc = json.loads((ROOT / "instances" / "default.json").read_text())
    doc["calibration"] = [str((ROOT / "instances" / c).resolve()) for c in doc["calibration"]]
    return doc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_mutated_instance_files_get_a_defined_answer(data):
    doc = bundled_default()
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        doc = mutate(doc, data)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inst.json"
        path.write_text(dump(doc), encoding="utf-8")
        for command in (["validate", str(path)], ["solve", str(path), "--time-limit", "5"]):
            assert_contract(*run_cli(*command), f"{command[0]} {json.dumps(doc)[:2000]}")
