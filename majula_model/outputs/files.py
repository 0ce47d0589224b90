"""Writing the files a command produces: never over one of its inputs, and atomically.

Why never an input: ``majula solve X --mig-parted X`` overwrote the instance with YAML and exited 0. Every output
path is resolved (symbolic links followed, ``..`` removed) and compared with every input of the same command (the
instance, the calibration files it names, ``--plan``, ``--trace``, ``--catalog`` files, an importer's CSVs); a
match, or the same file under another name (a hard link), is refused with exit 2 naming the flag.

Why atomically: the text goes to a temporary file in the output's directory, which then replaces the output with
``os.replace``, so a crash or a full disk never leaves half a file where a whole one was. An existing output
keeps its permission bits. An output that exists and is not a regular file (``/dev/stdout``, a pipe) cannot be
replaced and is written in place; a directory is refused.

Commands check their outputs with ``check_output`` before any work starts (``majula calibrate`` measures for
minutes), and write with ``write_output`` (text) or ``write_output_with`` (a writer given a path, such as a plot's
``savefig``).
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import InputError
from ..jsonfile import shown

PathLike = str | Path


def _same(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # either one absent or unreadable: not the same existing file
        return False


def check_output(path: PathLike, flag: str, inputs: Iterable[PathLike | None] = ()) -> None:
    """InputError naming ``flag`` when ``path`` is one of ``inputs``, a directory, or cannot be created (its
    directory is a file); nothing is written."""
    out = Path(path)
    name = shown(path)
    for src in inputs:
        if src is not None and _same(out, Path(src)):
            raise InputError(f"is also an input of this command ({shown(src)}); write the output elsewhere",
                             file=name, field=flag)
    try:
        st = os.stat(out)
    except (FileNotFoundError, NotADirectoryError):  # absent, or under a file (named below)
        st = None
    except OSError as e:
        raise InputError(f"cannot write: {e.strerror}", file=name, field=flag) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise InputError("is a directory; give a file name", file=name, field=flag)
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise InputError(f"cannot write: {shown(parent)} is not a directory", file=name, field=flag)


def write_output_with(path: PathLike, flag: str, inputs: Iterable[PathLike | None],
                      write: Callable[[Path], None]) -> None:
    """Check ``path`` (``check_output``), let ``write`` produce the file at a temporary path with the same suffix
    in the same directory, then move it over ``path``. InputError naming ``flag`` on failure."""
    inputs = list(inputs)
    check_output(path, flag, inputs)
    out = Path(os.path.realpath(path))  # a symbolic link is written through: its target is replaced, not the link
    name = shown(path)
    try:
        st = os.stat(out)
    except OSError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):  # /dev/stdout, a pipe: nothing to rename over
        _call(write, out, name, flag)
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name[:80]}.", suffix=f".tmp{out.suffix}", dir=out.parent)
        os.close(fd)
    except OSError as e:
        raise InputError(f"cannot write: {e.strerror}", file=name, field=flag) from None
    tmp = Path(tmp_name)
    try:
        _call(write, tmp, name, flag)
        mode = stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~_umask()
        os.chmod(tmp, mode)
        os.replace(tmp, out)
    except OSError as e:
        raise InputError(f"cannot write: {e.strerror}", file=name, field=flag) from None
    finally:
        if tmp.exists():
            tmp.unlink()


def write_output(path: PathLike, text: str, flag: str, inputs: Iterable[PathLike | None] = ()) -> None:
    """Write ``text`` to ``path`` atomically, refusing an output that is one of ``inputs`` (exit 2 naming
    ``flag``)."""
    def write(p: Path) -> None:
        with open(p, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            if p.is_file():
                os.fsync(fh.fileno())

    write_output_with(path, flag, inputs, write)


def problem_inputs(problem, catalogs: Iterable[PathLike] | None = None) -> list[str]:
    """The files a loaded problem was read from: the instance file, the calibration files it names, and the
    ``--catalog`` files (for ``inputs=`` of the functions above)."""
    out = list(catalogs or [])
    if problem.file:
        out.append(problem.file)
        base = Path(problem.file).parent
        out += [str(base / rel) for rel in problem.instance.calibration]
    return out


def _call(write: Callable[[Path], None], target: Path, name: str, flag: str) -> None:
    try:
        write(target)
    except InputError:
        raise
    except (OSError, ValueError) as e:  # matplotlib raises ValueError for an unknown format
        raise InputError(f"cannot write: {getattr(e, 'strerror', None) or e}", file=name, field=flag) from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
