"""Emulating a MIG slice on a GPU whose MIG mode is off, by limiting the SMs a process may use.

Why and how honest: where the operator cannot (or may not) repartition a GPU, the next best measurement of a
``3g`` slice is the same model on 3 compute slices' worth of SMs (the catalog's ``sms_per_compute_slice``). Two
ways, in order of preference:

1. CUDA green contexts, where the installed PyTorch exposes ``torch.cuda.green_contexts.GreenContext`` and was
   built with them (``SUPPORTED``); the signature of ``create`` is checked at run time (keyword ``num_sms`` from
   2.12, positional ``(num_sms, device_id)`` in 2.10-2.11).
2. MPS with ``CUDA_MPS_ACTIVE_THREAD_PERCENTAGE``, under a private MPS control daemon (its own pipe and log
   directories) that the run starts and stops itself; nothing system-wide is touched.

Neither partitions L2 or memory bandwidth, so an emulated slice is faster than a real one for bandwidth-bound
models: every such point is recorded ``emulated: true`` with the method in ``meta``.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from majula_model.hardware.catalog import GpuType, Profile
from majula_model.errors import InputError

GREEN = "green_context"
MPS = "mps"
MPS_CONTROL = "nvidia-cuda-mps-control"


def green_context_api(torch_module: Any = None) -> Any | None:
    """The GreenContext class when this PyTorch exposes and supports it, else None."""
    if torch_module is None:
        import torch as torch_module
    gc = getattr(getattr(torch_module, "cuda", None), "green_contexts", None)
    cls = getattr(gc, "GreenContext", None)
    if cls is None or not getattr(gc, "SUPPORTED", True) or not hasattr(cls, "create"):
        return None
    return cls


def choose_method(torch_module: Any = None, mps_binary: str | None = None) -> str:
    """Green contexts when available, else MPS when its control binary exists; InputError when neither is."""
    if green_context_api(torch_module) is not None:
        return GREEN
    if mps_binary or shutil.which(MPS_CONTROL):
        return MPS
    raise InputError("cannot emulate slices: this PyTorch has no CUDA green contexts and "
                     f"'{MPS_CONTROL}' is not on PATH", field="--emulate")


def emulated_profile(gpu: GpuType, label: str) -> Profile:
    """The profile a label names: a full name ('3g.40gb') or a compute size ('3g' = the first plain 3g profile)."""
    plain = gpu.plain_profiles
    for p in plain:
        if label == p.name:
            return p
    for p in plain:
        if label == f"{p.compute_slices}g":
            return p
    known = sorted({f"{p.compute_slices}g" for p in plain}) + [p.name for p in plain]
    raise InputError(f"no profile '{label}' on {gpu.type} (choose from {', '.join(known)})", field="--emulate")


def slice_sms(gpu: GpuType, profile: Profile) -> int:
    """SMs of a profile's compute slices, from the catalog."""
    if gpu.sms_per_compute_slice is None:
        raise InputError(f"catalog has no sms_per_compute_slice for {gpu.type}: cannot emulate", field="--emulate")
    return profile.compute_slices * gpu.sms_per_compute_slice


def mps_percentage(sms: int, total_sms: int) -> int:
    """CUDA_MPS_ACTIVE_THREAD_PERCENTAGE giving at least ``sms`` of ``total_sms`` SMs."""
    return max(1, min(100, math.ceil(100.0 * sms / total_sms)))


def _create_green(cls: Any, num_sms: int) -> Any:
    """Call GreenContext.create with the signature this PyTorch has."""
    params = inspect.signature(cls.create).parameters
    if "num_sms" in params and params["num_sms"].kind is inspect.Parameter.KEYWORD_ONLY:
        return cls.create(num_sms=num_sms, device_id=0)
    return cls.create(num_sms, 0)


@contextlib.contextmanager
def green_context(num_sms: int | None, torch_module: Any = None) -> Iterator[None]:
    """Run the body inside a green context of ``num_sms`` SMs (no-op for None), on its stream if it has one."""
    if num_sms is None:
        yield
        return
    if torch_module is None:
        import torch as torch_module
    cls = green_context_api(torch_module)
    if cls is None:
        raise RuntimeError("green contexts are not available in this PyTorch")
    ctx = _create_green(cls, num_sms)
    ctx.set_context()
    try:
        stream = ctx.Stream() if hasattr(ctx, "Stream") else None
        with (torch_module.cuda.stream(stream) if stream is not None else contextlib.nullcontext()):
            yield
    finally:
        ctx.pop_context()


class MpsDaemon:
    """A private MPS control daemon: own pipe/log dirs, started on enter, told to quit on exit.

    ``run`` is ``subprocess.run`` (tests pass a fake); the GPU's compute mode is never changed.
    """

    def __init__(self, gpu_uuid: str | None = None, binary: str = MPS_CONTROL,
                 run: Callable[..., Any] = subprocess.run) -> None:
        self.gpu_uuid, self.binary, self._run = gpu_uuid, binary, run
        self.root: Path | None = None

    @property
    def base_env(self) -> dict[str, str]:
        """Variables every client (and the daemon) needs to find this daemon."""
        assert self.root is not None, "daemon not started"
        env = {"CUDA_MPS_PIPE_DIRECTORY": str(self.root / "pipe"), "CUDA_MPS_LOG_DIRECTORY": str(self.root / "log")}
        if self.gpu_uuid:
            env["CUDA_VISIBLE_DEVICES"] = self.gpu_uuid
        return env

    def client_env(self, percentage: int) -> dict[str, str]:
        """Environment of a client limited to ``percentage`` of the SMs."""
        return {**self.base_env, "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE": str(percentage)}

    def __enter__(self) -> "MpsDaemon":
        self.root = Path(tempfile.mkdtemp(prefix="majula-mps-"))
        (self.root / "pipe").mkdir()
        (self.root / "log").mkdir()
        self._run([self.binary, "-d"], env={**os.environ, **self.base_env}, check=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self._run([self.binary], input="quit\n", text=True, env={**os.environ, **self.base_env}, check=False)
        shutil.rmtree(self.root, ignore_errors=True)
