"""``majula gpus``: the catalog's GPU types, profiles and every valid geometry."""

from __future__ import annotations

import argparse
import json

from ..hardware.catalog import Catalog
from ..hardware.geometry import geometries


def gpus_document(cat: Catalog) -> dict:
    """The ``majula gpus --json`` document (docs/cli.md (CLI contract))."""
    out = []
    for g in cat:
        out.append({
            "type": g.type, "aliases": list(g.aliases), "compute_slices": g.compute_slices,
            "memory_slices": g.memory_slices, "memory_gb": g.memory_gb, "sms": g.sms,
            "profiles": [p.model_dump() | {"starts": list(p.starts)} for p in g.profiles],
            "geometries": [list(x.profiles) for x in geometries(g)],
            "maximal_geometries": [list(x.profiles) for x in geometries(g) if x.maximal],
        })
    return {"gpus": out}


def run(args: argparse.Namespace) -> int:
    doc = gpus_document(args.cat)
    if args.gpu:
        want = args.cat.get(args.gpu).type
        doc = {"gpus": [g for g in doc["gpus"] if g["type"] == want]}
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    for g in doc["gpus"]:
        print(f"{g['type']}  ({g['compute_slices']} compute / {g['memory_slices']} memory slices, "
              f"{g['memory_gb']:g} GB; aliases: {', '.join(g['aliases']) or '-'})")
        print("  profiles: " + "  ".join(
            f"{p['name']}(starts {','.join(map(str, p['starts']))}; max {p['max_count']})" for p in g["profiles"]))
        print(f"  geometries: {len(g['geometries'])} ({len(g['maximal_geometries'])} maximal)")
        if args.all:
            maximal = {tuple(m) for m in g["maximal_geometries"]}
            for geo in g["geometries"]:
                print(f"    {' + '.join(geo)}{'   [maximal]' if tuple(geo) in maximal else ''}")
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("gpus", help="List GPU types, MIG profiles and valid geometries.")
    p.add_argument("--json", action="store_true", help="Machine-readable output.")
    p.add_argument("--gpu", metavar="TYPE", help="Only this GPU type (or alias).")
    p.add_argument("--all", action="store_true", help="List every geometry in the table (marks maximal ones).")
    p.set_defaults(func=run)
    return p
