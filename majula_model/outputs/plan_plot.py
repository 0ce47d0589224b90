"""A plan as pictures: per model, demand, served rate and capacity (``majula solve --plot FILE``), and the GPUs
themselves, each a bar of its slices coloured by model, shared slices striped (``majula report``).

Matplotlib with the Agg backend (no display), imported inside the functions: ``plot`` is an optional extra.
The ``draw_*`` functions draw on an axes a caller owns (a report lays figures out itself); ``plot_*`` write one
figure to a file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InputError, require
from ..schema import Plan, PlanGpu

if TYPE_CHECKING:
    from ..hardware.catalog import Catalog

MAX_LAYOUT_BARS = 24
"""Distinct GPU layouts drawn at most; identical GPUs share one bar (``x N``), and the rest is said in words."""

HATCH = {"time": "//", "mps": "xx"}
"""Hatch of a shared instance, by sharing mode: the stripes say "these models share this slice"."""


def _pyplot():
    require("matplotlib", "plot", "--plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def model_colours(names: list[str]) -> dict[str, tuple]:
    """One colour per model, stable across a report's figures (the order of ``names``; tab10, then tab20b/c)."""
    from matplotlib import colormaps

    palette = list(colormaps["tab10"].colors) + list(colormaps["tab20b"].colors) + list(colormaps["tab20c"].colors)
    return {n: palette[i % len(palette)] for i, n in enumerate(names)}


def draw_demand(ax, plan: Plan) -> None:
    """Grouped bars per model: demand, served rate and capacity of the plan (requests/s)."""
    import numpy as np

    names = [m.name for m in plan.models]
    x = np.arange(len(names))
    for i, (label, vals) in enumerate((("demand", [m.demand_rps for m in plan.models]),
                                       ("served", [m.served_rps for m in plan.models]),
                                       ("capacity", [m.capacity_rps for m in plan.models]))):
        ax.bar(x + (i - 1) * 0.27, vals, 0.27, label=label)
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("requests/s")
    ax.legend()


def plot_plan(plan: Plan, path: str) -> None:
    """Grouped bars per model; the file type follows the extension (matplotlib, no display needed)."""
    plt = _pyplot()
    names = [m.name for m in plan.models]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.8 * len(names) + 2), 4))
    draw_demand(ax, plan)
    ax.set_title(f"{plan.instance}: {plan.objective.kind}, {len(plan.gpus)} GPUs, {plan.status}")
    fig.tight_layout()
    try:
        fig.savefig(path)
    except (OSError, ValueError) as e:
        raise InputError(f"cannot write plot: {e}", file=path, field="--plot") from None
    finally:
        plt.close(fig)


def _signature(g: PlanGpu) -> tuple:
    """What makes two GPUs draw the same: type and every instance (profile, start, sharing, models, batches)."""
    return (g.type, tuple((i.profile, i.start, i.sharing, tuple((m.name, m.batch, m.processes) for m in i.models))
                          for i in g.instances))


def layout_groups(plan: Plan) -> list[tuple[PlanGpu, list[int]]]:
    """Identical GPUs of the plan together, in plan order: (one of them, the ids of all of them)."""
    groups: dict[tuple, tuple[PlanGpu, list[int]]] = {}
    for g in plan.gpus:
        groups.setdefault(_signature(g), (g, []))[1].append(g.id)
    return list(groups.values())


def _ids(ids: list[int]) -> str:
    return f"GPU {ids[0]}" if len(ids) == 1 else f"{len(ids)} GPUs ({ids[0]}..{ids[-1]})" if \
        ids == list(range(ids[0], ids[-1] + 1)) else f"{len(ids)} GPUs"


def draw_layout(ax, plan: Plan, catalog: "Catalog", colours: dict[str, tuple] | None = None,
                max_bars: int = MAX_LAYOUT_BARS) -> int:
    """Each distinct GPU of the plan as a horizontal bar over its memory slices (where MIG places instances):
    every instance a box from its start, coloured by its model; a shared instance split into one stripe per
    model, hatched by mode (``HATCH``). Returns how many distinct layouts were left out (beyond ``max_bars``)."""
    from matplotlib.patches import Patch, Rectangle

    from ..hardware.catalog import FULL

    names = [m.name for m in plan.models]
    colours = colours or model_colours(names)
    groups = layout_groups(plan)
    shown, left_out = groups[:max_bars], max(0, len(groups) - max_bars)
    width = 1
    for row, (g, ids) in enumerate(shown):
        gpu = catalog.get(g.type)
        slices = gpu.memory_slices
        width = max(width, slices)
        y = len(shown) - 1 - row
        for inst in g.instances:
            x0, w = (0, slices) if inst.profile == FULL else (inst.start, gpu.profile(inst.profile).memory_slices)
            k = len(inst.models)
            for j, m in enumerate(inst.models):
                h = 0.8 / k
                ax.add_patch(Rectangle((x0, y - 0.4 + j * h), w, h, facecolor=colours.get(m.name, "grey"),
                                       edgecolor="white" if k == 1 else "black", linewidth=0.6,
                                       hatch=HATCH.get(inst.sharing) if k > 1 else None))
            ax.add_patch(Rectangle((x0, y - 0.4), w, 0.8, fill=False, edgecolor="black", linewidth=1.0))
            label = inst.profile.split(".")[0]
            if k == 1 and w >= 2:
                label += f"\n{inst.models[0].name}"
            elif k > 1:
                label += f"\n{inst.sharing} x{k}"
            ax.text(x0 + w / 2, y, label, ha="center", va="center", fontsize=7,
                    bbox={"facecolor": "white", "alpha": 0.7, "pad": 1, "linewidth": 0})
    ax.set_xlim(0, width)
    ax.set_ylim(-0.6, len(shown) - 0.4)
    ax.set_yticks(range(len(shown)), [f"{_ids(ids)}\n{g.type}" for g, ids in reversed(shown)], fontsize=7)
    ax.set_xticks(range(width + 1))
    ax.set_xlabel("memory slices (an instance starts at its placement index)")
    handles = [Patch(facecolor=colours[n], label=n) for n in names if n in colours]
    handles += [Patch(facecolor="white", edgecolor="black", hatch=h, label=f"shared: {mode}")
                for mode, h in HATCH.items() if any(i.sharing == mode for g in plan.gpus for i in g.instances)]
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return left_out


def layout_height(plan: Plan, max_bars: int = MAX_LAYOUT_BARS) -> float:
    """Figure height (inches) that gives every drawn bar room for its labels."""
    return 1.2 + 0.55 * min(len(layout_groups(plan)), max_bars)


def plot_layout(plan: Plan, catalog: "Catalog", path: str, title: str | None = None) -> None:
    """``draw_layout`` as one figure written to ``path`` (the format follows the suffix)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, layout_height(plan)))
    left_out = draw_layout(ax, plan, catalog)
    ax.set_title(title or f"{plan.instance}: {len(plan.gpus)} GPUs" +
                 (f" ({left_out} more distinct layouts not drawn)" if left_out else ""), fontsize=9)
    fig.tight_layout()
    try:
        fig.savefig(path)
    finally:
        plt.close(fig)
