"""``majula predict --with MODEL:BATCH`` (issue 12): co-located latency, labelled colocated-measured or
colocated-predicted; ``majula fit`` reports the interference model's leave-one-pair-out error."""

from __future__ import annotations

import json

import pytest

from majula_model.cli import main

GPU, PROF = "A100-SXM4-80GB", "1g.10gb"


def _solo(model: str, batch: int, ms: float) -> dict:
    return {"model": model, "gpu": GPU, "profile": PROF, "batch": batch, "latency_ms": ms}


def _cal(tmp_path, colocated: bool = True):
    recs = [_solo(m, b, base * (1 + 0.6 * (b - 1))) for m, base in (("a", 10.0), ("b", 20.0), ("c", 15.0))
            for b in (1, 2, 4)]
    if colocated:  # measured pairs: a+b and b+c at a few batches, a+c never (predicted from the others)
        for (x, y) in (("a", "b"), ("b", "c")):
            for bx, by in ((1, 1), (2, 1), (1, 2), (4, 4)):
                recs.append({**_solo(x, bx, 10.0 * (1.5 + 0.1 * bx)), "colocated": [{"model": y, "batch": by}]})
                recs.append({**_solo(y, by, 18.0 * (1.6 + 0.1 * by)), "colocated": [{"model": x, "batch": bx}]})
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({"measurements": recs}))
    return str(path)


def _predict(capsys, cal, *extra):
    code = main(["predict", cal, "--model", "a", "--gpu", GPU, "--profile", PROF, "--batch", "1", "--json",
                 *extra])
    out = capsys.readouterr()
    return code, (json.loads(out.out) if code == 0 else out.err)


def test_a_measured_co_location_is_returned_as_measured(tmp_path, capsys):
    code, rows = _predict(capsys, _cal(tmp_path), "--with", "b:1")
    assert code == 0 and rows[0]["source"] == "colocated-measured"
    assert rows[0]["latency_ms"] == pytest.approx(10.0 * 1.6)
    assert rows[0]["throughput_rps"] == pytest.approx(1000.0 / (10.0 * 1.6))


def test_an_unmeasured_pair_is_predicted_and_slower_than_alone(tmp_path, capsys):
    code, rows = _predict(capsys, _cal(tmp_path), "--with", "c:2")
    assert code == 0 and rows[0]["source"] == "colocated-predicted"
    assert rows[0]["latency_ms"] >= 10.0  # never faster than alone (solo latency 10 ms)


def test_without_co_located_data_the_prior_is_opt_in(tmp_path, capsys):
    cal = _cal(tmp_path, colocated=False)
    code, err = _predict(capsys, cal, "--with", "b:1")
    assert code == 2 and "interference_prior" in err
    code, rows = _predict(capsys, cal, "--with", "b:1", "--interference-prior")
    assert code == 0 and rows[0]["source"] == "colocated-predicted"
    assert rows[0]["latency_ms"] == pytest.approx(20.0)  # the stated prior: one co-runner doubles the latency


@pytest.mark.parametrize("flag", [["--with", "b"], ["--with", "b:0"], ["--with", ":3"], ["--with", "a:1"],
                                  ["--with", "b:1", "--with", "b:2"], ["--with", "b:1", "--processes", "2"],
                                  ["--interference-prior"]])
def test_bad_with_flags_exit_2(tmp_path, capsys, flag):
    code, err = _predict(capsys, _cal(tmp_path), *flag)
    assert code == 2 and "--" in err


def test_fit_reports_leave_one_pair_out(tmp_path, capsys):
    cal = _cal(tmp_path)
    assert main(["fit", cal, "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)["interference"]["gpus"][GPU]
    assert rep["records"] == 16 and rep["held_out"]["n"] == 16 and rep["held_out"]["mape"] is not None
    assert main(["fit", cal]) == 0
    assert "leave-one-pair-out" in capsys.readouterr().out


def test_calibrate_flags_for_pairs_and_a_busy_host(capsys):
    assert main(["calibrate", "--device", "cpu", "--models", "cnn", "--batches", "1,4", "--pair", "cnn,mlp",
                 "--pair-batches", "same", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "cnn + mlp batch 4" in out and "cnn batch 1 + mlp batch 4" not in out
    assert main(["calibrate", "--device", "cpu", "--models", "cnn", "--max-cpu-wait", "2", "--dry-run"]) == 2
    assert "--max-cpu-wait" in capsys.readouterr().err
