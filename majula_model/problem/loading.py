"""Reading contract files from disk: JSON parse, pydantic validation, `file: field: reason` errors.

Why one place: every command reads instances and calibration files the same way, and the error messages tests
assert on come from here. Catalog-dependent checks (GPU types, profiles) are done by ``validation.py``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..hardware.catalog import Catalog, default_catalog
from ..errors import InputError, format_loc, validation_reason
from ..jsonfile import MAX_JSON_DEPTH, loads, read_text, shown
from ..jsonfile import read_json  # noqa: F401 - re-exported: callers read other JSON files with it
from ..schema import CalibrationFile, Instance, MeasurementRecord, Plan
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
    seen: dict[str, int] = {}
    for j, rel in enumerate(instance.calibration):
        path = base / rel
        same = seen.setdefault(_real_path(path), j)
        if same != j:  # read twice, every record would count twice (and conflict with itself under a rewrite)
            raise InputError(f"the same calibration file as calibration[{same}] ({shown(path)})", file=file,
                             field=f"calibration[{j}]")
        cal = _load_named_calibration(path, file, f"calibration[{j}]")
        recs += [SourcedRecord(r, str(path), f"measurements[{i}]") for i, r in enumerate(cal.measurements)]
        if is_prior(cal):
            priors.append(str(path))
    merged = merge_duplicates(recs, catalog, set(priors), strict=instance.policy.strict_measurements)
    return Problem(instance, file, catalog, tuple(merged), tuple(priors))


def _real_path(path: Path) -> str:
    """The resolved real path (links and ``..`` followed), to tell two spellings of one file apart; the path as
    written where it cannot be resolved (reading it will then say why)."""
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return str(path)


@dataclass(frozen=True)
class MergedRecord(SourcedRecord):
    """A point measured more than once with different numbers: the conservative record kept (slower latency,
    larger memory, lower throughput), with the records it was merged from, so ``notes`` can name both sources."""

    others: tuple[SourcedRecord, ...] = ()


def _point(r: MeasurementRecord, catalog: Catalog) -> tuple:
    """What makes two records the same point: model, canonical GPU type, profile, batch, processes, the kind of
    slice and the co-located peers (in any order)."""
    gpu = catalog.resolve(r.gpu) or r.gpu
    peers = tuple(sorted((c.model, c.batch) for c in r.colocated))
    return r.model, gpu, r.profile, r.batch, r.processes, r.emulated, peers


def _numbers(r: MeasurementRecord) -> tuple:
    return r.latency_ms, r.p50_ms, r.p90_ms, r.throughput_rps, r.memory_gb


def merge_duplicates(records: list[SourcedRecord], catalog: Catalog, prior_files: set[str] = frozenset(),
                     strict: bool = False) -> list[SourcedRecord]:
    """One record per point, in the order points first appear.

    Why: two records of one point used to both reach the planner, which took the faster (40 ms and 4 ms: the
    capacity came from 4 ms), and an inline 0.001 ms point silently beat a calibration file's 7 ms. Identical
    numbers are one measurement listed twice: merged without a word. Different numbers are a conflict: the
    conservative values are kept (the slower record, with the largest memory and the lowest throughput of the
    group) as a ``MergedRecord`` that ``notes`` reports; with ``strict`` (``policy.strict_measurements``) the
    conflict is an InputError naming both places. Records of prior files (analytic-prior predictions) are never
    merged with measurements: the rule of ``perf/sources.py`` already puts measurements first.
    """
    groups: dict[tuple, list[SourcedRecord]] = {}
    for s in records:
        groups.setdefault(_point(s.record, catalog) + (s.file in prior_files,), []).append(s)
    out: list[SourcedRecord] = []
    for group in groups.values():
        if len(group) == 1 or len({_numbers(g.record) for g in group}) == 1:
            out.append(group[0])
            continue
        if strict:
            first, later = group[0], next(g for g in group if _numbers(g.record) != _numbers(group[0].record))
            raise InputError(f"this point was also measured at {shown(first.file)} {first.field} with other numbers "
                             f"(latency_ms {later.record.latency_ms:g} here, {first.record.latency_ms:g} there); "
                             f"policy.strict_measurements refuses conflicting measurements", file=later.file,
                             field=later.field)
        slow = max(group, key=lambda g: g.record.latency_ms)
        mems = [g.record.memory_gb for g in group if g.record.memory_gb is not None]
        rate = min(g.record.rate_rps for g in group)
        update: dict = {}
        if mems and max(mems) != slow.record.memory_gb:
            update["memory_gb"] = max(mems)
        if rate < slow.record.rate_rps:
            update["throughput_rps"] = rate
        rec = slow.record.model_copy(update=update) if update else slow.record
        out.append(MergedRecord(rec, slow.file, slow.field, tuple(g for g in group if g is not slow)))
    return out


def merge_notes(records: tuple[SourcedRecord, ...] | list[SourcedRecord], shown_at_most: int = 3) -> list[str]:
    """The note for conflicting duplicates merged by ``merge_duplicates``, naming both sources (file and field)
    of the worst conflicts (largest latency ratio first); empty when there were none."""
    merged = [s for s in records if isinstance(s, MergedRecord)]
    if not merged:
        return []

    def ratio(s: MergedRecord) -> float:
        return s.record.latency_ms / min(o.record.latency_ms for o in s.others)

    parts = []
    for s in sorted(merged, key=ratio, reverse=True)[:shown_at_most]:
        r, o = s.record, min(s.others, key=lambda x: x.record.latency_ms)
        parts.append(f"{r.model} {r.gpu} {r.profile} batch {r.batch} x{r.processes}: kept {r.latency_ms:g} ms "
                     f"({shown(s.file)} {s.field}) over {o.record.latency_ms:g} ms ({shown(o.file)} {o.field})")
    more = f"; and {len(merged) - shown_at_most} more" if len(merged) > shown_at_most else ""
    return [f"{len(merged)} point(s) measured more than once with different numbers: kept the conservative values "
            f"(slower latency, larger memory, lower throughput): " + "; ".join(parts) + more
            + " (policy.strict_measurements: true refuses them)"]


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
    simulate): results built on prior predictions, conflicting duplicate measurements and which value was kept,
    pool GPU types no record covers, and what sharing rests on. What predictions for unmeasured GPU types rest on
    is ``perf.prediction.unmeasured_notes`` (it needs the performance model)."""
    out = []
    if problem.prior_files:
        out.append("numbers come from analytic-prior predictions, NOT measurements ("
                   + ", ".join(os.path.normpath(f) for f in problem.prior_files) + "): use them to start, measure to plan")
    out += merge_notes(problem.records)
    covered = {problem.catalog.resolve(r.gpu) for r in problem.measurements}
    for g in problem.instance.gpus:
        gpu = problem.catalog.resolve(g.type)
        if gpu not in covered and not problem.instance.policy.use_predictions:  # else perf says what it rests on
            out.append(f"pool {g.type} ({g.count} GPUs) has no measurements of any model: plans will not use it; "
                       f"policy.use_predictions: true would plan it from predictions (other GPU types' measurements "
                       f"transferred by the catalog's specifications, else the analytic prior)")
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
