"""Issue 5, CPU path: `majula calibrate --device cpu` end to end, resume, dry-run, OOM and bad arguments."""

from __future__ import annotations

import pytest

pytest.importorskip("torch", reason="calibration extras not installed: pip install -e \'.[calibrate]\'")

import json

import pytest

from majula_model.cli import main
from majula_model.problem.loading import load_calibration
from majula_model.schema import CalibrationFile

import calibration.sweep as sweep_mod
from calibration.runner import sidecar_path
from calibration.timing import OutOfMemory, Timing

FAST = ["--device", "cpu", "--iters", "5", "--warmup", "1", "--no-progress",
        "--input-shape", "3,32,32", "--input-shape", "mlp=64", "--input-shape", "tiny_encoder=16"]


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cpu_end_to_end_writes_a_valid_calibration_file(capsys, tmp_path):
    out = tmp_path / "cpu.json"
    code, stdout, err = cli(capsys, "calibrate", *FAST, "--models", "cnn,mlp,tiny_encoder", "--batches", "1,4",
                            "--processes", "1,2", "--pair", "cnn,mlp", "--models", "cnn,mlp,tiny_encoder",
                            "--out", str(out))
    assert code == 0, err
    assert "wrote 20 measurements" in stdout   # 12 single-model points, 2 x 2 batch combinations of the pair x 2
    doc = load_calibration(out)
    CalibrationFile.model_validate(json.loads(out.read_text()))
    assert not sidecar_path(out).exists()
    recs = doc.measurements
    assert {(r.gpu, r.profile, r.emulated) for r in recs} == {("cpu", "full", False)}
    singles = [r for r in recs if not r.colocated]
    assert sorted((r.model, r.batch, r.processes) for r in singles) == sorted(
        (m, b, k) for m in ("cnn", "mlp", "tiny_encoder") for b in (1, 4) for k in (1, 2))
    for r in recs:
        assert 0 < r.p50_ms <= r.p90_ms <= r.latency_ms and r.throughput_rps > 0
    together = sorted((r.model, r.batch, r.colocated[0].model, r.colocated[0].batch) for r in recs if r.colocated)
    assert together == sorted([("cnn", b, "mlp", c) for b in (1, 4) for c in (1, 4)]
                              + [("mlp", c, "cnn", b) for b in (1, 4) for c in (1, 4)])
    meta = doc.meta
    assert meta["device"] == "cpu" and meta["torch"] and meta["date"] and meta["majula"] == "0.1.0" and meta["settings"]["iters"] == 5
    assert len(meta["copies_p99_ms"]) == 3 * 2 + 4   # k=2 points and pair points list each copy
    assert all(len(c["p99_ms"]) == 2 for c in meta["copies_p99_ms"])


def test_predict_reads_the_cpu_output(capsys, tmp_path):
    out = tmp_path / "cpu.json"
    assert cli(capsys, "calibrate", *FAST, "--models", "mlp", "--batches", "1,4", "--out", str(out))[0] == 0
    code, stdout, err = cli(capsys, "predict", str(out), "--model", "mlp", "--gpu", "cpu", "--profile", "full",
                            "--batch", "1,2,4", "--json")
    assert code == 0, err
    rows = json.loads(stdout)
    assert [r["source"] for r in rows] == ["measured", "interpolated", "measured"]
    measured = {r.batch: r.latency_ms for r in load_calibration(out).measurements}
    assert rows[0]["latency_ms"] == pytest.approx(measured[1])


