"""What a calibration run will measure: targets (where) and points (what), and a rough time estimate.

Why separate from running: ``--dry-run`` prints exactly the plan the real run executes, ``--resume`` skips the
points of the same plan already in the sidecar, and tests can check planning (MIG instances, emulated slices,
SM counts) with a fake NVML and no torch at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from majula_model.hardware.catalog import FULL, Catalog
from majula_model.errors import InputError

from . import emulation
from .devices import GpuDevice, Inventory, instance_env


@dataclass(frozen=True)
class Settings:
    """How every point is measured."""

    device: str = "cpu"
    dtype: str = "fp32"
    warmup: int = 5
    iters: int = 50
    sample_shapes: dict[str, list[int]] = field(default_factory=dict)   # model -> one sample's shape
    max_cpu_wait: float | None = None   # re-measure a point whose timed loop waited longer for a CPU (hostload)


@dataclass(frozen=True)
class Target:
    """One place to measure: a GPU type's profile (real MIG, whole GPU or emulated slice), or the CPU."""

    gpu: str
    profile: str
    emulated: bool = False
    env: dict[str, str] = field(default_factory=dict)   # for the worker subprocess (CUDA_VISIBLE_DEVICES, MPS)
    green_sms: int | None = None
    mps_percentage: int | None = None
    sms: int | None = None
    source: str = ""                                    # device/instance UUID, for meta

    @property
    def label(self) -> str:
        return f"{self.gpu} {self.profile}" + (" (emulated)" if self.emulated else "")


@dataclass(frozen=True)
class Point:
    """One measurement on a target: ``processes`` copies of ``model`` at ``batch``, or ``model`` at ``batch``
    together with ``pair`` at ``pair_batch`` (``None``: the same batch as ``model``)."""

    model: str
    batch: int
    processes: int = 1
    pair: str | None = None
    pair_batch: int | None = None

    @property
    def co_batch(self) -> int:
        """The co-runner's batch size (a pair point only)."""
        return self.batch if self.pair_batch is None else self.pair_batch

    def key(self, target: Target) -> str:
        """Identity of the point on a target, for resume (a pair at equal batches keeps its older key)."""
        key = "|".join([target.gpu, target.profile, str(target.emulated), self.model, str(self.batch),
                        str(self.processes), self.pair or ""])
        return key + (f"@{self.co_batch}" if self.pair and self.co_batch != self.batch else "")

    def describe(self) -> str:
        """One line for --dry-run: 'cnn x2 batch 8', 'cnn + mlp batch 4' or 'cnn batch 1 + mlp batch 16'."""
        if not self.pair:
            return f"{self.model} x{self.processes} batch {self.batch}"
        if self.co_batch == self.batch:
            return f"{self.model} + {self.pair} batch {self.batch}"
        return f"{self.model} batch {self.batch} + {self.pair} batch {self.co_batch}"


PAIR_BATCHES = ("all", "same")
"""How a pair A,B is swept over the batch list: 'all' = every (b_A, b_B), unequal batches included (what an
interference model needs: a model's slowdown depends on how busy its co-runner is); 'same' = b_A = b_B only."""


def plan_points(models: list[str], batches: list[int], processes: list[int],
                pairs: list[tuple[str, str]], pair_batches: str = "all") -> list[Point]:
    """Every model x processes x batch (batches ascending, so an OOM ends a sweep), then each pair at every
    (b_A, b_B) of ``batches`` (both ascending), or at b_A = b_B only with ``pair_batches="same"``."""
    if pair_batches not in PAIR_BATCHES:
        raise InputError(f"expected one of {', '.join(PAIR_BATCHES)}, got '{pair_batches}'", field="--pair-batches")
    bs = sorted(batches)
    pts = [Point(m, b, k) for m in models for k in sorted(processes) for b in bs]
    for a, other in pairs:
        combos = [(b, b) for b in bs] if pair_batches == "same" else [(b, c) for b in bs for c in bs]
        pts += [Point(a, b, 1, pair=other, pair_batch=c) for b, c in combos]
    return pts


