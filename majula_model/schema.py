"""The data contract (docs/data-format.md (data contract)) as pydantic models: measurement records, calibration files,
instances and plans.

Why here and only here: every file boundary validates through these models, so unknown fields are rejected
(``extra="forbid"``), units live in field names, and ``majula schema`` prints the JSON Schema with the help text
from ``Field(description=...)``. Semantic checks that need the catalog (unknown GPU, profile) live in
``validation.py``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer, model_validator

_CFG = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Colocated(BaseModel):
    """A co-runner in the same instance while a point was measured."""

    model_config = _CFG
    model: str = Field(min_length=1, description="Name of the co-running model.")
    batch: int = Field(ge=1, description="Batch size of the co-running model.")


class MeasurementRecord(BaseModel):
    """One measured point: a model at a batch size and process count on one profile of one GPU type."""

    model_config = _CFG
    model: str = Field(min_length=1, description="Model name, e.g. 'resnet50'.")
    gpu: str = Field(min_length=1, description="GPU type from the catalog (or an alias), or 'cpu'.")
    profile: str = Field(min_length=1, description="MIG profile, e.g. '3g.40gb', or 'full' (MIG disabled).")
    batch: int = Field(ge=1, le=65536, description="Batch size.")
    processes: int = Field(1, ge=1, le=1024, description="Processes of the model running in the instance (MPS).")
    latency_ms: float = Field(ge=1e-6, le=3.6e6, description="Batch execution latency at the SLO percentile (p99), ms "
                              "(1 ns to 1 hour: the physically meaningful range).")
    p50_ms: float | None = Field(None, ge=1e-6, le=3.6e6, description="Median batch latency, ms.")
    p90_ms: float | None = Field(None, ge=1e-6, le=3.6e6, description="90th percentile batch latency, ms.")
    throughput_rps: float | None = Field(
        None, gt=0, le=1e9, description="Instance total over all processes, requests/s; derived when omitted.")
    memory_gb: float | None = Field(None, ge=0, le=1e5, description="Peak memory of the instance, GB; None = fits.")
    emulated: bool = Field(False, description="Measured on an emulated slice (e.g. SM-limited), not real MIG.")
    colocated: tuple[Colocated, ...] = Field((), description="Other models running in the same instance.")

    @property
    def rate_rps(self) -> float:
        """Throughput of the point: measured, else processes * batch * 1000 / latency_ms (docs/domain.md (MIG and SLO rules))."""
        if self.throughput_rps is not None:
            return self.throughput_rps
        return self.processes * self.batch * 1000.0 / self.latency_ms

    @property
    def service_ms(self) -> float:
        """Per-process time per full batch for queueing: the slower of ``latency_ms`` and what the throughput
        implies (published latencies are often rounded; throughput is not). See ``capacity.service_ms``."""
        return max(self.latency_ms, self.processes * self.batch * 1000.0 / self.rate_rps)


class CalibrationFile(BaseModel):
    """Measurements with their provenance, as written by ``majula calibrate`` and the importers."""

    model_config = _CFG
    measurements: tuple[MeasurementRecord, ...] = Field(description="Measured points.")
    meta: dict | None = Field(None, description="Provenance: device, driver, date, tool versions, notes.")


MIN_DEMAND_RPS = 1e-9
"""Smallest positive demand: below it a rate is not a demand but a rounding error (the placer scales every
model's rows by its demand, so any rate from this to the 1e9 upper bound is planned exactly)."""


class GpuPool(BaseModel):
    """GPUs of one type available to the plan."""

    model_config = _CFG
    type: str = Field(min_length=1, description="GPU type from the catalog, or an alias.")
    count: int = Field(ge=1, le=1_000_000, description="GPUs available (for min_gpus, an upper bound).")
    cost: float = Field(1.0, ge=1e-9, le=1e15, description="Cost of one GPU (min_gpus minimises total cost; "
                      "any unit: the placer scales costs to order 1).")


class ModelDemand(BaseModel):
    """A served model: its latency SLO and its demand."""

    model_config = _CFG
    name: str = Field(min_length=1, description="Model name, as in the measurements.")
    slo_ms: float = Field(ge=1e-3, le=3.6e6, description="End-to-end latency SLO per request, ms.")
    demand_rps: float = Field(ge=0, le=1e9, description="Requests per second to serve; 0 = a retired model that "
                              "stays in the file and gets no instance; else at least MIN_DEMAND_RPS.")
    min_instances: int = Field(1, ge=1, le=100_000, description="Fewest instances serving the model (a model "
                               "with demand 0 gets none).")

    @field_validator("demand_rps")
    @classmethod
    def _demand_zero_or_meaningful(cls, v: float) -> float:
        if 0 < v < MIN_DEMAND_RPS:
            raise ValueError(f"{v:g} is neither 0 (retired) nor at least {MIN_DEMAND_RPS:g} requests/s "
                             "(one request in about 30 years)")
        return v


class FailureTolerance(BaseModel):
    """Failures a plan must survive: after losing any ``count`` GPUs (or nodes), every model's remaining
    capacity still covers its demand (times 1 + policy.headroom). docs/placer.md (Failure tolerance)."""

    model_config = _CFG
    domain: Literal["gpu", "node"] = Field(description="What fails: one GPU, or one node (gpus_per_node "
                                           "consecutive plan GPUs, all of one type).")
    count: int = Field(ge=1, le=64, description="How many GPUs (or nodes) may fail at once.")


SharingMode = Literal["time", "mps"]
Sharing = Literal["none", "time", "mps"]


class Policy(BaseModel):
    """How capacity is judged against the SLO, and what may share an instance."""

    model_config = _CFG
    arrivals: Literal["smooth", "poisson"] = Field(
        "smooth", description="'smooth': batch latency within latency_budget_fraction of the SLO (Nexus); "
        "'poisson': capacity keeps target_attainment of Poisson arrivals within the SLO.")
    latency_budget_fraction: float = Field(
        0.5, gt=0, le=1, description="Share of the SLO a batch's execution latency may use (smooth arrivals).")
    max_processes: int | None = Field(None, ge=1, description="Most MPS processes per instance; None = no limit.")
    max_models_per_instance: int = Field(
        1, ge=1, le=64, description="Most distinct models sharing one instance (1 = every instance serves one "
        "model, as without sharing).")
    sharing_modes: tuple[SharingMode, ...] = Field(
        ("time", "mps"), description="How models may share an instance when max_models_per_instance > 1: 'time' "
        "(models take turns, a duty cycle as in Nexus) and/or 'mps' (models run concurrently under MPS, each "
        "slowed by its co-runners; offered where co-located measurements or interference_prior allow).")
    interference_prior: bool = Field(
        False, description="Offer MPS co-location for models on GPU types without co-located measurements, "
        "using the stated conservative prior of docs/sharing.md (each co-runner adds one solo batch latency: full serialisation); plans "
        "built on it are labelled as predictions.")
    target_attainment: float = Field(
        0.99, gt=0, lt=1, description="Share of requests within the SLO that 'poisson' capacity keeps.")
    headroom: float = Field(
        0.0, ge=0, le=100, description="Every model's planned capacity is at least (1 + headroom) x its demand, "
        "under the policy's SLO rule (Poisson: the queueing capacity at the higher rate).")
    use_predictions: bool = Field(
        False, description="Also use fitted predictions for profiles or batches that were not measured, and for "
        "pool GPU types a model was never measured on (transferred by the catalog's specifications, else the "
        "analytic prior; labelled).")
    tolerate_failures: FailureTolerance | None = Field(
        None, description="Plan so that losing any count GPUs (domain 'gpu') or nodes (domain 'node') leaves "
        "every model's demand covered (min_gpus only; docs/placer.md, Failure tolerance). None = no protection.")
    strict_measurements: bool = Field(
        False, description="A point measured twice with different numbers is an error (exit 2) instead of the "
        "conservative value kept with a note (docs/data-format.md, 'What is checked').")

    @model_validator(mode="after")
    def _modes_once(self) -> "Policy":
        if len(set(self.sharing_modes)) != len(self.sharing_modes):
            raise ValueError("sharing_modes: a mode is listed twice")
        return self


Objective = Literal["max_throughput", "max_scale", "min_gpus"]


class Instance(BaseModel):
    """A placement question: GPUs, models with SLOs and demand, and the measurements to judge them by."""

    model_config = _CFG
    name: str = Field(min_length=1, description="Instance name.")
    gpus: tuple[GpuPool, ...] = Field(min_length=1, description="GPU pools.")
    models: tuple[ModelDemand, ...] = Field(min_length=1, description="Models to serve.")
    measurements: tuple[MeasurementRecord, ...] = Field((), description="Inline measurement records.")
    calibration: tuple[str, ...] = Field((), description="Calibration files, relative to the instance file.")
    policy: Policy = Field(default_factory=Policy, description="SLO and sharing policy.")
    objective: Objective = Field("max_throughput", description="What to optimise.")
    gpus_per_node: int = Field(8, ge=1, description="GPUs per node, for the mig-parted export.")

    @model_validator(mode="after")
    def _unique_names(self) -> "Instance":
        for what, names in (("models", [m.name for m in self.models]), ("gpus", [g.type for g in self.gpus])):
            seen: set[str] = set()
            for i, n in enumerate(names):
                if n in seen:
                    raise ValueError(f"{what}[{i}]: duplicate name '{n}'")
                seen.add(n)
        return self


class PlanModelRun(BaseModel):
    """One model served by one instance."""

    model_config = _CFG
    name: str = Field(description="Model name.")
    batch: int = Field(ge=1, le=65536, description="Batch size.")
    processes: int = Field(ge=1, le=1024, description="MPS processes of the model in the instance.")
    latency_ms: float = Field(gt=0, description="Batch latency at this point (p99), ms.")
    rate_rps: float = Field(ge=0, description="Requests/s routed to this instance for this model.")
    capacity_rps: float = Field(ge=0, description="Most requests/s this instance can serve within the SLO.")
    source: str | None = Field(None, description="Where the point's numbers come from when not measured on this "
                               "GPU type: 'interpolated', 'predicted', 'transferred' (another type's measurements "
                               "by the catalog's specifications), 'prior' (analytic), or the co-location rule of an "
                               "MPS pair. Omitted for measured points.")
    emulated: bool = Field(False, description="The point rests on measurements of an emulated slice (e.g. SM-"
                           "limited), not real MIG. Omitted when false.")

    @model_serializer(mode="wrap")
    def _without_defaults(self, handler):
        """Measured, real points carry no label: a plan says only what is not a measurement."""
        out = handler(self)
        if isinstance(out, dict):
            if out.get("source") is None:
                out.pop("source", None)
            if not out.get("emulated"):
                out.pop("emulated", None)
        return out


class PlanInstance(BaseModel):
    """One GPU instance (or a whole GPU, profile 'full') and what runs on it."""

    model_config = _CFG
    profile: str = Field(description="MIG profile, or 'full' for a GPU with MIG disabled.")
    start: int = Field(ge=0, description="Memory-slice start index of the instance.")
    sharing: Sharing = Field(
        "none", description="'none': one model; 'time': models take turns in a duty cycle of cycle_ms; 'mps': "
        "models run concurrently, each at its co-located latency.")
    cycle_ms: float | None = Field(
        None, gt=0, description="Time-shared instances: the duty cycle, the sum of the models' batch latencies.")
    models: tuple[PlanModelRun, ...] = Field(min_length=1, description="Models served by this instance.")

    @model_validator(mode="after")
    def _sharing_fields(self) -> "PlanInstance":
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError("models: a model is listed twice in one instance")
        if self.sharing == "none" and len(self.models) != 1:
            raise ValueError("sharing 'none' serves exactly one model")
        if self.sharing != "none" and len(self.models) < 2:
            raise ValueError(f"sharing '{self.sharing}' needs at least two models")
        if (self.sharing == "time") != (self.cycle_ms is not None):
            raise ValueError("cycle_ms is given exactly for time-shared instances")
        if self.sharing != "none" and any(m.processes != 1 for m in self.models):
            raise ValueError("a shared instance runs one process per model")
        return self

    @model_serializer(mode="wrap")
    def _without_empty_cycle(self, handler):
        """``cycle_ms`` is written for time-shared instances only (it means nothing elsewhere)."""
        out = handler(self)
        if isinstance(out, dict) and out.get("cycle_ms") is None:
            out.pop("cycle_ms", None)
        return out


class PlanGpu(BaseModel):
    """One physical GPU of the plan."""

    model_config = _CFG
    id: int = Field(ge=0, description="GPU index in the plan (nodes take gpus_per_node consecutive ids).")
    type: str = Field(description="GPU type.")
    geometry: tuple[str, ...] = Field(description="Profiles of the GPU's instances (['full'] = MIG disabled).")
    instances: tuple[PlanInstance, ...] = Field(description="Instances with their start index and models.")


class PlanModel(BaseModel):
    """Per-model totals of the plan."""

    model_config = _CFG
    name: str = Field(description="Model name.")
    demand_rps: float = Field(description="Demand from the instance.")
    served_rps: float = Field(description="Requests/s the plan routes to the model's instances.")
    capacity_rps: float = Field(description="Sum of the capacities of the model's instances.")


class PlanObjective(BaseModel):
    """Objective kind, the value reached and the proven bound."""

    model_config = _CFG
    kind: Objective = Field(description="Objective optimised.")
    value: float | None = Field(description="Objective value of the plan.")
    bound: float | None = Field(description="Best bound proven by the solver.")


PlanStatus = Literal["optimal", "feasible", "infeasible", "no_solution", "error"]


class PlanStep(BaseModel):
    """One operation of a re-plan (``solve --from``, docs/replan.md), in the order to apply them."""

    model_config = _CFG
    op: Literal["start", "drain", "repartition", "release"] = Field(
        description="start: create the GPU's new instances and serve; drain: stop routing to the GPU and let its "
        "queues empty; repartition: destroy its instances and create the new geometry; release: the GPU leaves the plan.")
    gpu: int = Field(ge=0, description="GPU id (ids of the current plan are kept).")
    ok: bool = Field(True, description="False when after this step a model has less than min(current, new) capacity.")
    reason: str | None = Field(None, description="Why the step cannot keep every model's capacity (ok false).")

    @model_serializer(mode="wrap")
    def _without_empty_reason(self, handler):
        out = handler(self)
        if isinstance(out, dict) and out.get("reason") is None:
            out.pop("reason", None)
        return out


class PlanChanges(BaseModel):
    """What a re-plan changes against the running plan (``solve --from``, docs/replan.md)."""

    model_config = _CFG
    kept: tuple[int, ...] = Field(description="GPU ids whose geometry and instances are unchanged (rates may move).")
    reconfigured: tuple[int, ...] = Field(description="GPU ids of the current plan given a new configuration.")
    added: tuple[int, ...] = Field(description="GPU ids new to the plan (above the current plan's largest id).")
    released: tuple[int, ...] = Field(description="GPU ids of the current plan the new plan no longer uses.")
    instances_created: int = Field(ge=0, description="Instances (profile, start, what runs) that are new.")
    instances_destroyed: int = Field(ge=0, description="Instances of the current plan that are gone.")
    steps: tuple[PlanStep, ...] = Field(description="Order of operations keeping min(current, new) capacity.")


class Plan(BaseModel):
    """A solved plan (``majula solve --json``)."""

    model_config = _CFG
    instance: str = Field(description="Instance name.")
    objective: PlanObjective = Field(description="Objective and bound.")
    status: PlanStatus = Field(description="optimal, feasible (limit hit; see gap), infeasible, no_solution, error.")
    gap: float | None = Field(description="Relative gap between value and bound (0 = proven optimal).")
    solver: str = Field(description="Solver used.")
    solve_seconds: float = Field(ge=0, description="Wall time of the solve.")
    gpus: tuple[PlanGpu, ...] = Field(description="Used GPUs; unused ones are left out.")
    models: tuple[PlanModel, ...] = Field(description="Per-model totals.")
    notes: tuple[str, ...] = Field((), description="What the plan's numbers do not show, in words: e.g. a "
                                   "least-cost tie-break not proven within its time. Written only when there are some.")
    changes: PlanChanges | None = Field(None, description="A re-plan's changes against the running plan "
                                        "(``solve --from``). Written only for a re-plan.")

    @model_serializer(mode="wrap")
    def _without_empty_notes(self, handler):
        out = handler(self)
        if isinstance(out, dict) and not out.get("notes"):
            out.pop("notes", None)
        if isinstance(out, dict) and out.get("changes") is None:
            out.pop("changes", None)
        return out


SCHEMAS: dict[str, type[BaseModel]] = {"instance": Instance, "plan": Plan, "calibration": CalibrationFile}