def test_solve_plans_on_the_cpu_output(capsys, tmp_path):
    from majula_model.cli import build_parser

    if "solve" not in build_parser()._subparsers._group_actions[0].choices:
        pytest.skip("majula solve is not in this build yet")
    out = tmp_path / "cpu.json"
    assert cli(capsys, "calibrate", *FAST, "--models", "mlp", "--batches", "1,4", "--out", str(out))[0] == 0
    lat = max(r.latency_ms for r in load_calibration(out).measurements)
    inst = {"name": "cpu-ci", "gpus": [{"type": "cpu", "count": 4}],
            "models": [{"name": "mlp", "slo_ms": lat * 4, "demand_rps": 10.0}],
            "calibration": [out.name], "objective": "min_gpus"}
    (tmp_path / "inst.json").write_text(json.dumps(inst))
    code, stdout, err = cli(capsys, "solve", str(tmp_path / "inst.json"), "--json")
    assert code == 0, err
    assert json.loads(stdout)["status"] in ("optimal", "feasible")


def _fake_timing(batch: int) -> Timing:
    return Timing(1.0 * batch, 1.5 * batch, 2.0 * batch, 1000.0, None)


def test_resume_measures_only_the_missing_points(capsys, tmp_path, monkeypatch):
    calls: list[tuple[str, int]] = []

    def flaky(jobs):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append((jobs[0].model, jobs[0].batch))
        return [_fake_timing(j.batch) for j in jobs]

    monkeypatch.setattr(sweep_mod, "default_measure", flaky)
    out = tmp_path / "r.json"
    args = ["calibrate", *FAST, "--models", "cnn,mlp", "--batches", "1,2,4", "--out", str(out)]
    assert cli(capsys, *args)[0] == 130                         # interrupted after 3 points
    assert not out.exists() and len(sidecar_path(out).read_text().splitlines()) == 1 + 3
    code, _, err = cli(capsys, *args)                           # no --resume: refuses to clobber
    assert code == 2 and "--resume" in err
    with sidecar_path(out).open("a") as fh:                    # a torn line from the crash is tolerated
        fh.write('{"kind": "po')
    resumed: list[tuple[str, int]] = []

    def steady(jobs):
        resumed.append((jobs[0].model, jobs[0].batch))
        return [_fake_timing(j.batch) for j in jobs]

    monkeypatch.setattr(sweep_mod, "default_measure", steady)
    assert cli(capsys, *args, "--resume")[0] == 0
    assert resumed == [("mlp", 1), ("mlp", 2), ("mlp", 4)] and calls == [("cnn", 1), ("cnn", 2), ("cnn", 4)]
    doc = load_calibration(out)
    assert sorted((r.model, r.batch) for r in doc.measurements) == sorted(
        (m, b) for m in ("cnn", "mlp") for b in (1, 2, 4))


def test_a_torn_last_line_is_cut_before_appending(tmp_path):
    from calibration.plan import Settings
    from calibration.runner import RunConfig, _header, open_sidecar, read_sidecar

    cfg = RunConfig(Settings(), ["mlp"], [1], out=tmp_path / "t.json", resume=True)
    sidecar_path(cfg.out).write_text(json.dumps(_header(cfg)) + "\n" + '{"kind": "poi')
    events, fh = open_sidecar(cfg)
    with fh:
        fh.write(json.dumps({"kind": "skip", "key": "k", "reason": "r"}) + "\n")
    assert events == [] and read_sidecar(sidecar_path(cfg.out), cfg) == [{"kind": "skip", "key": "k", "reason": "r"}]


def test_resume_with_other_settings_is_refused(capsys, tmp_path, monkeypatch):
    def boom(jobs):
        raise KeyboardInterrupt
    monkeypatch.setattr(sweep_mod, "default_measure", boom)
    out = tmp_path / "r.json"
    cli(capsys, "calibrate", *FAST, "--models", "mlp", "--batches", "1", "--out", str(out))
    code, _, err = cli(capsys, "calibrate", *FAST, "--models", "mlp", "--batches", "1,2", "--out", str(out),
                       "--resume")
    assert code == 2 and "other settings" in err


