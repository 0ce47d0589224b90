"""Issue 12, pairs across batch sizes: the plan sweeps every (b_A, b_B), each record names its co-runner and the
co-runner's batch, an OOM blocks only larger combinations, and a fast model keeps running (and timing) until its
slower co-runner has done its iterations, so no "co-located" latency is measured alone. Also the host-load
guard: how long a timed loop waited for a CPU, and re-measuring a point that waited too long."""

from __future__ import annotations

import json
import multiprocessing

import pytest

torch = pytest.importorskip("torch", reason="calibration extras not installed: pip install -e '.[calibrate]'")

from majula_model.errors import InputError
from majula_model.schema import MeasurementRecord

from calibration.plan import Point, Settings, Target, estimate_seconds, plan_points
from calibration.runner import RunConfig, _header
from calibration.sweep import _jobs, blocked_by, records_for
from calibration.timing import Job, Timing, Together, _timed_loop, run_concurrent

CPU = Target("cpu", "full")


def test_unequal_batches_get_their_own_key_and_equal_ones_keep_the_old_key():
    assert Point("cnn", 4, pair="mlp").key(CPU) == "cpu|full|False|cnn|4|1|mlp"
    assert Point("cnn", 4, pair="mlp", pair_batch=4).key(CPU) == "cpu|full|False|cnn|4|1|mlp"
    assert Point("cnn", 4, pair="mlp", pair_batch=16).key(CPU) == "cpu|full|False|cnn|4|1|mlp@16"
    assert Point("cnn", 4, processes=2).key(CPU) == "cpu|full|False|cnn|4|2|"
    keys = {p.key(CPU) for p in plan_points(["cnn"], [1, 2, 4], [1], [("cnn", "mlp")])}
    assert len(keys) == 3 + 9


def test_a_bad_pair_batches_mode_is_an_input_error():
    with pytest.raises(InputError, match="--pair-batches"):
        plan_points(["a"], [1], [1], [("a", "b")], pair_batches="diagonal")


def test_records_of_an_unequal_pair_name_the_co_runner_and_its_batch():
    ts = [Timing(2.0, 3.0, 4.0, 100.0, None), Timing(20.0, 22.0, 25.0, 640.0, None)]
    a, b = (MeasurementRecord.model_validate(x) for x in records_for(Point("mlp", 1, pair="cnn", pair_batch=16),
                                                                     CPU, ts))
    assert (a.model, a.batch, a.latency_ms, a.colocated[0].model, a.colocated[0].batch) == ("mlp", 1, 4.0, "cnn", 16)
    assert (b.model, b.batch, b.latency_ms, b.colocated[0].model, b.colocated[0].batch) == ("cnn", 16, 25.0, "mlp", 1)
    assert a.processes == b.processes == 1


def test_the_co_runner_runs_at_its_own_batch():
    jobs = _jobs(Point("mlp", 1, pair="cnn", pair_batch=16), CPU, Settings(iters=7))
    assert [(j.model, j.batch, j.iters) for j in jobs] == [("mlp", 1, 7), ("cnn", 16, 7)]


def test_an_oom_blocks_only_combinations_at_least_as_large_on_both_sides():
    oom = [{"model": "cnn", "pair": "mlp", "batch": 8, "processes": 1, "pair_batch": 4}]
    assert blocked_by(Point("cnn", 8, pair="mlp", pair_batch=4), oom)
    assert blocked_by(Point("cnn", 16, pair="mlp", pair_batch=16), oom)
    assert not blocked_by(Point("cnn", 16, pair="mlp", pair_batch=2), oom)
    assert not blocked_by(Point("cnn", 4, pair="mlp", pair_batch=16), oom)
    assert not blocked_by(Point("cnn", 16), oom)
    older = [{"model": "cnn", "pair": "mlp", "batch": 8, "processes": 1}]   # a sidecar from before pair_batch
    assert blocked_by(Point("cnn", 8, pair="mlp"), older) and not blocked_by(Point("cnn", 8, pair="mlp", pair_batch=1),
                                                                              older)


def test_the_estimate_counts_both_models_batches():
    s = Settings(iters=10, warmup=0)
    one = estimate_seconds([CPU], [Point("a", 1, pair="b", pair_batch=1)], s)
    big = estimate_seconds([CPU], [Point("a", 1, pair="b", pair_batch=64)], s)
    assert big - one == pytest.approx(10 * 5.0 * 63 / 1000.0)


def test_the_header_names_the_pair_mode_only_when_not_the_default(tmp_path):
    cfg = RunConfig(Settings(), ["mlp"], [1], pairs=[("mlp", "cnn")], out=tmp_path / "x.json")
    assert "pair_batches" not in _header(cfg)
    cfg.pair_batches = "same"
    assert _header(cfg)["pair_batches"] == "same" and json.dumps(_header(cfg))
    quiet = RunConfig(Settings(max_cpu_wait=0.1), ["mlp"], [1], pairs=[("mlp", "cnn")], out=tmp_path / "x.json")
    assert "max_cpu_wait" not in _header(quiet)["settings"]            # a run may resume with another limit
    assert _header(quiet) == _header(RunConfig(Settings(), ["mlp"], [1], pairs=[("mlp", "cnn")], out=tmp_path))


