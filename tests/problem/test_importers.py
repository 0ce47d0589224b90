"""Importers (issue 3): round trips of the public ParvaGPU files and of perf_analyzer CSVs, and clear errors."""

from __future__ import annotations

import csv

import pytest

from majula_model import InputError
from majula_model.problem.importers import read_parvagpu, read_perf_analyzer, write_parvagpu_csv, write_perf_analyzer_csv
from majula_model.problem.importers.parvagpu import read_parvagpu_csv


def _rows(path):
    with open(path, newline="") as fh:
        return [[float(x) for x in row] for row in list(csv.reader(fh))[1:]]


def test_parvagpu_round_trip_reproduces_every_file(parvagpu_dir, tmp_path):
    cal = read_parvagpu(parvagpu_dir)
    for src in sorted(parvagpu_dir.glob("*.csv")):
        recs = [r for r in cal.measurements if r.model == src.stem]
        out = tmp_path / src.name
        write_parvagpu_csv(recs, out)
        assert read_parvagpu_csv(out, src.stem) == recs
        orig, back = _rows(src), _rows(out)
        assert len(orig) == len(back) == 225
        for a, b in zip(orig, back):
            assert a[:3] == b[:3] and a[3:] == pytest.approx(b[3:], rel=1e-5, abs=1e-9)


def test_parvagpu_semantics(parvagpu_dir):
    cal = read_parvagpu(parvagpu_dir, models=["resnet50"])
    r = next(r for r in cal.measurements if r.profile == "1g.10gb" and r.batch == 1 and r.processes == 2)
    # CSV row "1,1,2,125.968,0.008": throughput is per process, latency in seconds
    assert (r.latency_ms, r.throughput_rps) == (8.0, pytest.approx(2 * 125.968))
    assert "MIT" in cal.meta["source"]


def test_parvagpu_bad_header(tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="expected columns"):
        read_parvagpu(tmp_path)


ROWS = [{"Concurrency": 1, "Inferences/Second": 1200.5, "p50 latency": 12000.0, "p90 latency": 13000.0,
         "p95 latency": 13500.0, "p99 latency": 14250.0},
        {"Concurrency": 2, "Inferences/Second": 2000.0, "p50 latency": 15000.0, "p90 latency": 17000.0,
         "p95 latency": 18000.0, "p99 latency": 21000.0}]


def test_perf_analyzer_round_trip(tmp_path):
    path = tmp_path / "pa.csv"
    write_perf_analyzer_csv(ROWS, path)
    cal = read_perf_analyzer(path, "resnet50", "A100-SXM4-80GB", "3g.40gb", batch=16)
    (r,) = cal.measurements
    assert (r.batch, r.latency_ms, r.p50_ms, r.p90_ms, r.throughput_rps) == (16, 14.25, 12.0, 13.0, 1200.5)
    r2 = read_perf_analyzer(path, "resnet50", "A100-SXM4-80GB", "3g.40gb", 16, percentile=95,
                            concurrency=2).measurements[0]
    assert (r2.latency_ms, r2.throughput_rps) == (18.0, 2000.0)


def test_perf_analyzer_real_header_with_extra_columns(tmp_path):
    path = tmp_path / "pa.csv"
    path.write_text("Concurrency,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,"
                    "Server Compute Input,Server Compute Infer,Server Compute Output,Client Recv,"
                    "p50 latency,p90 latency,p95 latency,p99 latency,Avg GPU Utilization\n"
                    "1,523.4,40,300,20,30,1800,25,5,1900,2050,2100,2300,GPU-1a2b:0.93;\n")
    r = read_perf_analyzer(path, "m", "A100-SXM4-80GB", "full", 1).measurements[0]
    assert (r.latency_ms, r.throughput_rps) == (2.3, 523.4)


@pytest.mark.parametrize("text,match", [("a,b\n1,2\n", "missing column"),
                                        ("Concurrency,Inferences/Second,p50 latency,p90 latency,p99 latency\n",
                                         "no data rows"),
                                        ("Concurrency,Inferences/Second,p50 latency,p90 latency,p99 latency\n"
                                         "1,x,1,1,1\n", "line 2"),
                                        ("Concurrency,Inferences/Second,p50 latency,p90 latency,p99 latency\n"
                                         "1,5,1,1,\n", "missing value"),
                                        ("Concurrency,Inferences/Second,p50 latency,p90 latency,p99 latency\n"
                                         "1.5,5,1,1,1\n", "positive whole number, got 1.5")])
def test_perf_analyzer_errors(tmp_path, text, match):
    path = tmp_path / "pa.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=match):
        read_perf_analyzer(path, "m", "A100-SXM4-80GB", "full", 1)


def test_parvagpu_slices_map_to_each_gpu_types_smallest_memory_profile(tmp_path):
    """Compute slices -> the profile with the fewest memory slices, per GPU type (the A100 80GB gives the public
    files' profiles); a count the type lacks is an error naming the line, an unknown or MIG-less type the --gpu."""
    from majula_model.problem.importers.parvagpu import _COLUMNS, PARVAGPU_PROFILES, slice_profiles

    assert slice_profiles("A100-SXM4-80GB") == PARVAGPU_PROFILES
    assert slice_profiles("A100-SXM4-40GB") == {1: "1g.5gb", 2: "2g.10gb", 3: "3g.20gb", 4: "4g.20gb", 7: "7g.40gb"}
    assert slice_profiles("H100-NVL-94GB")[1] == "1g.12gb" and slice_profiles("A30-24GB") == {
        1: "1g.6gb", 2: "2g.12gb", 4: "4g.24gb"}
    d = tmp_path / "pv"
    d.mkdir()
    (d / "m.csv").write_text(",".join(_COLUMNS) + "\n1,1,1,100,0.01\n3,1,1,200,0.005\n")
    recs = read_parvagpu(d, gpu="A100-SXM4-40GB").measurements
    assert [(r.profile, r.gpu) for r in recs] == [("1g.5gb", "A100-SXM4-40GB"), ("3g.20gb", "A100-SXM4-40GB")]
    with pytest.raises(InputError) as e:
        read_parvagpu(d, gpu="A30-24GB")
    assert e.value.field == "line 3" and "no profile with 3 compute slices" in e.value.reason
    for gpu, why in (("NOPE", "unknown GPU type"), ("cpu", "no MIG profiles")):
        with pytest.raises(InputError) as e:
            read_parvagpu(d, gpu=gpu)
        assert e.value.field == "--gpu" and why in e.value.reason
