"""The committed completion scripts are what the app generates (regenerate with
``for s in bash zsh fish; do cfevents completion $s > completions/cfevents.$s; done``)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cfevents.cli import app

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_are_current(shell):
    result = CliRunner().invoke(app, ["completion", shell])
    assert result.exit_code == 0
    committed = (ROOT / "completions" / f"cfevents.{shell}").read_text()
    assert result.stdout == committed, f"completions/cfevents.{shell} is stale: regenerate it"


def test_unknown_shell_is_usage_error():
    result = CliRunner().invoke(app, ["completion", "tcsh"])
    assert result.exit_code == 2


def test_completion_callback_completes_subcommands():
    env = {
        **os.environ,
        "_CFEVENTS_COMPLETE": "complete_bash",
        "COMP_WORDS": "cfevents us",
        "COMP_CWORD": "1",
    }
    out = subprocess.run(
        [sys.executable, "-m", "cfevents"], env=env, capture_output=True, text=True, timeout=30
    )
    assert "usage" in out.stdout.split()