def cpu_targets() -> list[Target]:
    """The CPU is one device: gpu 'cpu', profile 'full'."""
    return [Target("cpu", FULL)]


def _mig_targets(dev: GpuDevice, cat: Catalog, skipped: list[str]) -> list[Target]:
    """One target per distinct existing profile of a MIG-enabled GPU (duplicates measure the same thing)."""
    gpu = cat.get(dev.gpu_type)
    out: dict[str, Target] = {}
    for inst in dev.instances:
        if not gpu.has_profile(inst.profile):
            skipped.append(f"{inst.uuid}: profile '{inst.profile}' not in the catalog for {gpu.type}")
        elif inst.profile in out:
            skipped.append(f"{inst.uuid}: another {inst.profile} instance is already measured")
        else:
            out[inst.profile] = Target(gpu.type, inst.profile, env=instance_env(inst.uuid), source=inst.uuid)
    return list(out.values())


def _emulated_targets(dev: GpuDevice, cat: Catalog, emulate: list[str], method: str) -> list[Target]:
    """The whole GPU with SMs limited to each requested profile's compute slices."""
    gpu = cat.get(dev.gpu_type)
    out = []
    for label in emulate:
        prof = emulation.emulated_profile(gpu, label)
        sms = emulation.slice_sms(gpu, prof)
        pct = emulation.mps_percentage(sms, gpu.sms) if method == emulation.MPS and gpu.sms else None
        out.append(Target(gpu.type, prof.name, True, instance_env(dev.uuid), sms if method == emulation.GREEN
                          else None, pct, sms, dev.uuid))
    return out


def gpu_targets(inv: Inventory, cat: Catalog, emulate: list[str], method: str | None,
                skipped: list[str]) -> list[Target]:
    """Targets on the first GPU of each catalog type: its MIG instances, or `full` plus emulated slices."""
    seen: set[str] = set()
    targets: list[Target] = []
    for dev in inv.gpus:
        if dev.gpu_type is None:
            skipped.append(f"GPU {dev.index} '{dev.name}': not in the catalog (add it with --catalog)")
            continue
        if dev.gpu_type in seen:
            skipped.append(f"GPU {dev.index}: another {dev.gpu_type} is already measured")
            continue
        seen.add(dev.gpu_type)
        if dev.mig_enabled:
            if emulate:
                raise InputError(f"GPU {dev.index} has MIG enabled: measure its instances, do not emulate",
                                 field="--emulate")
            targets += _mig_targets(dev, cat, skipped)
        else:
            targets.append(Target(dev.gpu_type, FULL, env=instance_env(dev.uuid), source=dev.uuid))
            targets += _emulated_targets(dev, cat, emulate, method or emulation.GREEN)
    if not targets:
        raise InputError("nothing to measure: " + ("; ".join(skipped) or "no GPU found"), field="--device")
    return targets


EST_MS_PER_SAMPLE = {"cpu": 5.0, "cuda": 0.1}
EST_MS_PER_ITER = {"cpu": 1.0, "cuda": 1.0}


def estimate_seconds(targets: list[Target], points: list[Point], settings: Settings) -> float:
    """A rough wall-time estimate (fixed per-sample cost guesses, not a prediction): for --dry-run only."""
    per_sample, per_iter = EST_MS_PER_SAMPLE[settings.device], EST_MS_PER_ITER[settings.device]
    total = 0.0
    for _t in targets:
        total += 0.0 if settings.device == "cpu" else 10.0            # worker start, CUDA init
        for p in points:
            copies = 2 if p.pair else p.processes
            samples = p.batch + p.co_batch if p.pair else p.batch * copies
            iters = settings.warmup + settings.iters
            total += iters * (per_iter + per_sample * samples) / 1000.0
            total += 0.2 + (3.0 if copies > 1 else 0.0)               # model build; spawning copies
    return total
