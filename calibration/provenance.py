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
            "torch_threads": _threads()}


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
        "tool": "majula calibrate", "majula": _majula_version(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "device": settings.device, **_gpus(inv), **_torch_info(), "host": _host(),
        "settings": {**asdict(settings), "timer": timer, "latency_ms": "p99 of per-iteration batch latency",
                     "memory_gb": "torch.cuda.max_memory_allocated (tensors only, no CUDA context)"},
        "targets": [{"gpu": t.gpu, "profile": t.profile, "emulated": t.emulated, "source": t.source}
                    for t in targets],
        "emulation": _emulation(targets, method),
        "concurrency": ("copies and pairs run as separate processes started behind a barrier; on a GPU they "
                        "share it time-sliced unless an MPS daemon serves it; on a CPU they split the cores"),
        "out_of_memory": [{k: e[k] for k in ("target", "model", "pair", "batch", "processes", "error")}
                          for e in events if e["kind"] == "oom"],
        "copies_p99_ms": [{"key": e["key"], "p99_ms": e["copies_p99_ms"]} for e in events
                          if e["kind"] == "point" and len(e["copies_p99_ms"]) > 1],
        "skipped": skipped + [f"{e['key']}: {e['reason']}" for e in events if e["kind"] == "skip"],
    }
