"""CLI overhead: the whole ``majula solve FILE --json`` against a bare MILP of the same model, and ``majula --help``.

Why: on a 10,000-GPU instance the CLI once took 2.6-3.3 s against 0.5-0.7 s for the MILP alone (issue 10), the
difference being imports every command paid (PuLP, scipy.optimize), decoding and serialising. This keeps that
overhead measured. Bar: the whole CLI at most 2.5x the bare MILP; goal 2x.

Instance: the 11 ParvaGPU models at ``--gpus`` GPUs (default 10,000), built as ``bench_placer.build_problem``
does (ParvaGPU CSVs read at run time from ``<repo>/../shared/data``), written to a temporary instance file with
the measurements inline. Timed, each in a fresh process, ``--repeat`` times (median):

(a) ``majula solve FILE --json > /dev/null``: start-up, imports, loading, capacity table, MILP, decoding, JSON.
(b) the bare MILP: a fresh ``python`` that imports ``placer.formulation.build`` and ``placer.solver.
    solve_formulation``, unpickles the same problem and capacity table (computed here, untimed), builds the
    min_gpus formulation and solves it with HiGHS. Its wall time is the reference for the ratio; the process
    also reports build + solve and ``solve_formulation`` alone (PuLP hand-over and HiGHS), shown for scale.
(c) ``majula --help`` (and ``python -c pass``, the floor any command pays).

Run: ``.venv/bin/python benchmarks/bench_cli.py [--gpus 10000] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_placer import DATA, build_problem  # noqa: E402
from machine import machine  # noqa: E402

BAR, GOAL = 2.5, 2.0

BARE_MILP = """
import json, pickle, sys, time
t0 = time.perf_counter()
from majula_model.placer.formulation import build
from majula_model.placer.solver import solve_formulation
with open(sys.argv[1], "rb") as fh:
    problem, table = pickle.load(fh)
t1 = time.perf_counter()
out = solve_formulation(build(problem, "min_gpus", table), "highs")
print(json.dumps({"load_s": t1 - t0, "build_solve_s": time.perf_counter() - t1, "solver_s": out.seconds,
                  "status": out.status, "gpus": sum(out.y.values())}))
"""
"""The bare MILP process: imports, the pickled inputs, build, solve; prints its own split as JSON."""


def majula_command() -> list[str]:
    """The installed console script next to this interpreter (what users run), else ``python -m majula_model``."""
    script = Path(sys.executable).parent / "majula"
    return [str(script)] if script.exists() else [sys.executable, "-m", "majula_model"]


def wall(cmd: list[str], stdout=subprocess.DEVNULL) -> tuple[float, str]:
    """Wall time of one fresh process (it must succeed) and its stdout when captured."""
    t0 = time.perf_counter()
    done = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")
    return seconds, done.stdout or ""


def write_inputs(folder: Path, n_gpus: int) -> tuple[Path, Path, int]:
    """The instance file for the CLI, the pickled (problem, capacity table) for the bare MILP, and the pool."""
    from majula_model.perf.capacity import capacity_table
    from majula_model.problem.importers import read_parvagpu
    from majula_model.problem.loading import load_instance

    problem = build_problem(n_gpus, read_parvagpu(DATA).measurements)
    instance = folder / f"parvagpu-{n_gpus}.json"
    instance.write_text(json.dumps(problem.instance.model_dump(mode="json", exclude_defaults=True)))
    loaded = load_instance(instance)  # the problem exactly as the CLI reads it
    inputs = folder / "problem.pickle"
    inputs.write_bytes(pickle.dumps((loaded, capacity_table(loaded))))
    return instance, inputs, sum(g.count for g in loaded.instance.gpus)


def fmt(runs: list[float]) -> str:
    return f"{statistics.median(runs):.2f} | {', '.join(f'{r:.2f}' for r in runs)}"


def measure(instance: Path, inputs: Path, repeat: int) -> dict[str, list[float]]:
    """Each command ``repeat`` times, interleaved so that a load change hits them alike."""
    runs: dict[str, list[float]] = {k: [] for k in ("cli", "bare", "bare_build_solve", "bare_solver", "help", "py")}
    majula = majula_command()
    for _ in range(repeat):
        runs["cli"].append(wall([*majula, "solve", str(instance), "--json"])[0])
        seconds, out = wall([sys.executable, "-c", BARE_MILP, str(inputs)], stdout=subprocess.PIPE)
        split = json.loads(out)
        runs["bare"].append(seconds)
        runs["bare_build_solve"].append(split["build_solve_s"])
        runs["bare_solver"].append(split["solver_s"])
        runs["help"].append(wall([*majula, "--help"])[0])
        runs["py"].append(wall([sys.executable, "-c", "pass"])[0])
    return runs


def report(runs: dict[str, list[float]], n_gpus: int, repeat: int) -> None:
    """The markdown table of docs/benchmarks.md and the ratios."""
    import pulp
    from importlib.metadata import version

    print(f"machine: {machine()}; date {date.today()}; pulp {pulp.__version__}, highspy {version('highspy')}; "
          f"pool {n_gpus:,} GPUs, 11 ParvaGPU models, min_gpus; median of {repeat}")
    print("| what | median s | runs s |")
    print("|---|---|---|")
    print(f"| (a) whole CLI: `majula solve FILE --json > /dev/null` | {fmt(runs['cli'])} |")
    print(f"| (b) bare MILP, fresh process: imports + build + solve_formulation | {fmt(runs['bare'])} |")
    print(f"| (b) of which build + solve_formulation | {fmt(runs['bare_build_solve'])} |")
    print(f"| (b) of which solve_formulation (PuLP + HiGHS) | {fmt(runs['bare_solver'])} |")
    print(f"| (c) `majula --help` | {fmt(runs['help'])} |")
    print(f"| `python -c pass` | {fmt(runs['py'])} |")
    cli, bare = statistics.median(runs["cli"]), statistics.median(runs["bare"])
    ratio = cli / bare
    verdict = "goal met" if ratio <= GOAL else "bar met" if ratio <= BAR else "BAR MISSED"
    print(f"ratio whole CLI / bare MILP (fresh process): {ratio:.2f}x ({verdict}: bar {BAR:g}x, goal {GOAL:g}x); "
          f"against solve_formulation alone: {cli / statistics.median(runs['bare_solver']):.2f}x; "
          f"CLI overhead over the bare MILP: {cli - bare:+.2f} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gpus", type=int, default=10_000, help="Pool size (GPUs) of the instance.")
    ap.add_argument("--repeat", type=int, default=5, help="Runs of each command; the median is reported.")
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"public data not found at {DATA}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="majula-bench-cli-") as tmp:
        instance, inputs, n_gpus = write_inputs(Path(tmp), args.gpus)
        report(measure(instance, inputs, args.repeat), n_gpus, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