def test_out_of_memory_ends_the_sweep_and_is_recorded(capsys, tmp_path, monkeypatch):
    seen: list[tuple[str, int, int]] = []

    def measure(jobs):
        seen.append((jobs[0].model, jobs[0].batch, len(jobs)))
        if jobs[0].model == "cnn" and jobs[0].batch >= 4:
            raise OutOfMemory("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [_fake_timing(j.batch) for j in jobs]

    monkeypatch.setattr(sweep_mod, "default_measure", measure)
    out = tmp_path / "oom.json"
    code, stdout, _ = cli(capsys, "calibrate", *FAST, "--models", "cnn,mlp", "--batches", "1,4,16",
                          "--processes", "1,2", "--out", str(out))
    assert code == 0 and "1 out of memory" in stdout
    assert ("cnn", 16, 1) not in seen and ("cnn", 4, 2) not in seen and ("cnn", 16, 2) not in seen
    assert ("cnn", 1, 2) in seen and ("mlp", 16, 2) in seen
    doc = load_calibration(out)
    assert {(r.model, r.batch) for r in doc.measurements if r.model == "cnn"} == {("cnn", 1)}
    [oom] = doc.meta["out_of_memory"]
    assert (oom["model"], oom["batch"], oom["processes"]) == ("cnn", 4, 1) and "out of memory" in oom["error"]
    assert len(doc.meta["skipped"]) == 3


def test_dry_run_lists_points_and_measures_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(sweep_mod, "default_measure", lambda jobs: pytest.fail("dry run measured"))
    out = tmp_path / "d.json"
    code, stdout, _ = cli(capsys, "calibrate", *FAST, "--models", "cnn,mlp", "--batches", "1,8",
                          "--processes", "1,3", "--pair", "cnn,mlp", "--out", str(out), "--dry-run")
    assert code == 0 and not out.exists() and not sidecar_path(out).exists()
    assert "1 target(s) x 12 point(s)" in stdout and "cpu full" in stdout   # 8 single + 2 x 2 pair batches
    assert "cnn x3 batch 8" in stdout and "cnn + mlp batch 1" in stdout and "estimated time" in stdout


@pytest.mark.parametrize("argv, field", [
    (["--models", "resnet9000"], "--models: unknown model 'resnet9000'"),
    (["--batches", "0,4"], "--batches"),
    (["--batches", "one"], "--batches"),
    (["--batches", "1,1"], "--batches"),
    (["--processes", "1,x"], "--processes"),
    (["--pair", "cnn,cnn"], "--pair"),
    (["--pair", "cnn"], "--pair"),
    (["--dtype", "fp8"], "--dtype"),
    (["--iters", "0"], "--iters"),
    (["--warmup", "-1"], "--warmup"),
    (["--emulate", "3g"], "--emulate"),
    (["--input-shape", "vgg=3,8,8"], "--input-shape"),
])
def test_bad_arguments_exit_2(capsys, tmp_path, argv, field):
    code, _, err = cli(capsys, "calibrate", *FAST, *argv, "--out", str(tmp_path / "x.json"))
    assert code == 2 and field in err and "Traceback" not in err


def test_unknown_model_lists_what_is_available_and_what_needs_a_package(capsys, tmp_path):
    code, _, err = cli(capsys, "calibrate", "--device", "cpu", "--models", "cnn,nope", "--out", str(tmp_path / "x"))
    assert code == 2 and "available: cnn, mlp, tiny_encoder" in err
    assert "torchvision: resnet50" in err and "timm: xception" in err


def test_device_is_required(capsys):
    with pytest.raises(SystemExit) as e:
        main(["calibrate", "--models", "cnn"])
    assert e.value.code == 2


def test_cuda_with_a_cpu_only_torch_is_refused(capsys, tmp_path):
    import torch

    if torch.backends.cuda.is_built():
        pytest.skip("this PyTorch has CUDA")
    code, _, err = cli(capsys, "calibrate", "--device", "cuda", "--out", str(tmp_path / "x.json"))
    assert code == 2 and "built without CUDA" in err
