"""``majula schema instance|plan|calibration``: JSON Schema of the data contract, from the pydantic models."""

from __future__ import annotations

import argparse
import json

from ..schema import SCHEMAS


def run(args: argparse.Namespace) -> int:
    print(json.dumps(SCHEMAS[args.kind].model_json_schema(), indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("schema", help="Print the JSON Schema of a contract file.")
    p.add_argument("kind", choices=sorted(SCHEMAS), help="Which file format.")
    p.set_defaults(func=run)
    return p
