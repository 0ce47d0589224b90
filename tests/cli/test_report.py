"""Issue 13, item 2: ``majula report INSTANCE --out DIR`` writes ``DIR/index.html`` and its PNG figures.

Checked: every PNG is a valid image (its header read here, not by matplotlib) of the size the page states and of
the size its figure was made at; the page links only files that exist next to it and loads nothing from
elsewhere; every figure has its explanation; the command refuses an ``--out`` that is a file or an input (before
writing anything) and leaves no temporary file; it works on every bundled instance (with short simulations);
and a headless Chromium, where installed, renders the page to a non-blank screenshot.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from majula_model.cli import main
from majula_model.cli import report as report_cli
from majula_model.compare import OBJECTIVES, compare, demand_sweep
from majula_model.outputs.report import STATIC_FIGURES, write_report
from majula_model.problem.loading import load_instance

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = sorted((ROOT / "instances").glob("*.json"))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIXED_WIDTHS = {"plan.png": 1000, "strategies.png": 1000, "sweep.png": 1000}
"""Figures whose width does not depend on the instance: figsize 10 in at 100 dpi (report_figures)."""


def _rec(model, profile, batch, latency, processes=1):
    return {"model": model, "gpu": "A100-SXM4-80GB", "profile": profile, "batch": batch, "latency_ms": latency,
            "processes": processes}


def _instance(**policy) -> dict:
    """Four light models on 4 A100s, measured on 1g, 3g and full (batch 1, 4 and 8): small enough to solve in
    a blink, with enough records per profile to fit and draw a curve."""
    recs, models = [], []
    for k in range(4):
        m, base = f"m{k}", 4.0 + 2 * k
        models.append({"name": m, "slo_ms": 200.0, "demand_rps": 20.0 + 10 * k})
        for prof, speed in (("1g.10gb", 6.0), ("3g.40gb", 2.4), ("full", 1.0)):
            for batch in (1, 4, 8):
                recs.append(_rec(m, prof, batch, base * speed * (1 + batch / 6)))
    return {"name": "tiny", "gpus": [{"type": "A100-SXM4-80GB", "count": 4, "cost": 1.0}], "models": models,
            "measurements": recs, "policy": {"arrivals": "poisson", "max_models_per_instance": 3, **policy},
            "objective": "min_gpus"}


class _Page(HTMLParser):
    """Every image (src, width, height), link target and external resource tag of a page."""

    def __init__(self):
        super().__init__()
        self.images: list[dict] = []
        self.links: list[str] = []
        self.external: list[str] = []
        self.captions = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a)
        elif tag == "a" and "href" in a:
            self.links.append(a["href"])
        elif tag in ("script", "link", "iframe", "object", "embed") or (tag == "source" and "src" in a):
            self.external.append(tag)
        elif tag == "figcaption":
            self.captions += 1


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk (PNG specification: the 8-byte signature, then IHDR with width and
    height as big-endian 32-bit integers); AssertionError if the file is not a PNG."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE, f"{path.name}: not a PNG"
    assert head[12:16] == b"IHDR", f"{path.name}: no IHDR chunk first"
    return struct.unpack(">II", head[16:24])


def _check_report(out: Path, models: list[str]) -> _Page:
    """The page and its figures agree, and every one of ``models`` has its latency-curve figure: returns the
    parsed page."""
    page = _Page()
    page.feed((out / "index.html").read_text(encoding="utf-8"))
    assert page.external == []  # readable offline: no script, stylesheet or frame from anywhere
    files = {p.name for p in out.iterdir()}
    assert not [f for f in files if ".tmp" in f]  # atomic writes left nothing behind
    linked = [img["src"] for img in page.images] + [h for h in page.links if not h.startswith("#")]
    for target in linked:
        assert "/" not in target and ":" not in target, target  # a file of the same directory
        assert target in files, target
    pngs = sorted(f for f in files if f.endswith(".png"))
    assert sorted(img["src"] for img in page.images) == pngs  # every figure is on the page, once
    assert page.captions == len(page.images)  # each with its explanation
    for img in page.images:
        w, h = png_size(out / img["src"])
        assert (w, h) == (int(img["width"]), int(img["height"])), img["src"]
        assert 300 <= w <= 2400 and 150 <= h <= 4000, (img["src"], w, h)
        if img["src"] in FIXED_WIDTHS:
            assert w == FIXED_WIDTHS[img["src"]], img["src"]
    assert {f"curves-{m}.png" for m in models} <= set(pngs)
    return page


def test_report_on_a_small_instance(tmp_path, capsys):
    path = tmp_path / "tiny.json"
    doc = _instance()
    path.write_text(json.dumps(doc))
    out = tmp_path / "rep"
    assert main(["report", str(path), "--out", str(out), "--factors", "1,2", "--sim-seconds", "1"]) == 0
    assert "wrote" in capsys.readouterr().out
    page = _check_report(out, [m["name"] for m in doc["models"]])
    srcs = {img["src"] for img in page.images}
    assert set(STATIC_FIGURES) <= srcs
    assert {f"curves-{m['name']}.png" for m in doc["models"]} <= srcs
    text = (out / "index.html").read_text()
    for words in ("measured", "predicted", "simulated", "slo/2", "Which way of sharing wins", "mig_shared"):
        assert words in text, words
    assert "analytic-prior" not in text  # these records are not prior predictions: the page must not say so
    # a second run, on an instance with fewer models, replaces the report: no stale figure is left
    doc["models"] = doc["models"][:2]
    path.write_text(json.dumps(doc))
    assert main(["report", str(path), "--out", str(out), "--factors", "1", "--sim-seconds", "0.5"]) == 0
    _check_report(out, [m["name"] for m in doc["models"]])
    assert not (out / "curves-m3.png").exists()
    assert json.loads((out / ".majula-output").read_text())["files"] == sorted(
        p.name for p in out.iterdir() if p.name != ".majula-output")


def test_out_that_is_a_file_or_an_input_is_refused(tmp_path, capsys):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(_instance()))
    plain = tmp_path / "plain.txt"
    plain.write_text("keep me")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    for out, words in ((plain, "not a directory"), (path, "input"), (foreign, "not written by majula")):
        assert main(["report", str(path), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "--out" in err and words in err, err
    assert plain.read_text() == "keep me" and sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    # an input inside the directory under a name the report writes
    inside = tmp_path / "dir"
    inside.mkdir()
    trap = inside / "index.html"
    trap.write_text(json.dumps(_instance()))
    assert main(["report", str(trap), "--out", str(inside)]) == 2
    assert "input" in capsys.readouterr().err
    assert sorted(p.name for p in inside.iterdir()) == ["index.html"]  # refused before any figure was written
    # a directory under a file
    assert main(["report", str(path), "--out", str(plain / "sub")]) == 2
    assert "--out" in capsys.readouterr().err


def test_a_report_without_any_plan_says_why(tmp_path):
    doc = _instance()
    doc["models"][0]["slo_ms"] = 1.0  # below every record of m0: no strategy can serve it
    path = tmp_path / "none.json"
    path.write_text(json.dumps(doc))
    out = tmp_path / "rep"
    assert main(["report", str(path), "--out", str(out), "--factors", "1", "--sim-seconds", "0.5"]) == 0
    page = _check_report(out, [m["name"] for m in doc["models"]])
    assert {"strategies.png", "sweep.png"} <= {img["src"] for img in page.images}
    assert not (out / "plan.png").exists()
    text = (out / "index.html").read_text()
    assert "No strategy found a plan" in text and "cannot meet its SLO" in text


@pytest.mark.parametrize("extra", [["--factors", "0"], ["--factors", "x"], ["--sim-seconds", "0"],
                                   ["--time-limit", "-1"], ["--objective", "max_scale"]])
def test_bad_flags_exit_2(tmp_path, capsys, extra):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(_instance()))
    try:
        code = main(["report", str(path), "--out", str(tmp_path / "r"), *extra])
    except SystemExit as e:
        code = e.code
    assert code == 2
    assert not (tmp_path / "r").exists()


def test_cli_objectives_are_the_librarys():
    assert report_cli.OBJECTIVES == OBJECTIVES


def test_every_bundled_instance(tmp_path):
    """The report of each bundled instance, kept quick: three strategies (a baseline, a MIG baseline and the MIG
    ILP: no pattern generation), short simulations, one demand factor swept by the greedy baseline, a time
    limit and no second (SLO/2) planning (the small instance above covers those)."""
    assert len(BUNDLED) >= 4
    for path in BUNDLED:
        problem = load_instance(path)
        objective = problem.instance.objective if problem.instance.objective in OBJECTIVES else "min_gpus"
        comp = compare(problem, objective, time_limit=5, sim_seconds=0.02, peer_rule=False,
                       strategies=("exclusive", "mig_greedy", "mig"))
        sweep = demand_sweep(problem, [1.0], ("mig_greedy",), time_limit=5)
        out = tmp_path / path.stem
        written = write_report(out, problem, comp, sweep, inputs=[str(path)], notes=["a note"], how="test")
        assert written[-1] == out / "index.html"
        page = _check_report(out, [m.name for m in problem.instance.models])
        assert {img["src"] for img in page.images} >= {"plan.png", "strategies.png", "sweep.png"}, path.name
        assert "analytic-prior predictions, not measurements" in (out / "index.html").read_text()


def _browser() -> str | None:
    return next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


@pytest.mark.skipif(_browser() is None, reason="no Chromium installed")
def test_chromium_renders_the_page(tmp_path):
    from matplotlib import image

    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(_instance()))
    out = tmp_path / "rep"
    assert main(["report", str(path), "--out", str(out), "--factors", "1", "--sim-seconds", "0.5"]) == 0
    shot = tmp_path / "shot.png"
    cmd = [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--screenshot={shot}", "--window-size=1280,2400", (out / "index.html").as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False, cwd=tmp_path)
    assert png_size(shot) == (1280, 2400)
    pixels = image.imread(str(shot))[..., :3]
    assert pixels.std() > 0.05  # not a blank page
    assert (pixels.mean(axis=2) < 0.5).mean() > 0.005  # some dark text and figure ink


def test_compare_and_report_on_an_instance_built_from_the_shared_data(tmp_path, capsys, parvagpu_dir):
    """Issue 13's done-when: both commands on an instance whose calibration is imported from the public ParvaGPU
    measurements (read at run time from ../shared/data, never copied), with time sharing allowed."""
    cal = tmp_path / "parva.json"
    assert main(["import", "parvagpu", str(parvagpu_dir), "--out", str(cal)]) == 0
    models = [("resnet50", 100, 800), ("bert", 150, 200), ("mobilenetv2", 80, 40), ("densenet121", 100, 20)]
    inst = {"name": "parva", "gpus": [{"type": "A100-SXM4-80GB", "count": 8}], "calibration": [str(cal)],
            "models": [{"name": m, "slo_ms": s, "demand_rps": d} for m, s, d in models], "objective": "min_gpus",
            "policy": {"arrivals": "poisson", "max_processes": 3, "max_models_per_instance": 3,
                       "sharing_modes": ["time"]}}
    path = tmp_path / "parva-inst.json"
    path.write_text(json.dumps(inst))
    capsys.readouterr()
    assert main(["compare", str(path), "--json", "--time-limit", "10"]) == 0
    got = {s["name"]: s for s in json.loads(capsys.readouterr().out)["strategies"]}
    assert got["mig_shared"]["available"] and got["mig_shared"]["gpus"] <= got["mig"]["gpus"]
    out = tmp_path / "report"
    assert main(["report", str(path), "--out", str(out), "--factors", "1,2", "--time-limit", "10",
                 "--sim-seconds", "1"]) == 0
    _check_report(out, [m for m, _, _ in models])


def test_latency_curve_files_are_distinct_even_when_the_fallback_collides():
    """Models '2-a_', 'a/', 'a_': 'a/' and 'a_' share a safe name, and the fallback for the third ('curves-2-a_')
    is the first one's own name; every model still gets its own file (found in review)."""
    from types import SimpleNamespace

    from majula_model.outputs.report import curve_files

    names = ["2-a_", "a/", "a_"]
    problem = SimpleNamespace(instance=SimpleNamespace(models=[SimpleNamespace(name=n) for n in names]))
    files = curve_files(problem)
    assert set(files) == set(names) and len(set(files.values())) == 3
