"""``majula fit CALIBRATION [--json] [--plot DIR]``: held-out error of the fitted curves and the prior.

Prints per model (and GPU type) leave-one-batch-out and leave-one-profile-out MAPE and worst error, over all
points and over points of at least 10 ms (public data rounds latency to 1 ms), and the analytic prior's error.
``--plot DIR`` writes measured-vs-fitted plots, one PNG per model.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import InputError, require
from .importers import check_records


def _fmt(s: dict | None) -> str:
    if not s or s["mape"] is None:
        return "      -      "
    return f"{s['mape']:5.1f}/{s['worst']:5.1f}"


def print_table(report: dict) -> None:
    """The human-readable table: MAPE/worst in %, each for all points and for points >= 10 ms."""
    print("held-out latency error, MAPE/worst %  (all points | points >= 10 ms); held out from the model, other "
          "models' measurements kept")
    head = f"{'model':<13} {'gpu':<15} {'pts':>4} {'LOBO all':>11} {'LOBO>=10':>11} {'LOPO all':>11} " \
           f"{'LOPO>=10':>11} {'prior>=10':>11}"
    print(head)
    for m in report["models"]:
        g = lambda k, sub: _fmt((m.get(k) or {}).get(sub))  # noqa: E731
        print(f"{m['model']:<13} {m['gpu']:<15} {m['points']:>4} {g('lobo', 'all'):>11} {g('lobo', 'ge_10ms'):>11} "
              f"{g('lopo', 'all'):>11} {g('lopo', 'ge_10ms'):>11} {g('prior', 'ge_10ms'):>11}")
    t = report["totals"]
    pr = t.get("prior", {})
    print(f"{'all models':<13} {'':<15} {'':>4} {_fmt(t['lobo']['all']):>11} {_fmt(t['lobo']['ge_10ms']):>11} "
          f"{_fmt(t['lopo']['all']):>11} {_fmt(t['lopo']['ge_10ms']):>11} {_fmt(pr.get('ge_10ms')):>11}")
    lobo = t["lobo"]
    print(f"LOBO >= 10 ms split: interpolated batches {_fmt(lobo['interpolated_ge_10ms']).strip()} "
          f"(n={lobo['interpolated_ge_10ms']['n']}), extrapolated (smallest/largest batch of a series) "
          f"{_fmt(lobo['extrapolated_ge_10ms']).strip()} (n={lobo['extrapolated_ge_10ms']['n']})")
    solo = f"LOBO {_fmt(t['lobo_solo']['ge_10ms']).strip()}, LOPO {_fmt(t['lopo_solo']['ge_10ms']).strip()}"
    if t["two_profiles_solo"]["ge_10ms"]["n"]:
        solo += f", smallest and largest profile only {_fmt(t['two_profiles_solo']['ge_10ms']).strip()}"
    print(f"without other models' measurements (no cross-model correction; as if the batch or profile had "
          f"been measured for no model), >= 10 ms: {solo}")
    for kind in ("lobo", "lopo"):
        s = t[kind]["ge_10ms"]
        if not s["n"]:
            continue
        print(f"{kind.upper()} >= 10 ms: median {s['median']}%, 90th percentile {s['p90']}%, "
              f"{s['over_20pct']} of {s['n']} points off by > 20%")
    two = t["two_profiles"]
    if two["all"]["n"]:
        print(f"fitted on the smallest and largest profile only, other profiles predicted: MAPE/worst "
              f"{_fmt(two['all']).strip()} (all, n={two['all']['n']}), {_fmt(two['ge_10ms']).strip()} (>= 10 ms)")
    print(f"targets: LOBO MAPE <= {report['targets']['lobo_mape']:g}%, LOPO MAPE <= {report['targets']['lopo_mape']:g}%")
    print_interference(report.get("interference") or {})


def print_interference(rep: dict) -> None:
    """The interference model's held-out error: each model pair left out in turn (leave-one-pair-out)."""
    gpus = rep.get("gpus") or {}
    if not gpus:
        print("interference (MPS co-location): no co-located records; MPS is offered only with "
              "policy.interference_prior (docs/sharing.md)")
        return
    print("interference (MPS co-location), co-located latency error MAPE/worst %: leave-one-pair-out | in-sample "
          "| the prior | no slowdown")
    for gpu, r in gpus.items():
        print(f"  {gpu:<15} {r['records']:>4} records, pairs {', '.join(r['pairs'])}: "
              f"{_fmt(r['held_out']).strip()} | {_fmt(r['in_sample']).strip()} | {_fmt(r['prior']).strip()} | "
              f"{_fmt(r['no_slowdown']).strip()}")


def run(args: argparse.Namespace) -> int:
    # imported here, not at the top: every command registers this module (see cli/__init__.py)
    from ..perf.fit_report import fit_report, strip
    from ..problem.loading import is_prior, load_calibration

    cal = load_calibration(args.calibration)
    check_records(cal, args.cat, args.calibration, fields=True)
    if not cal.measurements:
        raise InputError("no measurements to fit", file=args.calibration, field="measurements")
    if is_prior(cal):
        print(f"majula: note: {args.calibration} holds analytic-prior predictions, not measurements: its errors measure "
              f"the curve against the prior formula, not against a GPU", file=sys.stderr)
    from ..perf.interference import leave_one_pair_out

    report = fit_report(list(cal.measurements), args.cat)
    report["interference"] = leave_one_pair_out(list(cal.measurements), args.cat)
    if args.plot:
        from ..perf.fit_report import write_plots

        require("matplotlib", "plot", "--plot")
        for path in write_plots(list(cal.measurements), args.cat, args.plot):
            print(f"wrote {path}", file=sys.stderr)
    if args.json:
        print(json.dumps(strip(report), indent=2))
    else:
        print_table(report)
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("fit", help="Held-out error of fitted latency curves (LOBO, LOPO) and of the prior.")
    p.add_argument("calibration", help="Calibration JSON file.")
    p.add_argument("--json", action="store_true", help="JSON report on stdout.")
    p.add_argument("--plot", metavar="DIR", help="Write measured-vs-fitted plots (PNG, one per model) to DIR.")
    p.set_defaults(func=run)
    return p
