"""``majula report``'s output: ``DIR/index.html`` and its PNG figures, readable offline by someone who has never
seen the tool.

Why one static page: a planning result is passed on (to whoever buys GPUs, to whoever runs the cluster) and must
explain itself: what was asked, what each figure shows and which numbers were measured, which predicted, which
simulated. Every figure has a paragraph saying so; the page links only files written next to it, with no script,
stylesheet or font from elsewhere.

Writing, with the rules of ``directory.py`` (``solve --k8s DIR``): ``check_out_dir`` refuses, before any work,
an ``--out`` that is a file, lies under a file, contains (or is) one of the command's inputs, or is a non-empty
directory majula did not write (it holds no ``.majula-output`` marker). The marker (listing old and new files)
is written first, so a run cut short leaves a directory the next run may still replace; then every figure and
``index.html`` last, each through ``files.write_output_with`` (a temporary file beside it, then
``os.replace``), so the page never points at figures it lacks; then the files of the previous report that this
one did not write are removed and the marker lists exactly the new files. Each file is atomic, the directory as
a whole is not (``directory.write_output_dir``, which swaps the whole directory, writes text only).
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from .directory import MARKER, check_output_dir
from .files import write_output, write_output_with

if TYPE_CHECKING:
    from ..compare import Comparison, DemandSweep, StrategyResult
    from ..problem.problem import Problem

FLAG = "--out"
INDEX = "index.html"
PLAN_PREFERENCE = ("mig_shared", "mig_mps", "mig", "mig_greedy", "mig_homogeneous", "temporal", "mps", "exclusive")
"""Which strategy's plan the report draws: the first one with an answer (the most sharing first)."""

STATIC_FIGURES = ("plan.png", "demand.png", "strategies.png", "sweep.png", "latency.png")


@dataclass
class Figure:
    """One image of the page: its file, heading, the paragraph that explains it and its size in pixels."""

    file: str
    title: str
    caption: str
    width: int
    height: int


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:60] or "model"


def curve_files(problem: "Problem") -> dict[str, str]:
    """The latency-curve figure's file name per model (distinct even where safe names collide)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for i, m in enumerate(problem.instance.models):
        name, k = f"curves-{_safe(m.name)}.png", i
        while name in used:  # the fallback can collide too ('2-a_' and 'a_' at index 2): count up until free
            name = f"curves-{k}-{_safe(m.name)}.png"
            k += 1
        used.add(name)
        out[m.name] = name
    return out


def check_out_dir(out_dir: str | Path, inputs: Iterable[str | Path | None]) -> None:
    """InputError naming ``--out`` for a directory the report may not write (module docstring)."""
    check_output_dir(out_dir, FLAG, [i for i in inputs if i is not None], kind="report")


def _previous_files(out: Path) -> list[str]:
    """Files the previous report in ``out`` listed in its marker (plain names only), or none."""
    try:
        listed = json.loads((out / MARKER).read_text(encoding="utf-8")).get("files", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [f for f in listed if isinstance(f, str) and f and "/" not in f and f not in (".", "..", MARKER)]


def _marker(out: Path, files: Iterable[str], inputs: list[str]) -> None:
    text = json.dumps({"written_by": "majula report", "files": sorted(set(files))}, indent=2) + "\n"
    write_output(out / MARKER, text, FLAG, inputs)


def drawn_strategy(comp: "Comparison") -> "StrategyResult | None":
    """The strategy whose plan the report draws (``PLAN_PREFERENCE``), or None where no strategy has a plan."""
    for name in PLAN_PREFERENCE:
        s = comp.get(name)
        if s is not None and s.available and s.plan is not None:
            return s
    return None


# --- the page ---------------------------------------------------------------------------------------------------

def _e(x) -> str:
    return html.escape(str(x))


def _pct(x) -> str:
    return "-" if x is None else f"{x:.2%}"


_NUMBER = re.compile(r"^[-+]?[\d.,]*\d%?$|^-$|^reference$")


def _cell(c) -> str:
    """A table cell: numbers (and their '-') right-aligned, words left-aligned."""
    text = str(c)
    return f'<td class="num">{_e(text)}</td>' if _NUMBER.match(text) else f"<td>{_e(text)}</td>"


def _table(head: list[str], rows: list[list]) -> str:
    out = ["<table>", "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"]
    for r in rows:
        out.append("<tr>" + "".join(_cell(c) for c in r) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 1.5em auto; padding: 0 1em; color: #222;
       line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
th, td { border: 1px solid #ccc; padding: 2px 7px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td.num { text-align: right; white-space: nowrap; }
.note { background: #fff6d6; border: 1px solid #e6c200; padding: 0.5em 0.8em; }
figure { margin: 0.8em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
.caption { font-size: 0.92em; color: #333; }
details { margin: 0.5em 0; } code { background: #f4f4f4; padding: 0 3px; }
"""


