"""``majula schema instance|plan|calibration``: JSON Schema of the data contract, from the pydantic models."""

from __future__ import annotations

import argparse
import json

from .lists import LazyChoices


def run(args: argparse.Namespace) -> int:
    from ..schema import SCHEMAS  # pydantic: imported only when a schema is printed

    print(json.dumps(SCHEMAS[args.kind].model_json_schema(), indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("schema", help="Print the JSON Schema of a contract file.")
    p.add_argument("kind", choices=LazyChoices("majula_model.schema", "SCHEMAS", sort=True), metavar="KIND",
                   help="Which file format: %(choices)s.")
    p.set_defaults(func=run)
    return p
