"""Errors the user can act on.

Every problem with input (a file, a field, a flag) becomes an :class:`InputError` that names where the problem
is and why, so the CLI can print one line and exit 2 instead of a traceback. An instance that is well formed
but has no answer (no plan meets the SLOs) is an :class:`Infeasible`, which the CLI maps to exit 1.
"""

from __future__ import annotations

from typing import Any


class MajulaError(Exception):
    """Base class for errors Majula reports to its user."""


class InputError(MajulaError):
    """Bad input: `file: field: reason`.

    Why one type: the CLI, the API and the tests all need the same three facts, and tests assert on the exact
    message.
    """

    def __init__(self, reason: str, *, file: str | None = None, field: str | None = None) -> None:
        self.file = file
        self.field = field
        self.reason = reason
        super().__init__(self.message)

    @property
    def message(self) -> str:
        parts = [p for p in (self.file, self.field) if p]
        return ": ".join([*parts, self.reason])


class Infeasible(MajulaError):
    """A well-formed question with no answer, with the reasons (one line each)."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = list(reasons)
        super().__init__("; ".join(self.reasons))


def format_loc(loc: tuple[Any, ...]) -> str:
    """Render a pydantic error location like ``models[0].slo_ms``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"
