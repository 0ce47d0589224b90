"""Other load on the host while a point is measured: how long the measuring threads waited for a CPU.

Why: a CPU calibration on a shared machine (CI runners, a development VM) times whatever else runs there too. A
model timed with two threads on two cores waits for a descheduled thread at every parallel op, so one busy
neighbour can make a 2 ms batch take 50 ms. Linux counts, per thread, the nanoseconds it sat runnable on a run
queue (``/proc/self/task/*/schedstat``, second field); summed over the process's threads and divided by the
timed loop's wall time, that is ``cpu_wait`` (0: the loop never waited for a CPU; 0.5: its threads together
waited half the time). Every timing records it (None where the kernel does not report it) and every point event
the largest over its copies; with ``Settings.max_cpu_wait`` a point above the limit is measured again once
the host is quiet (``quiet``: the CPUs' busy share in ``/proc/stat`` while nothing of ours runs), ``RETRIES``
times at most. (Pressure stall information would not do for that wait: two busy single-threaded neighbours on
two cores stall nobody until we start.)

It sees the host's CPUs, not a GPU: on a GPU it says whether the launching side was contended.
"""

from __future__ import annotations

import time
from pathlib import Path

STAT = Path("/proc/stat")
RETRIES = 3
"""Most re-measurements of a point measured above ``max_cpu_wait`` (the last one is kept either way)."""
WAIT_S = 120.0
"""Longest wait for a quiet host before a re-measurement (then it is measured anyway)."""


def run_delay_ns(task_dir: Path = Path("/proc/self/task")) -> int | None:
    """Nanoseconds this process's threads have spent runnable but waiting for a CPU, or None (no schedstat)."""
    total, seen = 0, False
    for stat in task_dir.glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[1])
            seen = True
        except (OSError, ValueError, IndexError):   # a thread that ended meanwhile
            continue
    return total if seen else None


def cpu_wait(before: int | None, after: int | None, wall_s: float) -> float | None:
    """Run-queue wait of this process's threads per second of wall time, rounded; None if unknown."""
    if before is None or after is None or wall_s <= 0:
        return None
    return round(max(0, after - before) / 1e9 / wall_s, 4)


def cpu_times(path: Path = STAT) -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot, from the 'cpu' line of /proc/stat (idle and iowait are
    not busy), or None."""
    try:
        fields = [int(v) for v in path.read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def busy_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """Share of all CPUs' time that was busy between two ``cpu_times`` readings, or None."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round((after[0] - before[0]) / (after[1] - before[1]), 4)


def quiet(limit: float, wait_s: float = WAIT_S, probe_s: float = 2.0, path: Path = STAT) -> float | None:
    """Wait (at most ``wait_s``) until the host's CPUs were busy at most ``limit`` of a ``probe_s`` window while
    nothing of ours ran (so what was busy was someone else); the last busy share seen."""
    deadline = time.monotonic() + wait_s
    while True:
        before = cpu_times(path)
        time.sleep(probe_s)
        share = busy_share(before, cpu_times(path))
        if share is None or share <= limit or time.monotonic() >= deadline:
            return share
