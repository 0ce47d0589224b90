"""``majula predict``, ``majula fit`` and ``majula import`` (issue 3): output contract and exit codes."""

from __future__ import annotations

import json

import pytest

from conftest import needs_matplotlib
from majula_model.cli import main
from majula_model.problem.importers import write_perf_analyzer_csv
from majula_model.schema import CalibrationFile, MeasurementRecord


@pytest.fixture()
def cal_file(tmp_path):
    recs = [MeasurementRecord(model="m", gpu="A100-SXM4-80GB", profile=p, batch=b, processes=k,
                              latency_ms=3.0 + k * b * 30.0 / s)
            for p, s in (("1g.10gb", 1), ("2g.20gb", 2), ("3g.40gb", 3), ("7g.80gb", 7))
            for b in (1, 2, 4, 8, 16, 32) for k in (1, 2)]
    path = tmp_path / "cal.json"
    path.write_text(CalibrationFile(measurements=tuple(recs)).model_dump_json())
    return path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_json_contract(capsys, cal_file):
    code, out, _ = run(capsys, "predict", cal_file, "--model", "m", "--gpu", "A100-SXM4-80GB", "--profile",
                       "3g.40gb", "--batch", "1,3,64", "--processes", "2", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [set(r) for r in rows] == [{"batch", "latency_ms", "throughput_rps", "source"}] * 3
    assert [r["source"] for r in rows] == ["measured", "interpolated", "predicted"]
    code, out, _ = run(capsys, "predict", cal_file, "--model", "m", "--gpu", "A100-SXM4-80GB", "--profile",
                       "4g.40gb", "--batch", "8")
    assert code == 0 and "predicted" in out


@pytest.mark.parametrize("args,needle", [
    (["--model", "x", "--gpu", "A100-SXM4-80GB", "--profile", "3g.40gb", "--batch", "1"], "model: no measurements"),
    (["--model", "m", "--gpu", "B300", "--profile", "3g.40gb", "--batch", "1"], "unknown GPU type"),
    (["--model", "m", "--gpu", "A100-SXM4-80GB", "--profile", "9g", "--batch", "1"], "no profile"),
    (["--model", "m", "--gpu", "A100-SXM4-80GB", "--profile", "3g.40gb", "--batch", "1,x"], "--batch"),
    (["--model", "m", "--gpu", "A100-SXM4-80GB", "--profile", "3g.40gb", "--batch", "0"], "--batch"),
])
def test_predict_bad_input_exits_2(capsys, cal_file, args, needle):
    code, out, err = run(capsys, "predict", cal_file, *args)
    assert code == 2 and needle in err and "Traceback" not in err and out == ""


def test_predict_missing_file_exits_2(capsys, tmp_path):
    code, _, err = run(capsys, "predict", tmp_path / "no.json", "--model", "m", "--gpu", "A100-SXM4-80GB",
                       "--profile", "3g.40gb", "--batch", "1")
    assert code == 2 and "file not found" in err


@needs_matplotlib
def test_fit_json_and_table(capsys, cal_file, tmp_path):
    code, out, _ = run(capsys, "fit", cal_file, "--json")
    assert code == 0
    rep = json.loads(out)
    (m,) = rep["models"]
    assert m["model"] == "m" and m["lobo"]["all"]["n"] == m["points"] and m["lopo"]["all"]["n"] == m["points"]
    assert m["lobo"]["all"]["mape"] < 5.0 and m["prior"] is None
    code, out, err = run(capsys, "fit", cal_file, "--plot", tmp_path / "plots")
    assert code == 0 and "LOBO" in out and (tmp_path / "plots" / "fit-m-a100-sxm4-80gb.png").stat().st_size > 1000


def test_import_perf_analyzer_then_predict(capsys, tmp_path):
    csv_path, out = tmp_path / "pa.csv", tmp_path / "cal.json"
    write_perf_analyzer_csv([{"Concurrency": 1, "Inferences/Second": 800.0, "p50 latency": 9000.0,
                              "p90 latency": 9500.0, "p95 latency": 9800.0, "p99 latency": 10000.0}], csv_path)
    code, _, _ = run(capsys, "import", "perf-analyzer", csv_path, "--model", "m", "--gpu", "A100-SXM4-80GB",
                     "--profile", "3g.40gb", "--batch", "8", "--out", out)
    assert code == 0
    code, stdout, _ = run(capsys, "predict", out, "--model", "m", "--gpu", "A100-SXM4-80GB", "--profile", "3g.40gb",
                          "--batch", "8", "--json")
    assert code == 0 and json.loads(stdout) == [{"batch": 8, "latency_ms": 10.0, "throughput_rps": 800.0,
                                                 "source": "measured"}]
    code, _, err = run(capsys, "import", "perf-analyzer", csv_path, "--model", "m", "--gpu", "A100-SXM4-80GB",
                       "--profile", "5g.1gb", "--batch", "8", "--out", out)
    assert code == 2 and "no profile" in err


def test_import_parvagpu_cli(capsys, parvagpu_dir, tmp_path):
    out = tmp_path / "pv.json"
    code, stdout, _ = run(capsys, "import", "parvagpu", parvagpu_dir, "--out", out)
    assert code == 0 and "1747 measurements" in stdout
    data = json.loads(out.read_text())
    assert len(data["measurements"]) == 1747 and "MIT" in data["meta"]["source"]
    from majula_model.problem.importers import read_parvagpu
    from majula_model.problem.loading import load_calibration

    assert load_calibration(out).measurements == read_parvagpu(parvagpu_dir).measurements  # file round trip
    code, _, err = run(capsys, "import", "parvagpu", tmp_path / "missing", "--out", out)
    assert code == 2 and "not a directory" in err


def test_fit_with_a_cpu_device_and_a_single_point_model(capsys, tmp_path):
    """Regression: a point with nothing left to fit on is no prediction (not a 0% error), and a device without
    spec figures (cpu) has no prior error instead of a crash."""
    recs = [MeasurementRecord(model="resnet50", gpu="cpu", profile="full", batch=b, latency_ms=20.0 * b + 10)
            for b in (1, 4, 8)]
    recs.append(MeasurementRecord(model="vgg16", gpu="A100-SXM4-80GB", profile="full", batch=8, latency_ms=17.0))
    path = tmp_path / "cal.json"
    path.write_text(CalibrationFile(measurements=tuple(recs)).model_dump_json())
    code, out, _ = run(capsys, "fit", path, "--json")
    assert code == 0
    models = {m["model"]: m for m in json.loads(out)["models"]}
    assert models["vgg16"]["lobo"]["all"]["n"] == 0 and models["resnet50"]["prior"] is None
    code, _, err = run(capsys, "predict", path, "--model", "vgg16", "--gpu", "cpu", "--profile", "full",
                       "--batch", "2")
    assert code == 2 and "spec figures" in err


@pytest.mark.parametrize("command", ["predict", "fit"])
def test_calibration_with_an_unknown_profile_exits_2_naming_the_record(capsys, tmp_path, command):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"measurements": [{"model": "m", "gpu": "A100-SXM4-80GB", "profile": "5g.9gb",
                                                  "batch": 1, "latency_ms": 3.0}]}))
    extra = ["--model", "m", "--gpu", "A100-SXM4-80GB", "--profile", "3g.40gb", "--batch", "1"]
    code, _, err = run(capsys, command, path, *(extra if command == "predict" else []))
    assert code == 2 and f"{path}: measurements[0].profile: A100-SXM4-80GB has no profile '5g.9gb'" in err


def test_predict_warns_on_far_extrapolation_and_fit_refuses_an_empty_file(capsys, cal_file, tmp_path):
    code, out, err = run(capsys, "predict", cal_file, "--model", "m", "--gpu", "A100-SXM4-80GB", "--profile",
                         "3g.40gb", "--batch", "24,64,65", "--json")
    assert code == 0 and [r["source"] for r in json.loads(out)] == ["interpolated", "predicted", "predicted"]
    assert "batch 65 lies more than 2x outside" in err and "64," not in err  # 64 = 2 x 32: still near
    empty = tmp_path / "empty.json"
    empty.write_text('{"measurements": []}')
    code, _, err = run(capsys, "fit", empty)
    assert code == 2 and "no measurements to fit" in err
