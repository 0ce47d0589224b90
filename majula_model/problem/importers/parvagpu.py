"""Import the ParvaGPU profiling CSVs (one file per model; the public files are A100 80GB MIG slices).

Layout (see ../shared/data/parvagpu-a100-80gb/README.md): five columns, ``Mig instance``, ``Batch size``,
``Workload Number``, ``Throughput`` and ``Latency``; compute slices 1,2,3,4,7; ``Throughput`` is per process (the instance total is Throughput x Workload
Number); ``Latency`` is seconds per batch rounded to 1 ms; a ``0,0`` row was not measured (or ran out of memory).
The files are read at run time, never copied into this repository (their licence travels with them).

The CSV names a slice by its compute slices only. On the A100 80GB, ParvaGPU's slices are 1g.10gb, 2g.20gb,
3g.40gb, 4g.40gb and 7g.80gb: for each compute-slice count, the profile with the fewest memory slices. Files
measured on another GPU type (``--gpu``) are read with the same rule on that type's catalog entry (A100 40GB:
1g.5gb ... 7g.40gb; H100 NVL: 1g.12gb ...), so a count the type has no profile for is an error, not a guess.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from ...hardware.catalog import Catalog, default_catalog
from ...errors import InputError
from ...jsonfile import open_text
from ...schema import CalibrationFile, MeasurementRecord

PARVAGPU_PROFILES = {1: "1g.10gb", 2: "2g.20gb", 3: "3g.40gb", 4: "4g.40gb", 7: "7g.80gb"}
"""Compute slices of the CSV's ``Mig instance`` column -> A100-SXM4-80GB profile (``slice_profiles`` gives it
for any GPU type; this is its value for the public files' GPU)."""


def slice_profiles(gpu: str, catalog: Catalog | None = None) -> dict[int, str]:
    """Compute slices -> the GPU type's plain profile with that many compute slices and the fewest memory slices.

    InputError if the GPU type is unknown or has no MIG profiles."""
    cat = catalog or default_catalog()
    try:
        gtype = cat.get(gpu)
    except InputError as e:
        raise InputError(e.reason, field="--gpu") from None
    if not gtype.plain_profiles:
        raise InputError(f"{gtype.type} has no MIG profiles; ParvaGPU files hold MIG slices", field="--gpu")
    out: dict[int, tuple[int, str]] = {}
    for p in gtype.plain_profiles:
        if p.compute_slices not in out or p.memory_slices < out[p.compute_slices][0]:
            out[p.compute_slices] = (p.memory_slices, p.name)
    return {c: name for c, (_, name) in sorted(out.items())}

_COLUMNS = ["Mig instance", "Batch size", "Workload Number", "Throughput", "Latency"]


def read_parvagpu_csv(path: Path, model: str, gpu: str = "A100-SXM4-80GB",
                      catalog: Catalog | None = None) -> list[MeasurementRecord]:
    """Records of one model's CSV; missing (0,0) rows are skipped."""
    profiles = slice_profiles(gpu, catalog)
    out: list[MeasurementRecord] = []
    with open_text(path) as fh:  # a regular file within the size limit (jsonfile.open_text)
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or [c.strip() for c in reader.fieldnames] != _COLUMNS:
            raise InputError(f"expected columns {','.join(_COLUMNS)}, got {reader.fieldnames}", file=str(path))
        for line, row in enumerate(reader, start=2):
            try:
                slices, batch, procs = int(row["Mig instance"]), int(row["Batch size"]), int(row["Workload Number"])
                tput, lat_s = float(row["Throughput"]), float(row["Latency"])
            except (TypeError, ValueError):
                raise InputError("non-numeric value", file=str(path), field=f"line {line}") from None
            if tput <= 0 or lat_s <= 0:
                continue
            if slices not in profiles:
                expected = ",".join(str(c) for c in profiles)
                raise InputError(f"Mig instance {slices}: {gpu} has no profile with {slices} compute slices "
                                 f"(expected one of {expected})", file=str(path), field=f"line {line}")
            out.append(MeasurementRecord(
                model=model, gpu=gpu, profile=profiles[slices], batch=batch, processes=procs,
                latency_ms=round(lat_s * 1000.0, 6), throughput_rps=round(tput * procs, 6)))
    return out


def read_parvagpu(directory: str | Path, gpu: str = "A100-SXM4-80GB",
                  models: list[str] | None = None, catalog: Catalog | None = None) -> CalibrationFile:
    """All ``*.csv`` files of a ParvaGPU ``prof_data`` folder (model name = file stem) as one calibration file."""
    root = Path(directory)
    if not root.is_dir():
        raise InputError("not a directory", file=str(root))
    files = sorted(root.glob("*.csv"))
    if models is not None:
        files = [f for f in files if f.stem in set(models)]
    if not files:
        raise InputError("no ParvaGPU CSV files found", file=str(root))
    records = [r for f in files for r in read_parvagpu_csv(f, f.stem, gpu, catalog)]
    meta = {"source": "ParvaGPU (Lee et al., SC 2024) prof_data, MIT licence", "imported_from": str(root),
            "device": gpu, "date": date.today().isoformat(),
            "notes": "Latency rounded to 1 ms upstream; throughput_rps = per-process Throughput x Workload Number."}
    return CalibrationFile(measurements=tuple(records), meta=meta)


def write_parvagpu_csv(records: list[MeasurementRecord], path: str | Path,
                       batches: tuple[int, ...] = tuple(2 ** i for i in range(9)), max_processes: int = 5) -> None:
    """Write one model's records in the ParvaGPU layout, full grid, ``0,0`` where a point is missing.

    Why: the inverse of ``read_parvagpu_csv``, so the importer can be tested by a round trip on the public files.
    """
    slices = {v: k for k, v in PARVAGPU_PROFILES.items()}
    by_key = {(slices[r.profile], r.batch, r.processes): r for r in records}
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(_COLUMNS)
        for s in sorted(PARVAGPU_PROFILES):
            for b in batches:
                for k in range(1, max_processes + 1):
                    r = by_key.get((s, b, k))
                    tput = "0" if r is None else f"{r.rate_rps / k:.10g}"
                    lat = "0" if r is None else f"{r.latency_ms / 1000.0:.10g}"
                    w.writerow([s, b, k, tput, lat])
