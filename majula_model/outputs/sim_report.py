"""Human outputs of a simulation: a table, and latency CDFs (matplotlib, Agg backend, imported lazily)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import require
from ..simulator.stats import SimResult


def _f(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def interval_text(ci: tuple[float, float] | None) -> str:
    """A 95% interval in percent, with enough digits that its ends differ where they do (up to 3 decimals);
    ``majula simulate``'s table and ``solve --verify`` both print it."""
    if ci is None:
        return "-"
    lo, hi = ci
    digits = 2 if hi - lo >= 1e-3 or hi == lo else 3
    return f"[{100 * lo:.{digits}f}, {100 * hi:.{digits}f}]"


def table(res: SimResult) -> str:
    """Per-model and per-run tables as text; each model's attainment with its 95% interval and verdict."""
    o = res.options
    warm = f", warm-up {res.warmup_s:.3g} s discarded" if res.warmup_s else ""
    head = (f"simulated '{res.instance}': {'trace ' + str(o.trace) if o.trace else f'load {o.load:g}'}, "
            f"{res.duration_s:.6g} s measured{warm}, seed {o.seed}, routing {o.routing}, late {o.late}"
            f"{', jitter' if o.jitter else ''}; target {100 * res.target_attainment:.4g}% within SLO, 95% intervals")
    lines = [head, f"{'model':<16}{'SLO ms':>8}{'planned':>10}{'offered':>10}{'completed':>11}{'dropped':>9}"
             f"{'attain':>9}  {'95% interval':<20}{'verdict':<13}{'p50 ms':>9}{'p99 ms':>9}"]
    for m in res.models:
        lines.append(f"{m.name:<16}{m.slo_ms:>8g}{m.planned_rps:>10.1f}{m.offered_rps:>10.1f}{m.completed_rps:>11.1f}"
                     f"{m.dropped:>9d}{_pct(m.slo_attainment):>9}  {interval_text(m.slo_attainment_ci):<20}"
                     f"{m.verdict or '-':<13}{_f(m.p50_ms, '.1f'):>9}{_f(m.p99_ms, '.1f'):>9}")
    lines.append(f"{'gpu':>4} {'profile':<10}{'start':>6} {'model':<16}{'batch':>6}{'proc':>5}{'lat ms':>8}"
                 f"{'offered':>10}{'util':>7}{'mean batch':>11}")
    for i in res.instances:
        lines.append(f"{i.gpu:>4} {i.profile:<10}{i.start:>6} {i.model:<16}{i.batch:>6}{i.processes:>5}"
                     f"{i.latency_ms:>8.1f}{i.offered_rps:>10.1f}{100 * i.utilisation:>6.1f}%"
                     f"{_f(i.mean_batch, '.1f'):>11}")
    return "\n".join(lines)


def plot_cdfs(res: SimResult, path: str | Path) -> None:
    """Latency CDF per model, with its SLO as a dashed line, written to ``path`` (format from the suffix)."""
    require("matplotlib", "plot", "--plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for m in res.models:
        if len(m.latencies_ms) == 0:
            continue
        xs = np.sort(m.latencies_ms)
        ys = np.arange(1, len(xs) + 1) / max(m.requests, 1)
        step = max(1, len(xs) // 2000)
        line, = ax.plot(xs[::step], ys[::step], label=f"{m.name} ({100 * (m.slo_attainment or 0):.1f}% in SLO)")
        ax.axvline(m.slo_ms, color=line.get_color(), linestyle="--", linewidth=0.8)
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("share of requests (dropped never reach 1)")
    how = f"trace {Path(res.options.trace).name}" if res.options.trace else f"load {res.options.load:g}"
    ax.set_title(f"{res.instance}: latency CDF, {how}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
