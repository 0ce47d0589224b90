"""A catalog entry from what the driver reports: the text of `nvidia-smi mig -lgip` and `nvidia-smi mig -lgipp`.

Why: the bundled placement tables are typed in from NVIDIA's guide, and for the newest GPUs they are not published
at all (docs/hardware.md, the 8-slice family). The driver's own tables are the ground truth, and these two outputs
hold all of it, as NVIDIA mig-parted's generate-config reads it through NVML: per profile its name, ID, total
instances (``max_count``) and SMs (-lgip); its start indices and size in memory slices (-lgipp). The spec-sheet
figures (bandwidth, TFLOPS, SMs of the whole GPU) are not in either output; the entry says so.

The formats, one profile shown (several GPUs repeat the rows with their index; the first GPU listed is used)::

    |   0  MIG 1g.10gb       19     7/7        9.50       No     14     0     0   |      (-lgip: GPU, name, ID,
    |                                                             1     0     0   |       free/total, GiB, P2P, SM..)
    GPU  0 Profile ID 19 Placements: {0,1,2,3,4,5,6}:1                                  (-lgipp: starts : size)
    GPU  0 Profile ID  0 Placement : {0}:8

Neither output names the GPU: pass it (``--name``) or put `nvidia-smi -L`'s line for it (``GPU 0: NVIDIA
A100-SXM4-80GB (UUID: GPU-...)``) in either file. The Memory column (GiB, a little under the name's GB) is not
used: a profile's memory is the figure in its name, as elsewhere in the catalog.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from ..errors import InputError, format_loc, validation_reason
from .catalog import GpuType, Profile

_ROW = re.compile(r"^\|\s*(\d+)\s+MIG\s+(\S+)\s+(\d+)\s+(\d+)/(\d+)\s+(\d+(?:\.\d+)?)\s+\S+\s+(\d+)\s+\S+\s+\S+\s*\|$")
_PLACEMENT = re.compile(r"^GPU\s+(\d+)\s+Profile\s+ID\s+(\d+)\s+Placements?\s*:\s*\{([^}]*)\}\s*:\s*(\d+)$")
_LIST_LINE = re.compile(r"^GPU (\d+): (.+?) \(UUID: [^)]*\)$")
_NAME = re.compile(r"^(\d+)g\.(\d+)gb(\+me)?$")
_VARIANT = re.compile(r"^\d+g\.\d+gb[+-]\S+$")
"""Other suffixes (``-me``, ``+me.all``, ``+gfx``): variants of a plain profile with the same slices, left out."""


@dataclass(frozen=True)
class ProfileRow:
    """One profile row of `nvidia-smi mig -lgip`."""

    gpu: int
    name: str
    profile_id: int
    total: int
    sms: int
    line: int


@dataclass(frozen=True)
class Imported:
    """The entry built from the two outputs, and what a person should know about it (one line each)."""

    gpu: GpuType
    notes: tuple[str, ...]


def _read(path: str | Path) -> list[str]:
    """The file's lines, read as every user input is (``jsonfile.read_text``: regular files only, bounded size,
    clear errors for a missing file, a directory, a FIFO or /dev/zero)."""
    from ..jsonfile import read_text

    return read_text(path).splitlines()


def listed_names(lines: list[str]) -> dict[int, str]:
    """GPU names by index from `nvidia-smi -L` lines, where a file carries them."""
    return {int(m.group(1)): m.group(2) for m in (_LIST_LINE.match(s.strip()) for s in lines) if m}


def parse_lgip(lines: list[str], file: str) -> list[ProfileRow]:
    """The profile rows of `nvidia-smi mig -lgip` output; InputError naming the line when it is not that output."""
    text = "\n".join(lines)
    if "No MIG-enabled devices found" in text:
        raise InputError("nvidia-smi found no MIG-enabled GPU: enable MIG mode before capturing", file=file)
    if "GPU instance profiles:" not in text:
        raise InputError("not `nvidia-smi mig -lgip` output (no 'GPU instance profiles:' header)", file=file,
                         field="header")
    rows = []
    for i, raw in enumerate(lines, 1):
        s = raw.strip()
        m = _ROW.match(s)
        if m:
            gpu, name, pid, _free, total, _gib, sms = m.groups()
            rows.append(ProfileRow(int(gpu), name, int(pid), int(total), int(sms), i))
        elif re.match(r"^\|\s*\d+\s+MIG\s", s):
            raise InputError("a profile row that does not read as GPU, Name, ID, Free/Total, Memory, P2P, SM, DEC, "
                             "ENC", file=file, field=f"line {i}")
    last = next((s.strip() for s in reversed(lines) if s.strip()), "")
    if not (last.startswith("+-") and last.endswith("-+")):
        raise InputError("the table ends without its closing border (truncated?)", file=file, field="table")
    if not rows:
        raise InputError("no GPU instance profile rows", file=file, field="profiles")
    return rows


def parse_lgipp(lines: list[str], file: str) -> dict[tuple[int, int], tuple[tuple[int, ...], int, int]]:
    """``(gpu, profile ID) -> (starts, memory slices, line)`` from `nvidia-smi mig -lgipp` output."""
    out: dict[tuple[int, int], tuple[tuple[int, ...], int, int]] = {}
    for i, raw in enumerate(lines, 1):
        s = raw.strip()
        if not s or _LIST_LINE.match(s):
            continue
        m = _PLACEMENT.match(s)
        if not m:
            raise InputError("not a placement line ('GPU 0 Profile ID 19 Placements: {0,1,2}:1')", file=file,
                             field=f"line {i}")
        gpu, pid, starts, size = m.groups()
        try:
            parsed = tuple(int(x) for x in starts.split(","))
        except ValueError:
            raise InputError(f"start indices '{{{starts}}}' are not integers", file=file, field=f"line {i}") from None
        if (int(gpu), int(pid)) in out:
            raise InputError(f"profile ID {pid} of GPU {gpu} is listed twice", file=file, field=f"line {i}")
        out[int(gpu), int(pid)] = (parsed, int(size), i)
    if not out:
        raise InputError("no placement lines (is this `nvidia-smi mig -lgipp` output?)", file=file,
                         field="placements")
    return out


def _profiles(rows: list[ProfileRow], places: dict, files: tuple[str, str]) -> tuple[list[Profile], list[str]]:
    """Profiles of one GPU's rows with their placements; names of the variants left out."""
    _check_unique(rows, files[0])
    profiles, skipped = [], []
    for row in rows:
        m = _NAME.match(row.name)
        if m is None and _VARIANT.match(row.name):
            skipped.append(row.name)
            continue
        if m is None:
            raise InputError(f"profile name '{row.name}' is not like '3g.40gb'", file=files[0],
                             field=f"line {row.line}")
        if (row.gpu, row.profile_id) not in places:
            raise InputError(f"no placements for profile ID {row.profile_id} ({row.name}) of GPU {row.gpu}",
                             file=files[1], field="placements")
        starts, size, _ = places[row.gpu, row.profile_id]
        try:
            profiles.append(Profile(name=row.name, compute_slices=int(m.group(1)), memory_slices=size,
                                    memory_gb=float(m.group(2)), starts=starts, max_count=row.total,
                                    media_extensions=m.group(3) is not None))
        except ValidationError as e:
            err = e.errors()[0]
            raise InputError(f"{row.name}: {format_loc(err['loc'])}: {validation_reason(err)}", file=files[0],
                             field=f"line {row.line}") from None
    return profiles, skipped


