"""The ``majula`` command line: one module per subcommand, dispatched here.

Each module in ``COMMANDS`` defines ``register(subparsers) -> ArgumentParser`` and sets ``func=run`` on it, so
a new command is a new module and one line here. Exit codes (DESIGN.md section 4): 0 success; 1 a well-formed
question with no answer (reason on stderr); 2 bad input or usage (file, field and reason on stderr). No traceback
reaches the user unless ``MAJULA_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from ..errors import Infeasible, InputError

COMMANDS = ["gpus", "schema", "validate", "predict", "fit", "importers", "solve", "simulate", "calibrate"]


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as exit 2 with one line (its default, made explicit)."""

    def error(self, message: str) -> None:  # pragma: no cover - exercised through the CLI tests
        self.print_usage(sys.stderr)
        self.exit(2, f"majula: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="majula", description="Capacity planning for DNN serving on MIG-partitioned GPUs.")
    parser.add_argument("--catalog", metavar="FILE", help="Extra GPU types (JSON, same format as the bundled catalog).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as e:
            if e.name == f"{__name__}.{name}":
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        from ..catalog import default_catalog

        args.cat = default_catalog().extended(args.catalog) if args.catalog else default_catalog()
        return int(args.func(args) or 0)
    except InputError as e:
        print(f"majula: error: {e.message}", file=sys.stderr)
        return 2
    except Infeasible as e:
        for r in e.reasons:
            print(f"majula: infeasible: {r}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("majula: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # noqa: BLE001 - last line of defence: one line, never a traceback
        if os.environ.get("MAJULA_DEBUG"):
            raise
        print(f"majula: internal error: {type(e).__name__}: {e} (set MAJULA_DEBUG=1 for details)", file=sys.stderr)
        return 3


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
