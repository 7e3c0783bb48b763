"""Every command's default output on a pseudo-terminal 80 and 120 columns wide, stdout and
stderr both: no line wider than the terminal, no wrapped fragment (a table line starts with
its first column; a note's next line is indented), the column a command exists for always
shown (issue 20, items 2 and 6)."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

import pytest
from pty_drain import drain

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
MONTH = ["--month", "2026-01", "--allow-incomplete"]


def run_on_terminal(args, sandbox, home, columns):
    """cfevents with stdout and stderr on one pseudo-terminal; (exit code, lines seen)."""
    master, slave = pty.openpty()
    env = {
        **os.environ,
        "CF_API": sandbox.url,
        "CF_TOKEN": sandbox.admin_token(),
        "CF_HOME": str(home),
        "COLUMNS": str(columns),
        "LINES": "50",
        "NO_COLOR": "1",
    }
    env.pop("CFEVENTS_OUTPUT", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cfevents", *args], stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    written = drain(master, proc)
    text = ANSI.sub("", written)
    return proc.returncode, [line for line in text.replace("\r\n", "\n").split("\n") if line]


def _guid(cli, *command):
    result = cli(*command, "--limit", "1", "-o", "csv", "--fields", "guid", "--no-headers")
    assert result.exit_code == 0, result.stderr
    return result.stdout.strip()


COMMANDS = {
    "usage list": (["usage", "list"], "state"),
    "usage report": (["usage", "report", *MONTH], "instance_hours"),
    "services list": (["services", "list"], "state"),
    "services report": (["services", "report", *MONTH], "service_hours"),
    "events list": (["events", "list"], "type"),
    "crashes": (["crashes", "--since", "2026-01-01"], "exit description"),
    "crashes --summary": (
        ["crashes", "--summary", "--since", "2026-01-01"],
        "last exit description",
    ),
}


def check_fits(lines, columns):
    """Each line within ``columns``; notes first; table lines begin at column 0."""
    assert lines
    assert all(len(line) <= columns for line in lines), [
        line for line in lines if len(line) > columns
    ]
    in_note = False
    for line in lines:
        if line.startswith("cfevents: "):
            in_note = True
        elif in_note and line.startswith("  "):
            continue  # a note broken between words
        else:
            in_note = False
            assert not line.startswith(" "), f"a wrapped fragment: {line!r}"


@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize("name", list(COMMANDS))
def test_default_output_fits_the_terminal(name, columns, sandbox, tmp_path):
    args, wanted = COMMANDS[name]
    code, lines = run_on_terminal(args, sandbox, tmp_path, columns)
    assert code == 0, lines
    check_fits(lines, columns)
    tables = [line for line in lines if not line.startswith(("cfevents: ", "  "))]
    header = tables[0]
    assert wanted in header, header  # the column the command exists for is never hidden
    assert len(tables) > 2


@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize("command", [["usage"], ["events"], ["services"]], ids=" ".join)
def test_get_fits_the_terminal(command, columns, cli, sandbox, tmp_path):
    guid = _guid(cli, *command, "list")
    code, lines = run_on_terminal([*command, "get", guid], sandbox, tmp_path, columns)
    assert code == 0, lines
    check_fits(lines, columns)
    assert any(line.split()[:2] == ["guid", guid] for line in lines)  # GUIDs whole here


def test_values_are_shortened_never_wrapped(sandbox, tmp_path):
    code, lines = run_on_terminal(
        ["events", "list", "--limit", "20", "--fields", "created_at,type,data"],
        sandbox,
        tmp_path,
        50,
    )
    assert code == 0, lines
    check_fits(lines, 50)
    rows = [line for line in lines if re.match(r"\d{4}-", line)]
    assert len(rows) == 20  # one line per event
    assert any(line.endswith("…") for line in rows)


def test_usage_list_keeps_whole_states_at_80_columns(cli, sandbox, tmp_path):
    piped = cli("usage", "list", "--limit", "50", "-o", "csv", "--fields", "state.current")
    states = set(piped.stdout.split()[1:])
    assert "STAGING_STARTED" in states or "TASK_STARTED" in states
    code, lines = run_on_terminal(["usage", "list"], sandbox, tmp_path, 80)
    assert code == 0
    shown = {line.split()[1] for line in lines if re.match(r"\d{4}-", line)}
    assert shown == states  # 0.2.0 wrapped STAGING_STA / RTED


def test_report_wide_and_notes_on_what_it_hid(sandbox, tmp_path):
    code, lines = run_on_terminal(["usage", "report", *MONTH], sandbox, tmp_path, 80)
    assert code == 0
    notes = " ".join(line.strip() for line in lines if line.startswith(("cfevents: hid", "  ")))
    assert "max_instances" in notes and "80 columns" in notes  # 0.2.0 hid them silently
    code, lines = run_on_terminal(["usage", "report", *MONTH, "-o", "wide"], sandbox, tmp_path, 80)
    assert code == 0, lines  # 0.2.0: "unknown format 'wide'"
    header = next(line for line in lines if line.startswith("org_name"))
    assert "max_instances" in header and "task_runs" in header
