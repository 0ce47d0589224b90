"""Issue 5, the pieces: percentiles, timing and OOM, concurrent copies, records of a point, the model registry."""

from __future__ import annotations

import numpy as np
import pytest
import pytest

torch = pytest.importorskip("torch", reason="calibration extras not installed: pip install -e '.[calibrate]'")
from hypothesis import given, strategies as st

from majula_model.errors import InputError
from majula_model.schema import MeasurementRecord

from calibration import models
from calibration.plan import Point, Target, plan_points
from calibration.sweep import blocked_by, cpu_threads, records_for
from calibration.timing import Job, OutOfMemory, Timing, _collect, percentile, run_concurrent, run_job, time_module


@given(st.lists(st.floats(0.001, 1e4), min_size=1, max_size=60), st.sampled_from([50, 90, 99, 0, 100]))
def test_percentile_matches_numpy(xs, q):
    assert percentile(xs, q) == pytest.approx(float(np.percentile(xs, q)), rel=1e-9, abs=1e-12)


def test_time_module_on_cpu_orders_its_percentiles():
    mod = torch.nn.Linear(16, 16)
    t = time_module(mod, torch.randn(4, 16), batch=4, device="cpu", warmup=1, iters=20)
    assert len(t.samples_ms) == 20 and 0 < t.p50_ms <= t.p90_ms <= t.p99_ms and t.memory_gb is None
    assert t.throughput_rps == pytest.approx(4 * 20 / (sum(t.samples_ms) / 1000), rel=0.5)


def test_cuda_out_of_memory_becomes_out_of_memory():
    calls = []

    def exploding(x):
        calls.append(1)
        if len(calls) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB\nmore detail")
        return x

    with pytest.raises(OutOfMemory, match="^CUDA out of memory. Tried to allocate 20.00 GiB$"):
        time_module(exploding, torch.zeros(1), batch=1, device="cpu", warmup=2, iters=5)


def test_run_job_builds_the_model_with_its_shape_and_dtype():
    t = run_job(Job("tiny_encoder", 2, dtype="bf16", sample_shape=(8,), warmup=1, iters=3))
    assert len(t.samples_ms) == 3 and t.p99_ms > 0


def test_a_failing_copy_breaks_the_barrier_instead_of_hanging():
    ok = Job("mlp", 1, sample_shape=(16,), warmup=1, iters=3, threads=1)
    with pytest.raises(RuntimeError, match="concurrent copy failed: InputError"):
        run_concurrent([ok, Job("no_such_model", 1)], timeout_s=120)


def test_an_oom_in_any_copy_is_the_points_oom():
    good = {"p50_ms": 1.0, "p90_ms": 1.0, "p99_ms": 1.0, "throughput_rps": 1.0, "memory_gb": None}
    with pytest.raises(OutOfMemory, match="CUDA out of memory"):
        _collect({0: ("ok", good), 1: ("oom", "CUDA out of memory"), 2: ("error", "BrokenBarrierError")}, 3)
    assert [t.p99_ms for t in _collect({0: ("ok", good), 1: ("ok", good)}, 2)] == [1.0, 1.0]


def test_records_of_copies_and_pairs():
    tgt = Target("H100-SXM5-80GB", "3g.40gb", emulated=True)
    ts = [Timing(2.0, 3.0, 4.0, 100.0, 1.25), Timing(2.5, 2.6, 6.0, 90.0, 1.5)]
    [rec] = records_for(Point("cnn", 8, processes=2), tgt, ts)
    r = MeasurementRecord.model_validate(rec)
    assert (r.latency_ms, r.p50_ms, r.p90_ms, r.throughput_rps, r.memory_gb) == (6.0, 2.5, 3.0, 190.0, 2.75)
    assert r.emulated and r.processes == 2 and r.colocated == ()
    a, b = (MeasurementRecord.model_validate(x) for x in records_for(Point("cnn", 8, pair="mlp"), tgt, ts))
    assert (a.model, a.latency_ms, a.colocated[0].model, a.colocated[0].batch) == ("cnn", 4.0, "mlp", 8)
    assert (b.model, b.latency_ms, b.colocated[0].model, b.throughput_rps) == ("mlp", 6.0, "cnn", 90.0)


def test_oom_blocks_larger_batches_and_process_counts_only():
    oom = [{"model": "cnn", "pair": None, "batch": 16, "processes": 2}]
    assert blocked_by(Point("cnn", 32, 3), oom) and blocked_by(Point("cnn", 16, 2), oom)
    assert not blocked_by(Point("cnn", 32, 1), oom) and not blocked_by(Point("cnn", 8, 3), oom)
    assert not blocked_by(Point("mlp", 32, 3), oom) and not blocked_by(Point("cnn", 32, 1, pair="mlp"), oom)


def test_plan_points_sorts_batches_and_adds_pairs():
    pts = plan_points(["a"], [16, 1, 4], [2, 1], [("a", "b")], pair_batches="same")
    assert [(p.batch, p.processes, p.pair, p.co_batch) for p in pts] == [
        (1, 1, None, 1), (4, 1, None, 4), (16, 1, None, 16), (1, 2, None, 1), (4, 2, None, 4), (16, 2, None, 16),
        (1, 1, "b", 1), (4, 1, "b", 4), (16, 1, "b", 16)]
    every = plan_points(["a"], [4, 1], [1], [("a", "b")])     # the default: every (b_A, b_B), unequal included
    assert [(p.batch, p.pair, p.co_batch) for p in every] == [
        (1, None, 1), (4, None, 4), (1, "b", 1), (1, "b", 4), (4, "b", 1), (4, "b", 4)]


def test_cpu_copies_share_the_cores():
    assert cpu_threads(1, 16) is None and cpu_threads(2, 16) == 8 and cpu_threads(3, 2) == 1


@pytest.mark.parametrize("name, shape, out", [("cnn", (3, 24, 24), (2, 1000)), ("mlp", (40,), (2, 10)),
                                              ("tiny_encoder", (12,), (2, 2))])
def test_builtin_models_run_in_every_dtype(name, shape, out):
    for dtype in ("fp32", "bf16"):
        m = models.load(name, dtype=dtype, sample_shape=shape)
        with torch.inference_mode():
            y = m.module(m.make_input(2))
        assert tuple(y.shape) == out and (y.dtype == models.torch_dtype(dtype) or name == "tiny_encoder")


def test_registry_names_the_required_packages():
    assert {"cnn", "mlp", "tiny_encoder"} <= set(models.available_models())
    assert models.SPECS["inception_v3"].sample_shape == (3, 299, 299) and models.SPECS["xception"].package == "timm"
    with pytest.raises(InputError, match="transformers: bert_base"):
        models.check_names(["bert"])
    if not models.package_available("torchvision"):
        with pytest.raises(InputError, match="model 'resnet50' needs the 'torchvision' package"):
            models.check_names(["resnet50"])


def test_consecutive_points_reuse_the_model_and_an_oom_drops_it(monkeypatch):
    import calibration.timing as timing

    built = []
    real_load = models.load
    monkeypatch.setattr(models, "load", lambda *a, **k: built.append(a[0]) or real_load(*a, **k))
    job = Job("mlp", 1, sample_shape=(8,), warmup=0, iters=2)
    run_job(job)
    run_job(Job("mlp", 4, sample_shape=(8,), warmup=0, iters=2))
    assert built == ["mlp"]
    monkeypatch.setattr(timing, "time_module", lambda *a, **k: (_ for _ in ()).throw(MemoryError("no RAM")))
    with pytest.raises(OutOfMemory, match="no RAM"):
        run_job(job)
    assert timing._LAST == {}
