"""Run every benchmark script in this folder (``make bench``); each prints its own table.

Benchmarks live here, not in timed tests: speed depends on the machine, so figures are recorded with the machine
and date in docs/benchmarks.md and docs/simulator.md.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failed = 0
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        failed += subprocess.call([sys.executable, str(script), *sys.argv[1:]]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
