"""A plan as a picture: per model, demand, served rate and capacity (``majula solve --plot FILE``)."""

from __future__ import annotations

from ..errors import InputError, require
from ..schema import Plan


def plot_plan(plan: Plan, path: str) -> None:
    """Grouped bars per model; the file type follows the extension (matplotlib, no display needed)."""
    require("matplotlib", "plot", "--plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = [m.name for m in plan.models]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.8 * len(names) + 2), 4))
    for i, (label, vals) in enumerate((("demand", [m.demand_rps for m in plan.models]),
                                       ("served", [m.served_rps for m in plan.models]),
                                       ("capacity", [m.capacity_rps for m in plan.models]))):
        ax.bar(x + (i - 1) * 0.27, vals, 0.27, label=label)
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("requests/s")
    ax.set_title(f"{plan.instance}: {plan.objective.kind}, {len(plan.gpus)} GPUs, {plan.status}")
    ax.legend()
    fig.tight_layout()
    try:
        fig.savefig(path)
    except (OSError, ValueError) as e:
        raise InputError(f"cannot write plot: {e}", file=path, field="--plot") from None
    finally:
        plt.close(fig)
