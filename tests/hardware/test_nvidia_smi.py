"""`majula gpus --from-nvidia-smi LGIP LGIPP` (issue 10): the driver's tables become a catalog entry.

Expected tables are read straight from the bundled ``gpus.json`` with the json module (not through the catalog
code), and geometries of the imported entry are checked against the brute force of ``reference.geometry_brute``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from majula_model import geometries
from majula_model.cli import main
from majula_model.errors import InputError
from majula_model.hardware.catalog import GpuType
from majula_model.hardware.nvidia_smi import import_nvidia_smi
from reference.geometry_brute import brute_force_multisets

FIX = Path(__file__).parent / "fixtures"
BUNDLED = {g["type"]: g for g in json.loads(
    (Path(__file__).parents[2] / "majula_model" / "hardware" / "gpus.json").read_text())["gpus"]}
CASES = [("a100-sxm4-40gb", "A100-SXM4-40GB", "A100-SXM4-40GB"),
         ("a100-sxm4-80gb", "A100-SXM4-80GB", None),
         ("h100-sxm5-80gb", "H100-SXM5-80GB", None),
         ("a30-24gb", "A30-24GB", "A30-24GB")]


def files(stem: str) -> tuple[str, str]:
    return str(FIX / f"{stem}.lgip.txt"), str(FIX / f"{stem}.lgipp.txt")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def table(profiles) -> dict:
    return {p["name"]: (p["compute_slices"], p["memory_slices"], p["memory_gb"], tuple(p["starts"]), p["max_count"],
                        p.get("media_extensions", False)) for p in profiles}


@pytest.mark.parametrize("stem, bundled, name", CASES)
def test_importer_reproduces_the_bundled_tables(capsys, stem, bundled, name):
    code, out, _ = run(capsys, "gpus", "--from-nvidia-smi", *files(stem), *(["--name", name] if name else []))
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == {"source", "gpus"} and len(doc["gpus"]) == 1
    got, want = doc["gpus"][0], BUNDLED[bundled]
    assert table(got["profiles"]) == table(want["profiles"])
    for key in ("compute_slices", "memory_slices", "memory_gb", "sms_per_compute_slice"):
        assert got[key] == want[key], key
    assert "sms" not in got and "fp32_tflops" not in got  # not in nvidia-smi's output: left for the datasheet


def test_name_from_nvidia_smi_list_lines_or_option(capsys):
    assert json.loads(run(capsys, "gpus", "--from-nvidia-smi", *files("a100-sxm4-80gb"))[1])["gpus"][0]["type"] \
        == "NVIDIA A100-SXM4-80GB"  # the -L line in the -lgip file
    code, out, err = run(capsys, "gpus", "--from-nvidia-smi", *files("h100-sxm5-80gb"))
    assert json.loads(out)["gpus"][0]["type"] == "NVIDIA H100 80GB HBM3"  # -L lines in the -lgipp file
    assert "GPUs 0, 1: GPU 0 was used" in err
    assert "same as catalog type H100-SXM5-80GB's" in err
    code, out, _ = run(capsys, "gpus", "--from-nvidia-smi", *files("h100-sxm5-80gb"), "--name", "H100-LAB")
    assert json.loads(out)["gpus"][0]["type"] == "H100-LAB"
    lgip, _ = files("a30-24gb")
    code, _, err = run(capsys, "gpus", "--from-nvidia-smi", *files("a30-24gb"))
    assert code == 2 and f"majula: error: {lgip}: name: neither file names GPU 0" in err


def test_imported_file_is_a_catalog_whose_geometries_match_brute_force(capsys, tmp_path):
    code, out, _ = run(capsys, "gpus", "--from-nvidia-smi", *files("a100-sxm4-80gb"), "--name", "LAB-A100")
    cat = tmp_path / "lab.json"
    cat.write_text(out)
    code, out, _ = run(capsys, "--catalog", str(cat), "gpus", "--json", "--gpu", "LAB-A100")
    assert code == 0
    entry = json.loads(out)["gpus"][0]
    got = {frozenset(Counter(g).items()) for g in entry["geometries"]}
    assert got == brute_force_multisets(GpuType.model_validate(BUNDLED["A100-SXM4-80GB"]))


def test_entry_under_a_bundled_name_is_refused_by_catalog(capsys, tmp_path):
    """The import is not the bundled entry (no spec figures, other provenance): same name, other figures."""
    code, out, _ = run(capsys, "gpus", "--from-nvidia-smi", *files("a30-24gb"), "--name", "A30-24GB")
    cat = tmp_path / "a30.json"
    cat.write_text(out)
    code, _, err = run(capsys, "--catalog", str(cat), "gpus")
    assert code == 2 and f"{cat}: gpus[0].type: GPU type 'A30-24GB' is already in the catalog" in err
    assert "sms, memory_bandwidth_gbps" in err  # the fields that differ are named


def test_variant_profiles_are_left_out_with_a_note(tmp_path):
    lgip, lgipp = (Path(p).read_text().splitlines() for p in files("a30-24gb"))
    row, ce = next((a, b) for a, b in zip(lgip, lgip[1:]) if "MIG 4g.24gb" in a)
    variant = row[:7] + "MIG 4g.24gb+gfx".ljust(18) + "35" + row[27:]
    (tmp_path / "a.txt").write_text("\n".join([*lgip, variant, ce, lgip[-1]]) + "\n")
    (tmp_path / "b.txt").write_text("\n".join([*lgipp, "GPU  0 Profile ID 35 Placement : {0}:4"]) + "\n")
    got = import_nvidia_smi(tmp_path / "a.txt", tmp_path / "b.txt", "X")
    assert "4g.24gb+gfx" not in {p.name for p in got.gpu.profiles} and len(got.gpu.profiles) == 5
    assert any("left out 4g.24gb+gfx" in n for n in got.notes)
    assert len(geometries(got.gpu)) == len(brute_force_multisets(got.gpu)) == 9


def _lines(stem: str, which: int) -> list[str]:
    return Path(files(stem)[which]).read_text().splitlines()


BAD = [  # (which file is broken, its new text, field, reason)
    (0, lambda t: t[:8] + [t[8][:30]], "line 9", "does not read as GPU, Name, ID"),
    (0, lambda t: t[:7], "table", "ends without its closing border (truncated?)"),
    (0, lambda t: [], "header", "not `nvidia-smi mig -lgip` output"),
    (0, lambda t: _lines("a100-sxm4-40gb", 1), "header", "not `nvidia-smi mig -lgip` output"),
    (0, lambda t: ["No MIG-enabled devices found."], None, "found no MIG-enabled GPU"),
    (0, lambda t: t[:5] + ["+" + "-" * 77 + "+"], "profiles", "no GPU instance profile rows"),
    (0, lambda t: [s.replace("MIG 3g.20gb", "MIG 3g.20xb") for s in t], "line 18", "profile name '3g.20xb'"),
    (0, lambda t: [s.replace("MIG 7g.40gb", "MIG 0g.40gb") for s in t], "line 24",
     "0g.40gb: compute_slices: Input should be greater than or equal to 1"),
    (1, lambda t: t[:-1], "placements", "no placements for profile ID 0 (7g.40gb) of GPU 0"),
    (1, lambda t: t[:-1] + [t[-1][:24]], "line 7", "not a placement line"),
    (1, lambda t: [], "placements", "no placement lines"),
    (1, lambda t: t + ["GPU  0 Profile ID 33 Placements: {0,1}:1"], "line 8", "profile ID 33 of GPU 0 has no row"),
    (1, lambda t: t + [t[0]], "line 8", "profile ID 19 of GPU 0 is listed twice"),
    (1, lambda t: [t[0].replace("{0,1,2", "{0,a,2")] + t[1:], "line 1", "start indices '{0,a,2,3,4,5,6}'"),
    (0, lambda t: [s.replace("MIG 1g.10gb ", "MIG 1g.5gb  ") for s in t], "line 12",
     "profile name '1g.5gb' is also on line 6"),
]


@pytest.mark.parametrize("which, edit, field, reason", BAD)
def test_bad_or_truncated_captures_exit_2_naming_file_and_field(capsys, tmp_path, which, edit, field, reason):
    texts = [_lines("a100-sxm4-40gb", 0), _lines("a100-sxm4-40gb", 1)]
    texts[which] = edit(texts[which])
    paths = [tmp_path / "lgip.txt", tmp_path / "lgipp.txt"]
    for p, t in zip(paths, texts):
        p.write_text("\n".join(t) + "\n")
    code, out, err = run(capsys, "gpus", "--from-nvidia-smi", *map(str, paths), "--name", "X")
    where = f"{paths[which]}: " + (f"{field}: " if field else "")
    assert code == 2 and out == "" and err.startswith(f"majula: error: {where}") and reason in err, err


def test_missing_file_and_options_that_would_be_ignored(capsys, tmp_path):
    code, _, err = run(capsys, "gpus", "--from-nvidia-smi", str(tmp_path / "none.txt"), files("a30-24gb")[1])
    assert code == 2 and f"{tmp_path / 'none.txt'}: file not found" in err
    code, _, err = run(capsys, "gpus", "--from-nvidia-smi", *files("a30-24gb"), "--name", "X", "--all")
    assert code == 2 and "--all: not used with --from-nvidia-smi" in err
    code, _, err = run(capsys, "gpus", "--name", "X")
    assert code == 2 and "--name: only used with --from-nvidia-smi" in err


def test_python_api_raises_input_error():
    with pytest.raises(InputError) as e:
        import_nvidia_smi(*reversed(files("a30-24gb")))
    assert e.value.field == "header"
