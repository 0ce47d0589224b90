"""Semantic checks of an instance against the catalog, done once, up front.

Pydantic has already checked shapes and ranges; here: GPU types and profiles exist, every model has
measurements on some GPU of the pool. Each failure is an InputError naming file, field and reason. Whether each
model can meet its SLO at all is a separate question (``slo_problems``): its answer is exit 1, not 2.
"""

from __future__ import annotations

from ..errors import InputError
from .problem import Problem


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
    for s in problem.records:
        r = s.record
        gpu_name = cat.resolve(r.gpu)
        if gpu_name is None:
            raise InputError(f"unknown GPU type '{r.gpu}'", file=s.file, field=f"{s.field}.gpu")
        if not cat.gpus[gpu_name].has_profile(r.profile):
            raise InputError(f"{gpu_name} has no profile '{r.profile}'", file=s.file, field=f"{s.field}.profile")
    pool_types = set(canon)
    for i, m in enumerate(inst.models):
        if m.demand_rps == 0:  # retired: it gets no instance, so it needs no measurements
            continue
        if not any(s.record.model == m.name and cat.resolve(s.record.gpu) in pool_types for s in problem.records):
            raise InputError(f"model '{m.name}' has no measurements on any GPU type of the pool "
                             f"({', '.join(sorted(pool_types))})", file=file, field=f"models[{i}].name")
