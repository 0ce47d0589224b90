"""Comma-separated flag values (``--batch 1,2,4``, ``--sweep 1,1.5,2``), parsed one way for every command."""

from __future__ import annotations

import math
from typing import Callable, TypeVar

from ..errors import InputError

N = TypeVar("N", int, float)


def numbers(text: str, flag: str, kind: Callable[[str], N] = int, *, low: float = 1, high: float = math.inf,
            unique: bool = False) -> list[N]:
    """``"1,4,16"`` -> [1, 4, 16]; each value finite and within [low, high]; InputError naming ``flag``."""
    what = "integers" if kind is int else "numbers"
    try:
        vals = [kind(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"expected comma-separated {what}, got '{text}'", field=flag) from None
    if not vals or not all(math.isfinite(v) and low <= v <= high for v in vals):
        bound = f">= {low:g}" if high == math.inf else f"between {low:g} and {high:g}"
        raise InputError(f"expected comma-separated {what} {bound}, got '{text}'", field=flag)
    if unique and len(set(vals)) != len(vals):
        raise InputError(f"duplicate values in '{text}'", field=flag)
    return vals
