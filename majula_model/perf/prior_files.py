"""Regenerate the analytic prior's constants and the bundled prior calibration files.

Two steps, both reproducible from a clean checkout (``../shared/data`` is only needed for the first)::

    .venv/bin/python -m majula_model.perf.prior_files fit-constants ../shared/data/parvagpu-a100-80gb
    .venv/bin/python -m majula_model.perf.prior_files generate --out-dir calibration

``fit-constants`` stores only the fitted constants and per-model activation-memory bounds in
``perf/model_costs.json`` (never the data); ``generate`` writes ``calibration/prior-<gpu>.json``, whose meta says
that every record is an analytic-prior prediction and how it was made, so bundled instances stand alone.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np

from ..hardware.catalog import FULL, Catalog, default_catalog
from ..problem.importers import read_parvagpu
from .prior import CONTEXT_GB, costs_path, estimate_activation_gb, fit_constants, load_costs, prior_latency, \
    prior_memory_gb

PRIOR_GPUS = ("A100-SXM4-80GB", "A100-SXM4-40GB", "H100-SXM5-80GB")
BATCHES = tuple(2 ** i for i in range(8))  # 1..128
PROCESSES = (1, 2, 3)


def _upstream_note(directory: Path) -> str:
    readme = directory / "README.md"
    first = readme.read_text().splitlines()[0] if readme.exists() else ""
    return f"{directory.name} ({first.lstrip('# ').strip()})"


def refit_constants(directory: Path, catalog: Catalog) -> dict:
    """Fit the constants on the ParvaGPU CSVs in ``directory`` and store them (with provenance) in the data file."""
    cal = read_parvagpu(directory)
    records = list(cal.measurements)
    costs, _ = load_costs()
    constants = fit_constants(records, catalog, costs)
    raw = json.loads(costs_path().read_text())
    for name, cost in costs.items():
        act = estimate_activation_gb(records, catalog, cost)
        if act is not None:
            raw["models"][name]["activation_gb_per_sample"] = act
    constants = {k: round(v, 6) for k, v in constants.items()}
    constants["provenance"] = {
        "fitted_on": _upstream_note(directory), "records": len(records), "date": date.today().isoformat(),
        "method": "scipy least_squares (soft_l1) on log latency, points under 10 ms weighted 0.3; "
                  "activation_gb_per_sample = tightest bound that lets every measured (batch, processes) point fit "
                  f"its profile's memory with {CONTEXT_GB} GB context per process",
        "command": "python -m majula_model.perf.prior_files fit-constants ../shared/data/parvagpu-a100-80gb"}
    raw["constants"] = constants
    Path(str(costs_path())).write_text(json.dumps(raw, indent=2) + "\n")
    return constants


def prior_records(gpu_name: str, catalog: Catalog) -> list[dict]:
    """Prior points for every model with costs, on every plain profile (and ``full``) of a GPU type, that fit
    the profile's memory by the prior's memory estimate."""
    costs, constants = load_costs()
    gpu = catalog.get(gpu_name)
    out = []
    for name, cost in sorted(costs.items()):
        for profile in [p.name for p in gpu.plain_profiles] + [FULL]:
            cap = gpu.profile_memory_gb(profile)
            for k in PROCESSES:
                b = np.array(BATCHES, float)
                lat = prior_latency(cost, constants, gpu, profile, b, k)
                mem = prior_memory_gb(cost, b, k)
                for i, batch in enumerate(BATCHES):
                    if mem is not None and mem[i] > cap:
                        continue
                    rec = {"model": name, "gpu": gpu.type, "profile": profile, "batch": batch, "processes": k,
                           "latency_ms": round(float(lat[i]), 3)}
                    if mem is not None:
                        rec["memory_gb"] = round(float(mem[i]), 3)
                    out.append(rec)
    return out


def write_prior_file(gpu_name: str, out_dir: Path, catalog: Catalog) -> Path:
    """Write ``prior-<gpu>.json``; meta says what the records are and how to regenerate them."""
    _, constants = load_costs()
    meta = {"kind": "analytic-prior predictions, NOT measurements",
            "device": gpu_name, "date": date.today().isoformat(),
            "method": "majula_model/perf/prior.py: latency = floor + max(compute, memory time) from published model "
                      "MACs/parameters (majula_model/perf/model_costs.json) and the catalog's spec figures, with "
                      "efficiency constants fitted on the public ParvaGPU A100 data",
            "constants": constants,
            "regenerate": "python -m majula_model.perf.prior_files generate --out-dir calibration",
            "git_commit": _git_commit()}
    path = out_dir / f"prior-{gpu_name.lower()}.json"
    records = prior_records(gpu_name, catalog)
    body = ",\n".join("  " + json.dumps(r) for r in records)
    path.write_text('{"meta": ' + json.dumps(meta, indent=1) + ',\n "measurements": [\n' + body + "\n]}\n")
    return path


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m majula_model.perf.prior_files", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    fc = sub.add_parser("fit-constants", help="Refit the prior's constants on ParvaGPU CSVs.")
    fc.add_argument("dir")
    gen = sub.add_parser("generate", help="Write calibration/prior-<gpu>.json.")
    gen.add_argument("--out-dir", default="calibration")
    gen.add_argument("--gpu", action="append", help="GPU type (repeatable; default: the bundled set).")
    args = ap.parse_args(argv)
    cat = default_catalog()
    if args.cmd == "fit-constants":
        print(json.dumps(refit_constants(Path(args.dir), cat), indent=2))
        return 0
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for g in args.gpu or PRIOR_GPUS:
        print(write_prior_file(g, out, cat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
