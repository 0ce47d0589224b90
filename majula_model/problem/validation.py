"""Semantic checks of an instance against the catalog, done once, up front.

Pydantic has already checked shapes and ranges; here: GPU types and profiles exist, no record claims more memory
than its profile has, and every served model has measurements on some GPU of the pool, or, with
``policy.use_predictions``, on some GPU type at all (then the performance model predicts the pool types it was
never measured on: ``perf/sources.py``, rules 4 and 5). Each failure is an InputError naming file, field and
reason. Whether each model can meet its SLO at all is a separate question (``slo_problems``): its answer is
exit 1, not 2.
"""

from __future__ import annotations

from typing import Iterable

from ..errors import InputError
from ..hardware.catalog import Catalog
from .problem import Problem, SourcedRecord

GIB_PER_GB = 2 ** 30 / 1e9
"""A profile's nominal size may be GiB while records are in GB (``torch.cuda.max_memory_allocated() / 1e9``): a
1g.10gb slice holds up to 10.74 GB. A record is refused only above that."""


def check_records(records: Iterable[SourcedRecord], cat: Catalog) -> None:
    """InputError for the first record whose GPU type or profile is unknown, or whose memory exceeds what its
    profile has (a 500 GB peak on a 40 GB slice is a typo or a unit error, and would otherwise only make the point
    silently unusable). Also used by ``majula predict`` on a calibration file."""
    for s in records:
        r = s.record
        gpu_name = cat.resolve(r.gpu)
        if gpu_name is None:
            raise InputError(f"unknown GPU type '{r.gpu}'", file=s.file, field=f"{s.field}.gpu")
        gpu = cat.gpus[gpu_name]
        if not gpu.has_profile(r.profile):
            raise InputError(f"{gpu_name} has no profile '{r.profile}'", file=s.file, field=f"{s.field}.profile")
        have = gpu.profile_memory_gb(r.profile)
        if r.memory_gb is not None and r.memory_gb > have * GIB_PER_GB:
            raise InputError(f"{r.memory_gb:g} GB is more than {gpu_name} {r.profile} has ({have:g} GB in the "
                             f"catalog): no run can have used it", file=s.file, field=f"{s.field}.memory_gb")


def check(problem: Problem) -> None:
    """Raise InputError for the first semantic problem of ``problem``."""
    inst, cat, file = problem.instance, problem.catalog, problem.file
    for i, pool in enumerate(inst.gpus):
        if cat.resolve(pool.type) is None:
            raise InputError(f"unknown GPU type '{pool.type}' (known: {', '.join(cat.gpus)})",
                             file=file, field=f"gpus[{i}].type")
    canon = [cat.resolve(p.type) for p in inst.gpus]
    if len(set(canon)) != len(canon):
        raise InputError("two pools name the same GPU type (through an alias)", file=file, field="gpus")
    check_records(problem.records, cat)
    pool_types = set(canon)
    for i, m in enumerate(inst.models):
        if m.demand_rps == 0:  # retired: it gets no instance, so it needs no measurements
            continue
        mine = [s.record for s in problem.records if s.record.model == m.name]
        if any(cat.resolve(r.gpu) in pool_types for r in mine):
            continue
        elsewhere = sorted({cat.resolve(r.gpu) for r in mine if not r.colocated})
        if elsewhere and inst.policy.use_predictions:  # predicted there: perf/sources.py, rules 4 and 5
            continue
        hint = (f"; it was measured on {', '.join(elsewhere)}: policy.use_predictions: true would plan it from "
                f"predictions (transferred by the catalog's specifications)") if elsewhere else ""
        raise InputError(f"model '{m.name}' has no measurements on any GPU type of the pool "
                         f"({', '.join(sorted(pool_types))}){hint}", file=file, field=f"models[{i}].name")
