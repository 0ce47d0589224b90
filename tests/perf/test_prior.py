"""Analytic prior (issue 3): physical sanity, stored constants with provenance, bundled files regenerate."""

from __future__ import annotations

import json

import numpy as np

from majula_model import default_catalog
from majula_model.hardware.catalog import FULL
from majula_model.perf.prior import load_costs, prior_latency, prior_memory_gb
from majula_model.perf.prior_files import PRIOR_GPUS, prior_records
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CAT = default_catalog()
A100 = CAT.get("A100-SXM4-80GB")


def test_constants_are_stored_with_provenance():
    costs, constants = load_costs()
    assert {"floor_ms", "compute_efficiency", "memory_efficiency"} <= set(constants)
    assert "ParvaGPU" in constants["provenance"]["fitted_on"] or "parvagpu" in constants["provenance"]["fitted_on"]
    assert {"resnet50", "bert", "vgg16"} <= set(costs)


def test_prior_grows_with_batch_and_processes_and_shrinks_with_slice_size():
    costs, c = load_costs()
    cost = costs["resnet50"]
    lat = prior_latency(cost, c, A100, "3g.40gb", np.array([1, 8, 64]), 1)
    assert np.all(np.diff(lat) > 0)
    assert prior_latency(cost, c, A100, "3g.40gb", 8, 2) > prior_latency(cost, c, A100, "3g.40gb", 8, 1)
    sizes = [float(prior_latency(cost, c, A100, p, 64, 1)) for p in ("1g.10gb", "3g.40gb", "7g.80gb", FULL)]
    assert sizes == sorted(sizes, reverse=True)
    # a GPU with more compute and bandwidth is faster at the same share
    h100 = CAT.get("H100-SXM5-80GB")
    assert prior_latency(cost, c, h100, "7g.80gb", 64, 1) < prior_latency(cost, c, A100, "7g.80gb", 64, 1)


def test_compute_bound_slope_matches_the_published_macs():
    costs, c = load_costs()
    cost = costs["vgg16"]
    big = prior_latency(cost, c, A100, "7g.80gb", np.array([128, 256]), 1)
    share = 98 / 108
    flops = c["compute_efficiency"] * 19.5e12 * share ** c["compute_share_exponent"]
    assert np.isclose(big[1] - big[0], 128 * 15.47e9 / flops * 1e3, rtol=1e-6)


def test_memory_estimate_is_monotone():
    costs, _ = load_costs()
    mem = prior_memory_gb(costs["bert"], np.array([1, 8, 64]), 2)
    assert mem is not None and np.all(np.diff(mem) > 0)


def test_bundled_prior_files_match_their_generator():
    for gpu in PRIOR_GPUS:
        path = ROOT / "calibration" / f"prior-{gpu.lower()}.json"
        data = json.loads(path.read_text())
        assert "analytic-prior" in data["meta"]["kind"] and "regenerate" in data["meta"]
        assert data["measurements"] == prior_records(gpu, CAT)
        for r in data["measurements"]:
            assert r.get("memory_gb", 0) <= CAT.get(gpu).profile_memory_gb(r["profile"])


def test_bundled_instances_stand_alone():
    from majula_model.perf.capacity import capacity_table, slo_problems
    from majula_model.problem.loading import load_instance

    for name in ("default", "vision-nlp", "large"):
        problem = load_instance(ROOT / "instances" / f"{name}.json")
        assert all("calibration/prior-" in s.file for s in problem.records)
        assert slo_problems(problem, capacity_table(problem)) == []
