"""Reading the files a user passes: regular files only, at most ``MAX_INPUT_BYTES``, UTF-8; and JSON with every
way it can fail named: missing, unreadable, not a regular file, too large, not UTF-8, not JSON, nested too deeply,
or an object that gives one key twice. (NaN and Infinity are parsed, and refused by the schema naming the field.)

Why regular files only: a FIFO given as a calibration path blocked ``open`` forever, and ``/dev/zero`` was read
until memory ran out. The file is opened without blocking and judged by ``fstat`` of what was opened (no window
between a check and the open), then read up to the limit.

Why the duplicate check: Python's json keeps the last of two equal keys without a word, so
``{"slo_ms": 50, "slo_ms": 5}`` would silently plan for 5 ms. Instance, calibration, plan and catalog files all
come through here (``loading.read_json``, ``catalog.load_catalog_file``); the trace and importer CSVs through
``open_text``.
"""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path
from typing import IO, Any

from .errors import InputError

MAX_INPUT_BYTES = 256 * 1024 * 1024
"""The largest file any command reads (256 MiB): far above any instance, calibration, plan, catalog or trace
this tool is meant for, and far below what would exhaust a host's memory."""

MAX_JSON_DEPTH = 64
"""The deepest nesting of arrays and objects a JSON input may have (the contract files need fewer than 10
levels; Python's parser and pydantic's both fail, differently, on a few hundred)."""

SHOWN_PATH_CHARS = 120
"""Paths longer than this are shortened in messages (head and tail kept)."""


def shown(path: str | Path) -> str:
    """``path`` for a message: as given, or its first and last characters around "..." when very long."""
    text = str(path)
    if len(text) <= SHOWN_PATH_CHARS:
        return text
    half = (SHOWN_PATH_CHARS - 3) // 2
    return f"{text[:half]}...{text[-half:]} ({len(text)} characters)"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    if stat.S_ISFIFO(mode):
        return "is a FIFO (named pipe), not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a regular file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file"
    return "is not a regular file"


def _open_checked(path: str | Path) -> tuple[int, int]:
    """(file descriptor, size) of a regular file of at most MAX_INPUT_BYTES; InputError naming the file otherwise."""
    name = shown(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise InputError("file not found", file=name) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a file", file=name) from None
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", file=name) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{_kind(st.st_mode)} (only regular files are read)", file=name)
        if st.st_size > MAX_INPUT_BYTES:
            raise InputError(f"too large: {st.st_size} bytes (the limit is {MAX_INPUT_BYTES // 2**20} MiB)",
                             file=name)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def read_bytes(path: str | Path) -> bytes:
    """The bytes of a regular file of at most MAX_INPUT_BYTES (InputError naming the file and why otherwise)."""
    fd, _ = _open_checked(path)
    try:
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(MAX_INPUT_BYTES + 1)
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", file=shown(path)) from None
    if len(data) > MAX_INPUT_BYTES:  # grew while being read
        raise InputError(f"too large (the limit is {MAX_INPUT_BYTES // 2**20} MiB)", file=shown(path))
    return data


def read_text(path: str | Path) -> str:
    """A checked file (``read_bytes``) as UTF-8 text."""
    try:
        return read_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", file=shown(path)) from None


def open_text(path: str | Path) -> IO[str]:
    """A checked file as a text stream for ``csv`` (``newline=""``); read in full first, so the size limit holds."""
    return io.StringIO(read_text(path), newline="")


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


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            v = list(v.values())
        if isinstance(v, list):
            deepest = max(deepest, d + 1)
            if deepest > MAX_JSON_DEPTH:
                break
            stack.extend((x, d + 1) for x in v if isinstance(x, (dict, list)))
    return deepest


def loads(text: str, file: str | None) -> Any:
    """Parse JSON text; InputError naming ``file`` (positions are in ``text``, the user's own file)."""
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as e:
        raise InputError(f"key '{e.key}' appears twice in one object (JSON would keep only the last; write it once)",
                         file=file) from None
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})", file=file) from None
    except RecursionError:
        raise InputError(f"nested too deeply (more than {MAX_JSON_DEPTH} levels of arrays and objects)",
                         file=file) from None
    if _depth(data) > MAX_JSON_DEPTH:
        raise InputError(f"nested too deeply (more than {MAX_JSON_DEPTH} levels of arrays and objects)", file=file)
    return data


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; InputError naming the file (and, for a repeated key, the key) on any problem."""
    return loads(read_text(path), shown(path))
