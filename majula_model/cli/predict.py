"""``majula predict CALIBRATION --model M --gpu T --profile P --batch 1,2,4 [--processes K] [--json]``.

Latency and throughput of a model at given batch sizes, each labelled by where it comes from: ``measured``,
``interpolated`` (between measured batches of the same profile), ``predicted`` (fitted curve elsewhere),
``transferred`` (a GPU type the model was never measured on: its curve on a measured type carried over by the
catalog's specifications, with a note on stderr saying from where and how far such predictions were off where
they could be checked) or ``prior`` (analytic prior, where nothing can be transferred). A point recorded twice
with different numbers is answered with its conservative values, with a note (``loading.merge_duplicates``).
docs/cli.md (CLI contract).

``--with MODEL:BATCH`` (repeatable) asks for the latency next to those co-runners in the same instance (MPS):
``colocated-measured`` where exactly that was measured, else ``colocated-predicted`` by the interference model
(docs/sharing.md), or by its stated prior with ``--interference-prior``.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import InputError
from .lists import numbers


def parse_batches(text: str) -> list[int]:
    """``"1,2,4"`` -> [1, 2, 4]; InputError naming --batch otherwise."""
    return numbers(text, "--batch")


def parse_with(raw: list[str] | None) -> list[tuple[str, int]]:
    """``["bert:8", "vgg16:1"]`` -> [("bert", 8), ("vgg16", 1)]; InputError naming --with otherwise."""
    out = []
    for text in raw or []:
        name, sep, batch = text.rpartition(":")
        if not sep or not name.strip():
            raise InputError(f"expected MODEL:BATCH, got '{text}'", field="--with")
        out.append((name.strip(), numbers(batch, "--with")[0]))
    if len({m for m, _ in out}) != len(out):
        raise InputError("a co-runner is named twice", field="--with")
    return out


def colocated_rows(cal, args: argparse.Namespace, batches: list[int], others: list[tuple[str, int]]) -> list[dict]:
    """Rows for ``--with``: latency next to the co-runners, throughput ``b * 1000 / latency``, and the source."""
    from ..perf.interference import colocated_latency

    if args.processes != 1:
        raise InputError("--with runs one process per model (MPS co-location)", field="--processes")
    if any(m == args.model for m, _ in others):
        raise InputError(f"'{args.model}' cannot run next to itself", field="--with")
    rows = []
    for b in batches:
        lat, source = colocated_latency(cal.measurements, args.cat, args.model, args.gpu, args.profile, b, others,
                                        prior=args.interference_prior)
        rows.append({"batch": b, "latency_ms": round(lat, 4), "throughput_rps": round(b * 1000.0 / lat, 4),
                     "source": source})
    return rows


def run(args: argparse.Namespace) -> int:
    # imported here, not at the top: every command registers this module (see cli/__init__.py)
    from ..perf.prediction import predict, unmeasured_note
    from ..problem.loading import is_prior, load_calibration, merge_duplicates, merge_notes
    from ..problem.problem import SourcedRecord
    from ..problem.validation import check_records

    cal = load_calibration(args.calibration)
    sourced = [SourcedRecord(r, str(args.calibration), f"measurements[{i}]") for i, r in enumerate(cal.measurements)]
    check_records(sourced, args.cat)
    merged = merge_duplicates(sourced, args.cat, {str(args.calibration)} if is_prior(cal) else set())
    cal = cal.model_copy(update={"measurements": tuple(s.record for s in merged)})
    for note in merge_notes(merged):
        print(f"majula: note: {note}", file=sys.stderr)
    batches = parse_batches(args.batch)
    others = parse_with(args.with_)
    if args.processes < 1:
        raise InputError("must be a positive integer", field="--processes")
    if args.interference_prior and not others:
        raise InputError("only means something with --with", field="--interference-prior")
    try:
        rows = (colocated_rows(cal, args, batches, others) if others else
                predict(cal, args.model, args.gpu, args.profile, batches, args.processes, args.cat))
    except InputError as e:
        raise InputError(e.reason, file=args.calibration, field=e.field) from None
    if not others and any(r["source"] in ("transferred", "prior") for r in rows):
        if note := unmeasured_note(cal, args.model, args.gpu, args.cat):
            print(f"majula: note: {note}", file=sys.stderr)
    measured = [r.batch for r in cal.measurements if r.model == args.model]
    far = [r["batch"] for r in rows if "measured" not in r["source"] and measured
           and not min(measured) / 2 <= r["batch"] <= 2 * max(measured)]
    if far:
        print(f"majula: note: batch {', '.join(map(str, far))} lies more than 2x outside the batch sizes measured "
              f"for {args.model} ({min(measured)}..{max(measured)}): an extrapolation, not to be planned on "
              f"without measuring it (memory is not checked here)", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    beside = f", next to {', '.join(f'{m} (batch {b})' for m, b in others)}" if others else ""
    print(f"{args.model} on {args.gpu} {args.profile}, {args.processes} process(es){beside}")
    print(f"{'batch':>6} {'latency_ms':>11} {'throughput_rps':>15}  source")
    for r in rows:
        print(f"{r['batch']:>6} {r['latency_ms']:>11.2f} {r['throughput_rps']:>15.1f}  {r['source']}")
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("predict", help="Predict latency and throughput at batch sizes, labelled by source.")
    p.add_argument("calibration", help="Calibration JSON file.")
    p.add_argument("--model", required=True, help="Model name.")
    p.add_argument("--gpu", required=True, help="GPU type (or alias).")
    p.add_argument("--profile", required=True, help="MIG profile, or 'full'.")
    p.add_argument("--batch", required=True, help="Comma-separated batch sizes, e.g. 1,2,4.")
    p.add_argument("--processes", type=int, default=1, help="MPS processes in the instance (default 1).")
    p.add_argument("--with", dest="with_", action="append", metavar="MODEL:BATCH",
                   help="A co-runner in the same instance (MPS; repeatable): the co-located latency.")
    p.add_argument("--interference-prior", action="store_true",
                   help="With --with: use the stated conservative prior where no co-located data exists.")
    p.add_argument("--json", action="store_true", help="JSON list on stdout.")
    p.set_defaults(func=run)
    return p