def _check_unique(rows: list[ProfileRow], file: str) -> None:
    for what, key in (("profile name", lambda r: r.name), ("profile ID", lambda r: r.profile_id)):
        seen: dict = {}
        for row in rows:
            if key(row) in seen:
                raise InputError(f"{what} '{key(row)}' is also on line {seen[key(row)]}", file=file,
                                 field=f"line {row.line}")
            seen[key(row)] = row.line


def _check_ids(rows: list[ProfileRow], places: dict, gpu: int, file: str) -> None:
    known = {r.profile_id for r in rows}
    for (g, pid), (_, _, line) in places.items():
        if g == gpu and pid not in known:
            raise InputError(f"profile ID {pid} of GPU {gpu} has no row in the -lgip output", file=file,
                             field=f"line {line}")


def _sms_per_slice(profiles: list[Profile], rows: list[ProfileRow]) -> int:
    """SMs of the smallest plain profile (fewest compute, then memory slices) per compute slice."""
    sms = {r.name: r.sms for r in rows}
    small = min((p for p in profiles if not p.media_extensions), key=lambda p: (p.compute_slices, p.memory_slices))
    return sms[small.name] // small.compute_slices


def build_entry(name: str, profiles: list[Profile], rows: list[ProfileRow], file: str) -> GpuType:
    """The GPU type these profiles make: slices and memory from the profiles, SMs per slice from the 1g row."""
    if not any(not p.media_extensions for p in profiles):
        raise InputError("no plain MIG profile (only variants)", file=file, field="profiles")
    widest = max(profiles, key=lambda p: (p.compute_slices, p.memory_slices))
    fields = dict(type=name, compute_slices=widest.compute_slices,
                  memory_slices=max(s + p.memory_slices for p in profiles for s in p.starts),
                  memory_gb=widest.memory_gb, sms_per_compute_slice=_sms_per_slice(profiles, rows),
                  profiles=tuple(profiles),
                  provenance="Imported from nvidia-smi mig -lgip / -lgipp (the driver's own tables). Not in that "
                             "output: sms, memory_bandwidth_gbps, fp32_tflops, fp16_tflops (the analytic prior "
                             "needs them; add them from the datasheet).")
    try:
        return GpuType(**fields)
    except ValidationError as e:
        err = e.errors()[0]
        field = format_loc(err["loc"]) if err["loc"] else "profiles"
        raise InputError(validation_reason(err), file=file, field=field) from None


