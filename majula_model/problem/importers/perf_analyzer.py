"""Import Triton perf_analyzer CSV output (``perf_analyzer -f FILE``) as measurement records.

perf_analyzer measures a served model at one batch size over client concurrency levels; its CSV has one row per
concurrency with ``Concurrency``, ``Inferences/Second`` and latency columns in microseconds (``p50 latency``,
``p90 latency``, ``p95 latency``, ``p99 latency``, plus per-stage columns we ignore). It does not know the MIG
profile, GPU type, model name or batch size, so those come from the command line.

Why one concurrency: docs/data-format.md (data contract) defines ``latency_ms`` as a batch's execution latency; at higher
concurrency perf_analyzer's latency includes queueing in the server, which the SLO rule already accounts for.
By default the lowest concurrency row is imported; ``concurrency=`` picks another.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from ...errors import InputError
from ...jsonfile import open_text
from ...schema import CalibrationFile, MeasurementRecord

REQUIRED = ("Concurrency", "Inferences/Second", "p50 latency", "p90 latency", "p99 latency")
PERCENTILES = {50: "p50 latency", 90: "p90 latency", 95: "p95 latency", 99: "p99 latency"}


def read_rows(path: str | Path) -> list[dict[str, float]]:
    """The numeric rows of a perf_analyzer CSV, keyed by column name; InputError naming file and line."""
    p = Path(path)
    with open_text(p) as fh:  # a regular file within the size limit, or InputError naming it
        reader = csv.DictReader(fh)
        cols = [c.strip() for c in reader.fieldnames or []]
        missing = [c for c in REQUIRED if c not in cols]
        if missing:
            raise InputError(f"not a perf_analyzer CSV: missing column(s) {', '.join(missing)}", file=str(p))
        wanted = [*REQUIRED, "p95 latency"]
        rows = []
        for line, row in enumerate(reader, start=2):
            clean = {k.strip(): v for k, v in row.items() if k}
            try:  # only the columns we use: others (e.g. --collect-metrics GPU columns) need not be numbers
                rows.append({c: float(clean[c]) for c in wanted if clean.get(c) not in (None, "")})
            except ValueError:
                raise InputError("non-numeric value", file=str(p), field=f"line {line}") from None
            if any(c not in rows[-1] for c in REQUIRED):
                raise InputError("missing value", file=str(p), field=f"line {line}")
            conc = rows[-1]["Concurrency"]
            if conc != int(conc) or conc < 1:  # a count of requests in flight: 1.5 would be silently 1
                raise InputError(f"Concurrency must be a positive whole number, got {clean['Concurrency']}",
                                 file=str(p), field=f"line {line}")
    if not rows:
        raise InputError("no data rows", file=str(p))
    return rows


def read_perf_analyzer(path: str | Path, model: str, gpu: str, profile: str, batch: int, processes: int = 1,
                       percentile: int = 99, concurrency: int | None = None) -> CalibrationFile:
    """One record (the chosen concurrency row, default the lowest) as a calibration file with provenance."""
    if percentile not in PERCENTILES:
        raise InputError(f"percentile must be one of {sorted(PERCENTILES)}", field="percentile")
    rows = read_rows(path)
    if percentile == 95 and "p95 latency" not in rows[0]:
        raise InputError("no 'p95 latency' column", file=str(path))
    conc = min(int(r["Concurrency"]) for r in rows) if concurrency is None else concurrency
    chosen = [r for r in rows if int(r["Concurrency"]) == conc]
    if not chosen:
        raise InputError(f"no row with Concurrency {conc}", file=str(path), field="Concurrency")
    row = chosen[0]
    try:
        rec = MeasurementRecord(model=model, gpu=gpu, profile=profile, batch=batch, processes=processes,
                                latency_ms=row[PERCENTILES[percentile]] / 1000.0, p50_ms=row["p50 latency"] / 1000.0,
                                p90_ms=row["p90 latency"] / 1000.0, throughput_rps=row["Inferences/Second"])
    except ValueError as e:
        raise InputError(f"row does not make a valid record: {e.errors()[0]['msg']}", file=str(path)) from None
    meta = {"source": "Triton perf_analyzer CSV (-f)", "imported_from": str(path), "date": date.today().isoformat(),
            "notes": f"concurrency {conc}; latency_ms = p{percentile} latency; throughput_rps = Inferences/Second"}
    return CalibrationFile(measurements=(rec,), meta=meta)


def write_perf_analyzer_csv(rows: list[dict[str, float]], path: str | Path) -> None:
    """Write rows in perf_analyzer's ``-f`` layout (for tests and for tools that expect it)."""
    cols = ["Concurrency", "Inferences/Second", "p50 latency", "p90 latency", "p95 latency", "p99 latency"]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for r in rows:
            w.writerow([int(r["Concurrency"]) if c == "Concurrency" else r[c] for c in cols])
