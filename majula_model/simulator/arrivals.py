"""Request arrivals: Poisson streams per model, or a trace CSV of (timestamp, model); proportional routing.

Times are milliseconds from the start of the run. Why numpy throughout: 10 million arrivals must cost well under a
second (exponential gaps and a cumulative sum; routing is one weighted ``choice``).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..jsonfile import open_text


def poisson_arrivals(rate_rps: float, duration_s: float, rng: np.random.Generator) -> np.ndarray:
    """Sorted arrival times (ms) of a Poisson process of ``rate_rps`` over ``[0, duration_s)``."""
    if rate_rps <= 0 or duration_s <= 0:
        return np.empty(0)
    horizon = duration_s * 1000.0
    mean_gap = 1000.0 / rate_rps
    expected = rate_rps * duration_s
    out: list[np.ndarray] = []
    last = 0.0
    while last < horizon:
        chunk = int(expected + 6 * np.sqrt(expected) + 16)
        times = last + np.cumsum(rng.exponential(mean_gap, chunk))
        out.append(times)
        last = float(times[-1])
    times = np.concatenate(out)
    return times[: np.searchsorted(times, horizon)]


def read_trace(path: str | Path, models: set[str]) -> tuple[dict[str, np.ndarray], float]:
    """Arrivals per model from a CSV of ``timestamp,model`` rows (seconds; a header row is optional).

    Times are shifted so the first request arrives at 0; the duration is the span of the trace (at least 1 ms).
    """
    stamps: dict[str, list[float]] = {}
    try:
        fh = open_text(path)  # a regular file within the size limit (a FIFO or /dev/zero is refused)
    except InputError as e:
        raise InputError(f"cannot read trace: {e.reason}", file=e.file) from None
    with fh:
        for line, row in enumerate(csv.reader(fh), start=1):
            if not row or (line == 1 and row[0].strip().lower() in ("timestamp", "time", "t")):
                continue
            if len(row) != 2:
                raise InputError(f"expected 2 columns (timestamp,model), got {len(row)}", file=str(path),
                                 field=f"line {line}")
            try:
                t = float(row[0])
            except ValueError:
                raise InputError(f"timestamp is not a number: '{row[0]}'", file=str(path),
                                 field=f"line {line}") from None
            name = row[1].strip()
            if name not in models or not np.isfinite(t):
                reason = f"unknown model '{name}'" if name not in models else "timestamp is not finite"
                raise InputError(reason, file=str(path), field=f"line {line}")
            stamps.setdefault(name, []).append(t)
    if not stamps:
        raise InputError("trace has no requests", file=str(path))
    t0 = min(min(v) for v in stamps.values())
    t1 = max(max(v) for v in stamps.values())
    arrivals = {m: np.sort((np.asarray(v) - t0) * 1000.0) for m, v in stamps.items()}
    return arrivals, max((t1 - t0), 1e-3)


def split_proportional(arr: np.ndarray, weights: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Route each arrival to one of the runs with probability proportional to ``weights`` (a Poisson stream
    split at random stays Poisson in every part); each part stays sorted."""
    if len(weights) == 1:
        return [arr]
    total = float(weights.sum())
    p = weights / total if total > 0 else np.full(len(weights), 1.0 / len(weights))
    choice = rng.choice(len(weights), size=len(arr), p=p)
    order = np.argsort(choice, kind="stable")  # grouped by run, arrival order kept: one pass, not one per run
    return np.split(arr[order], np.cumsum(np.bincount(choice, minlength=len(weights)))[:-1])
