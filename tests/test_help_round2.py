"""Help, round 2 (issue 20, item 4): one line per option, no value placeholder after a flag,
and `cfevents help COMMAND`."""

import re

import pytest
from test_cli_help import command_paths
from test_tty import run_on_tty
from typer.testing import CliRunner

from cfevents.cli import app


def test_safe_csv_and_local_time_are_two_options():
    out = CliRunner().invoke(app, ["--help"]).stdout
    lines = [line for line in out.splitlines() if "--safe-csv" in line or "--local-time" in line]
    assert len(lines) == 2, lines  # 0.2.0: "--safe-csv, --local-time" on one line, then again
    assert not any("--safe-csv" in line and "--local-time" in line for line in lines)


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "cfevents")
def test_flags_show_no_value_placeholder_on_a_terminal(path, sandbox, tmp_path):
    code, out = run_on_tty([*path, "--help"], {"CF_HOME": str(tmp_path), "COLUMNS": "200"}, sandbox)
    assert code == 0
    assert "<bool>" not in out  # 0.2.0: "--all  <bool>", "--help -h <bool>"
    assert re.search(r"--help\s+-h\s+Show this message", re.sub(r"\x1b\[[0-9;]*m", "", out))


@pytest.mark.parametrize("path", [["usage", "report"], ["crashes"], ["usage"], []], ids=str)
def test_help_command_prints_the_command_help(path):
    runner = CliRunner()
    asked = runner.invoke(app, ["help", *path])
    assert asked.exit_code == 0, asked.output
    assert asked.stdout == runner.invoke(app, [*path, "--help"]).stdout


def test_help_of_an_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(app, ["help", "usage", "lst"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "cfevents: error: no command 'lst' in 'cfevents usage'; commands: list, get, export, report"
    ]