def test_a_copy_that_is_done_keeps_timing_until_the_others_are():
    together = Together(multiprocessing.Value("i", 0), 2)
    calls = []

    def timer(fn):
        calls.append(1)
        if len(calls) == 7:
            together.done()          # the other copy finishes while this one is in its 7th call
        return 1.0

    assert len(_timed_loop(timer, lambda: None, 3, together)) == 7
    assert together.all_done() and len(_timed_loop(lambda fn: 1.0, lambda: None, 3, None)) == 3
    together.release()
    assert together.finished.value == 2


def test_a_fast_model_next_to_a_slow_one_is_timed_for_the_whole_overlap():
    fast = Job("mlp", 1, sample_shape=(16,), warmup=1, iters=5, threads=1)
    slow = Job("cnn", 16, sample_shape=(3, 64, 64), warmup=1, iters=5, threads=1)
    f, s = run_concurrent([fast, slow], timeout_s=300)
    assert len(s.samples_ms) == 5 and len(f.samples_ms) > 5
    assert sum(f.samples_ms) > 0.5 * sum(s.samples_ms)   # the fast model ran for (about) as long as the slow one


def test_the_hosts_busy_share_comes_from_proc_stat(tmp_path):
    from calibration import hostload

    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n")
    before = hostload.cpu_times(stat)
    assert before == (150, 1000)
    stat.write_text("cpu  130 0 60 950 60 0 0 0 0 0\n")
    assert hostload.busy_share(before, hostload.cpu_times(stat)) == 0.2     # 40 busy of 200
    assert hostload.cpu_times(tmp_path / "missing") is None and hostload.busy_share(None, before) is None
    assert hostload.quiet(0.5, wait_s=0, probe_s=0, path=stat) is None      # no time passed: nothing to say


def test_the_run_queue_wait_is_read_per_thread_and_per_second(tmp_path):
    from calibration import hostload

    for tid, (cpu, wait) in {"11": (5, 2_000_000_000), "12": (7, 500_000_000)}.items():
        (tmp_path / tid).mkdir()
        (tmp_path / tid / "schedstat").write_text(f"{cpu} {wait} 3\n")
    assert hostload.run_delay_ns(tmp_path) == 2_500_000_000
    assert hostload.cpu_wait(500_000_000, 2_500_000_000, 4.0) == 0.5
    assert hostload.cpu_wait(None, 1, 1.0) is None and hostload.run_delay_ns(tmp_path / "none") is None
    assert hostload.run_delay_ns() is None or hostload.run_delay_ns() >= 0


def test_a_point_whose_loop_waited_for_a_cpu_is_measured_again(monkeypatch):
    import calibration.sweep as sweep_mod

    waits, quiet = iter([[0.6, 0.0], [0.3, 0.2], [0.02, 0.05]]), []
    monkeypatch.setattr(sweep_mod.hostload, "quiet", lambda limit: quiet.append(limit))
    calls = []

    def fake(jobs):
        calls.append(1)
        return [Timing(1.0, 1.0, float(len(calls)), 10.0, None, cpu_wait=w) for w in next(waits)]

    timings, load = sweep_mod.measure_quietly(fake, [Job("mlp", 1), Job("cnn", 1)], Settings(max_cpu_wait=0.1))
    assert load == {"cpu_wait": 0.05, "remeasured": 2} and quiet == [0.1, 0.1]
    assert timings[0].p99_ms == 3.0                                    # the quiet measurement is kept
    waits = iter([[0.9]])
    assert sweep_mod.measure_quietly(fake, [Job("mlp", 1)], Settings())[1] == {"cpu_wait": 0.9, "remeasured": 0}


def test_a_real_timing_reports_its_cpu_wait():
    from calibration.timing import time_module

    t = time_module(torch.nn.Linear(8, 8), torch.randn(2, 8), batch=2, device="cpu", warmup=1, iters=5)
    assert t.cpu_wait is None or t.cpu_wait >= 0


def test_meta_summarises_the_cpu_wait():
    from calibration.provenance import _cpu_wait

    events = [{"kind": "point", "key": k, "cpu_wait": v, "remeasured": r}
              for k, v, r in (("a", 0.01, 0), ("b", 0.2, 3), ("c", 0.03, 1))]
    got = _cpu_wait(Settings(max_cpu_wait=0.1), events + [{"kind": "skip", "key": "d", "reason": "x"}])
    assert (got["median"], got["max"], got["remeasured_points"], got["over_limit"]) == (0.03, 0.2, 2, ["b"])
    assert _cpu_wait(Settings(), [{"kind": "point", "key": "a", "cpu_wait": None}]) is None
