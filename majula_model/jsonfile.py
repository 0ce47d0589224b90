"""Reading one JSON file from disk, with every way it can fail named: missing, unreadable, not UTF-8, not JSON,
or an object that gives one key twice.

Why the duplicate check: Python's json keeps the last of two equal keys without a word, so
``{"slo_ms": 50, "slo_ms": 5}`` would silently plan for 5 ms. Instance, calibration, plan and catalog files all
come through here (``loading.read_json``, ``catalog.load_catalog_file``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import InputError


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; InputError naming the file (and, for a repeated key, the key) on any problem."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise InputError("file not found", file=str(path)) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a file", file=str(path)) from None
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", file=str(path)) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", file=str(path)) from None
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as e:
        raise InputError(f"key '{e.key}' appears twice in one object (JSON would keep only the last; write it once)",
                         file=str(path)) from None
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})", file=str(path)) from None