def _figure(f: Figure) -> str:
    return (f'<figure><img src="{_e(f.file)}" width="{f.width}" height="{f.height}" alt="{_e(f.title)}">'
            f'<figcaption class="caption"><b>{_e(f.title)}.</b> {f.caption}</figcaption></figure>')


def _instance_html(problem: "Problem") -> str:
    inst = problem.instance
    pol = inst.policy
    pools = _table(["GPU type", "count", "cost each"], [[g.type, g.count, f"{g.cost:g}"] for g in inst.gpus])
    models = _table(["model", "latency SLO (ms)", "demand (requests/s)"],
                    [[m.name, f"{m.slo_ms:g}", f"{m.demand_rps:g}"] for m in inst.models])
    sharing = ("no sharing: one model per instance" if pol.max_models_per_instance == 1 else
               f"up to {pol.max_models_per_instance} models per instance ({', '.join(pol.sharing_modes)})")
    procs = "no limit" if pol.max_processes is None else str(pol.max_processes)
    return (f"<p>The pool and the models, as the instance file gives them. Policy: SLO rule "
            f"<code>{_e(pol.arrivals)}</code>, up to {procs} processes per instance, {_e(sharing)}.</p>"
            f'<div style="display:flex; gap:2em; flex-wrap:wrap; align-items:flex-start">{pools}{models}</div>')


def _comparison_html(comp: "Comparison") -> str:
    from ..compare import saving

    ref = comp.get("exclusive")
    rows = []
    for s in comp.strategies:
        rel = None if ref is None else saving(s, ref)
        rows.append([s.name, "-" if s.gpus is None else s.gpus, "-" if s.cost is None else f"{s.cost:g}",
                     "-" if s.mean_utilisation is None else f"{s.mean_utilisation:.0%}",
                     _pct(s.sim_worst_attainment), s.status,
                     "reference" if s.name == "exclusive" and s.available else "-" if rel is None else f"{rel:+.0%}",
                     s.description if s.available else f"not available: {s.reason}"])
    return _table(["strategy", "GPUs", "cost", "sim. utilisation", "worst sim. attainment", "status",
                   "GPUs vs exclusive", "what it is"], rows)


