"""The plan as a picture (``outputs/plan_plot.py``): each GPU a bar of its slices, coloured by model, shared
slices striped; identical GPUs share a bar. Checked on a hand-made plan against the A100 80GB placement table
(NVIDIA MIG user guide: 4g.40gb and 3g.40gb take 4 memory slices, 2g.20gb 2, 1g.10gb 1, of 8)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from majula_model.hardware.catalog import default_catalog  # noqa: E402
from majula_model.outputs.plan_plot import (HATCH, draw_layout, layout_groups, model_colours,  # noqa: E402
                                            plot_plan)
from majula_model.schema import Plan  # noqa: E402


def _run(name, latency=20.0):
    return {"name": name, "batch": 2, "processes": 1, "latency_ms": latency, "rate_rps": 5.0, "capacity_rps": 9.0}


def _plan() -> Plan:
    mixed = [{"profile": "4g.40gb", "start": 0, "models": [_run("a")]},
             {"profile": "2g.20gb", "start": 4, "sharing": "time", "cycle_ms": 50.0,
              "models": [_run("b", 20.0), _run("c", 30.0)]},
             {"profile": "1g.10gb", "start": 6, "models": [_run("d")]}]
    whole = [{"profile": "full", "start": 0, "models": [_run("a")]}]
    gpus = [{"id": 0, "type": "A100-SXM4-80GB", "geometry": ["4g.40gb", "2g.20gb", "1g.10gb"], "instances": mixed}]
    gpus += [{"id": i, "type": "A100-SXM4-80GB", "geometry": ["full"], "instances": whole} for i in (1, 2)]
    return Plan.model_validate({
        "instance": "hand", "objective": {"kind": "min_gpus", "value": 3.0, "bound": 3.0}, "status": "optimal",
        "gap": 0.0, "solver": "hand", "solve_seconds": 0.0, "gpus": gpus,
        "models": [{"name": n, "demand_rps": 5.0, "served_rps": 5.0, "capacity_rps": 9.0} for n in "abcd"]})


def test_identical_gpus_share_a_bar():
    groups = layout_groups(_plan())
    assert [ids for _, ids in groups] == [[0], [1, 2]]


def test_boxes_sit_on_their_memory_slices_coloured_and_striped():
    plan = _plan()
    colours = model_colours(["a", "b", "c", "d"])
    fig, ax = plt.subplots()
    try:
        assert draw_layout(ax, plan, default_catalog(), colours) == 0
        filled = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_fill()]
        # (x, width, model colour) of every filled box: GPU 0 on top (row 1), the two whole GPUs below (row 0)
        got = sorted((p.get_x(), p.get_width(), p.get_facecolor()[:3], p.get_hatch()) for p in filled)
        rgb = {n: tuple(float(v) for v in matplotlib.colors.to_rgb(c)) for n, c in colours.items()}
        want = sorted([(0, 8, rgb["a"], None),  # the full GPUs' bar
                       (0, 4, rgb["a"], None), (4, 2, rgb["b"], HATCH["time"]), (4, 2, rgb["c"], HATCH["time"]),
                       (6, 1, rgb["d"], None)])
        assert [(x, w, tuple(round(v, 6) for v in c), h) for x, w, c, h in got] == \
               [(x, w, tuple(round(v, 6) for v in c), h) for x, w, c, h in want]
        stripes = [p for p in filled if p.get_hatch()]
        assert len({p.get_y() for p in stripes}) == 2  # the shared slice is split into one stripe per model
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert labels[0].startswith("2 GPUs (1..2)") and labels[1].startswith("GPU 0")  # bottom to top
        assert ax.get_xlim() == (0.0, 8.0)
    finally:
        plt.close(fig)


def test_too_many_layouts_are_counted_not_drawn():
    plan = _plan()
    fig, ax = plt.subplots()
    try:
        assert draw_layout(ax, plan, default_catalog(), max_bars=1) == 1
        assert len(ax.get_yticklabels()) == 1
    finally:
        plt.close(fig)


def test_solve_plot_still_writes_its_figure(tmp_path):
    path = tmp_path / "plan.png"
    plot_plan(_plan(), str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
