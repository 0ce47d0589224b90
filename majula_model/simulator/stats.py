"""Statistics of a simulation: per model (rates, drops, SLO attainment, latency percentiles), per run
(utilisation), and the result object with its JSON form.

Definitions: ``offered_rps`` = arrivals / duration; ``completed_rps`` = served requests / duration (requests that
arrive within the duration are followed to completion); ``slo_attainment`` = share of arrivals served within the
SLO, dropped ones counting as misses (None when a model got no requests); p50/p99 over served requests.

Per run: ``utilisation`` = server time in the run's batches within the duration / (processes x duration). For a
time-shared instance the run's share of the one server (so the shares of its runs add up to the instance's
``instance_utilisation``); its ``mean_cycle_ms`` is the measured mean cycle (``duty_cycle.py``: server time per
round of turns) next to the planned ``cycle_ms``. These three are None for other instances.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import numpy as np

from ..schema import ModelDemand, Plan

from .duty_cycle import CycleResult
from .options import SimOptions
from .service import Run


@dataclass(frozen=True)
class ModelStats:
    name: str
    slo_ms: float
    planned_rps: float
    offered_rps: float
    completed_rps: float
    requests: int
    dropped: int
    slo_attainment: float | None
    p50_ms: float | None
    p99_ms: float | None
    latencies_ms: np.ndarray  # served requests' latencies (for CDF plots; not in JSON)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("latencies_ms")
        return d


@dataclass(frozen=True)
class InstanceStats:
    gpu: int
    gpu_type: str
    profile: str
    start: int
    model: str
    batch: int
    processes: int
    latency_ms: float
    planned_rps: float
    offered_rps: float
    utilisation: float
    mean_batch: float | None
    sharing: str = "none"
    cycle_ms: float | None = None  # planned duty cycle (time-shared instances)
    mean_cycle_ms: float | None = None  # measured: server time in batches per round of turns
    instance_utilisation: float | None = None  # share of the duration the time-shared server was busy

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SimResult:
    instance: str
    options: SimOptions
    duration_s: float
    models: list[ModelStats]
    instances: list[InstanceStats]

    def to_dict(self) -> dict:
        o = self.options
        return {"instance": self.instance, "load": None if o.trace else o.load, "duration_s": self.duration_s,
                "seed": o.seed, "trace": str(o.trace) if o.trace else None, "routing": o.routing, "late": o.late,
                "jitter": o.jitter, "requests": sum(m.requests for m in self.models),
                "models": [m.to_dict() for m in self.models], "instances": [i.to_dict() for i in self.instances]}

    def model(self, name: str) -> ModelStats:
        return next(m for m in self.models if m.name == name)

    @property
    def min_attainment(self) -> float | None:
        """Worst attainment over models that got requests."""
        vals = [m.slo_attainment for m in self.models if m.slo_attainment is not None]
        return min(vals) if vals else None


def model_stats(model: ModelDemand, arrivals: np.ndarray, latencies: list[np.ndarray], duration_s: float,
                plan: Plan) -> ModelStats:
    """Per-model figures from the latencies of its runs (NaN = dropped); requests never routed count as drops."""
    lat = np.concatenate(latencies) if latencies else np.empty(0)
    served = lat[~np.isnan(lat)]
    n = len(arrivals)
    dropped = n - len(served)
    planned = next((m.served_rps for m in plan.models if m.name == model.name), 0.0)
    ok = int(np.count_nonzero(served <= model.slo_ms * (1 + 1e-12)))
    pct = np.percentile(served, [50, 99]) if len(served) else (None, None)
    return ModelStats(model.name, model.slo_ms, planned, n / duration_s, len(served) / duration_s, n, dropped,
                      ok / n if n else None, None if pct[0] is None else float(pct[0]),
                      None if pct[1] is None else float(pct[1]), served)


def instance_stats(run: Run, figures: tuple[int, float, int], duration_s: float,
                   cycle: CycleResult | None = None) -> InstanceStats:
    """Utilisation = busy server time / (processes x duration); ``cycle``: the duty cycle the run took part in."""
    n, busy_ms, batches = figures
    window_ms = duration_s * 1000.0
    shared = {} if cycle is None else {"cycle_ms": run.cycle_ms, "mean_cycle_ms": cycle.mean_cycle_ms,
                                       "instance_utilisation": sum(cycle.busy_ms) / window_ms}
    return InstanceStats(run.gpu_id, run.gpu_type, run.profile, run.start, run.model, run.batch, run.processes,
                         run.latency_ms, run.rate_rps, n / duration_s, busy_ms / (run.processes * window_ms),
                         n / batches if batches else None, run.sharing, **shared)
