"""Fuzzing plan files (issue 11): `majula simulate` on mutated plans never crashes, and replays exactly the plans
an independent check of the same rules accepts.

Seeds: the golden demo plan (tests/golden/plan_golden_demo.json, unshared, a whole-GPU instance) and two plans
the placer makes for the hand-worked sharing instances T (a time-shared instance) and M (an MPS pair), each
written next to its instance file. A mutation drops, duplicates or replaces a field or array item anywhere in
the document, or wraps it in an array or object: numbers from 1e-320 to 1e300 of either sign, 0, big integers,
NaN and Infinity (as JSON tokens and as strings), strings, booleans, null, empty arrays and objects, another
field's value. One to three mutations per example, then `majula simulate` through `cli.main` (0.5 s, seed 0).

Invariants: the exit code is 0, 1 or 2; no traceback and never the catch-all "gap in majula's input checks";
and exit 0 exactly when the mutated file is a valid Plan that ``simulable`` below accepts. ``simulable`` is
this file's own reading of docs/simulator.md ("What a plan is checked for"), built from the test-side
references (``reference.placements_ref`` for layouts, ``reference.shared_check`` for records), not from
``majula_model.simulator.plan_validation``: a validator that lets a bad plan through fails the first direction,
one that refuses a good plan the second.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from majula_model.cli import main
from majula_model.errors import InputError
from majula_model.problem.loading import load_instance, load_plan
from majula_model.schema import Plan
from reference.placements_ref import check_gpu
from reference.shared_brute import hand_m, hand_t
from reference.shared_check import colocated_records, mps_offered_without_record, solo_records

from conftest import ROOT

GAP = "gap in majula's input checks"
DURATION_S = 0.5
LIMIT = 200_000_000  # requests the simulator holds (docs/simulator.md, "What a plan is checked for")
REL = 1e-6


# --- the independent check -------------------------------------------------------------------------------------

def _close(a: float, b: float) -> bool:
    return abs(a - b) <= REL * max(abs(a), abs(b))


def simulable(problem, plan: Plan, load: float = 1.0, duration_s: float = DURATION_S) -> str | None:
    """Why ``plan`` may not be simulated against ``problem`` (docs/simulator.md's list, re-read), or None.

    Points are matched against the solo records directly (the seed instances have no emulated or prior
    records and do not use predictions)."""
    inst, cat, pol = problem.instance, problem.catalog, problem.instance.policy
    if plan.instance != inst.name:
        return "instance name"
    if plan.status not in ("optimal", "feasible"):
        return "status"
    demand = {m.name: m.demand_rps for m in inst.models}
    names = [m.name for m in plan.models]
    if any(n not in demand for n in names) or len(set(names)) != len(names):
        return "models: unknown or repeated"
    for m in plan.models:
        if not all(math.isfinite(v) and v >= 0 for v in (m.demand_rps, m.served_rps, m.capacity_rps)):
            return "models: a total is negative"
        if not _close(m.demand_rps, demand[m.name]):
            return "models: another demand"
    pools = {cat.resolve(p.type): p.count for p in inst.gpus}
    ids = [g.id for g in plan.gpus]
    if len(set(ids)) != len(ids):
        return "duplicate GPU ids"
    used: Counter = Counter()
    rate: Counter = Counter()
    cap: Counter = Counter()
    for g in plan.gpus:
        t = cat.resolve(g.type)
        if t not in pools:
            return "GPU type"
        used[t] += 1
        if used[t] > pools[t] or not g.instances:
            return "pool count or an empty GPU"
        gpu = cat.gpus[t]
        try:
            check_gpu(gpu, g.geometry, [(i.profile, i.start) for i in g.instances])
        except (AssertionError, KeyError):
            return "layout"
        for ins in g.instances:
            if len(ins.models) > pol.max_models_per_instance:
                return "models per instance"
            if ins.sharing != "none" and ins.sharing not in pol.sharing_modes:
                return "sharing mode"
            mem_cap = gpu.profile_memory_gb(ins.profile)
            memory = 0.0
            for run in ins.models:
                if run.name not in demand:
                    return "run of an unknown model"
                if pol.max_processes is not None and run.processes > pol.max_processes:
                    return "processes"
                recs = solo_records(problem, run.name, t, ins.profile, run.batch, run.processes)
                if not recs:
                    return "point not measured"
                need = min(0.0 if r.memory_gb is None else r.memory_gb for r in recs)
                if ins.sharing == "none" and need > mem_cap:
                    return "memory"
                memory += need
                rate[run.name] += run.rate_rps
                cap[run.name] += run.capacity_rps
            if ins.sharing != "none" and memory > mem_cap * (1 + 1e-12):
                return "shared memory"
            if ins.sharing == "time" and not _close(ins.cycle_ms, sum(r.latency_ms for r in ins.models)):
                return "cycle_ms"
            if ins.sharing == "mps":
                for run in ins.models:
                    others = [o for o in ins.models if o is not run]
                    measured = len(others) == 1 and colocated_records(
                        problem, run.name, run.batch, others[0].name, others[0].batch, t, ins.profile)
                    if not measured and not mps_offered_without_record(problem, t):
                        return "MPS co-location"
    listed = {m.name: m for m in plan.models}
    if any(n not in listed for n in rate):
        return "a served model missing from models"
    for m in plan.models:
        if not (_close(m.served_rps, rate[m.name]) and _close(m.capacity_rps, cap[m.name])):
            return "totals"
    total = math.fsum(m.served_rps for m in plan.models)
    if total > LIMIT or load * duration_s * total > LIMIT:
        return "requests"
    return None


# --- seeds -----------------------------------------------------------------------------------------------------

def _solved(problem) -> dict:
    from majula_model.placer import solve

    return json.loads(solve(problem).model_dump_json())


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> list[tuple[Path, dict]]:
    """(instance file, plan document) for the golden demo, T (time sharing) and M (MPS)."""
    from golden.cases import golden_problem

    out = []
    d = tmp_path_factory.mktemp("seeds")
    golden = json.loads((ROOT / "tests" / "golden" / "plan_golden_demo.json").read_text())
    for name, problem, plan in (("golden", golden_problem(), golden), ("t", hand_t(), None), ("m", hand_m(), None)):
        path = d / f"{name}.json"
        path.write_text(problem.instance.model_dump_json())
        out.append((path, plan if plan is not None else _solved(problem)))
    sharing = {i["sharing"] for _, doc in out for g in doc["gpus"] for i in g["instances"]}
    assert sharing == {"none", "time", "mps"}, sharing  # every kind of instance is fuzzed
    return out


# --- mutations -------------------------------------------------------------------------------------------------

def _paths(doc, prefix=()) -> list[tuple]:
    """Every path to a value in the document (the root excluded)."""
    out = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for k, v in items:
        out.append(prefix + (k,))
        out.extend(_paths(v, prefix + (k,)))
    return out


def _get(doc, path):
    for k in path:
        doc = doc[k]
    return doc


NUMBERS = st.one_of(
    st.floats(min_value=1e-320, max_value=1e300, allow_nan=False, allow_infinity=False),
    st.floats(min_value=-1e300, max_value=-1e-320, allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 0.0, -0.0, 1, -1, 2, 3, 5, 7, 15, 64, 65536, 65537, 2 ** 31, 2 ** 63, 10 ** 30, 1e-320,
                     1e300, 1e12, 0.5, 2.0]),
    st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.sampled_from([float("nan"), float("inf"), float("-inf")]),  # written as the tokens NaN, Infinity
)
VALUES = st.one_of(
    NUMBERS,
    st.sampled_from(["NaN", "nan", "Infinity", "-inf", "1e999", "", " ", "full", "mps", "time", "none", "cpu",
                     "A100-SXM4-80GB", "H100-SXM5-80GB", "7g.80gb", "1g.10gb", "3g.40gb", "resnet", "a", "b",
                     "optimal", "feasible", "infeasible", "no_solution", "min_gpus", "\u00e9\u6f22", "0"]),
    st.text(max_size=8), st.booleans(), st.none(), st.just([]), st.just({}),
)


SMALL_INTS = st.one_of(st.integers(-2, 9), st.sampled_from([15, 16, 32, 64, 128, 1024, 1025, 65536, 65537, 2 ** 40]))
NAMES = st.sampled_from(["A100-SXM4-80GB", "A100-SXM4-40GB", "A30-24GB", "cpu", "full", "7g.80gb", "4g.40gb",
                         "3g.40gb", "2g.20gb", "1g.10gb", "4g.24gb", "2g.12gb", "1g.6gb", "resnet", "bert", "tiny",
                         "a", "b", "none", "time", "mps", "optimal", "feasible", "no_solution", "golden-demo", "T",
                         "M", "x"])


def _alike(value) -> st.SearchStrategy:
    """Values of the JSON type of ``value``: integers for integers, numbers for numbers (also a small change
    of this one), names for strings; an array or object keeps its items with one dropped or repeated."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.one_of(SMALL_INTS, st.just(value + 1), st.just(max(0, value - 1)))
    if isinstance(value, float):
        return st.one_of(st.sampled_from([value * 2, value / 2, value * (1 + 1e-9), value + 1.0, 0.0, 1e12]),
                         NUMBERS)
    if isinstance(value, str):
        return NAMES
    if isinstance(value, list) and value:
        return st.integers(0, len(value) - 1).flatmap(lambda i: st.sampled_from(
            [value[:i] + value[i + 1:], value[:i + 1] + [value[i]] + value[i + 1:]]))
    return VALUES


@st.composite
def mutated(draw, seeds_: list) -> tuple[Path, dict]:
    instance, doc = draw(st.sampled_from(seeds_))
    doc = json.loads(json.dumps(doc))
    semantic = draw(st.booleans())  # half the examples keep every JSON type: they test the plan's meaning
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _get(doc, path[:-1]), path[-1]
        op = "alike" if semantic else draw(st.sampled_from(["drop", "duplicate", "replace", "wrap", "swap", "alike"]))
        if op == "alike":  # a value of the same JSON type: gets past the schema to the plan's meaning
            parent[key] = draw(_alike(parent[key]))
        elif op == "drop":
            del parent[key]
        elif op == "duplicate":
            value = json.loads(json.dumps(parent[key]))
            if isinstance(parent, list):
                parent.insert(key, value)
            else:
                parent[key + draw(st.sampled_from(["", "_", "2"]))] = value
        elif op == "replace":
            parent[key] = draw(VALUES)
        elif op == "wrap":
            parent[key] = draw(st.sampled_from([[parent[key]], {"value": parent[key]}, [[parent[key]]]]))
        else:  # swap in another field's value (the right type in the wrong place)
            other = draw(st.sampled_from(paths))
            parent[key] = json.loads(json.dumps(_get(doc, other)))
    return instance, doc


# --- the test --------------------------------------------------------------------------------------------------

def _simulate(instance: Path, plan_path: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["simulate", str(instance), "--plan", str(plan_path), "--duration", str(DURATION_S),
                     "--seed", "0"])
    return code, err.getvalue()


def test_every_seed_simulates(seeds, tmp_path):
    for instance, doc in seeds:
        path = tmp_path / "plan.json"
        path.write_text(json.dumps(doc))
        code, err = _simulate(instance, path)
        assert code == 0, err
        assert simulable(load_instance(str(instance)), load_plan(path)) is None


def test_mutated_plan_files(seeds, tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    problems = {instance: load_instance(str(instance)) for instance, _ in seeds}
    seen: Counter = Counter()  # what the examples reached: not a Plan, refused (by the rule), simulated

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow],
              database=None)
    @given(mutated(seeds))
    def check(case):
        instance, doc = case
        path = d / "plan.json"
        path.write_text(json.dumps(doc))  # NaN and Infinity become the JSON tokens a hand-edited file may hold
        code, err = _simulate(instance, path)
        assert code in (0, 1, 2), (code, err)
        assert "Traceback" not in err and GAP not in err, err
        try:
            plan = load_plan(path)
        except InputError:
            assert code == 2, "a file that is not a valid Plan was simulated"
            seen["not a Plan"] += 1
            return
        why = simulable(problems[instance], plan)
        seen[why or "simulated"] += 1
        if code == 0:
            assert why is None, f"simulated a plan the independent check refuses ({why}): {json.dumps(doc)[:800]}"
        else:
            assert why is not None, f"refused a plan the independent check accepts: {err.strip()}"
            line = err.strip().splitlines()[-1]
            assert line.startswith("majula: error: ") and str(path) in line, err

    check()
    # the fuzz reaches the plan's meaning, not only the schema (typically about 60 of 200 examples are Plans,
    # about 12 of them simulated)
    assert sum(seen.values()) - seen["not a Plan"] >= 20 and seen["simulated"] >= 1, dict(seen)
