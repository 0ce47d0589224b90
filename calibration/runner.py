"""Running a calibration: plan, measure target by target with a progress bar, append, resume, write the file.

Why a sidecar: results are appended to ``<out>.partial.jsonl`` the moment each point finishes, so a run that is
interrupted (Ctrl-C, a crash, a lost node) resumes with ``--resume`` and measures only what is missing. The
sidecar's first line holds the settings; resuming with different settings is refused. When every target is done
the calibration file (docs/data-format.md (data contract)) is written, validated as ``CalibrationFile``, and the sidecar removed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from majula_model.hardware.catalog import Catalog, default_catalog
from majula_model.errors import InputError
from majula_model.problem.loading import parse
from majula_model.schema import CalibrationFile

from . import emulation, plan
from .devices import Inventory, discover
from .plan import Point, Settings, Target
from .provenance import build_meta
from .sweep import sweep
from .worker import encode_job

Launcher = Callable[[Target, str], Iterator[dict[str, Any]]]


@dataclass
class RunConfig:
    """A calibration run as the CLI describes it."""

    settings: Settings
    models: list[str]
    batches: list[int]
    processes: list[int] = field(default_factory=lambda: [1])
    pairs: list[tuple[str, str]] = field(default_factory=list)
    emulate: list[str] = field(default_factory=list)
    out: Path = Path("calibration.json")
    resume: bool = False
    pair_batches: str = "all"      # plan.PAIR_BATCHES: every (b_A, b_B) of a pair, or equal batches only


@dataclass
class Planned:
    """The plan of a run: targets, points and what was found on the way."""

    targets: list[Target]
    points: list[Point]
    inventory: Inventory | None = None
    method: str | None = None
    skipped: list[str] = field(default_factory=list)


def make_plan(cfg: RunConfig, catalog: Catalog | None = None, nvml: Any = None,
              torch_module: Any = None, mps_binary: str | None = None) -> Planned:
    """Targets (CPU, or GPUs found through NVML) and points; emulation method chosen when slices are emulated."""
    points = plan.plan_points(cfg.models, cfg.batches, cfg.processes, cfg.pairs, cfg.pair_batches)
    if cfg.settings.device == "cpu":
        if cfg.emulate:
            raise InputError("slices can only be emulated on a GPU", field="--emulate")
        return Planned(plan.cpu_targets(), points)
    inv = discover(nvml, catalog or default_catalog())
    method = emulation.choose_method(torch_module, mps_binary) if cfg.emulate else None
    skipped: list[str] = []
    targets = plan.gpu_targets(inv, catalog or default_catalog(), cfg.emulate, method, skipped)
    return Planned(targets, points, inv, method, skipped)


def sidecar_path(out: Path) -> Path:
    """Where results are appended while a run is in progress."""
    return out.with_name(out.name + ".partial.jsonl")


def _header(cfg: RunConfig) -> dict[str, Any]:
    """The sidecar's first line. ``pair_batches`` appears only when not the default, so a sidecar of a run that
    measured pairs at equal batches only (before pairs were swept over every batch combination) resumes: its
    points keep their keys and only the unequal combinations are added. ``max_cpu_wait`` is left out: it says how
    often a point is measured again on a busy host, not what is measured, so a run may resume with another one."""
    settings = {k: v for k, v in asdict(cfg.settings).items() if k != "max_cpu_wait"}
    head = {"kind": "header", "settings": settings, "models": cfg.models, "batches": cfg.batches,
            "processes": cfg.processes, "pairs": [list(p) for p in cfg.pairs], "emulate": cfg.emulate}
    return head if cfg.pair_batches == "all" else {**head, "pair_batches": cfg.pair_batches}


def read_sidecar(path: Path, cfg: RunConfig) -> list[dict[str, Any]]:
    """Events of an earlier run with the same settings (a torn last line from a crash is dropped).

    A key that appears twice (a line written twice, or two runs that shared the sidecar before it was locked)
    is kept once, its first event: each point is measured once and becomes one set of records."""
    lines = path.read_text().splitlines()
    events = []
    for i, line in enumerate(lines):
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            if i != len(lines) - 1:
                raise InputError(f"line {i + 1} is not JSON", file=str(path)) from None
    want = json.loads(json.dumps(_header(cfg)))
    if not events or events[0] != want:
        raise InputError("was written with other settings; rerun with the same flags or delete it",
                         file=str(path), field="--resume")
    seen: set[str] = set()
    unique = []
    for e in events[1:]:
        key = e.get("key") if isinstance(e, dict) else None
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        unique.append(e)
    return unique


def lock_path(out: Path) -> Path:
    """The lock file next to the output: held by the one run that writes ``out`` and its sidecar."""
    return out.with_name(out.name + ".lock")


@contextmanager
def lock_output(out: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path(out)`` for the run; a second writer gets InputError (exit 2).

    Why a lock: two runs on one --out appended to one sidecar and wrote 7 records for 6 points. The lock file is
    removed while still held; a run that opened the removed file finds, after locking, that the path names
    another file (or none) and tries again, so two runs never both hold a lock on the same path."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): run unlocked
        yield
        return
    path = lock_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise InputError(f"another `majula calibrate` is writing this output (it holds {path}); wait for it "
                             f"to finish or choose another --out", file=str(out), field="--out") from None
        except OSError:
            os.close(fd)
            raise
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        os.close(fd)


def open_sidecar(cfg: RunConfig) -> tuple[list[dict[str, Any]], Any]:
    """Earlier events (on --resume) and the sidecar opened for appending."""
    path = sidecar_path(cfg.out)
    if path.exists() and not cfg.resume:
        raise InputError("an interrupted run left its results here: add --resume, or delete it",
                         file=str(path))
    events = read_sidecar(path, cfg) if path.exists() else []
    _drop_torn_tail(path)
    fh = path.open("a")
    if not events and path.stat().st_size == 0:
        fh.write(json.dumps(_header(cfg)) + "\n")
        fh.flush()
    return events, fh


def _drop_torn_tail(path: Path) -> None:
    """Cut a partial last line (a crash mid-write), so appended events start on a line of their own."""
    if not path.exists():
        return
    text = path.read_text()
    if text and not text.endswith("\n"):
        path.write_text(text[: text.rfind("\n") + 1])


def subprocess_launcher(target: Target, job: str) -> Iterator[dict[str, Any]]:
    """Run ``calibration.worker`` with the target's environment; yield its events as they arrive."""
    env = {**os.environ, **target.env}
    proc = subprocess.Popen([sys.executable, "-m", "calibration.worker"], env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(job)
    proc.stdin.close()
    for line in proc.stdout:
        if line.strip():
            yield json.loads(line)
    if proc.wait() != 0:
        raise RuntimeError(f"worker for {target.label} exited with {proc.returncode}; finished points are "
                           "saved, rerun with --resume")


def _progress(total: int, initial: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="pt", disable=not enabled, dynamic_ncols=True,
                desc="calibrate", file=sys.stderr)


def _target_events(t: Target, planned: Planned, cfg: RunConfig, done: set[str], ooms: list[dict[str, Any]],
                   launcher: Launcher) -> Iterator[dict[str, Any]]:
    """CPU targets run in this process; GPU targets in a worker pinned to their device or instance."""
    if cfg.settings.device == "cpu":
        return sweep(t, planned.points, cfg.settings, done=done, ooms=ooms)
    return launcher(t, encode_job(t, planned.points, cfg.settings, done, ooms))


def measure_all(planned: Planned, cfg: RunConfig, earlier: list[dict[str, Any]], sink: Any,
                launcher: Launcher, show_progress: bool, mps: Callable[[str], Any]) -> list[dict[str, Any]]:
    """Run every target's pending points, appending each event to ``sink``; all events (earlier + new)."""
    events = list(earlier)
    done = {e["key"] for e in events}
    total = len(planned.targets) * len(planned.points)
    daemons: dict[str, Any] = {}
    with ExitStack() as stack, _progress(total, len(done), show_progress) as bar:
        for t in planned.targets:
            if all(p.key(t) in done for p in planned.points):
                continue
            if t.mps_percentage is not None and t.env.get("CUDA_MPS_PIPE_DIRECTORY") is None:
                t = _with_mps(t, stack, mps, daemons)
            bar.set_postfix_str(t.label)
            ooms = [e for e in events if e["kind"] == "oom" and e["key"].startswith(_prefix(t))]
            for ev in _target_events(t, planned, cfg, done, ooms, launcher):
                sink.write(json.dumps(ev) + "\n")
                sink.flush()
                events.append(ev)
                bar.update(1)
    return events


def _prefix(t: Target) -> str:
    return f"{t.gpu}|{t.profile}|{t.emulated}|"


def _with_mps(t: Target, stack: ExitStack, mps: Callable[[str], Any], daemons: dict[str, Any]) -> Target:
    """The target with its MPS client environment; one private daemon per GPU, stopped with ``stack``."""
    if t.source not in daemons:
        daemons[t.source] = stack.enter_context(mps(t.source))
    return Target(**{**asdict(t), "env": {**t.env, **daemons[t.source].client_env(t.mps_percentage)}})


def run(cfg: RunConfig, *, catalog: Catalog | None = None, nvml: Any = None, launcher: Launcher | None = None,
        torch_module: Any = None, mps: Callable[[str], Any] | None = None,
        show_progress: bool = True) -> CalibrationFile:
    """Plan, measure (resuming from the sidecar), write ``cfg.out`` and return it."""
    planned = make_plan(cfg, catalog, nvml, torch_module)
    mps = mps or emulation.MpsDaemon     # called with the GPU's UUID
    with lock_output(cfg.out):
        earlier, sink = open_sidecar(cfg)
        with sink:
            events = measure_all(planned, cfg, earlier, sink, launcher or subprocess_launcher, show_progress, mps)
        records = [r for e in events if e["kind"] == "point" for r in e["records"]]
        meta = build_meta(cfg.settings, planned.targets, planned.inventory, planned.method, events, planned.skipped)
        doc = parse(CalibrationFile, {"measurements": records, "meta": meta}, str(cfg.out))
        cfg.out.parent.mkdir(parents=True, exist_ok=True)
        from majula_model.outputs.files import write_output  # atomic: a crash never leaves half a file

        write_output(cfg.out, doc.model_dump_json(indent=1, exclude_none=True) + "\n", "--out")
        sidecar_path(cfg.out).unlink()
    return doc
