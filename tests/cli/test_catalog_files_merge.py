"""Finding B1 (issue 10): `--catalog a.json --catalog b.json` kept only the last file. The files now merge, in
order; a GPU type given in two files is an error naming both."""

from __future__ import annotations

import json

from majula_model.cli import load_catalogs, main


def _gpu(name: str, alias: str | None = None) -> dict:
    return {"type": name, "aliases": [alias] if alias else [], "compute_slices": 1, "memory_slices": 1,
            "memory_gb": 16, "sms_per_compute_slice": 16, "profiles": [{"name": "1g.16gb", "compute_slices": 1, "memory_slices": 1,
                                           "memory_gb": 16, "starts": [0], "max_count": 1}]}


def _catalog(tmp_path, name: str, *gpus: dict):
    p = tmp_path / name
    p.write_text(json.dumps({"gpus": list(gpus)}))
    return str(p)


def test_two_catalog_files_both_count(capsys, tmp_path):
    a = _catalog(tmp_path, "a.json", _gpu("X1-16GB"))
    b = _catalog(tmp_path, "b.json", _gpu("X2-16GB"))
    assert main(["--catalog", a, "--catalog", b, "gpus", "--json"]) == 0
    types = [g["type"] for g in json.loads(capsys.readouterr().out)["gpus"]]
    assert "X1-16GB" in types and "X2-16GB" in types and "A100-SXM4-80GB" in types
    cat = load_catalogs([a, b])
    assert cat.get("X1-16GB").type == "X1-16GB" and cat.get("X2-16GB").type == "X2-16GB"


def test_a_type_in_two_files_names_both(capsys, tmp_path):
    a = _catalog(tmp_path, "a.json", _gpu("X1-16GB"))
    b = _catalog(tmp_path, "b.json", _gpu("X2-16GB"), _gpu("x1-16gb"))
    assert main(["--catalog", a, "--catalog", b, "gpus"]) == 2
    err = capsys.readouterr().err
    assert f"{b}: gpus[1]: GPU type 'X1-16GB' is already defined in {a}" in err and "Traceback" not in err


def test_an_alias_naming_a_type_of_an_earlier_file_names_both(capsys, tmp_path):
    a = _catalog(tmp_path, "a.json", _gpu("X1-16GB"))
    b = _catalog(tmp_path, "b.json", _gpu("X2-16GB", alias="X1-16GB"))
    assert main(["--catalog", a, "--catalog", b, "gpus"]) == 2
    err = capsys.readouterr().err
    assert b in err and a in err and "X1-16GB" in err


def test_one_catalog_file_still_cannot_replace_a_builtin_type(capsys, tmp_path):
    a = _catalog(tmp_path, "a.json", _gpu("A30-24GB"))
    assert main(["--catalog", a, "gpus"]) == 2
    err = capsys.readouterr().err
    assert f"{a}: gpus" in err and "GPU type 'A30-24GB' is already in the catalog" in err