def _predictability_html(comp: "Comparison") -> str:
    if not comp.predictability:
        return "<p>No strategy has a plan, so there is nothing to simulate.</p>"
    rules = "".join(f"<li><code>{_e(k)}</code>: {_e(v)}</li>" for k, v in comp.rules.items())
    summary = _table(["strategy", "rule", "GPUs", "promised", "worst simulated", "worst model",
                      "models below promise", "interference"],
                     [[t.strategy, t.rule, t.gpus, _pct(t.promised), _pct(t.worst_simulated), t.worst_model,
                       f"{t.below} of {t.models}", t.interference] for t in comp.summary()])
    detail = _table(["strategy", "rule", "model", "GPUs", "promised", "simulated", "interference source"],
                    [[r.strategy, r.rule, r.model, r.gpus, _pct(r.promised), _pct(r.simulated),
                      r.interference_source] for r in comp.predictability])
    return (f"<p>A GPU count is worth what its SLO promise is worth. Each strategy was planned twice: under the "
            f"instance's own SLO rule and under the rule most published planners use (SLO/2). The rules:</p>"
            f"<ul>{rules}</ul>"
            f"<p><i>Promised</i> is the share of requests within the SLO that the rule claims; <i>simulated</i> is "
            f"what Majula's request-by-request simulator measured when it replayed the plan under Poisson "
            f"(random) arrivals at the plan's full served rate. The simulator uses the same latency numbers as the "
            f"plan, so it tests the queueing promise, not the hardware numbers. <i>Interference</i>: "
            f"<code>none</code> (the model runs alone in its slices, or takes turns), <code>measured</code> (the "
            f"slowdown next to its co-runners was measured), <code>predicted</code> (the slowdown is a model's "
            f"prediction, not a measurement).</p>{summary}"
            f"<details><summary>Every model, every strategy and rule ({len(comp.predictability)} rows)</summary>"
            f"{detail}</details>")


def _notes_html(notes: list[str]) -> str:
    if not notes:
        return ""
    items = "".join(f"<li>{_e(n)}</li>" for n in notes)
    return f'<div class="note"><b>Read this first.</b><ul>{items}</ul></div>'


def page(problem: "Problem", comp: "Comparison", sweep: "DemandSweep", figures: dict[str, Figure],
         curves: list[Figure], notes: list[str], how: str) -> str:
    """The report's HTML, linking only ``figures`` and ``curves`` (files of the same directory)."""
    drawn = drawn_strategy(comp)
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<title>Majula report: {_e(problem.instance.name)}</title><style>{STYLE}</style></head><body>",
             f"<h1>GPU plan for <code>{_e(problem.instance.name)}</code></h1>",
             "<p>This report answers one question: how many GPUs does it take to serve these models within their "
             "latency targets (SLOs), and what does each way of sharing a GPU change? Majula reads latency and "
             "throughput figures of each model on each slice size of a GPU (NVIDIA MIG splits one GPU into up to "
             "seven isolated slices), decides how to split every GPU and which model runs on which slice with "
             "which batch size, and then replays the plan request by request in a simulator to check that the "
             "SLOs hold. Figures below say what was measured, what was predicted and what was simulated.</p>",
             _notes_html(notes),
             "<h2>The question</h2>", _instance_html(problem)]
    if drawn is None:
        parts.append("<p><b>No strategy found a plan</b> for this instance; the table below says why for each.</p>")
    for key in ("plan", "demand"):
        if key in figures:
            parts += [f"<h2>{_e(figures[key].title)}</h2>", _figure(figures[key])]
    parts += ["<h2>Which way of sharing wins</h2>",
              "<p>Every strategy answers the same question from the same measurements and SLO policy; only what "
              "it may share differs. <i>exclusive</i>: one model per whole GPU. <i>temporal</i>: whole GPUs, models "
              "take turns. <i>mps</i>: whole GPUs, models run at the same time (NVIDIA MPS). <i>mig_*</i>: GPUs "
              "split into MIG slices; <i>mig_homogeneous</i> and <i>mig_greedy</i> are the simple rules in use "
              "today, <i>mig</i>, <i>mig_mps</i> and <i>mig_shared</i> are Majula's optimiser (an integer program) "
              "with one model per slice, several processes of a model per slice, and several models per slice.</p>",
              _comparison_html(comp)]
    if "strategies" in figures:
        parts.append(_figure(figures["strategies"]))
    parts += ["<h2>Does the promise hold?</h2>", _predictability_html(comp)]
    if "latency" in figures:
        parts.append(_figure(figures["latency"]))
    if "sweep" in figures:
        parts += [f"<h2>{_e(figures['sweep'].title)}</h2>", _figure(figures["sweep"])]
    if curves:
        parts += ["<h2>The latency numbers behind the plan</h2>",
                  "<p>One figure per model: the records of the calibration files (dots) and the curve Majula "
                  "fitted through them (lines), per GPU type and slice size (profile), against batch size, at one "
                  "process (<code>majula fit --plot</code> draws every process count). The plan uses the records "
                  "where they exist and the fitted curve only where the policy asks for predictions.</p>"]
        parts += [_figure(f) for f in curves]
    parts += ["<h2>How this report was made</h2>", f"<p>{how}</p>", "</body></html>\n"]
    return "\n".join(parts)


