"""Errors the user can act on.

Every problem with input (a file, a field, a flag) becomes an :class:`InputError` that names where the problem
is and why, so the CLI can print one line and exit 2 instead of a traceback. An instance that is well formed
but has no answer (no plan meets the SLOs) is an :class:`Infeasible`, which the CLI maps to exit 1.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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
        elif not str(part).strip():  # the key "" (or only spaces) would vanish from the path: quoted
            out += f"[{json.dumps(str(part), ensure_ascii=False)}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


_EXPECTED = {"float_type": "a number", "int_type": "an integer", "bool_type": "true or false",
             "string_type": "a string", "tuple_type": "an array", "list_type": "an array",
             "dict_type": "an object", "model_type": "an object"}


def _json_kind(value: Any, integer_expected: bool = False) -> str:
    """What a parsed JSON value is, in JSON's words, for `expected X, got Y`.

    ``integer_expected``: the field takes an integer, so a whole number written as ``2.0`` gets the hint that
    integers are written without a decimal point (for any other field the hint does not apply)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({json.dumps(shown, ensure_ascii=False)})"
    if integer_expected and isinstance(value, float) and value.is_integer():
        return f"{value!r} (an integer must be written without a decimal point or exponent)"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def validation_reason(err: Mapping[str, Any]) -> str:
    """The reason part of `file: field: reason` for one pydantic error (``ValidationError.errors()[0]``).

    Why reworded: input files are validated strictly (a string is not a number, a bool not an integer), and
    pydantic's "Input should be a valid number" does not say what was found; name both JSON types instead.
    """
    kind = err.get("type")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field missing"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {_json_kind(err.get('input'), kind == 'int_type')}"
    if kind == "too_short":
        least = (err.get("ctx") or {}).get("min_length", 1)
        return "must not be empty" if least == 1 else f"needs at least {least} items"
    msg = str(err.get("msg"))
    return msg.removeprefix("Value error, ") if kind == "value_error" else msg


def require(module: str, extra: str, field: str) -> None:
    """InputError (exit 2) naming the option and the pip extra when an optional dependency is missing.

    Why: the plain ImportError would reach the catch-all and read as a bug in majula's input checks."""
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise InputError(f"needs {module}, which is not installed: pip install -e '.[{extra}]'", field=field)
