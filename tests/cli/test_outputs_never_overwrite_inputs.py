"""Issue 11, "Files a user can pass": ``solve X --mig-parted X`` overwrote the instance. An output path must never
be an input of the same command, and outputs are written atomically (``outputs.files.write_output``)."""

from __future__ import annotations

import os
import stat

import pytest

from majula_model.cli import main
from majula_model.errors import InputError
from majula_model.outputs.files import check_output, problem_inputs, write_output, write_output_with
from majula_model.problem.importers import write_perf_analyzer_csv

from conftest import ROOT, needs_matplotlib
from instance_files import BASE, _write

DEFAULT = ROOT / "instances" / "default.json"


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_output_equal_to_an_input_is_refused_and_the_input_kept(tmp_path):
    inst = _write(tmp_path, BASE)
    before = inst.read_bytes()
    with pytest.raises(InputError) as e:  # what `solve X --mig-parted X` does through this helper
        write_output(inst, "yaml: 1\n", "--mig-parted", [inst])
    assert e.value.field == "--mig-parted" and "is also an input of this command" in e.value.reason
    assert inst.read_bytes() == before


def test_another_name_for_an_input_is_refused(tmp_path):
    inst = _write(tmp_path, BASE)
    os.symlink(inst, tmp_path / "link.json")
    os.link(inst, tmp_path / "hard.json")
    (tmp_path / "sub").mkdir()
    for alias in (tmp_path / "link.json", tmp_path / "hard.json", tmp_path / "sub" / ".." / "inst.json"):
        with pytest.raises(InputError, match="is also an input"):
            check_output(alias, "--out", [inst])


def test_calibration_files_of_the_instance_are_inputs(tmp_path):
    from majula_model.problem.loading import load_instance

    cal = _write(tmp_path, {"measurements": BASE["measurements"]}, "cal.json")
    inst = _write(tmp_path, {**{k: v for k, v in BASE.items() if k != "measurements"}, "calibration": ["cal.json"]})
    inputs = problem_inputs(load_instance(inst), ["cat.json"])
    assert {str(inst), str(cal), "cat.json"} <= {str(p) for p in inputs}
    with pytest.raises(InputError, match="is also an input"):
        write_output(cal, "x", "--mig-parted", inputs)


def test_import_out_equal_to_its_csv_is_refused(capsys, tmp_path):
    csv = tmp_path / "pa.csv"
    write_perf_analyzer_csv([{"Concurrency": 1, "Inferences/Second": 100.0, "p50 latency": 9000.0,
                              "p90 latency": 9500.0, "p95 latency": 9800.0, "p99 latency": 10000.0}], csv)
    before = csv.read_bytes()
    code, _, err = cli(capsys, "import", "perf-analyzer", csv, "--model", "m", "--gpu", "A100-SXM4-80GB",
                       "--profile", "1g.10gb", "--batch", "1", "--out", csv)
    assert code == 2 and f"{csv}: --out: is also an input of this command" in err
    assert csv.read_bytes() == before
    code, _, err = cli(capsys, "import", "parvagpu", tmp_path, "--out", csv)
    assert code == 2 and "is also an input" in err and csv.read_bytes() == before


@needs_matplotlib
def test_simulate_plot_over_the_instance_is_refused_before_simulating(capsys, tmp_path):
    from majula_model import load_instance, solve

    plan = tmp_path / "plan.json"
    plan.write_text(solve(load_instance(DEFAULT), "min_gpus").model_dump_json())
    before = plan.read_bytes()
    code, _, err = cli(capsys, "simulate", DEFAULT, "--plan", plan, "--duration", "1", "--plot", plan)
    assert code == 2 and f"{plan}: --plot: is also an input of this command" in err
    assert plan.read_bytes() == before
    png = tmp_path / "cdf.png"
    code, _, err = cli(capsys, "simulate", DEFAULT, "--plan", plan, "--duration", "1", "--plot", png)
    assert code == 0, err
    assert png.read_bytes()[:4] == b"\x89PNG" and [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []


def test_write_is_atomic_a_failed_writer_leaves_the_old_file(tmp_path):
    out = tmp_path / "out.yaml"
    out.write_text("old\n")

    def half(path):
        path.write_text("ha")
        raise OSError(28, "No space left on device")

    with pytest.raises(InputError, match="cannot write: No space left on device"):
        write_output_with(out, "--mig-parted", [], half)
    assert out.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["out.yaml"]


def test_write_keeps_the_mode_and_creates_the_file(tmp_path):
    out = tmp_path / "out.yaml"
    out.write_text("old\n")
    os.chmod(out, 0o640)
    write_output(out, "new\n", "--mig-parted")
    assert out.read_text() == "new\n" and stat.S_IMODE(out.stat().st_mode) == 0o640
    fresh = tmp_path / "deeper" / "fresh.yaml"
    write_output(fresh, "x\n", "--mig-parted")
    assert fresh.read_text() == "x\n"


def test_directory_as_output_is_refused(tmp_path):
    with pytest.raises(InputError) as e:
        write_output(tmp_path, "x", "--mig-parted")
    assert e.value.field == "--mig-parted" and "is a directory" in e.value.reason
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="is not a directory"):
        check_output(tmp_path / "file" / "out.yaml", "--out")


def test_write_through_a_symbolic_link_replaces_its_target(tmp_path):
    target = tmp_path / "real.yaml"
    target.write_text("old\n")
    os.symlink(target, tmp_path / "link.yaml")
    write_output(tmp_path / "link.yaml", "new\n", "--mig-parted")
    assert (tmp_path / "link.yaml").is_symlink() and target.read_text() == "new\n"


def test_solve_mig_parted_over_the_instance_is_refused_and_the_instance_kept(tmp_path, capsys):
    import shutil

    from conftest import ROOT
    from majula_model.cli import main

    inst = tmp_path / "default.json"
    shutil.copy(ROOT / "instances" / "default.json", inst)
    text = inst.read_text().replace("../calibration/", str(ROOT / "calibration") + "/")
    inst.write_text(text)
    assert main(["solve", str(inst), "--mig-parted", str(inst)]) == 2
    assert "--mig-parted" in capsys.readouterr().err and inst.read_text() == text
    out = tmp_path / "mp.yaml"
    assert main(["solve", str(inst), "--mig-parted", str(out)]) == 0 and out.read_text().startswith("# mig-parted")
