"""Provenance for a calibration file's ``meta``: where, when and how every number was measured.

Why: a calibration is only trustworthy with its context (GPU, driver, CUDA, torch, MIG mode, emulation, timing
settings). The performance model never reads ``meta``; people and reviewers do.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from dataclasses import asdict
from typing import Any

from .devices import Inventory
from .plan import Settings, Target

EMULATION_CAVEAT = ("emulated slices limit SMs only; L2 and memory bandwidth are not partitioned, so emulated "
                    "points run faster than real MIG slices for bandwidth-bound models; concurrent copies each "
                    "get the slice's SM count rather than sharing one set of SMs")


def _torch_info() -> dict[str, Any]:
    import torch

    return {"torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}


def _majula_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("majula")
    except PackageNotFoundError:
        return "unknown"


def _host() -> dict[str, Any]:
    return {"hostname": platform.node(), "platform": platform.platform(), "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "torch_threads": _threads(), "load_average_at_end": _load_average()}


def _load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages when the file is written: other work on the host skews timings."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


CPU_NOTE = ("measured on a CPU, not a GPU: latencies are CPU latencies (profile 'full'), not to be planned on for "
            "any GPU; a single-model point runs with torch's default threads, concurrent copies and pairs split the "
            "cores (one process each)")
CPU_PAIRS_NOTE = ("co-located pairs here ran on a CPU: GPU co-location (MPS or time-sliced, on a MIG instance or a "
                  "whole GPU) has not been measured; the slowdowns reflect cores split between processes and shared "
                  "caches and memory bandwidth, not SM sharing")


def _notes(settings: Settings, events: list[dict[str, Any]]) -> list[str]:
    """What a reader must know before using the numbers (for now: a CPU run is not a GPU run)."""
    if settings.device != "cpu":
        return []
    paired = any(r.get("colocated") for e in events if e["kind"] == "point" for r in e["records"])
    return [CPU_NOTE] + ([CPU_PAIRS_NOTE] if paired else [])


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _gpus(inv: Inventory | None) -> dict[str, Any]:
    if inv is None:
        return {"mig_mode": "n/a (cpu)"}
    modes = {g.mig_enabled for g in inv.gpus}
    return {"driver": inv.driver, "cuda_driver": inv.cuda_driver,
            "mig_mode": "mixed" if len(modes) > 1 else ("enabled" if True in modes else "disabled"),
            "gpus": [{"index": g.index, "name": g.name, "uuid": g.uuid, "type": g.gpu_type,
                      "mig_enabled": g.mig_enabled,
                      "instances": [{"uuid": i.uuid, "profile": i.profile} for i in g.instances]} for g in inv.gpus]}


def _emulation(targets: list[Target], method: str | None) -> dict[str, Any] | None:
    emu = [t for t in targets if t.emulated]
    if not emu:
        return None
    return {"method": method, "caveat": EMULATION_CAVEAT,
            "profiles": {t.profile: {"sms": t.sms, "mps_active_thread_percentage": t.mps_percentage}
                         for t in emu}}


def build_meta(settings: Settings, targets: list[Target], inv: Inventory | None, method: str | None,
               events: list[dict[str, Any]], skipped: list[str]) -> dict[str, Any]:
    """The ``meta`` object: provenance, settings, emulation, out-of-memory points and per-copy latencies."""
    timer = "CUDA events, synchronised per iteration" if settings.device == "cuda" else "time.perf_counter"
    return {
        "tool": "majula calibrate", "majula": _majula_version(), "notes": _notes(settings, events),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "device": settings.device, **_gpus(inv), **_torch_info(), "host": _host(),
        "settings": {**asdict(settings), "timer": timer, "latency_ms": "p99 of per-iteration batch latency",
                     "memory_gb": "torch.cuda.max_memory_allocated (tensors only, no CUDA context)"},
        "targets": [{"gpu": t.gpu, "profile": t.profile, "emulated": t.emulated, "source": t.source}
                    for t in targets],
        "emulation": _emulation(targets, method),
        "concurrency": ("copies and pairs run as separate processes started behind a barrier; a copy that has done "
                        "its iterations keeps running until every copy has done its own, so every timed batch ran "
                        "next to the others; on a GPU they share it time-sliced unless an MPS daemon serves it; on a "
                        "CPU they split the cores"),
        "out_of_memory": [{k: e[k] for k in ("target", "model", "pair", "pair_batch", "batch", "processes", "error")
                           if k in e} for e in events if e["kind"] == "oom"],
        "copies_p99_ms": [{"key": e["key"], "p99_ms": e["copies_p99_ms"]} for e in events
                          if e["kind"] == "point" and len(e["copies_p99_ms"]) > 1],
        "skipped": skipped + [f"{e['key']}: {e['reason']}" for e in events if e["kind"] == "skip"],
        "cpu_wait": _cpu_wait(settings, events),
    }


def _cpu_wait(settings: Settings, events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """How contended the host's CPUs were while points were measured (calibration.hostload); None where the
    kernel does not report run-queue waits."""
    points = [e for e in events if e["kind"] == "point" and e.get("cpu_wait") is not None]
    if not points:
        return None
    waits = sorted(e["cpu_wait"] for e in points)
    limit = settings.max_cpu_wait
    return {"what": "run-queue wait of the timed loops' threads per second of wall time (the largest over a "
                    "point's copies; /proc/self/task/*/schedstat)",
            "median": waits[len(waits) // 2], "max": waits[-1], "limit": limit,
            "remeasured_points": sum(1 for e in points if e.get("remeasured")),
            "over_limit": [e["key"] for e in points if limit is not None and e["cpu_wait"] > limit]}
