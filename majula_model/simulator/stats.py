"""Statistics of a simulation: per model (rates, drops, SLO attainment, latency percentiles), per run
(utilisation), and the result object with its JSON form.

Per model, over the requests that arrive in the measured window (after the warm-up, which is simulated and
discarded): ``offered_rps`` = arrivals / window; ``completed_rps`` = served requests / window (requests that arrive
within it are followed to completion); ``slo_attainment`` = share of arrivals served within the SLO, dropped ones
counting as misses (None when a model got no requests); ``slo_attainment_ci``, its 95% interval, and ``verdict``
against the target attainment (``confidence.py``); p50/p99 over served requests.

Per run, over the whole simulated time (warm-up included: the queues do not record when each batch ran in a
form that splits cheaply): ``utilisation`` = server time in the run's batches / (processes x time). For a
time-shared instance the run's share of the one server (so the shares of its runs add up to the instance's
``instance_utilisation``); its ``mean_cycle_ms`` is the measured mean cycle (``duty_cycle.py``: server time per
round of turns) next to the planned ``cycle_ms``. These three are None for other instances.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import numpy as np

from ..schema import ModelDemand, Plan

from .confidence import CONFIDENCE, attainment_ci, verdict
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
    slo_attainment_ci: tuple[float, float] | None = None  # 95% interval of slo_attainment
    verdict: str | None = None  # holds / breaks / inconclusive against the target; None without requests
    warmup_s: float = 0.0  # this model's warm-up: its window is [warmup_s, warmup_s + duration)
    warmup_capped: bool = False  # its runs relax slower than the warm-up allowed: no "holds" (confidence.py)
    window_s: float | None = None  # this model's window (longer than duration_s where it was extended)
    confidence: float = CONFIDENCE  # of slo_attainment_ci (0.99 in an extended window: run.py, "Extension")

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("latencies_ms")
        d["slo_attainment_ci"] = None if self.slo_attainment_ci is None else list(self.slo_attainment_ci)
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
    target_attainment: float = 0.99  # the policy's: what each verdict is judged against
    warmup_s: float = 0.0  # the longest model's warm-up (each model's own is in its ModelStats)
    notes: tuple[str, ...] = ()  # what the reader should know: a bound on the window or the warm-up that bound

    def to_dict(self) -> dict:
        o = self.options
        return {"instance": self.instance, "load": None if o.trace else o.load, "duration_s": self.duration_s,
                "warmup_s": self.warmup_s, "seed": o.seed, "trace": str(o.trace) if o.trace else None,
                "routing": o.routing, "late": o.late, "jitter": o.jitter,
                "requests": sum(m.requests for m in self.models), "target_attainment": self.target_attainment,
                "confidence": CONFIDENCE, "notes": list(self.notes),
                "models": [m.to_dict() for m in self.models], "instances": [i.to_dict() for i in self.instances]}

    def model(self, name: str) -> ModelStats:
        return next(m for m in self.models if m.name == name)

    def with_verdict(self, wanted: str) -> list[str]:
        """Names of the models whose verdict is ``wanted`` (``holds``, ``breaks`` or ``inconclusive``)."""
        return [m.name for m in self.models if m.verdict == wanted]

    @property
    def min_attainment(self) -> float | None:
        """Worst attainment over models that got requests."""
        vals = [m.slo_attainment for m in self.models if m.slo_attainment is not None]
        return min(vals) if vals else None


def model_stats(model: ModelDemand, arrived_ms: np.ndarray, latencies_ms: np.ndarray, window_ms: tuple[float, float],
                plan: Plan, target: float, capped: bool = False, confidence: float = CONFIDENCE) -> ModelStats:
    """Per-model figures over the requests arriving in ``window_ms`` = (start, end): ``arrived_ms`` and
    ``latencies_ms`` pair up request by request (NaN latency = dropped, or never routed). ``capped``: the
    warm-up was cut short, so the window may not be in steady state (``confidence.verdict``)."""
    start, end = window_ms
    keep = (arrived_ms >= start) & (arrived_ms <= end)  # closed: a trace's last request arrives at its end
    times, lat = arrived_ms[keep], latencies_ms[keep]
    served = lat[~np.isnan(lat)]
    n = len(times)
    dropped = n - len(served)
    seconds = (end - start) / 1000.0
    planned = next((m.served_rps for m in plan.models if m.name == model.name), 0.0)
    hits = lat <= model.slo_ms * (1 + 1e-12)  # NaN (dropped) compares False: a miss
    ok = int(np.count_nonzero(hits))
    pct = np.percentile(served, [50, 99]) if len(served) else (None, None)
    ci = attainment_ci(times, hits, start, end, confidence)
    return ModelStats(model.name, model.slo_ms, planned, n / seconds, len(served) / seconds, n, dropped,
                      ok / n if n else None, None if pct[0] is None else float(pct[0]),
                      None if pct[1] is None else float(pct[1]), served, ci, verdict(ci, target, capped),
                      start / 1000.0, capped, seconds, confidence)


def instance_stats(run: Run, figures: tuple[int, float, int], duration_s: float,
                   cycle: CycleResult | None = None) -> InstanceStats:
    """Utilisation = busy server time / (processes x duration), ``duration_s`` being the whole simulated time
    (warm-up included); ``cycle``: the duty cycle the run took part in."""
    n, busy_ms, batches = figures
    window_ms = duration_s * 1000.0
    shared = {} if cycle is None else {"cycle_ms": run.cycle_ms, "mean_cycle_ms": cycle.mean_cycle_ms,
                                       "instance_utilisation": sum(cycle.busy_ms) / window_ms}
    return InstanceStats(run.gpu_id, run.gpu_type, run.profile, run.start, run.model, run.batch, run.processes,
                         run.latency_ms, run.rate_rps, n / duration_s, busy_ms / (run.processes * window_ms),
                         n / batches if batches else None, run.sharing, **shared)
