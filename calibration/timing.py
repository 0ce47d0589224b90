"""Timing one point right: warm-up, N synchronised timed iterations, tail percentiles, peak memory.

Why this shape: a batch's execution latency is what SLOs are judged on, so every iteration is timed on its own
(CUDA events on a GPU, ``perf_counter`` on a CPU) and synchronised before the next, and the record keeps p50, p90
and p99 (p99 is ``latency_ms``). k copies of a model (``processes``) or two different models (co-location) run
in separate processes started together behind a barrier, so their timed loops overlap; a copy that has done its
``iters`` keeps running (and timing) until every copy has done its own (``Together``), so the slowest copy never
finishes alone: without that, a 2 ms model next to a 70 ms one would end its loop after two of the other's
batches, and the other's "co-located" latency would be its solo latency.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from .hostload import cpu_wait, run_delay_ns


class OutOfMemory(Exception):
    """A point did not fit in the device's memory (ends that model's sweep on the instance)."""


@dataclass(frozen=True)
class Job:
    """What one process measures: a model at a batch size, with the run's settings."""

    model: str
    batch: int
    device: str = "cpu"
    dtype: str = "fp32"
    sample_shape: tuple[int, ...] | None = None
    warmup: int = 5
    iters: int = 50
    green_sms: int | None = None   # emulate a slice with a CUDA green context of this many SMs
    threads: int | None = None     # CPU copies split the cores, or they thrash each other's thread pools


@dataclass(frozen=True)
class Timing:
    """Latency statistics of one process's timed loop."""

    p50_ms: float
    p90_ms: float
    p99_ms: float
    throughput_rps: float
    memory_gb: float | None
    samples_ms: list[float] = field(default_factory=list, repr=False)
    cpu_wait: float | None = None   # run-queue wait of the loop's threads per second (calibration.hostload)


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), q in [0, 100]."""
    xs = sorted(values)
    if not xs:
        raise ValueError("no samples")
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summarise(samples_ms: list[float], batch: int, wall_s: float, memory_gb: float | None,
              cpu_wait: float | None = None) -> Timing:
    """Percentiles of the per-iteration latencies; throughput = samples served per second of wall time."""
    return Timing(percentile(samples_ms, 50), percentile(samples_ms, 90), percentile(samples_ms, 99),
                  batch * len(samples_ms) / wall_s, memory_gb, list(samples_ms), cpu_wait)


def _timer(device: str) -> Callable[[Callable[[], Any]], float]:
    """A function timing one call in ms, synchronised: CUDA events on a GPU, perf_counter on a CPU."""
    import torch

    if device.startswith("cuda"):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

        def cuda_time(fn: Callable[[], Any]) -> float:
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end)
        return cuda_time

    def cpu_time(fn: Callable[[], Any]) -> float:
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1000.0
    return cpu_time


@dataclass(frozen=True)
class Together:
    """Concurrent copies' shared count of copies that have done their ``iters`` (a ``multiprocessing.Value``)."""

    finished: Any
    copies: int

    def done(self) -> None:
        """This copy has done its iterations."""
        with self.finished.get_lock():
            self.finished.value += 1

    def release(self) -> None:
        """A copy failed: let the others stop."""
        with self.finished.get_lock():
            self.finished.value = self.copies

    def all_done(self) -> bool:
        return self.finished.value >= self.copies


def _timed_loop(timer: Callable[[Callable[[], Any]], float], run: Callable[[], Any], iters: int,
                together: Together | None, limit_s: float = 600.0) -> list[float]:
    """``iters`` timed calls, then more until every concurrent copy has done its own (at most ``limit_s``)."""
    samples = [timer(run) for _ in range(iters)]
    if together is None:
        return samples
    together.done()
    deadline = time.perf_counter() + limit_s
    while not together.all_done() and time.perf_counter() < deadline:
        samples.append(timer(run))
    return samples


def time_module(module: Any, inputs: Any, *, batch: int, device: str, warmup: int, iters: int,
                barrier: Any = None, together: Together | None = None) -> Timing:
    """Warm up, wait at ``barrier`` (if any), then time ``iters`` calls (and more while other copies in
    ``together`` are still running); torch OOM becomes OutOfMemory."""
    import torch

    cuda = device.startswith("cuda")
    run = lambda: module(inputs)  # noqa: E731 - the timed call
    try:
        with torch.inference_mode():
            for _ in range(warmup):
                run()
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            if barrier is not None:
                barrier.wait(timeout=600)
            timer = _timer(device)
            waited, t0 = run_delay_ns(), time.perf_counter()
            samples = _timed_loop(timer, run, iters, together)
            wall = time.perf_counter() - t0
            waited = cpu_wait(waited, run_delay_ns(), wall)
    except _oom_types() as e:
        raise OutOfMemory(str(e).splitlines()[0] if str(e) else "out of memory") from None
    memory = torch.cuda.max_memory_allocated() / 1e9 if cuda else None
    return summarise(samples, batch, wall, memory, waited)


