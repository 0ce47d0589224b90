"""The figures of ``majula report``: one function per figure, each drawing plain results into a matplotlib figure.

Why figures of a fixed size: every function returns a ``Figure`` whose pixel size is ``figsize x DPI`` exactly
(``tight_layout``, never ``bbox_inches="tight"``), so the report's HTML can state each image's width and height
and a test can check the PNG against them. Nothing here writes a file: ``report.py`` saves each figure
atomically. Matplotlib (the ``plot`` extra) runs with the Agg backend; no display is needed.

What is measured and what is predicted, figure by figure, is said in ``report.py``'s captions.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .plan_plot import draw_demand, draw_layout, layout_height, model_colours

if TYPE_CHECKING:
    from ..compare import Comparison, DemandSweep, StrategyResult
    from ..problem.problem import Problem
    from ..schema import Plan

DPI = 100
PERCENTILES = (50.0, 99.0, 99.9)
"""Simulated latency percentiles drawn against the SLO."""
SWEEP_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*")
SWEEP_LINES = ("-", "--", "-.", ":")
"""Strategies often need the same GPUs: distinct markers and dashes keep every line visible where they overlap."""


@dataclass
class Drawn:
    """A figure ready to save, with its size in pixels (``figsize x DPI``)."""

    figure: Any
    width: int
    height: int


def pyplot():
    """matplotlib.pyplot on the Agg backend, or the ``plot``-extra error."""
    from ..errors import require

    require("matplotlib", "plot", "majula report")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _new(width_in: float, height_in: float, **kw):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(width_in, height_in), dpi=DPI, **kw)
    return fig, ax


def _done(fig) -> Drawn:
    fig.tight_layout()
    w, h = fig.get_size_inches()
    return Drawn(fig, int(round(w * DPI)), int(round(h * DPI)))


def _plain():
    """Tick labels as plain numbers (1, 8, 64; 20, 100) rather than powers (2^3, 10^2)."""
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: f"{v:g}")


def _integers():
    """Ticks at whole numbers only: GPUs come whole."""
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _none():
    from matplotlib.ticker import NullFormatter

    return NullFormatter()


def _decades(ax) -> float:
    lo, hi = ax.get_ylim()
    return float(np.log10(hi / lo)) if lo > 0 and hi > lo else 0.0


def gpus_words(n: int) -> str:
    return f"{n} GPU" + ("" if n == 1 else "s")


def close(drawn: Drawn) -> None:
    pyplot().close(drawn.figure)


# --- the plan ---------------------------------------------------------------------------------------------------

def plan_layout(plan: "Plan", problem: "Problem", title: str) -> Drawn:
    """Each distinct GPU of ``plan`` a bar of its slices, coloured by model, shared slices hatched."""
    colours = model_colours([m.name for m in problem.instance.models])
    fig, ax = _new(10, max(2.4, layout_height(plan)))
    left_out = draw_layout(ax, plan, problem.catalog, colours)
    ax.set_title(title + (f"; {left_out} more distinct GPU layouts not drawn" if left_out else ""), fontsize=9)
    return _done(fig)


def demand_capacity(plan: "Plan", title: str) -> Drawn:
    """Per model: demand (input), served rate (the plan's routing) and capacity (the plan's instances)."""
    fig, ax = _new(max(7.0, 1.0 * len(plan.models) + 2.5), 4.4)
    draw_demand(ax, plan)
    ax.set_yscale("log")  # demands differ by orders of magnitude: a linear axis hides the small models
    for bars in ax.containers:
        ax.bar_label(bars, [f"{v:,.0f}" if v >= 10 else f"{v:.2g}" for v in bars.datavalues], fontsize=6,
                     rotation=90, padding=2)
    ax.margins(y=0.25)
    ax.set_ylabel("requests/s (log scale)")
    ax.set_title(title, fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    return _done(fig)


# --- latency curves ---------------------------------------------------------------------------------------------

def curve_panels(problem: "Problem", model: str) -> list[tuple[str, list[tuple[str, list]]]]:
    """Per pool GPU type with solo records of ``model``: (type, [(profile, records at one process count)]),
    profiles smallest first. The process count is 1 where measured, else the smallest measured for the profile:
    one curve per profile keeps a figure readable (``majula fit --plot`` draws every process count)."""
    from ..perf.curves import profile_sms
    from ..perf.fit_report import groups

    pool = [problem.catalog.get(g.type).type for g in problem.instance.gpus]
    found = {gpu: recs for (m, gpu), recs in groups(list(problem.measurements), problem.catalog).items()
             if m == model and gpu in pool}
    out = []
    for gpu_name in pool:
        recs = found.get(gpu_name)
        if not recs:
            continue
        gpu = problem.catalog.gpus[gpu_name]
        profiles = []
        for prof in sorted({r.profile for r in recs}, key=lambda p: (profile_sms(gpu, p), p)):
            mine = [r for r in recs if r.profile == prof]
            k = min(r.processes for r in mine)
            profiles.append((prof, [r for r in mine if r.processes == k]))
        out.append((gpu_name, profiles))
    return out


def latency_curves(problem: "Problem", model: str, slo_ms: float, budget_ms: float | None) -> Drawn | None:
    """One panel per GPU type: each profile's records, latency against batch (dots, one colour per profile), and
    the fitted curve through all of the type's records (``perf.curves.fit_curve``, lines), with the SLO (dashed)
    and, under a smooth rule, the batch budget (dotted). None where the model has no solo records on the pool."""
    from matplotlib import colormaps
    from matplotlib.ticker import FixedLocator, NullLocator

    from ..perf.curves import Grid, fit_curve
    from ..perf.fit_report import groups

    panels = curve_panels(problem, model)
    if not panels:
        return None
    every = groups(list(problem.measurements), problem.catalog)
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    width, height = max(6.5, 3.7 * cols + 0.3), 3.1 * rows + 0.8
    fig, axes = _new(width, height, nrows=rows, ncols=cols, squeeze=False, sharey=True)
    # fixed margins (inches), not tight_layout: a report has a figure per model, and tight_layout measures every
    # log-axis tick label of every one (about a quarter of a second each)
    fig.subplots_adjust(left=0.65 / width, right=1 - 0.12 / width, bottom=0.5 / height, top=1 - 0.85 / height,
                        wspace=0.08, hspace=0.55 / 2.6)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    top = 2.0
    for ax, (gpu_name, profiles) in zip(axes.flat, panels):
        gpu = problem.catalog.gpus[gpu_name]
        fit = fit_curve(every[(model, gpu_name)], gpu)
        shades = colormaps["viridis"](np.linspace(0.0, 0.9, len(profiles)))
        for colour, (prof, recs) in zip(shades, profiles):
            grid = Grid.of(recs, gpu)
            top = max(top, float(grid.batch.max()))
            xs = np.geomspace(1, max(2.0, float(grid.batch.max())), 50)
            ax.scatter(grid.batch, grid.latency_ms, s=10, color=colour, zorder=3)
            q = Grid(xs, np.full_like(xs, grid.processes[0]), np.full_like(xs, grid.sms[0]),
                     np.full_like(xs, grid.mem_share[0]), xs)
            procs = int(grid.processes[0])
            ax.plot(xs, fit.latency(q), color=colour, lw=1.1,
                    label=prof + ("" if procs == 1 else f" ({procs} proc)"))
        ax.axhline(slo_ms, color="black", ls="--", lw=0.8)
        if budget_ms is not None:
            ax.axhline(budget_ms, color="black", ls=":", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(FixedLocator([2.0 ** i for i in range(int(np.log2(top)) + 1)]))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(_plain())
        ax.yaxis.set_major_formatter(_plain())
        ax.set_title(gpu_name, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("batch", fontsize=8)
        ax.legend(fontsize=6, loc="upper left", title="profile", title_fontsize=6)
        ax.grid(alpha=0.25)
    for r in range(rows):
        axes[r][0].set_ylabel("p99 batch latency (ms)", fontsize=8)
    for ax in axes.flat:  # a narrow range (under ~1.5 decades) gets its minor ticks labelled too
        ax.yaxis.set_minor_formatter(_plain() if _decades(ax) < 1.5 else _none())
        ax.tick_params(axis="y", which="minor", labelsize=6)
    rule = "dashed: SLO" + ("; dotted: batch budget of the smooth rule" if budget_ms is not None else "")
    fig.suptitle(f"{model}: records (dots) vs fitted curve (lines), one process\n{rule}", fontsize=9)
    return Drawn(fig, int(round(width * DPI)), int(round(height * DPI)))


# --- strategies -------------------------------------------------------------------------------------------------

def _short(reason: str | None, n: int = 60) -> str:
    reason = reason or "no answer"
    return reason if len(reason) <= n else reason[:n - 3] + "..."


def strategies(comp: "Comparison") -> Drawn:
    """GPUs per strategy under the policy's rule (solid) and the SLO/2 rule (hatched), each labelled with its
    saving against ``exclusive`` and its worst simulated attainment; a strategy without an answer says why."""
    from ..compare import PEER_RULE, saving

    names = [s.name for s in comp.strategies]
    peers = {s.name: s for s in comp.peer_strategies}
    ref = comp.get("exclusive")
    fig, ax = _new(10, 0.55 * len(names) + 1.6)
    y = np.arange(len(names))[::-1]
    top = max([s.gpus for s in comp.strategies + comp.peer_strategies if s.available] or [1])
    labelled: set[str] = set()

    def once(label: str) -> str | None:  # each legend entry on the first bar that has it
        if label in labelled:
            return None
        labelled.add(label)
        return label

    for yi, s in zip(y, comp.strategies):
        p = peers.get(s.name)
        if s.available:
            ax.barh(yi + 0.18, s.gpus, 0.36, color="C0", label=once("policy rule"))
            rel = None if ref is None else saving(s, ref)
            att = "-" if s.sim_worst_attainment is None else f"{s.sim_worst_attainment:.1%}"
            text = f"{s.gpus}" + (f" ({rel:+.0%} vs exclusive)" if rel is not None and s.name != "exclusive" else
                                  " (reference)" if s.name == "exclusive" else "") + f", worst sim {att}"
            ax.text(s.gpus + top * 0.01, yi + 0.18, text, va="center", fontsize=7)
        else:
            ax.text(top * 0.01, yi + 0.18, f"policy rule: n/a ({_short(s.reason)})", va="center", fontsize=7,
                    color="dimgray")
        if p is not None and p is not s and p.available:
            ax.barh(yi - 0.18, p.gpus, 0.36, color="white", edgecolor="C1", hatch="//",
                    label=once(f"{PEER_RULE} rule"))
            att = "-" if p.sim_worst_attainment is None else f"{p.sim_worst_attainment:.1%}"
            ax.text(p.gpus + top * 0.01, yi - 0.18, f"{p.gpus}, worst sim {att}", va="center", fontsize=7,
                    color="C1")
        elif p is not None and p is not s:
            ax.text(top * 0.01, yi - 0.18, f"{PEER_RULE}: n/a ({_short(p.reason)})", va="center", fontsize=7,
                    color="C1")
    ax.set_yticks(y, names, fontsize=8)
    ax.set_ylim(-0.6, len(names) - 0.4)
    ax.set_xlim(0, top * 1.6)
    ax.xaxis.set_major_locator(_integers())
    ax.set_xlabel("GPUs")
    handles, labels = ax.get_legend_handles_labels()
    if not any(p is not s for p, s in zip(comp.peer_strategies, comp.strategies)) and comp.peer_strategies:
        labels = [f"policy rule (= {PEER_RULE})" if lab == "policy rule" else lab for lab in labels]
    if handles:
        ax.legend(handles, labels, fontsize=7, loc="lower right")
    ax.set_title(f"{comp.instance}: GPUs per serving strategy ({comp.objective})", fontsize=9)
    return _done(fig)


def sweep(sw: "DemandSweep") -> Drawn:
    """GPUs needed per strategy as every demand is multiplied by each factor; hollow markers: not proven
    optimal (a baseline, or a solve stopped short of its bound); gaps: no answer at that factor."""
    from matplotlib.lines import Line2D

    fig, ax = _new(10, 4.6)
    handles = []
    for i, name in enumerate(sw.strategies):
        pts = [p for p in sw.series(name) if p.available]
        if not pts:
            continue
        colour, marker = f"C{i % 10}", SWEEP_MARKERS[i % len(SWEEP_MARKERS)]
        size, ls = 9 - 0.7 * i, SWEEP_LINES[i % len(SWEEP_LINES)]  # later ones smaller: equal points stay visible
        ax.plot([p.factor for p in pts], [p.gpus for p in pts], color=colour, lw=1.2, ls=ls, zorder=2 + i)
        for p in pts:
            ax.plot(p.factor, p.gpus, marker, ms=size, color=colour, zorder=2 + i,
                    markerfacecolor=colour if p.status == "optimal" else "white")
        handles.append(Line2D([], [], color=colour, ls=ls, marker=marker, ms=6, label=name))
    handles.append(Line2D([], [], ls="", marker="o", ms=6, color="grey", markerfacecolor="white",
                          label="hollow: not proven optimal"))
    missing = [name for name in sw.strategies if not any(p.available for p in sw.series(name))]
    ax.set_xlabel("demand factor (every model's demand x factor)")
    ax.set_ylabel("GPUs needed")
    ax.yaxis.set_major_locator(_integers())
    ax.set_xticks(list(sw.factors), [f"x{f:g}" for f in sw.factors], fontsize=7)
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    pool = "pool lifted (GPUs to buy)" if sw.unbounded_pool else "the instance's pool"
    if len(missing) == len(sw.strategies):
        ax.text(0.5, 0.5, "no strategy has an answer at any factor (the page's table says why)",
                transform=ax.transAxes, ha="center", va="center", fontsize=9)
        missing = []
    title = f"{sw.instance}: GPUs needed as demand grows, {pool}"
    if missing:
        title += "\n" + textwrap.shorten("no answer at any factor: " + ", ".join(missing), 110)
    ax.set_title(title, fontsize=9)
    return _done(fig)


# --- simulated latency ------------------------------------------------------------------------------------------

def latency_percentiles(results: list[tuple[str, "StrategyResult"]], models: list[str]) -> Drawn:
    """Per model, simulated latency percentiles (``PERCENTILES``) as a share of the model's SLO, one marker
    series per (label, result); the SLO is the line at 1."""
    from matplotlib.lines import Line2D

    fig, ax = _new(max(9.0, 0.9 * len(models) + 4), 4.6)
    x = np.arange(len(models))
    markers = ("o", "^", "s")
    width = 0.6 / max(1, len(results))
    for j, (label, res) in enumerate(results):
        offset = (j - (len(results) - 1) / 2) * width
        by_name = {m.name: m for m in res.sim.models}
        for k, q in enumerate(PERCENTILES):
            vals = []
            for name in models:
                m = by_name.get(name)
                lat = None if m is None else m.latencies_ms
                vals.append(np.nan if lat is None or len(lat) == 0 else float(np.percentile(lat, q)) / m.slo_ms)
            ax.scatter(x + offset, vals, marker=markers[k % 3], s=24, color=f"C{j}")
    ax.axhline(1.0, color="black", ls="--", lw=0.9)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(_plain())
    ax.yaxis.set_minor_formatter(_plain() if _decades(ax) < 1.5 else _none())
    ax.set_xticks(x, models, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("simulated latency / SLO")
    ax.grid(axis="y", alpha=0.3, which="both")
    handles = [Line2D([], [], ls="", marker="s", ms=7, color=f"C{j}", label=label) for j, (label, _) in
               enumerate(results)]
    handles += [Line2D([], [], ls="", marker=markers[k % 3], ms=6, color="grey", label=f"p{q:g}")
                for k, q in enumerate(PERCENTILES)]
    handles.append(Line2D([], [], ls="--", color="black", label="SLO"))
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.set_title("simulated latency percentiles against each model's SLO (below 1 = within)", fontsize=9)
    return _done(fig)
