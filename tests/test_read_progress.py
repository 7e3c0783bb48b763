"""Long reads show one self-erasing progress line on a terminal (issue 20, item 5).

Each command runs on a real pseudo-terminal; what reaches the terminal is replayed on a small
screen model (carriage return, line feed, erase-in-line, cursor up), so "nothing is left on
the screen" is what a person would see, not a grep of the bytes. 0.2.0 showed nothing while
`usage list --all`, `crashes --summary` or a report read page after page.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

import pytest
from pty_drain import drain

LINE = re.compile(r"reading .*events · \d+ pages · [\d,]+/s")
SGR = re.compile(r"\x1b\[[0-9;]*m")
CONTROL = re.compile(r"\x1b\[(\??)([0-9;]*)([A-Za-z])")


def run(args, sandbox, home, *, stdout_tty=True, stderr_tty=True, columns=100):
    """cfevents with stdout and/or stderr on one pseudo-terminal: (exit code, terminal bytes,
    piped stdout, piped stderr)."""
    master, slave = pty.openpty()
    env = {
        **os.environ,
        "CF_API": sandbox.url,
        "CF_TOKEN": sandbox.admin_token(),
        "CF_HOME": str(home),
        "COLUMNS": str(columns),
        "LINES": "40",
        "NO_COLOR": "1",
    }
    env.pop("CFEVENTS_OUTPUT", None)
    piped = {name: open(home / f"{name}.txt", "w+b") for name in ("stdout", "stderr")}  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "cfevents", *args],
        stdout=slave if stdout_tty else piped["stdout"],
        stderr=slave if stderr_tty else piped["stderr"],
        env=env,
    )
    os.close(slave)
    written = drain(master, proc)
    out, err = (handle.seek(0) == 0 and handle.read() for handle in piped.values())
    for handle in piped.values():
        handle.close()
    return proc.returncode, written, out, err


def screen(text, columns=100):
    """The lines a terminal ``columns`` wide shows (with its scrollback) after ``text``."""
    lines, row, col = [[]], 0, 0
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char == "\x1b":
            match = CONTROL.match(text, pos)
            assert match is not None, repr(text[pos : pos + 12])
            private, number, final = match.groups()
            pos = match.end()
            if final == "m" or private:  # colours; cursor shown/hidden
                continue
            if final == "K":  # erase in line: to the end (0) or all of it (2)
                lines[row] = lines[row][:col] if number in ("", "0") else []
            elif final == "A":
                row = max(0, row - int(number or 1))
            else:
                raise AssertionError(f"unexpected control sequence {match.group()!r}")
            continue
        pos += 1
        if char == "\r":
            col = 0
        elif char == "\n":
            row += 1
            if row == len(lines):
                lines.append([])
        else:
            if col == columns:  # auto-wrap
                row, col = row + 1, 0
                if row == len(lines):
                    lines.append([])
            line = lines[row]
            line.extend(" " * (col - len(line)))
            line[col : col + 1] = [char]
            col += 1
    return ["".join(line).rstrip() for line in lines if "".join(line).strip()]


def without_notes(lines):
    """The lines that are not stderr notes (a note's next lines are indented; a table's are not)."""
    kept, in_note = [], False
    for line in lines:
        in_note = line.startswith("cfevents:") or (in_note and line.startswith("  "))
        if not in_note:
            kept.append(line)
    return kept


LONG_READS = {
    "usage list --all": ["usage", "list", "--all", "--per-page", "200"],
    "services list --all": ["services", "list", "--all", "--per-page", "20"],
    "events list --all": ["events", "list", "--all", "--per-page", "100"],
    "crashes --all": ["crashes", "--all", "--per-page", "40"],
    "crashes --summary": ["crashes", "--summary", "--all", "--per-page", "40"],
}


@pytest.mark.parametrize("name", list(LONG_READS))
def test_a_long_read_shows_one_line_that_leaves_nothing_behind(name, sandbox, tmp_path):
    """stdout and stderr on one terminal, as a person runs it: the line appears while pages
    are read, is never inside the table, and the final screen is the quiet run's plus its
    notes."""
    code, shown, _, _ = run(LONG_READS[name], sandbox, tmp_path)
    assert code == 0, shown
    assert LINE.search(SGR.sub("", shown)), shown[-2000:]  # it appeared ...
    final = screen(shown)
    assert not any("reading" in line for line in final)  # ... and nothing of it is left
    code, quiet, _, _ = run([*LONG_READS[name], "-q"], sandbox, tmp_path)
    assert code == 0
    assert "reading" not in quiet  # -q: no progress line at all
    assert without_notes(final) == screen(quiet)  # every row whole, in place, nothing mixed in


def test_piped_output_with_stderr_on_the_terminal_shows_it_and_erases_it(sandbox, tmp_path):
    """`cfevents usage list --all > file` on a terminal: the line on stderr while it reads,
    nothing of it in the file, and the screen shows only the notes at the end."""
    args = LONG_READS["usage list --all"]
    code, shown, out, _ = run(args, sandbox, tmp_path, stdout_tty=False)
    assert code == 0
    assert LINE.search(SGR.sub("", shown))
    assert b"reading" not in out and b"\x1b" not in out
    assert all(line.startswith("cfevents:") for line in screen(shown))


def test_nothing_when_stderr_is_not_a_terminal(sandbox, tmp_path):
    code, shown, _, err = run(LONG_READS["usage list --all"], sandbox, tmp_path, stderr_tty=False)
    assert code == 0
    assert "reading" not in shown and b"reading" not in err and b"\r" not in err


def test_a_short_read_shows_nothing(sandbox, tmp_path):
    """One or two pages: the output as it was, no line to flash."""
    code, shown, _, _ = run(["usage", "list", "--limit", "300"], sandbox, tmp_path)
    assert code == 0
    assert "reading" not in shown


def test_the_line_fits_an_80_column_terminal(sandbox, tmp_path):
    code, shown, _, _ = run(LONG_READS["usage list --all"], sandbox, tmp_path, columns=80)
    assert code == 0
    drawn = re.findall(r"\r([^\r\n]*?)\x1b\[K", SGR.sub("", shown))
    assert any(LINE.search(line) for line in drawn)
    assert all(len(line) < 80 for line in drawn), max(drawn, key=len)


@pytest.fixture(scope="module")
def big_sandbox():
    """Three pages of app usage events in the report's window (a report counts events)."""
    from datetime import UTC, datetime

    from cfevents.sandbox import Sandbox, SandboxConfig

    end = datetime(2026, 3, 1, tzinfo=UTC)
    with Sandbox(SandboxConfig(seed=5, end=end, days=10, usage_events=12_000)).start() as sb:
        yield sb


