"""One line describing the machine a benchmark ran on (figures are recorded with it in docs/)."""

from __future__ import annotations

import os
import platform
import subprocess


def machine() -> str:
    """e.g. 'x86_64, 2 CPUs (AMD EPYC ...), Python 3.11.7'."""
    try:
        model = next(line.split(":", 1)[1].strip() for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True).stdout.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    return f"{platform.machine()}, {os.cpu_count()} CPUs ({model}), Python {platform.python_version()}"
