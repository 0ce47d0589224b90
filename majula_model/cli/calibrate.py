"""``majula calibrate``: measure models on the CPU, a GPU's MIG instances or emulated slices; write a
calibration file (docs/data-format.md (data contract)).

Flags are checked here, up front, as InputErrors (exit 2); torch is imported only once measuring starts, so
other commands never pay for it. The work is done by the ``calibration`` package.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from ..errors import InputError
from .lists import numbers


def _ints(text: str, flag: str, unique: bool = True) -> list[int]:
    """'1,4,16' -> [1, 4, 16], each >= 1 (and no duplicates where ``unique``)."""
    return numbers(text, flag, unique=unique)


def _names(text: str, flag: str) -> list[str]:
    vals = [x.strip() for x in text.split(",") if x.strip()]
    if not vals:
        raise InputError("expected a comma-separated list", field=flag)
    return vals


def _pairs(raw: list[str]) -> list[tuple[str, str]]:
    """Each --pair A,B names two different models."""
    pairs = []
    for text in raw:
        names = _names(text, "--pair")
        if len(names) != 2 or names[0] == names[1]:
            raise InputError(f"expected two different models 'A,B', got '{text}'", field="--pair")
        pairs.append((names[0], names[1]))
    return pairs


def _shapes(raw: list[str], models: list[str]) -> dict[str, list[int]]:
    """'--input-shape 3,64,64' applies to every image model; 'mlp=512' or 'cnn=3,32,32' to one model."""
    from calibration.models import SPECS

    out: dict[str, list[int]] = {}
    for text in raw:
        name, _, dims = text.rpartition("=")
        shape = _ints(dims, "--input-shape", unique=False)
        if name and name not in SPECS:
            raise InputError(f"unknown model '{name}'", field="--input-shape")
        targets = [name] if name in models else [] if name else [m for m in models if SPECS[m].input_kind == "image"]
        out.update({m: shape for m in targets})
    return out


def build_config(args: argparse.Namespace):
    """Validate the flags into a RunConfig (InputError naming the flag on the first problem)."""
    from calibration.models import DTYPES, check_names
    from calibration.plan import Settings
    from calibration.runner import RunConfig

    if args.iters < 1 or args.warmup < 0:
        raise InputError("--iters must be >= 1 and --warmup >= 0", field="--iters" if args.iters < 1 else "--warmup")
    if args.dtype not in DTYPES:
        raise InputError(f"unknown dtype '{args.dtype}' (choose from {', '.join(DTYPES)})", field="--dtype")
    models, pairs = _names(args.models, "--models"), _pairs(args.pair or [])
    check_names(models + [m for p in pairs for m in p])
    every = sorted(set(models + [m for p in pairs for m in p]))
    if args.max_cpu_wait is not None and not 0 < args.max_cpu_wait < 1:
        raise InputError("must be a share of a second between 0 and 1", field="--max-cpu-wait")
    settings = Settings(args.device, args.dtype, args.warmup, args.iters, _shapes(args.input_shape or [], every),
                        max_cpu_wait=args.max_cpu_wait)
    return RunConfig(settings, models, _ints(args.batches, "--batches"), _ints(args.processes, "--processes"),
                     pairs, _names(args.emulate, "--emulate") if args.emulate else [], Path(args.out), args.resume,
                     pair_batches=args.pair_batches)


def _check_out(args: argparse.Namespace, out: Path) -> None:
    """--out, its sidecar and its lock file can be written and are no input (--catalog files)."""
    from calibration.runner import lock_path, sidecar_path
    from ..outputs.files import check_output

    inputs = args.catalog or []
    check_output(out, "--out", inputs)
    for extra in (sidecar_path(out), lock_path(out)):
        try:
            check_output(extra, "--out", inputs)
        except InputError as e:
            raise InputError(f"{e.file}: {e.reason}", file=str(out), field="--out") from None


def _dry_run(cfg, planned) -> int:
    from calibration.plan import estimate_seconds

    print(f"plan: {len(planned.targets)} target(s) x {len(planned.points)} point(s) "
          f"= {len(planned.targets) * len(planned.points)} measurements")
    for t in planned.targets:
        extra = f", {t.sms} SMs via {planned.method}" if t.emulated else ""
        print(f"  {t.label}{extra}")
        for p in planned.points:
            print(f"    {p.describe()}")
    for s in planned.skipped:
        print(f"  skipped: {s}")
    secs = estimate_seconds(planned.targets, planned.points, cfg.settings)
    print(f"estimated time: ~{secs / 60:.1f} min (rough: assumes fixed per-sample costs)")
    return 0


def _require_cuda_torch() -> None:
    """Refuse early, with a clear reason, when the installed PyTorch cannot use a GPU at all."""
    import torch

    if not torch.backends.cuda.is_built():
        raise InputError(f"this PyTorch ({torch.__version__}) was built without CUDA", field="--device")


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("torch") is None:
        raise InputError("needs PyTorch: pip install 'majula[calibrate]'", field="--device")
    from calibration import runner

    cfg = build_config(args)
    _check_out(args, cfg.out)  # before any measurement: a bad --out must not cost the whole run
    if cfg.settings.device == "cuda" and not args.dry_run:
        _require_cuda_torch()
    if args.dry_run:
        return _dry_run(cfg, runner.make_plan(cfg, args.cat))
    try:
        doc = runner.run(cfg, catalog=args.cat, show_progress=not args.no_progress and sys.stderr.isatty())
    except KeyboardInterrupt:
        print(f"majula: finished points are kept in {runner.sidecar_path(cfg.out)}; rerun with --resume",
              file=sys.stderr)
        raise
    meta = doc.meta or {}
    print(f"wrote {len(doc.measurements)} measurements to {cfg.out} "
          f"({len(meta.get('out_of_memory', []))} out of memory, {len(meta.get('skipped', []))} skipped)")
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("calibrate", help="Measure models on a GPU (MIG instances or emulated slices) or the CPU.")
    p.add_argument("--device", choices=["cpu", "cuda"], required=True, help="Where to measure.")
    p.add_argument("--models", default="cnn,mlp", help="Comma-separated model names (default: cnn,mlp).")
    p.add_argument("--batches", default="1,4,16", help="Comma-separated batch sizes (default: 1,4,16).")
    p.add_argument("--processes", default="1", help="Concurrent copies per point, e.g. 1,2,3 (default: 1).")
    p.add_argument("--pair", action="append", metavar="A,B", help="Also run models A and B together (repeatable).")
    p.add_argument("--pair-batches", choices=["all", "same"], default="all",
                   help="Pairs at every (batch A, batch B) of --batches (default) or at equal batches only.")
    p.add_argument("--max-cpu-wait", type=float, metavar="S",
                   help="Re-measure a point whose timing threads waited more than S s per s for a CPU (busy host).")
    p.add_argument("--emulate", metavar="1g,3g,...", help="MIG off: also measure SM-limited slices (labelled).")
    p.add_argument("--dtype", default="fp32", help="fp32, fp16 or bf16 (default: fp32).")
    p.add_argument("--input-shape", action="append", metavar="[MODEL=]DIMS",
                   help="One sample's shape: 'C,H,W' for every image model, or 'MODEL=DIMS' (repeatable).")
    p.add_argument("--iters", type=int, default=50, help="Timed iterations per point (default: 50).")
    p.add_argument("--warmup", type=int, default=5, help="Warm-up iterations per point (default: 5).")
    p.add_argument("--out", default="calibration.json", help="Calibration file to write.")
    p.add_argument("--resume", action="store_true", help="Continue an interrupted run from its sidecar.")
    p.add_argument("--dry-run", action="store_true", help="List the planned points and a time estimate.")
    p.add_argument("--no-progress", action="store_true", help="No progress bar.")
    p.set_defaults(func=run)
    return p
