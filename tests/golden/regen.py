"""Regenerate the placer's golden files: ``.venv/bin/python tests/golden/regen.py``.

Writes the plan JSON (solve_seconds set to 0, the only non-deterministic field), the mig-parted YAML and the
LP dump of ``cases.golden_problem()``. Review the diff before committing: a change here is a change of output.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from golden.cases import golden_problem  # noqa: E402

from majula_model.perf.capacity import capacity_table  # noqa: E402
from majula_model.placer import solve  # noqa: E402
from majula_model.placer.formulation import build  # noqa: E402
from majula_model.outputs.migparted import to_mig_parted  # noqa: E402


def outputs() -> dict[str, str]:
    """File name -> content, as the golden tests compare them."""
    problem = golden_problem()
    plan = solve(problem).model_copy(update={"solve_seconds": 0.0})
    f = build(problem, "min_gpus", capacity_table(problem))
    return {
        "plan_golden_demo.json": plan.model_dump_json(indent=2) + "\n",
        "mig_parted_golden_demo.yaml": to_mig_parted(plan, problem.instance.gpus_per_node, problem.catalog),
        "lp_golden_demo.lp": lp_text(f.prob),
    }


def lp_text(prob) -> str:
    """PuLP's LP dump as text (written to a temporary file, PuLP's only interface for it)."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "dump.lp"
        prob.writeLP(str(path))
        return path.read_text()


if __name__ == "__main__":
    for name, text in outputs().items():
        (HERE / name).write_text(text)
        print(f"wrote {HERE / name}")