_LAST: dict[tuple[Any, ...], Any] = {}
"""The last model built in this process: consecutive batch sizes of a sweep reuse it instead of rebuilding."""


def _load(job: Job) -> Any:
    """The job's model, reused from the previous point when model, device, dtype and shape are the same.

    Never reused inside a green context: each point creates its own context, and the module is built in it."""
    from .models import load

    key = (job.model, job.device, job.dtype, job.sample_shape)
    if job.green_sms is None and key in _LAST:
        return _LAST[key]
    _LAST.clear()
    loaded = load(job.model, device=job.device, dtype=job.dtype, sample_shape=job.sample_shape)
    if job.green_sms is None:
        _LAST[key] = loaded
    return loaded


def run_job(job: Job, barrier: Any = None, together: Together | None = None) -> Timing:
    """Time the job's model in this process (inside a green context when asked); OOM becomes OutOfMemory."""
    import torch

    from .emulation import green_context

    if job.threads:
        torch.set_num_threads(job.threads)
    with green_context(job.green_sms):
        inputs = None
        try:
            loaded = _load(job)
            inputs = loaded.make_input(job.batch)
            return time_module(loaded.module, inputs, batch=job.batch, device=job.device,
                               warmup=job.warmup, iters=job.iters, barrier=barrier, together=together)
        except _oom_types() as e:
            _LAST.clear()
            raise OutOfMemory(str(e).splitlines()[0] if str(e) else "out of memory") from None
        except OutOfMemory:
            _LAST.clear()
            raise
        finally:
            del inputs
            _release(job.device)


def _oom_types() -> tuple[type[BaseException], ...]:
    import torch

    return (torch.cuda.OutOfMemoryError, MemoryError)


def _release(device: str) -> None:
    """Give cached blocks back after a point, so the next batch size starts clean."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _copy_main(job: Job, barrier: Any, queue: Any, slot: int, together: Together | None = None) -> None:
    """Entry point of one concurrent copy: measure, report, and break the barrier (and release the copies
    still timing) on failure."""
    try:
        queue.put((slot, "ok", asdict(run_job(job, barrier, together))))
    except OutOfMemory as e:
        _abort(barrier, together)
        queue.put((slot, "oom", str(e)))
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which decides
        _abort(barrier, together)
        queue.put((slot, "error", f"{type(e).__name__}: {e}"))


def _abort(barrier: Any, together: Together | None) -> None:
    """Break the barrier (copies still warming up stop) and release the copies already timing."""
    barrier.abort()
    if together is not None:
        together.release()


def run_concurrent(jobs: list[Job], timeout_s: float = 1800.0) -> list[Timing]:
    """Run each job in its own process, timed loops started together; OutOfMemory if any copy ran out."""
    ctx = _mp_context()
    barrier, queue, together = ctx.Barrier(len(jobs)), ctx.Queue(), Together(ctx.Value("i", 0), len(jobs))
    procs = [ctx.Process(target=_copy_main, args=(j, barrier, queue, i, together), daemon=True)
             for i, j in enumerate(jobs)]
    for p in procs:
        p.start()
    try:
        results = _gather(queue, procs, time.monotonic() + timeout_s)
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
    return _collect(results, len(jobs))


def _gather(queue: Any, procs: list[Any], deadline: float) -> dict[int, tuple[str, Any]]:
    """Each copy's report; a copy that died without one (a crash) or ran past the deadline is an error."""
    import queue as queue_mod

    results: dict[int, tuple[str, Any]] = {}
    while len(results) < len(procs):
        try:
            slot, status, payload = queue.get(timeout=1.0)
            results[slot] = (status, payload)
            continue
        except queue_mod.Empty:
            pass
        for i, p in enumerate(procs):
            if i not in results and p.exitcode is not None and queue.empty():
                results[i] = ("error", f"copy {i} exited with {p.exitcode} without a result")
        if time.monotonic() > deadline:
            results.update({i: ("error", "timed out") for i in range(len(procs)) if i not in results})
    return results


def _mp_context() -> Any:
    """A forkserver that imported torch once (fast copies, no CUDA state inherited); spawn where there is none."""
    import multiprocessing as mp

    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "calibration.timing", "calibration.models", "calibration.builtin"])
    return ctx


def _collect(results: dict[int, tuple[str, Any]], n: int) -> list[Timing]:
    """Timings in job order; an OOM in any copy is the point's OOM; any other failure is an error."""
    statuses = [results[i][0] for i in range(n)]
    if "oom" in statuses:
        raise OutOfMemory(next(results[i][1] for i in range(n) if results[i][0] == "oom"))
    errors = [results[i][1] for i in range(n) if results[i][0] == "error"]
    real = [e for e in errors if "BrokenBarrierError" not in e]
    if errors:
        raise RuntimeError(f"concurrent copy failed: {(real or errors)[0]}")
    return [Timing(**results[i][1]) for i in range(n)]
