"""Every valid MIG multiset of a GPU type by brute force over all 2^n subsets of its placements (numpy bit
tricks): an expected geometry set computed differently from the depth-first search in ``hardware.geometry``."""

from __future__ import annotations

import numpy as np

from majula_model.hardware.catalog import GpuType


def brute_force_multisets(gpu: GpuType) -> set[frozenset]:
    """Every valid non-empty multiset (as frozenset of (profile, count)) by checking all 2^n placement subsets."""
    profs = gpu.plain_profiles
    placements = [(p, s) for p in profs for s in p.starts]
    n = len(placements)
    subsets = np.arange(1, 2 ** n, dtype=np.int64)
    incl = ((subsets[:, None] >> np.arange(n)) & 1).astype(np.int16)
    slices = np.zeros((n, gpu.memory_slices), dtype=np.int16)
    per_profile = np.zeros((n, len(profs)), dtype=np.int16)
    compute = np.zeros(n, dtype=np.int16)
    for i, (p, s) in enumerate(placements):
        slices[i, s:s + p.memory_slices] = 1
        per_profile[i, profs.index(p)] = 1
        compute[i] = p.compute_slices
    ok = (incl @ slices).max(axis=1) <= 1
    counts = incl @ per_profile
    ok &= np.all(counts <= np.array([p.max_count for p in profs]), axis=1)
    ok &= incl @ compute <= gpu.compute_slices
    uniq = np.unique(counts[ok], axis=0)
    return {frozenset((profs[j].name, int(c)) for j, c in enumerate(row) if c) for row in uniq}
