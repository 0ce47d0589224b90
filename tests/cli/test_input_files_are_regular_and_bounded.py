"""Issue 11, "Files a user can pass": a FIFO as a calibration path blocked forever and ``/dev/zero`` was read until
memory ran out. Every path the CLI reads (JSON through ``jsonfile.read_json``; the trace and importer CSVs through
``jsonfile.open_text``) must be a regular file of at most ``MAX_INPUT_BYTES``; the error names the file and why."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

import majula_model.jsonfile as jsonfile
from majula_model.cli import main
from majula_model.errors import InputError
from majula_model.jsonfile import read_json

from conftest import ROOT
from instance_files import BASE, _mutate, _write

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
DEFAULT = ROOT / "instances" / "default.json"


@pytest.fixture(autouse=True)
def never_hang():
    """A regression would block in open(): fail after 30 s instead of hanging the suite."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def boom(*_):
        raise TimeoutError("blocked reading a file")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(30)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@needs_fifo
def test_fifo_as_calibration_path_is_refused_naming_instance_and_field(capsys, tmp_path):
    os.mkfifo(tmp_path / "cal.json")
    inst = _write(tmp_path, {**BASE, "calibration": ["cal.json"]})
    code, _, err = cli(capsys, "validate", inst)
    assert code == 2
    assert f"{inst}: calibration[0]: calibration file {tmp_path / 'cal.json'}: is a FIFO" in err
    assert "only regular files" in err and "gap in majula" not in err


@needs_fifo
def test_fifo_as_instance_plan_catalog_trace_is_refused(capsys, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    code, _, err = cli(capsys, "validate", fifo)
    assert code == 2 and f"{fifo}: is a FIFO (named pipe), not a regular file" in err
    code, _, err = cli(capsys, "--catalog", fifo, "gpus")
    assert code == 2 and f"{fifo}: is a FIFO" in err
    code, _, err = cli(capsys, "simulate", DEFAULT, "--plan", fifo)
    assert code == 2 and f"{fifo}: is a FIFO" in err
    with pytest.raises(InputError, match="cannot read trace: is a FIFO"):
        from majula_model.simulator.arrivals import read_trace
        read_trace(fifo, {"m"})


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_dev_zero_is_refused_without_reading_it(capsys):
    code, _, err = cli(capsys, "validate", "/dev/zero")
    assert code == 2 and "/dev/zero: is a device, not a regular file" in err


def test_file_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    p = _write(tmp_path, BASE)
    monkeypatch.setattr(jsonfile, "MAX_INPUT_BYTES", 64)
    with pytest.raises(InputError) as e:
        read_json(p)
    assert e.value.file == str(p) and e.value.reason.startswith("too large:")
    assert jsonfile.MAX_INPUT_BYTES == 64 and "limit is 0 MiB" in e.value.reason  # the constant is what is applied


def test_size_limit_is_a_named_constant_of_256_mib():
    assert jsonfile.MAX_INPUT_BYTES == 256 * 2 ** 20


@needs_fifo
def test_importer_csvs_must_be_regular_files(capsys, tmp_path):
    fifo = tmp_path / "pa.csv"
    os.mkfifo(fifo)
    code, _, err = cli(capsys, "import", "perf-analyzer", fifo, "--model", "m", "--gpu", "A100-SXM4-80GB",
                       "--profile", "1g.10gb", "--batch", "1", "--out", tmp_path / "o.json")
    assert code == 2 and f"{fifo}: is a FIFO" in err
    folder = tmp_path / "pv"
    folder.mkdir()
    os.mkfifo(folder / "resnet.csv")
    code, _, err = cli(capsys, "import", "parvagpu", folder, "--out", tmp_path / "o.json")
    assert code == 2 and f"{folder / 'resnet.csv'}: is a FIFO" in err


def test_missing_trace_names_the_file(tmp_path):
    from majula_model.simulator.arrivals import read_trace

    with pytest.raises(InputError) as e:
        read_trace(tmp_path / "absent.csv", {"m"})
    assert e.value.file == str(tmp_path / "absent.csv") and e.value.reason == "cannot read trace: file not found"


def test_a_regular_file_still_reads(tmp_path):
    assert read_json(_write(tmp_path, _mutate("name", "ok")))["name"] == "ok"
    assert json.loads(jsonfile.open_text(_write(tmp_path, "[1]", "x.json")).read()) == [1]


@needs_fifo
@pytest.mark.parametrize("which", [0, 1])
def test_nvidia_smi_outputs_are_read_as_every_input(capsys, tmp_path, which):
    """``gpus --from-nvidia-smi LGIP LGIPP`` reads through the same checked reader: a FIFO is refused, not
    waited on."""
    paths = [tmp_path / "lgip.txt", tmp_path / "lgipp.txt"]
    paths[1 - which].write_text("")
    os.mkfifo(paths[which])
    code, _, err = cli(capsys, "gpus", "--from-nvidia-smi", *paths)
    assert code == 2 and f"{paths[which]}: is a FIFO" in err, err
