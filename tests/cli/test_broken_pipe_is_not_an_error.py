"""A reader that stops early (``majula gpus --json | head``) is no error: exit 0, nothing on stderr (issue 11)."""

from __future__ import annotations

import subprocess
import sys


def test_closed_pipe_exits_0_quietly():
    proc = subprocess.Popen([sys.executable, "-m", "majula_model", "gpus", "--json", "--all"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.read(10)
    proc.stdout.close()  # the reader goes away while majula still writes
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert "Broken pipe" not in err and "Traceback" not in err
