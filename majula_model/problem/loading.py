"""Reading contract files from disk: JSON parse, pydantic validation, `file: field: reason` errors.

Why one place: every command reads instances and calibration files the same way, and the error messages tests
assert on come from here. Catalog-dependent checks (GPU types, profiles) are done by ``validation.py``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..hardware.catalog import Catalog, default_catalog
from ..errors import InputError, format_loc, validation_reason
from ..jsonfile import MAX_JSON_DEPTH, loads, read_text, shown
from ..jsonfile import read_json  # noqa: F401 - re-exported: callers read other JSON files with it
from ..schema import CalibrationFile, Instance, Plan
from .problem import Problem, SourcedRecord
from .validation import check

T = TypeVar("T", bound=BaseModel)


_POSITION = re.compile(r" at line \d+ column \d+$")


def parse(model: type[T], data: Any, file: str | None, prefix: str = "") -> T:
    """Validate ``data`` (parsed JSON) as ``model``; the first error becomes `file: field: reason`.

    JSON types are strict: a string is not a number ("50" for ``slo_ms``), a bool or 8.0 is not an integer, a
    number is not a string; an integer is a number (50 for a float field). Why through JSON text: pydantic's
    strict mode on Python objects would also refuse JSON arrays for the models' tuple fields, while strict JSON
    validation judges exactly the JSON types. Code that builds models in Python keeps pydantic's lax mode.

    Positions: ``json_invalid`` errors from pydantic point into the re-serialised text, not into the user's file,
    so their line and column are dropped here (``jsonfile.read_json`` reports positions in the user's own text).
    """
    try:
        text = json.dumps(data)
    except RecursionError:
        raise InputError(f"nested too deeply (more than {MAX_JSON_DEPTH} levels of arrays and objects)",
                         file=file, field=prefix or None) from None
    try:
        return model.model_validate_json(text, strict=True)
    except ValidationError as e:
        err = e.errors()[0]
        loc = format_loc(tuple(err["loc"]))
        reason = validation_reason(err)
        if err.get("type") == "json_invalid":  # about our re-serialised text: no position, say what it means
            detail = _POSITION.sub("", str((err.get("ctx") or {}).get("error", err.get("msg", ""))))
            reason = (f"nested too deeply (more than {MAX_JSON_DEPTH} levels of arrays and objects)"
                      if "recursion" in detail else f"not valid JSON data: {detail}")
            raise InputError(reason, file=file, field=prefix or None) from None
        inner = re.match(r"([A-Za-z_]+\[\d+\](?:\.[A-Za-z_]+)?): (.*)", reason)
        if inner and loc == "(top level)":  # a model validator naming the element itself: use it as the field
            loc, reason = inner.group(1), inner.group(2)
        field_name = f"{prefix}.{loc}" if prefix and loc != "(top level)" else (prefix or loc)
        raise InputError(reason, file=file, field=field_name) from None


_KIND_NAMES = {"instance": "an instance file", "plan": "a plan file", "calibration": "a calibration file",
               "catalog": "a GPU catalog file"}


def contract_kind(data: Any) -> str | None:
    """Which contract file parsed JSON is, by its top-level keys: "plan", "calibration", "instance", "catalog",
    or None when it is none of them clearly (then validation says what is wrong with it).

    Why: handed the wrong kind of file, validation would report the first field missing ("name: required field
    missing" for a plan given to ``majula solve``), which hides the actual mistake. The rules are loose enough
    for a broken file of the right kind to still get field-level errors: a calibration file has measurements and
    nothing an instance needs; a catalog's GPU entries describe hardware (compute_slices), not pools.
    """
    if not isinstance(data, dict):
        return None
    keys = set(data)
    if {"instance", "objective", "status", "gpus", "models"} <= keys:
        return "plan"
    if "measurements" in keys and not keys & {"name", "gpus", "models"}:
        return "calibration"
    if {"gpus", "models"} <= keys:
        return "instance"
    gpus = data.get("gpus")
    if "models" not in keys and isinstance(gpus, list) and any(isinstance(g, dict) and "compute_slices" in g
                                                                for g in gpus):
        return "catalog"
    return None


def check_kind(data: Any, want: str, file: str, command: str | None = None) -> None:
    """InputError when ``data`` is clearly another kind of contract file than ``want``: "this is a plan file;
    `majula solve` takes an instance file" (``command``: the subcommand, for the message)."""
    kind = contract_kind(data)
    if kind is None or kind == want:
        return
    taker = f"`majula {command}` takes {_KIND_NAMES[want]}" if command else f"expected {_KIND_NAMES[want]}"
    hint = " (GPU types are added with --catalog)" if kind == "catalog" else ""
    raise InputError(f"this is {_KIND_NAMES[kind]}; {taker}{hint}", file=file)


def load_calibration(path: str | Path, command: str | None = None) -> CalibrationFile:
    """Read a calibration file (``{"measurements": [...], "meta": {...}}``)."""
    data = read_json(path)
    check_kind(data, "calibration", str(path), command)
    return parse(CalibrationFile, data, str(path))


def load_plan(path: str | Path, command: str | None = None) -> Plan:
    """Read a plan file (``majula solve --json``)."""
    data = read_json(path)
    check_kind(data, "plan", str(path), command)
    return parse(Plan, data, str(path))


def problem_from_instance(instance: Instance, file: str | None = None, catalog: Catalog | None = None,
                          base_dir: Path | None = None) -> Problem:
    """Resolve an already-parsed instance: read its calibration files, collect records with their origin."""
    catalog = catalog or default_catalog()
    base = base_dir if base_dir is not None else (Path(file).parent if file else Path.cwd())
    recs = [SourcedRecord(r, file or "(instance)", f"measurements[{i}]") for i, r in enumerate(instance.measurements)]
    priors: list[str] = []
    for j, rel in enumerate(instance.calibration):
        path = base / rel
        cal = _load_named_calibration(path, file, f"calibration[{j}]")
        recs += [SourcedRecord(r, str(path), f"measurements[{i}]") for i, r in enumerate(cal.measurements)]
        if is_prior(cal):
            priors.append(str(path))
    return Problem(instance, file, catalog, tuple(recs), tuple(priors))


def _load_named_calibration(path: Path, file: str | None, field: str) -> CalibrationFile:
    """A calibration file an instance names. When the file itself cannot be read (missing, a directory, a FIFO, a
    device, too large, a name too long), the error names the instance file and ``calibration[i]`` that hold the
    path, and the path shortened (``jsonfile.shown``); problems inside the file name the calibration file."""
    try:
        found = path.exists()
        is_dir = found and path.is_dir()
    except OSError as e:  # e.g. a name too long for the file system
        raise InputError(f"cannot read calibration file {shown(path)}: {e.strerror or e}", file=file,
                         field=field) from None
    if not found:
        raise InputError(f"calibration file not found: {shown(path)}", file=file, field=field)
    if is_dir:
        raise InputError(f"{shown(path)} is a directory, not a calibration file", file=file, field=field)
    try:
        text = read_text(path)
    except InputError as e:
        raise InputError(f"calibration file {shown(path)}: {e.reason}", file=file, field=field) from None
    data = loads(text, shown(path))
    check_kind(data, "calibration", shown(path))
    return parse(CalibrationFile, data, shown(path))


def is_prior(cal: CalibrationFile) -> bool:
    """True for a calibration file whose meta says its records are analytic-prior predictions."""
    return bool(cal.meta) and "analytic-prior" in str(cal.meta.get("kind", ""))


def notes(problem: Problem) -> list[str]:
    """What a reader of any result from this problem must know about its inputs (printed by validate, solve and
    simulate): results built on prior predictions, pool GPU types no record covers, and what sharing rests on."""
    out = []
    if problem.prior_files:
        out.append("numbers come from analytic-prior predictions, NOT measurements ("
                   + ", ".join(os.path.normpath(f) for f in problem.prior_files) + "): use them to start, measure to plan")
    covered = {problem.catalog.resolve(r.gpu) for r in problem.measurements}
    for g in problem.instance.gpus:
        gpu = problem.catalog.resolve(g.type)
        if gpu not in covered:
            out.append(f"pool {g.type} ({g.count} GPUs) has no measurements of any model: plans will not use it "
                       f"unless policy.use_predictions gives it analytic-prior points")
    pol = problem.instance.policy
    if pol.max_models_per_instance > 1 and "mps" in pol.sharing_modes:
        colocated = {problem.catalog.resolve(r.gpu) for r in problem.measurements if r.colocated}
        bare = [g.type for g in problem.instance.gpus if problem.catalog.resolve(g.type) not in colocated]
        if bare and pol.interference_prior:
            out.append(f"MPS co-location on {', '.join(bare)} uses the conservative interference PRIOR (each "
                       f"co-runner adds one solo batch latency), a prediction, not a measurement (docs/sharing.md)")
        elif bare:
            out.append(f"MPS co-location is not offered on {', '.join(bare)}: no co-located measurements there "
                       f"(measure pairs, or set policy.interference_prior; docs/sharing.md)")
    return out


def load_instance(path: str | Path, catalog: Catalog | None = None, command: str | None = None) -> Problem:
    """Read an instance file and the calibration files it names, validated (see ``validation.check``).

    ``command`` names the CLI subcommand in the error for another kind of contract file (``check_kind``).

    Example::

        >>> from majula_model import load_instance
        >>> problem = load_instance("instances/default.json")   # doctest: +SKIP
    """
    data = read_json(path)
    check_kind(data, "instance", str(path), command)
    inst = parse(Instance, data, str(path))
    problem = problem_from_instance(inst, str(path), catalog)
    check(problem)
    return problem