def test_a_long_report_shows_it_then_only_its_table_and_notes(big_sandbox, tmp_path):
    window = ["usage", "report", "--since", "2026-02-20", "--until", "2026-02-28"]
    code, shown, _, _ = run(window, big_sandbox, tmp_path)
    assert code == 0, shown[-2000:]
    assert re.search(r"reading .*\d+/\? events · [\d,]+/s", SGR.sub("", shown))
    final = screen(shown)
    assert not any("reading" in line for line in final)
    code, quiet, _, _ = run([*window, "-q"], big_sandbox, tmp_path)
    assert code == 0 and "reading" not in quiet
    assert without_notes(final) == without_notes(screen(quiet))


def test_services_report_and_chargeback_feed_it_from_the_library(big_sandbox, tmp_path):
    """The library reports its reading through a plain callback (no rich, no terminal)."""
    from cfevents import connect

    rates = tmp_path / "rates.toml"
    rates.write_text(
        'currency = "EUR"\n[app]\nmemory_gb_hour = 0.01\n[task]\nmemory_gb_hour = 0.02\n'
        "[service_plans]\ndefault = 0.011\n"
    )
    window = {"since": "2026-02-20", "until": "2026-02-28"}
    with connect(big_sandbox.url, token=big_sandbox.admin_token()) as cf:
        services: list[int] = []
        report = cf.service_report(**window, progress=services.append, allow_incomplete=True)
        both: list[int] = []
        statement = cf.chargeback(
            **window, rates=str(rates), progress=both.append, allow_incomplete=True
        )
    assert services and services == sorted(services)
    assert report.rows is not None and statement.rows is not None
    assert both == sorted(both) and both[-1] > services[-1]  # app events, then service events
