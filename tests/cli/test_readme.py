"""The README's command examples run (STYLE.md: the README's examples run in CI)."""

from __future__ import annotations

import re
import shlex

import pytest

from majula_model.cli import main

from conftest import ROOT

README = (ROOT / "README.md").read_text()
CONSOLE = re.findall(r"```console\n(.*?)```", README, flags=re.S)
COMMANDS = [line[2:].split("  #")[0].strip() for block in CONSOLE for line in block.splitlines()
            if line.startswith("$ majula ")]


def test_readme_has_examples():
    assert len(COMMANDS) >= 5


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_runs(command, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    argv = shlex.split(command)[1:]
    assert main(argv) == 0, capsys.readouterr().err


def test_readme_python_example_runs(monkeypatch):
    monkeypatch.chdir(ROOT)
    block = re.search(r"```python\n(.*?)```", README, flags=re.S).group(1)
    block = block.replace("duration_s=30", "duration_s=3")
    exec(compile(block, "README.md", "exec"), {})