def import_nvidia_smi(lgip: str | Path, lgipp: str | Path, name: str | None = None) -> Imported:
    """The catalog entry of the first GPU in a `nvidia-smi mig -lgip` and a `nvidia-smi mig -lgipp` capture."""
    files = (str(lgip), str(lgipp))
    lgip_lines, lgipp_lines = _read(lgip), _read(lgipp)
    rows, places = parse_lgip(lgip_lines, files[0]), parse_lgipp(lgipp_lines, files[1])
    gpu = min(r.gpu for r in rows)
    mine = [r for r in rows if r.gpu == gpu]
    _check_ids(mine, places, gpu, files[1])
    name = name or (listed_names(lgip_lines) | listed_names(lgipp_lines)).get(gpu)
    if not name:
        raise InputError(f"neither file names GPU {gpu} (an `nvidia-smi -L` line): give --name", file=files[0],
                         field="name")
    profiles, skipped = _profiles(mine, places, files)
    notes = [f"left out {', '.join(skipped)}: variants of plain profiles with the same slices"] if skipped else []
    others = sorted({r.gpu for r in rows} - {gpu})
    if others:
        notes.append(f"the files list GPUs {gpu}, {', '.join(map(str, others))}: GPU {gpu} was used")
    return Imported(build_entry(name, profiles, mine, files[0]), tuple(notes))


def compare_to(imported: GpuType, bundled: GpuType) -> str:
    """One line: does the driver's table match a catalog entry of the same name (profiles, starts, max counts)?"""
    def table(g: GpuType) -> dict:
        return {p.name: (p.compute_slices, p.memory_slices, p.starts, p.max_count, p.media_extensions)
                for p in g.profiles}

    mine, theirs = table(imported), table(bundled)
    if mine == theirs and (imported.compute_slices, imported.memory_slices) == (bundled.compute_slices,
                                                                                bundled.memory_slices):
        return f"the driver's MIG table is the same as catalog type {bundled.type}'s"
    differ = sorted(n for n in set(mine) | set(theirs) if mine.get(n) != theirs.get(n))
    return f"the driver's MIG table differs from catalog type {bundled.type}'s in: {', '.join(differ) or 'slices'}"
