"""``majula import parvagpu DIR --out FILE`` and ``majula import perf-analyzer CSV --model M --gpu T --profile P
--batch B --out FILE``: turn existing measurements into a calibration file (docs/data-format.md (data contract))."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:  # the readers and pydantic are imported in the run functions (see cli/__init__.py)
    from ..schema import CalibrationFile


def check_records(cal: CalibrationFile, cat, source: str, fields: bool = False) -> None:
    """GPU types and profiles of the records exist in the catalog (else exit 2 naming the file and, with
    ``fields``, the record; otherwise the command-line flag that set it)."""
    for i, r in enumerate(cal.measurements):
        gpu = cat.get(r.gpu) if cat.resolve(r.gpu) else None
        where = f"measurements[{i}]." if fields else "--"
        if gpu is None:
            raise InputError(f"unknown GPU type '{r.gpu}'", file=source, field=f"{where}gpu")
        if not gpu.has_profile(r.profile):
            raise InputError(f"{gpu.type} has no profile '{r.profile}'", file=source, field=f"{where}profile")


def _inputs(args: argparse.Namespace, *files: str | Path) -> list[str | Path]:
    """What an import reads: its CSVs and the --catalog files (an --out equal to one of them is refused)."""
    return [*files, *(getattr(args, "catalog", None) or [])]


def _write(cal: CalibrationFile, out: str, cat, source: str, inputs: list[str | Path]) -> None:
    from ..outputs.files import write_output

    check_records(cal, cat, source)
    write_output(out, json.dumps(cal.model_dump(mode="json", exclude_defaults=True), indent=1) + "\n", "--out",
                 inputs)
    print(f"{out}: {len(cal.measurements)} measurements")


def run_parvagpu(args: argparse.Namespace) -> int:
    from ..outputs.files import check_output
    from ..problem.importers import read_parvagpu

    root = Path(args.dir)
    inputs = _inputs(args, *(sorted(root.glob("*.csv")) if root.is_dir() else []))
    check_output(args.out, "--out", inputs)  # before reading: the CSVs are not touched either way
    _write(read_parvagpu(args.dir, gpu=args.gpu, catalog=args.cat), args.out, args.cat, args.dir, inputs)
    return 0


def run_perf_analyzer(args: argparse.Namespace) -> int:
    from ..outputs.files import check_output
    from ..problem.importers import read_perf_analyzer

    inputs = _inputs(args, args.csv)
    check_output(args.out, "--out", inputs)
    cal = read_perf_analyzer(args.csv, args.model, args.gpu, args.profile, args.batch, args.processes,
                             args.percentile, args.concurrency)
    _write(cal, args.out, args.cat, args.csv, inputs)
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("import", help="Import measurements (ParvaGPU CSVs, Triton perf_analyzer CSV).")
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True, parser_class=type(p))
    pv = kinds.add_parser("parvagpu", help="A folder of ParvaGPU prof_data CSVs (one per model).")
    pv.add_argument("dir", help="Folder of <model>.csv files.")
    pv.add_argument("--gpu", default="A100-SXM4-80GB", help="GPU type the CSVs were measured on.")
    pv.add_argument("--out", required=True, help="Calibration JSON file to write.")
    pv.set_defaults(func=run_parvagpu)
    pa = kinds.add_parser("perf-analyzer", help="A perf_analyzer -f CSV of one model at one batch size.")
    pa.add_argument("csv", help="perf_analyzer CSV file.")
    pa.add_argument("--model", required=True, help="Model name.")
    pa.add_argument("--gpu", required=True, help="GPU type (or alias).")
    pa.add_argument("--profile", required=True, help="MIG profile, or 'full'.")
    pa.add_argument("--batch", type=int, required=True, help="Batch size perf_analyzer ran with (-b).")
    pa.add_argument("--processes", type=int, default=1, help="Model instances/processes in the slice (default 1).")
    pa.add_argument("--percentile", type=int, default=99, choices=[50, 90, 95, 99], help="Latency percentile.")
    pa.add_argument("--concurrency", type=int, help="Concurrency row to import (default: the lowest).")
    pa.add_argument("--out", required=True, help="Calibration JSON file to write.")
    pa.set_defaults(func=run_perf_analyzer)
    return p
