"""Flag values: comma-separated lists (``--batch 1,2,4``, ``--sweep 1,1.5,2``), parsed one way for every command,
and choices that are imported only when argparse needs them (``LazyChoices``)."""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterator, Sequence
from typing import Callable, TypeVar

from ..errors import InputError

N = TypeVar("N", int, float)

MAX_INTEGER = 1_000_000
"""The largest integer a list flag takes unless the flag sets its own bound (batch sizes, process counts,
shape dimensions: all far below it)."""


def _show(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def numbers(text: str, flag: str, kind: Callable[[str], N] = int, *, low: float = 1, high: float = math.inf,
            unique: bool = False) -> list[N]:
    """``"1,4,16"`` -> [1, 4, 16]; each value finite and within [low, high]; InputError naming ``flag``.

    Integers without a ``high`` are bounded by ``MAX_INTEGER``: a batch of 1 followed by 400 zeros is a typo, and
    reached float arithmetic later as an OverflowError."""
    what = "integers" if kind is int else "numbers"
    if kind is int and high == math.inf:
        high = MAX_INTEGER
    try:
        vals = [kind(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"expected comma-separated {what}, got '{text}'", field=flag) from None
    if not vals or not all(_within(v, low, high) for v in vals):
        bound = f">= {low:g}" if high == math.inf else f"between {_show(low)} and {_show(high)}"
        given = text if len(text) <= 60 else f"{text[:57]}... ({len(text)} characters)"
        raise InputError(f"expected comma-separated {what} {bound}, got '{given}'", field=flag)
    if unique and len(set(vals)) != len(vals):
        raise InputError(f"duplicate values in '{text}'", field=flag)
    return vals


def _within(value: float, low: float, high: float) -> bool:
    """``low <= value <= high`` and finite. Why not ``math.isfinite`` first: an integer flag of 400 digits is a
    Python int too large for a float, and isfinite raised OverflowError; ints compare exactly with the bounds."""
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return low <= value <= high


class LazyChoices(Sequence[str]):
    """``choices=`` for argparse, read from ``module.name`` the first time argparse looks at them.

    Why: the names live next to the code that uses them (``placer.OBJECTIVES`` beside the formulation), and
    importing that code costs PuLP, numpy and pydantic. argparse only looks at choices when the flag is given or
    its help is printed, so ``majula --help`` and commands that do not take the flag never pay for the import.
    Give the argument a ``metavar`` (argparse would otherwise list the choices when the flag is registered) and
    write ``%(choices)s`` in its help.
    """

    def __init__(self, module: str, name: str, *, sort: bool = False, extra: tuple[str, ...] = ()) -> None:
        """``sort``: sorted names (a dict's keys, say); ``extra``: names appended after them (``all``)."""
        self._where = (module, name, sort, extra)
        self._values: tuple[str, ...] | None = None

    def _load(self) -> tuple[str, ...]:
        if self._values is None:
            module, name, sort, extra = self._where
            values = tuple(getattr(importlib.import_module(module), name))
            self._values = (tuple(sorted(values)) if sort else values) + extra
        return self._values

    def __getitem__(self, index):  # type: ignore[override] - a Sequence of str, indexed like a tuple
        return self._load()[index]

    def __len__(self) -> int:
        return len(self._load())

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __contains__(self, value: object) -> bool:
        return value in self._load()
