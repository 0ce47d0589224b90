"""``python -m calibration.worker``: run one target's sweep in a subprocess, events as JSON lines on stdout.

Why a subprocess: CUDA picks its devices when it initialises, so a MIG instance is measured by a fresh process
whose ``CUDA_VISIBLE_DEVICES`` is the instance's UUID (and an MPS-limited slice by one whose environment names
the private MPS daemon and its thread percentage). The parent sends the job on stdin (see :func:`encode_job`).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Any

from .plan import Point, Settings, Target
from .sweep import sweep


def encode_job(target: Target, points: list[Point], settings: Settings, done: set[str],
               ooms: list[dict[str, Any]]) -> str:
    """The worker's stdin: everything it needs, as JSON."""
    return json.dumps({"target": asdict(target), "points": [asdict(p) for p in points],
                       "settings": asdict(settings), "done": sorted(done), "ooms": ooms})


def decode_job(text: str) -> tuple[Target, list[Point], Settings, set[str], list[dict[str, Any]]]:
    """Inverse of :func:`encode_job`."""
    d = json.loads(text)
    return (Target(**d["target"]), [Point(**p) for p in d["points"]], Settings(**d["settings"]),
            set(d["done"]), d["ooms"])


def main() -> int:
    target, points, settings, done, ooms = decode_job(sys.stdin.read())
    try:
        for event in sweep(target, points, settings, done=done, ooms=ooms):
            print(json.dumps(event), flush=True)
    except KeyboardInterrupt:   # Ctrl-C reaches the whole process group; the parent reports it
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
