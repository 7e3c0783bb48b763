"""Filters that say what they did: empty results on a terminal, unknown --state values and
short --type names."""

import os
import pty
import subprocess
import sys

from cli_helpers import one_line_error
from pty_drain import drain

from cfevents.api import USAGE_STATES


def run_on_tty_with_stderr(args, sandbox, tmp_path):
    """stdout on a pseudo-terminal, stderr captured."""
    master, slave = pty.openpty()
    env = {
        **os.environ,
        "CF_API": sandbox.url,
        "CF_TOKEN": sandbox.admin_token(),
        "CF_HOME": str(tmp_path),
        "COLUMNS": "120",
        "NO_COLOR": "1",
    }
    env.pop("CFEVENTS_OUTPUT", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cfevents", *args], stdout=slave, stderr=subprocess.PIPE, env=env
    )
    os.close(slave)
    written = drain(master, proc)
    with proc.stderr:
        stderr = proc.stderr.read().decode()
    return proc.returncode, written, stderr


def test_empty_result_on_a_terminal_says_so(sandbox, tmp_path):
    code, out, err = run_on_tty_with_stderr(
        ["crashes", "--since", "2000-01-01", "--until", "2000-01-02"], sandbox, tmp_path
    )
    assert code == 0
    assert "no crashes between 2000-01-01 and 2000-01-02" in err
    assert out.strip() == ""


def test_empty_result_piped_stays_quiet(cli):
    result = cli("usage", "list", "--since", "2000-01-01", "--until", "2000-01-02")
    assert result.exit_code == 0
    assert "no usage events between" not in result.stderr


def test_unknown_state_is_rejected_with_the_states_cc_emits(cli):
    result = cli("usage", "list", "--state", "RUNNING")
    assert result.exit_code == 2
    assert "unknown state RUNNING" in one_line_error(result)
    for state in USAGE_STATES:
        assert state in result.stderr
    assert not cli.sandbox.requests  # refused before scanning anything


def test_known_states_in_any_case_still_filter(cli):
    result = cli(
        "usage",
        "list",
        "--state",
        "started,task_stopped",
        "--all",
        "-o",
        "csv",
        "--fields",
        "state.current",
    )
    assert result.exit_code == 0, result.stderr
    states = set(result.stdout.split()[1:])
    assert states and states <= {"STARTED", "TASK_STOPPED"}


def test_type_crash_is_both_crash_records(cli):
    short = cli("events", "list", "--type", "crash", "--all", "-o", "csv", "--fields", "guid,type")
    full = cli(
        "events",
        "list",
        "--type",
        "audit.app.process.crash,app.crash",
        "--all",
        "-o",
        "csv",
        "--fields",
        "guid,type",
    )
    assert short.exit_code == 0, short.stderr
    assert short.stdout == full.stdout
    types = {line.split(",")[1] for line in short.stdout.splitlines()[1:]}
    assert types == {"audit.app.process.crash", "app.crash"}


def test_unknown_short_type_is_rejected_with_the_valid_list(cli):
    result = cli("events", "list", "--type", "update")
    assert result.exit_code == 2
    line = one_line_error(result)
    assert "unknown type 'update'" in line and "crash" in line


def test_a_client_side_scan_that_matches_nothing_says_how_much_it_read(cli):
    window = ("--until", "2026-01-05")
    rows = cli("usage", "list", *window, "--all", "-o", "csv", "--fields", "app.guid,state.current")
    pairs = [tuple(line.split(",")) for line in rows.stdout.splitlines()[1:]]
    app, state = next(
        (a, s) for a in sorted({a for a, _ in pairs}) for s in USAGE_STATES if (a, s) not in pairs
    )
    result = cli("usage", "list", *window, "--app", app, "--state", state, "-o", "csv")
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1  # the header only
    assert f"scanned {len(pairs):,} usage events, none matched --app/--state" in result.stderr