# --- figures and writing ----------------------------------------------------------------------------------------

def _save(drawn, out: Path, name: str, inputs: list[str], written: list[Path]) -> tuple[int, int]:
    from . import report_figures as rf

    try:
        write_output_with(out / name, FLAG, inputs, lambda p: drawn.figure.savefig(p, dpi=rf.DPI, format="png"))
    finally:
        rf.close(drawn)
    written.append(out / name)
    return drawn.width, drawn.height


def _prior_words(problem: "Problem") -> str:
    return ("<b>Here the records are analytic-prior predictions, not measurements</b> (the calibration files say "
            "so): these numbers are a model's estimates until the models are measured on the GPUs."
            if problem.prior_files else "The records are the calibration files' measurements.")


def write_report(out_dir: str | Path, problem: "Problem", comp: "Comparison", sweep: "DemandSweep", *,
                 inputs: Iterable[str | Path | None], notes: list[str], how: str) -> list[Path]:
    """Draw every figure, write it into ``out_dir`` (created if absent), then ``index.html``; returns the paths
    written (index last). ``inputs``: the command's input files, never overwritten."""
    from . import report_figures as rf

    inputs = [str(i) for i in inputs if i is not None]
    check_out_dir(out_dir, inputs)
    out = Path(out_dir)
    previous = _previous_files(out)
    planned = [INDEX, *STATIC_FIGURES, *curve_files(problem).values()]
    _marker(out, [*previous, *planned], inputs)  # first: a run cut short leaves a directory majula may replace
    written: list[Path] = []
    figures: dict[str, Figure] = {}
    drawn = drawn_strategy(comp)
    prior = _prior_words(problem)
    pol = problem.instance.policy
    if drawn is not None:
        plan = drawn.plan
        w, h = _save(rf.plan_layout(plan, problem, f"{drawn.name}: {rf.gpus_words(len(plan.gpus))} ({plan.status})"),
                     out, "plan.png", inputs, written)
        figures["plan"] = Figure(
            "plan.png", f"The plan: {drawn.name}, {rf.gpus_words(len(plan.gpus))}",
            f"Each bar is a GPU (identical GPUs share one bar, with their count); each box is a slice (MIG "
            f"instance) placed at its memory-slice index, labelled with its size (<code>1g</code> is one seventh "
            f"of the GPU, <code>7g</code> or <code>full</code> all of it) and coloured by the model it serves. "
            f"A striped box is a slice several models share: <code>//</code> they take turns, <code>xx</code> "
            f"they run at the same time (MPS). This is the plan of <i>{_e(drawn.name)}</i>, the strategy with "
            f"the most sharing that found a plan; its status <code>{_e(plan.status)}</code> says whether the "
            f"solver proved it uses the fewest GPUs possible (<code>optimal</code>) or not (<code>feasible</code>). "
            f"It is computed, not measured: the solver's answer given the latency records.", w, h)
        w, h = _save(rf.demand_capacity(plan, f"{drawn.name}: demand, served and capacity per model"), out,
                     "demand.png", inputs, written)
        figures["demand"] = Figure(
            "demand.png", "Demand against capacity per model",
            "Per model: the demand the instance asks for, the rate the plan routes to the model's slices (served) "
            "and the most those slices can carry within the SLO under the policy's rule (capacity). Demand is an "
            "input; capacity is predicted from the latency records under the SLO rule; the gap between served "
            f"and capacity is headroom. {prior}", w, h)
    w, h = _save(rf.strategies(comp), out, "strategies.png", inputs, written)
    figures["strategies"] = Figure(
        "strategies.png", "GPUs per strategy",
        "Bars: the GPUs each strategy needs under the instance's SLO rule (solid) and under the SLO/2 rule peers "
        "use (hatched, where it differs), with the change against <i>exclusive</i> (one model per whole GPU) and "
        "the worst model's simulated share of requests within the SLO. GPU counts are the solver's (computed); "
        "the attainment is simulated. A strategy without an answer says why.", w, h)
    results = [("policy rule", drawn)] if drawn is not None else []
    if drawn is not None and comp.peer_strategies:
        peer = comp.get(drawn.name, "slo/2")
        if peer is not None and peer is not drawn and peer.available:
            results.append(("slo/2 rule", peer))
    if results:
        models = [m.name for m in problem.instance.models]
        w, h = _save(rf.latency_percentiles(results, models), out, "latency.png", inputs, written)
        figures["latency"] = Figure(
            "latency.png", f"Simulated latency against the SLO ({drawn.name})",
            "Per model, the 50th, 99th and 99.9th percentile of the latency requests saw in the simulation, as a "
            "share of the model's SLO (1 = exactly the SLO; log scale): the plan under the instance's rule "
            + ("and the plan the SLO/2 rule gives for the same strategy. " if len(results) > 1 else ". ")
            + "Points above the dashed line mean that share of requests missed the SLO. Simulated: Poisson "
            "arrivals at the plan's served rate, service times from the latency records.", w, h)
    w, h = _save(rf.sweep(sweep), out, "sweep.png", inputs, written)
    pool = ("each pool lifted far beyond what any strategy needs, so every point is a number of GPUs to buy"
            if sweep.unbounded_pool else "the instance's pool; beyond it a strategy has no answer")
    figures["sweep"] = Figure(
        "sweep.png", "GPUs needed as demand grows",
        f"Every model's demand multiplied by the same factor (x{sweep.factors[0]:g} to x{sweep.factors[-1]:g}), "
        f"and the fewest GPUs each strategy needs then ({pool}). Filled markers are proven optimal, hollow ones "
        f"are not (the simple baselines, or a solve that stopped at its time limit or short of the sharing bound). "
        f"Computed by the solver, not simulated.", w, h)
    curves = []
    budget = pol.latency_budget_fraction if pol.arrivals == "smooth" else None
    for m in problem.instance.models:
        name = curve_files(problem)[m.name]
        d = rf.latency_curves(problem, m.name, m.slo_ms, None if budget is None else budget * m.slo_ms)
        if d is None:
            continue
        w, h = _save(d, out, name, inputs, written)
        curves.append(Figure(
            name, f"Latency curves: {m.name}",
            f"Dots: the latency records of {_e(m.name)} (p99 batch latency at one process, one colour per "
            f"profile, one panel per GPU type); lines: the curve fitted through all the type's records. Dashed: "
            f"the SLO ({m.slo_ms:g} ms)"
            + (f"; dotted: the batch budget of the smooth rule ({budget:g} x SLO)" if budget is not None else "")
            + f". {prior}", w, h))
    text = page(problem, comp, sweep, figures, curves, notes, how)
    write_output(out / INDEX, text, FLAG, inputs)
    written.append(out / INDEX)
    names = {p.name for p in written}
    for stale in previous:
        if stale not in names and (out / stale).is_file():
            (out / stale).unlink()  # the previous report's, listed in its marker: not someone else's file
    _marker(out, names, inputs)
    return written
