"""Analytic prior: latency from published model costs and spec-sheet GPU figures, for what was never measured.

Why: a model or GPU type with no measurements still needs a first answer (bundled instances that stand alone,
a GPU nobody profiled yet). The prior is a roofline with a floor, per process of k sharing a profile::

    compute_ms = k * b * MACs / (compute_efficiency * fp32_peak * (SMs share) ** compute_share_exponent)
    memory_ms  = k * (weight bytes + b * input bytes) / (memory_efficiency * bandwidth * memory-slice share)
    latency_ms = floor_ms + floor_ms_per_layer * weight_layers + max(compute_ms, memory_ms)

Model figures (MACs, parameters; cited in ``perf/model_costs.json``) are published; GPU figures come from the
catalog's spec fields. The few constants are fitted on the shared ParvaGPU data by ``fit_constants`` and stored
with their provenance (the constants, never the data). Its error is reported by ``majula fit``; it is a prior,
much coarser than a fitted curve, and every value from it carries ``source: "prior"``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

import numpy as np
from scipy.optimize import least_squares

from ..hardware.catalog import Catalog, GpuType
from .curves import profile_memory_share, profile_sms
from ..schema import MeasurementRecord

CONSTANT_NAMES = ("floor_ms", "floor_ms_per_layer", "compute_efficiency", "memory_efficiency",
                  "compute_share_exponent")
CONTEXT_GB = 0.5
"""Memory of one process before weights and activations (CUDA context and framework), GB; an assumption."""


@dataclass(frozen=True)
class ModelCost:
    """Published cost figures of one model (see ``perf/model_costs.json`` for sources)."""

    name: str
    gmacs_per_sample: float
    params_m: float
    input_mb_per_sample: float
    weight_layers: int
    activation_gb_per_sample: float | None = None

    @property
    def weights_gb(self) -> float:
        return self.params_m * 4e6 / 1e9  # FP32


def costs_path():
    return resources.files("majula_model").joinpath("perf/model_costs.json")


def load_costs() -> tuple[dict[str, ModelCost], dict]:
    """Model costs by name, and the fitted constants with provenance (empty if never fitted)."""
    raw = json.loads(costs_path().read_text())
    models = {name: ModelCost(name, m["gmacs_per_sample"], m["params_m"], m["input_mb_per_sample"],
                              m["weight_layers"], m.get("activation_gb_per_sample")) for name, m in raw["models"].items()}
    return models, raw.get("constants", {})


def has_specs(gpu: GpuType) -> bool:
    """True when the catalog gives the spec figures the prior needs (a CPU device or a bare user type may not)."""
    return None not in (gpu.fp32_tflops, gpu.memory_bandwidth_gbps, gpu.sms)


def _peak_tflops(gpu: GpuType) -> float:
    if not has_specs(gpu):
        raise ValueError(f"GPU type {gpu.type} lacks spec figures (fp32_tflops, memory_bandwidth_gbps, sms)")
    return gpu.fp32_tflops


def prior_latency(cost: ModelCost, constants: dict, gpu: GpuType, profile: str, batch, processes) -> np.ndarray:
    """Prior latency (ms) of ``processes`` processes each running ``batch`` on ``profile``; vectorised."""
    b, k = np.asarray(batch, float), np.asarray(processes, float)
    share = profile_sms(gpu, profile) / gpu.sms if gpu.sms else 1.0
    flops = constants["compute_efficiency"] * _peak_tflops(gpu) * 1e12 * share ** constants["compute_share_exponent"]
    compute_ms = k * b * cost.gmacs_per_sample * 1e9 / flops * 1e3
    bw = constants["memory_efficiency"] * gpu.memory_bandwidth_gbps * 1e9 * profile_memory_share(gpu, profile)
    memory_ms = k * (cost.params_m * 4e6 + b * cost.input_mb_per_sample * 1e6) / bw * 1e3
    floor = constants["floor_ms"] + constants["floor_ms_per_layer"] * cost.weight_layers
    return floor + np.maximum(compute_ms, memory_ms)


def prior_memory_gb(cost: ModelCost, batch, processes) -> np.ndarray | None:
    """Estimated memory of k processes at a batch (context + weights + activations), or None if unknown."""
    if cost.activation_gb_per_sample is None:
        return None
    b, k = np.asarray(batch, float), np.asarray(processes, float)
    return k * (CONTEXT_GB + cost.weights_gb + b * cost.activation_gb_per_sample)


def fit_constants(records: list[MeasurementRecord], catalog: Catalog, costs: dict[str, ModelCost]) -> dict:
    """The constants that best fit ``records`` (robust least squares on log latency), all models together."""
    rows = [(r, catalog.get(r.gpu)) for r in records if r.model in costs and not r.emulated and not r.colocated
            and catalog.resolve(r.gpu) and has_specs(catalog.get(r.gpu))]
    if not rows:
        raise ValueError("no records of models with known costs")
    lat = np.log([r.latency_ms for r, _ in rows])
    weight = np.where(np.exp(lat) >= 10.0, 1.0, 0.3)

    def residuals(x: np.ndarray) -> np.ndarray:
        c = dict(zip(CONSTANT_NAMES, (*np.exp(x[:4]), x[4])))
        pred = np.array([prior_latency(costs[r.model], c, g, r.profile, r.batch, r.processes) for r, g in rows])
        return weight * (np.log(pred) - lat)

    x0 = np.array([np.log(1.0), np.log(0.05), np.log(0.5), np.log(0.5), 1.0])
    res = least_squares(residuals, x0, loss="soft_l1", f_scale=0.1,
                        bounds=([-8, -12, -8, -8, 0.3], [5, 2, 3, 3, 1.5]))
    return dict(zip(CONSTANT_NAMES, (*(float(v) for v in np.exp(res.x[:4])), float(res.x[4]))))


def estimate_activation_gb(records: list[MeasurementRecord], catalog: Catalog, cost: ModelCost) -> float | None:
    """Largest activation memory per sample consistent with every measured point fitting its profile's memory.

    Why: public data marks out-of-memory points by leaving them out, so the points that ran bound the memory per
    sample from above; taking the tightest bound makes the prior refuse what the measurements never ran.
    """
    bounds = []
    for r in records:
        if r.model != cost.name:
            continue
        mem = catalog.get(r.gpu).profile_memory_gb(r.profile)
        bounds.append((mem / r.processes - CONTEXT_GB - cost.weights_gb) / r.batch)
    positive = [b for b in bounds if b > 0]
    return round(min(positive), 6) if positive else None
