"""How a plan is replayed: load, duration, warm-up, seed, trace, routing, what happens to late requests, jitter.

Why its own module: the simulator's entry point (``run.py``) and its statistics (``stats.py``, which carry the
options into the JSON) both need it, and neither should import the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..errors import InputError

MAX_LOAD = 100.0
MAX_DURATION_S = 86_400.0
MAX_REQUESTS = 200_000_000
"""Bounds that keep a mistyped flag from asking for petabytes: a day of simulated time, 100x overload, and
2e8 expected requests (about a minute of wall time here)."""

Routing = Literal["proportional", "jsq"]
Late = Literal["serve", "drop"]


@dataclass(frozen=True)
class SimOptions:
    """How to replay: load factor on the plan's served rates, duration, seed, trace, routing, late policy.

    ``duration_s`` is the measured window; None chooses it from the requests that resolve the target attainment
    (``confidence.default_duration``). ``warmup_s`` is simulated before the window and discarded; None chooses
    it from the runs' relaxation times (``confidence.warmup_ms``; 0 for a trace, whose start is part of the
    workload it records).
    """

    load: float = 1.0
    duration_s: float | None = None
    seed: int = 0
    trace: str | Path | None = None
    routing: Routing = "proportional"
    late: Late = "serve"
    jitter: bool = False
    warmup_s: float | None = None
    plan_file: str | None = field(default=None, compare=False)

    def check(self) -> None:
        """Reject impossible options with a message naming the flag."""
        if not 0 < self.load <= MAX_LOAD:
            raise InputError(f"must be > 0 and <= {MAX_LOAD:g}, got {self.load}", field="--load")
        if self.duration_s is not None and not 0 < self.duration_s <= MAX_DURATION_S:
            raise InputError(f"must be > 0 and <= {MAX_DURATION_S:g} s, got {self.duration_s}", field="--duration")
        if self.warmup_s is not None and not 0 <= self.warmup_s <= MAX_DURATION_S:
            raise InputError(f"must be >= 0 and <= {MAX_DURATION_S:g} s, got {self.warmup_s}", field="--warmup")
        if self.seed < 0:
            raise InputError(f"must be >= 0, got {self.seed}", field="--seed")
        if self.routing not in ("proportional", "jsq"):
            raise InputError(f"must be proportional or jsq, got {self.routing}", field="--routing")
        if self.late not in ("serve", "drop"):
            raise InputError(f"must be serve or drop, got {self.late}", field="--late")
