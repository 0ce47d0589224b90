"""``majula gpus``: the catalog's GPU types, profiles and every valid geometry; or a new entry from nvidia-smi.

Why ``--json`` prints a catalog file: the listing and the input are one format, so what one machine lists another
can read back with ``--catalog`` (the bundled entries in it are the same entries again, accepted as no-ops), and
the ``geometries`` it lists are checked on load against the placement table (docs/hardware.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:  # imported where used, so that building the parser stays light (cli/__init__.py)
    from ..hardware.catalog import Catalog, GpuType

SOURCE = "majula gpus --json: the catalog in use; each entry's provenance says where its figures come from"


def gpu_document(g: GpuType) -> dict:
    """One entry of ``majula gpus --json``: a catalog entry with its geometries (docs/cli.md (CLI contract))."""
    from ..hardware.geometry import geometries

    return g.model_dump(mode="json", exclude_none=True) | {
        "geometries": [list(x.profiles) for x in geometries(g)],
        "maximal_geometries": [list(x.profiles) for x in geometries(g) if x.maximal],
    }


def gpus_document(cat: Catalog) -> dict:
    """The ``majula gpus --json`` document: a valid ``--catalog`` file of the MIG-capable types."""
    return {"source": SOURCE, "gpus": [gpu_document(g) for g in cat]}


def _from_nvidia_smi(args: argparse.Namespace) -> int:
    for flag, given in (("--gpu", args.gpu), ("--all", args.all)):
        if given:
            raise InputError("not used with --from-nvidia-smi", field=flag)
    from ..hardware.nvidia_smi import compare_to, import_nvidia_smi

    lgip, lgipp = args.from_nvidia_smi
    imported = import_nvidia_smi(lgip, lgipp, args.name)
    doc = {"source": f"nvidia-smi mig -lgip ({lgip}) and -lgipp ({lgipp})",
           "gpus": [imported.gpu.model_dump(mode="json", exclude_none=True)]}
    print(json.dumps(doc, indent=2))
    notes = list(imported.notes)
    known = args.cat.resolve(imported.gpu.type)
    if known is not None:
        notes.append(compare_to(imported.gpu, args.cat.get(known)) + "; under that name --catalog refuses this "
                     "entry (the catalog has one): give --name to add it as a type of its own")
    for note in notes:
        print(f"majula: note: {note}", file=sys.stderr)
    return 0


def _print_table(doc: dict, show_all: bool) -> None:
    for g in doc["gpus"]:
        print(f"{g['type']}  ({g['compute_slices']} compute / {g['memory_slices']} memory slices, "
              f"{g['memory_gb']:g} GB; aliases: {', '.join(g['aliases']) or '-'})")
        print("  profiles: " + "  ".join(
            f"{p['name']}(starts {','.join(map(str, p['starts']))}; max {p['max_count']})" for p in g["profiles"]))
        print(f"  geometries: {len(g['geometries'])} ({len(g['maximal_geometries'])} maximal)")
        if show_all:
            maximal = {tuple(m) for m in g["maximal_geometries"]}
            for geo in g["geometries"]:
                print(f"    {' + '.join(geo)}{'   [maximal]' if tuple(geo) in maximal else ''}")


def run(args: argparse.Namespace) -> int:
    if args.from_nvidia_smi:
        return _from_nvidia_smi(args)
    if args.name:
        raise InputError("only used with --from-nvidia-smi", field="--name")
    doc = gpus_document(args.cat)
    if args.gpu:
        want = args.cat.get(args.gpu).type
        doc["gpus"] = [g for g in doc["gpus"] if g["type"] == want]
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        _print_table(doc, args.all)
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("gpus", help="List GPU types, MIG profiles and valid geometries.")
    p.add_argument("--json", action="store_true", help="Machine-readable output: a valid --catalog file.")
    p.add_argument("--gpu", metavar="TYPE", help="Only this GPU type (or alias).")
    p.add_argument("--all", action="store_true", help="List every geometry in the table (marks maximal ones).")
    p.add_argument("--from-nvidia-smi", nargs=2, metavar=("LGIP.txt", "LGIPP.txt"),
                   help="Print a catalog file for the GPU whose `nvidia-smi mig -lgip` and `-lgipp` output these are.")
    p.add_argument("--name", metavar="TYPE", help="GPU type name for --from-nvidia-smi (default: from an "
                                                  "`nvidia-smi -L` line in either file).")
    p.set_defaults(func=run)
    return p
