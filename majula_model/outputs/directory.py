"""Writing a directory of files a command produces (``solve --k8s DIR``, ``solve --triton DIR``): never over an
input, never over someone else's directory, and all at once.

Why a directory needs its own rules (``files.py`` handles single files):

- **Stale files.** A new plan has other Deployments than the last one. Writing the new files next to the old
  ones would leave the old Deployments to be applied with ``kubectl apply -f``; so the whole directory is
  replaced, never merged.
- **Someone else's files.** Replacing means deleting what was there. A directory is therefore replaced only
  when it is absent, empty, or was written by majula (it holds the ``.majula-output`` marker, which lists the
  files); any other existing directory is refused with exit 2 naming the flag, as is a path that is a file.
- **Inputs.** A directory that *contains* one of the command's inputs (the instance file, a calibration file it
  names, a ``--catalog`` file) or another of its outputs (``--mig-parted FILE`` inside ``--k8s DIR``) would
  delete it; it is refused like an output that is an input.
- **Atomically.** The files are written (and fsynced) into a temporary directory beside the target, which then
  takes the target's place by ``rename``: atomic when the target is absent or empty; a previous output is first
  renamed aside and removed after the swap, so a crash leaves either the old tree or the new one (and at worst
  a hidden ``.NAME.*`` directory beside it), never half of one.

Commands call ``check_output_dir`` before any work starts and ``write_output_dir`` at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

from ..errors import InputError
from ..jsonfile import shown
from .files import PathLike, _umask

MARKER = ".majula-output"
"""File in every directory majula writes: JSON naming the writer and the files (what may be replaced)."""


def _inside(child: Path, parent: Path) -> bool:
    """Whether ``child`` (resolved) is ``parent`` (resolved) or lies under it."""
    c, p = os.path.realpath(child), os.path.realpath(parent)
    return c == p or c.startswith(p.rstrip(os.sep) + os.sep)


def check_output_dir(path: PathLike, flag: str, inputs: Iterable[PathLike | None] = (),
                     outputs: Iterable[PathLike | None] = (), kind: str | None = None) -> None:
    """InputError naming ``flag`` when ``path`` is a file, lies under a file, contains (or is) one of
    ``inputs`` or of the command's other ``outputs``, or is an existing non-empty directory majula did not
    write: no marker, a marker of another command (``kind``: ``solve --k8s`` does not replace a ``report``), or
    files the marker does not list (a user's model files put next to the Triton configs would be deleted with
    the directory). Nothing is written."""
    out = Path(path)
    name = shown(path)
    for what, paths in (("an input", inputs), ("another output", outputs)):
        for src in paths:
            if src is not None and _inside(Path(src), out):
                raise InputError(f"would replace {what} of this command ({shown(src)}); write the directory "
                                 "elsewhere", file=name, field=flag)
    try:
        st = os.stat(out)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    except OSError as e:
        raise InputError(f"cannot write: {e.strerror}", file=name, field=flag) from None
    if st is not None:
        if not stat.S_ISDIR(st.st_mode):
            raise InputError("is a file, not a directory; give a directory name", file=name, field=flag)
        try:
            entries = os.listdir(out)
        except OSError as e:
            raise InputError(f"cannot read: {e.strerror}", file=name, field=flag) from None
        if entries and MARKER not in entries:
            raise InputError(f"exists and was not written by majula (no {MARKER}); give a new or empty "
                             "directory", file=name, field=flag)
        if entries:
            _check_marker(out, name, flag, kind)
        return
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise InputError(f"cannot write: {shown(parent)} is not a directory", file=name, field=flag)


def _check_marker(out: Path, name: str, flag: str, kind: str | None) -> None:
    """The directory holds exactly what its marker lists, written by the same command (else InputError)."""
    try:
        marker = json.loads((out / MARKER).read_text(encoding="utf-8"))
        listed = set(marker["files"])
        writer = marker["written_by"]
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"its {MARKER} cannot be read; give a new or empty directory", file=name,
                         field=flag) from None
    if kind is not None and writer != f"majula {kind}":
        raise InputError(f"was written by {writer}, not majula {kind}: replacing it would delete that output; "
                         "give another directory", file=name, field=flag)
    present = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if not p.is_dir())
    foreign = [p for p in present if p != MARKER and p not in listed]
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise InputError(f"holds files majula did not write ({foreign[0]}{more}); the directory is replaced as a "
                         "whole, so they would be deleted: move them elsewhere or give another directory",
                         file=name, field=flag)


def _safe_relative(rel: str) -> PurePosixPath:
    """A relative path that stays inside the directory (the writers build them; a bad one is a bug)."""
    p = PurePosixPath(rel)
    if p.is_absolute() or not p.parts or any(part in ("", ".", "..") for part in p.parts) or rel == MARKER:
        raise ValueError(f"not a relative path inside the output directory: {rel!r}")
    return p


def write_output_dir(path: PathLike, files: Mapping[str, str], flag: str, kind: str,
                     inputs: Iterable[PathLike | None] = (), outputs: Iterable[PathLike | None] = (),
                     executable: Iterable[str] = ()) -> None:
    """Replace the directory ``path`` with exactly ``files`` (relative POSIX path -> text) and the marker,
    atomically (module docstring). ``executable`` names files written with mode 0755 (scripts).
    ``kind`` goes in the marker (what wrote it, e.g. ``solve --k8s``)."""
    inputs, outputs = list(inputs), list(outputs)
    check_output_dir(path, flag, inputs, outputs, kind)
    execs = set(executable)
    out = Path(os.path.realpath(path))  # a symbolic link to a directory is written through
    name = shown(path)
    rels = {rel: _safe_relative(rel) for rel in files}
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name[:80]}.", suffix=".tmp", dir=out.parent))
    except OSError as e:
        raise InputError(f"cannot write: {e.strerror}", file=name, field=flag) from None
    old: Path | None = None
    try:
        marker = {"written_by": f"majula {kind}", "files": sorted(files)}
        for rel, text in [*files.items(), (MARKER, json.dumps(marker, indent=2) + "\n")]:
            target = tmp.joinpath(*(rels[rel].parts if rel in rels else (MARKER,)))
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(target, (0o777 if rel in execs else 0o666) & ~_umask())
        for d in [tmp, *(p for p in tmp.rglob("*") if p.is_dir())]:
            os.chmod(d, 0o777 & ~_umask())  # mkdtemp made it 0700
        if out.exists() and os.listdir(out):  # a previous output (check_output_dir allowed it): move it aside
            old = Path(tempfile.mkdtemp(prefix=f".{out.name[:80]}.", suffix=".old", dir=out.parent))
            os.rmdir(old)
            os.rename(out, old)
        os.replace(tmp, out)  # rename(2) over an absent or empty directory is atomic
    except OSError as e:
        if old is not None and not out.exists():
            os.rename(old, out)  # put the previous output back
            old = None
        raise InputError(f"cannot write: {e.strerror}", file=name, field=flag) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
