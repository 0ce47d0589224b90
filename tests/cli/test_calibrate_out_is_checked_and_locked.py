"""Issue 11, "Files a user can pass": ``calibrate --out DIR`` measured everything and only then failed; two runs
on one --out (or a sidecar holding one line twice) gave 7 records for 6 points. --out is checked before any
measurement, one run at a time holds a lock on it, and resuming keeps each point once."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch", reason="calibration extras not installed: pip install -e '.[calibrate]'")

import calibration.sweep as sweep_mod
from calibration.plan import Settings
from calibration.runner import RunConfig, _header, lock_output, lock_path, read_sidecar, sidecar_path
from calibration.timing import Timing

from majula_model.cli import main
from majula_model.problem.loading import load_calibration

FAST = ["--device", "cpu", "--iters", "5", "--warmup", "1", "--no-progress", "--input-shape", "mlp=64"]


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _timing(batch):
    return Timing(1.0 * batch, 1.5 * batch, 2.0 * batch, 1000.0, None)


@pytest.fixture
def no_measuring(monkeypatch):
    def forbidden(jobs):
        raise AssertionError("measured although --out was refused")
    monkeypatch.setattr(sweep_mod, "default_measure", forbidden)


def test_out_directory_is_refused_before_measuring(capsys, tmp_path, no_measuring):
    code, _, err = cli(capsys, "calibrate", *FAST, "--models", "mlp", "--batches", "1", "--out", tmp_path)
    assert code == 2 and f"{tmp_path}: --out: is a directory" in err


def test_out_under_a_file_is_refused_before_measuring(capsys, tmp_path, no_measuring):
    (tmp_path / "f").write_text("")
    code, _, err = cli(capsys, "calibrate", *FAST, "--models", "mlp", "--batches", "1",
                       "--out", tmp_path / "f" / "c.json")
    assert code == 2 and "--out" in err and "is not a directory" in err


def test_out_equal_to_a_catalog_file_is_refused(capsys, tmp_path, no_measuring):
    cat = tmp_path / "cat.json"
    cat.write_text('{"gpus": []}')
    code, _, err = cli(capsys, "--catalog", cat, "calibrate", *FAST, "--models", "mlp", "--batches", "1", "--out", cat)
    assert code == 2 and "--out: is also an input of this command" in err


def test_second_writer_on_one_out_is_refused(capsys, tmp_path, no_measuring):
    out = tmp_path / "c.json"
    with lock_output(out):  # a first run holds --out
        code, _, err = cli(capsys, "calibrate", *FAST, "--models", "mlp", "--batches", "1", "--out", out)
        assert code == 2 and f"{out}: --out: another `majula calibrate` is writing this output" in err
    assert not lock_path(out).exists() and not out.exists() and not sidecar_path(out).exists()


def test_lock_is_released_and_taken_again(tmp_path):
    out = tmp_path / "c.json"
    with lock_output(out):
        pass
    with lock_output(out):
        assert lock_path(out).exists()
    assert not lock_path(out).exists()


def test_sidecar_line_given_twice_is_kept_once(capsys, tmp_path, monkeypatch):
    calls = []

    def flaky(jobs):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(jobs[0].batch)
        return [_timing(j.batch) for j in jobs]

    monkeypatch.setattr(sweep_mod, "default_measure", flaky)
    out = tmp_path / "c.json"
    args = ["calibrate", *FAST, "--models", "mlp", "--batches", "1,2,4", "--out", out]
    assert cli(capsys, *args)[0] == 130
    side = sidecar_path(out)
    lines = side.read_text().splitlines()
    side.write_text("\n".join([*lines, lines[-1], lines[1]]) + "\n")  # one point twice, another once more
    monkeypatch.setattr(sweep_mod, "default_measure", lambda jobs: [_timing(j.batch) for j in jobs])
    code, stdout, err = cli(capsys, *args, "--resume")
    assert code == 0, err
    doc = load_calibration(out)
    assert sorted(r.batch for r in doc.measurements) == [1, 2, 4] and "wrote 3 measurements" in stdout
    assert not lock_path(out).exists()


def test_read_sidecar_keeps_the_first_event_of_a_key(tmp_path):
    cfg = RunConfig(Settings(), ["mlp"], [1], out=tmp_path / "t.json", resume=True)
    first = {"kind": "skip", "key": "k", "reason": "first"}
    sidecar_path(cfg.out).write_text("\n".join(json.dumps(x) for x in (
        _header(cfg), first, {"kind": "skip", "key": "k", "reason": "again"})) + "\n")
    assert read_sidecar(sidecar_path(cfg.out), cfg) == [first]
