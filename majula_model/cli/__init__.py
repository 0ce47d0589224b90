"""The ``majula`` command line: one module per subcommand, dispatched here.

Each module in ``COMMANDS`` defines ``register(subparsers) -> ArgumentParser`` and sets ``func=run`` on it, so
a new command is a new module and one line here. Exit codes (docs/cli.md (CLI contract)): 0 success; 1 a well-formed
question with no answer (reason on stderr); 2 bad input or usage (file, field and reason on stderr), also for
unreadable files and for input that slipped past the checks. No traceback reaches the user unless
``MAJULA_DEBUG=1``.

Every command module is imported to build the parser, so modules import only the standard library, ``errors``
and ``lists`` at their top, and everything else inside ``run``: ``majula --help`` then starts in a few
hundredths of a second instead of paying a second for PuLP, scipy and pydantic (benchmarks/bench_cli.py).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import TYPE_CHECKING, Sequence

from ..errors import Infeasible, InputError

if TYPE_CHECKING:
    from ..hardware.catalog import Catalog

COMMANDS = ["gpus", "schema", "validate", "predict", "fit", "importers", "solve", "simulate", "calibrate", "compare",
            "report"]


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as exit 2 with one line (its default, made explicit)."""

    def error(self, message: str) -> None:  # pragma: no cover - exercised through the CLI tests
        self.print_usage(sys.stderr)
        self.exit(2, f"majula: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="majula", description="Capacity planning for DNN serving on MIG-partitioned GPUs.")
    parser.add_argument("--catalog", metavar="FILE", action="append",
                        help="Extra GPU types (JSON, same format as the bundled catalog); repeat to merge several "
                             "files (each type in one file only).")
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


def load_catalogs(paths: Sequence[str]) -> "Catalog":
    """The bundled catalog plus the GPU types of each --catalog file, in order (``Catalog.extended`` per file).

    Why not only the last file, as before: that dropped the others without a word. A type (or alias) that an
    earlier file defined is an error naming both files, as a file may not replace a bundled type either.
    """
    from ..hardware.catalog import default_catalog, load_catalog_file

    cat = default_catalog()
    origin: dict[str, str] = {}  # canonical type -> the --catalog file that added it
    for path in paths:
        for i, gpu in enumerate(load_catalog_file(path).gpus):
            earlier = next((cat.resolve(n) for n in (gpu.type, *gpu.aliases) if cat.resolve(n) in origin), None)
            if earlier is not None:
                raise InputError(f"GPU type '{earlier}' is already defined in {origin[earlier]} (each --catalog "
                                 f"file must add different types)", file=path, field=f"gpus[{i}]")
        before = set(cat.gpus)
        cat = cat.extended(path)
        origin.update((name, path) for name in cat.gpus if name not in before)
    return cat


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        from ..hardware.catalog import default_catalog

        args.cat = load_catalogs(args.catalog) if args.catalog else default_catalog()
        return int(args.func(args) or 0)
    except InputError as e:
        print(f"majula: error: {e.message}", file=sys.stderr)
        return 2
    except Infeasible as e:
        for r in e.reasons:
            print(f"majula: infeasible: {r}", file=sys.stderr)
        return 1
    except UnicodeDecodeError:
        print("majula: error: an input file is not UTF-8 text", file=sys.stderr)
        return 2
    except BrokenPipeError:  # before OSError, its base class: a reader that stopped early (| head) is no error
        try:
            sys.stdout = open(os.devnull, "w")  # the interpreter's final flush must not fail again
        except OSError:
            pass
        return 0
    except OSError as e:
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"majula: error: {where}cannot read or write: {e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("majula: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - last line of defence: one line, never a traceback
        # Input the up-front checks let through is still input we could not use: exit 2 as docs/cli.md (CLI contract)
        # allows, and say it is a gap in our checks so it gets reported.
        if os.environ.get("MAJULA_DEBUG"):
            raise
        print(f"majula: error: could not process this input ({type(e).__name__}: {e}); this is a gap in "
              f"majula's input checks, please report it (MAJULA_DEBUG=1 shows details)", file=sys.stderr)
        return 2


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
