"""One registry of the performance model's caches, so that they can be emptied together.

Why: fitted curves (``curves``), cross-model residuals and learned peer weights (``peers``) are cached by content
hash, so they are never stale; tests (and long-lived callers) still want one call that forgets them all. Each
cache registers its own clearing function here, and nothing has to import the module that owns a cache to clear
it (which would tie ``curves`` and ``peers`` into an import cycle).
"""

from __future__ import annotations

from typing import Callable

_CLEARERS: list[Callable[[], None]] = []


def register(clear: Callable[[], None]) -> Callable[[], None]:
    """Add a cache's clearing function (returns it, so it can decorate the function)."""
    _CLEARERS.append(clear)
    return clear


def clear_all() -> None:
    """Forget every registered cache (correctness never needs this: the keys are content hashes)."""
    for clear in _CLEARERS:
        clear()
