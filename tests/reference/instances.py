"""Hypothesis strategies for tiny and small placement instances, synthetic or from the ParvaGPU data.

Why two sources: synthetic records reach corners the public data never shows (memory that does not fit,
missing throughput, process limits, SLO ties at fraction 0.5, two GPU types with different costs); ParvaGPU
records are what users will feed in. Every generated model qualifies somewhere, so the instance is never
infeasible for the SLO reason (min_gpus may still lack GPUs).
"""

from __future__ import annotations

from hypothesis import strategies as st

from majula_model import schema
from majula_model.problem import loading
from majula_model.hardware.catalog import FULL, default_catalog
from majula_model.problem.loading import Problem

SYNTH_PROFILES = {"A30-24GB": ["1g.6gb", "2g.12gb", "4g.24gb"],
                  "A100-SXM4-80GB": ["1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"]}
PARVA_PROFILES = ["1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"]
PARVA_MODELS = ["bert", "densenet121", "densenet169", "densenet201", "inceptionv3", "mobilenetv2", "resnet101",
                "resnet152", "resnet50", "vgg16", "vgg19"]
MODEL_NAMES = ["m0", "m1", "m2"]


def build(name: str, pools: list[tuple[str, int, float]], models: list[tuple[str, float, float]],
          records: list[schema.MeasurementRecord], policy: schema.Policy, objective: str) -> Problem:
    """A resolved problem from plain parts (pools as (type, count, cost), models as (name, slo, demand))."""
    inst = schema.Instance(
        name=name, gpus=[schema.GpuPool(type=t, count=n, cost=c) for t, n, c in pools],
        models=[schema.ModelDemand(name=m, slo_ms=s, demand_rps=d) for m, s, d in models],
        measurements=records, policy=policy, objective=objective)
    return loading.problem_from_instance(inst)


@st.composite
def synthetic(draw, max_gpus: int = 3, with_full: bool = False, objective: str = "max_throughput",
              a30_only: bool = False, profiles: tuple[int, int] = (2, 3)) -> Problem:
    """1-``max_gpus`` GPUs of one or two types, 1-3 models, ``profiles`` measured profiles per type. GPU names
    are sometimes aliases, and a record on a type outside the pools (which must be ignored) may appear."""
    choices = [["A30-24GB"], ["A30-24GB"], ["A100-SXM4-80GB"], ["A30-24GB", "A100-SXM4-80GB"]]
    types = draw(st.sampled_from(choices[:1] if a30_only else choices))
    counts = [1] * len(types)
    for _ in range(draw(st.integers(0, max_gpus - len(types)))):
        counts[draw(st.integers(0, len(types) - 1))] += 1
    costs = [draw(st.sampled_from([1.0, 1.0, 1.5, 2.0, 3.0])) for _ in types]
    fraction = draw(st.sampled_from([0.5, 0.45]))
    policy = schema.Policy(latency_budget_fraction=fraction, max_processes=draw(st.sampled_from([None, 1, 2, 3])))
    models = []
    for name in MODEL_NAMES[:draw(st.integers(1, 3))]:
        # With fraction 0.45 the SLO ends in .1, so no budget equals a latency (ties only at 0.5, exactly).
        slo = draw(st.integers(10, 100)) + (0.1 if fraction == 0.45 else 0.0)
        models.append((name, slo, float(draw(st.integers(20, 3000)))))
    cat = default_catalog()
    records = []

    def key(r: schema.MeasurementRecord) -> tuple:
        """The point a record measures (docs/data-format.md, "What is checked, and how duplicates are handled")."""
        return r.model, cat.resolve(r.gpu), r.profile, r.batch, r.processes

    chosen = {t: draw(st.lists(st.sampled_from(SYNTH_PROFILES[t]), min_size=profiles[0],
                                max_size=min(profiles[1], len(SYNTH_PROFILES[t])), unique=True)) for t in types}
    names = {t: draw(st.sampled_from([t, *cat.gpus[t].aliases])) for t in types}
    for name, slo, _ in models:
        for t in types:
            for p in chosen[t] + ([FULL] if with_full and draw(st.booleans()) else []):
                mem = cat.gpus[t].profile_memory_gb(p)
                for _ in range(draw(st.integers(0, 3))):
                    r = schema.MeasurementRecord(
                        model=name, gpu=names[t], profile=p, batch=draw(st.sampled_from([1, 2, 4, 8, 16])),
                        processes=draw(st.integers(1, 3)), latency_ms=draw(st.integers(1, 80)) / 1.0,
                        throughput_rps=draw(st.one_of(st.none(), st.integers(10, 2000).map(float))),
                        memory_gb=draw(st.one_of(st.none(), st.floats(0.5, mem * 1.5).map(lambda x: round(x, 1)))))
                    if key(r) not in {key(o) for o in records}:  # one record per point: repeats are merged
                        records.append(r)
        t = draw(st.sampled_from(types))
        p = draw(st.sampled_from(chosen[t]))
        sure = schema.MeasurementRecord(  # the guaranteed qualifying point
            model=name, gpu=t, profile=p, batch=draw(st.sampled_from([1, 2, 4])),
            latency_ms=float(draw(st.integers(1, int(fraction * slo)))),
            throughput_rps=draw(st.one_of(st.none(), st.integers(10, 2000).map(float))))
        records = [o for o in records if key(o) != key(sure)] + [sure]  # it replaces a record of its point
        if draw(st.integers(0, 4)) == 0:  # a fast point on a GPU type nobody has: must not count
            records.append(schema.MeasurementRecord(model=name, gpu="H100-SXM5-80GB", profile="1g.10gb", batch=1,
                                                    latency_ms=1.0, throughput_rps=99999.0))
    pools = [(draw(st.sampled_from([t, *cat.gpus[t].aliases])), n, c) for t, n, c in zip(types, counts, costs)]
    return build("synthetic", pools, models, records, policy, objective)


@st.composite
def parvagpu(draw, calibration: schema.CalibrationFile, gpus: tuple[int, int] = (1, 2), models: tuple[int, int] = (1, 3),
             profiles: tuple[int, int] = (2, 3), objective: str = "max_throughput") -> Problem:
    """A100-80GB instances on a subset of ParvaGPU models and profiles, with SLOs each model can meet."""
    names = draw(st.lists(st.sampled_from(PARVA_MODELS), min_size=models[0], max_size=models[1], unique=True))
    profs = draw(st.lists(st.sampled_from(PARVA_PROFILES), min_size=profiles[0], max_size=profiles[1], unique=True))
    fraction = draw(st.sampled_from([0.5, 0.45]))
    policy = schema.Policy(latency_budget_fraction=fraction, max_processes=draw(st.sampled_from([None, 2, 5])))
    records = [r for r in calibration.measurements if r.model in names and r.profile in profs]
    demands = []
    for name in names:
        best = min(r.latency_ms for r in records if r.model == name and r.processes == 1)
        slo = best / fraction + draw(st.integers(0, 200)) + (0.1 if fraction == 0.45 else 0.0)
        demands.append((name, slo, float(draw(st.integers(50, 8000)))))
    n = draw(st.integers(*gpus))
    return build("parvagpu", [("A100-SXM4-80GB", n, 1.0)], demands, records, policy, objective)
