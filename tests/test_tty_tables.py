"""Tables people can read: at 80 columns on a pseudo-terminal no header splits mid-word and no
timestamp wraps, GUIDs are short (full with -o wide), crashes get an age, --local-time works,
and piped output is untouched (the golden files check its bytes)."""

import re

import pytest
from test_tty import run_on_tty

from cfevents.output.columns import COLUMN_SETS, LABELS
from cfevents.output.formatters import age, fit_widths, local_time

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)")
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
COMMANDS = [["usage", "list"], ["crashes"], ["events", "list"]]


def _header_words():
    words = {"age"}
    for columns in COLUMN_SETS.values():
        for column in [*columns.columns, *(columns.table or ())]:
            words.update(LABELS.get(column, column).split())
    return words


def _lines(out):
    return [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in out.replace("\r\n", "\n").splitlines()]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_80_columns_no_split_header_or_wrapped_timestamp(command, sandbox, tmp_path):
    code, out = run_on_tty(
        [*command, "--limit", "5"],
        {"CF_HOME": str(tmp_path), "COLUMNS": "80", "NO_COLOR": "1"},
        sandbox,
    )
    assert code == 0
    lines = [line for line in _lines(out) if line.strip()]
    assert lines and all(len(line) <= 80 for line in lines)
    first_row = next(i for i, line in enumerate(lines) if TIMESTAMP.match(line))
    header = [word for line in lines[:first_row] for word in line.split()]
    assert header and set(header) <= _header_words(), header
    rows = [line for line in lines[first_row:] if TIMESTAMP.match(line)]
    assert len(rows) == 5  # each row starts with a whole timestamp
    for line in lines[first_row:]:  # and no piece of one wraps onto a line of its own
        assert not re.match(r"\s*(\d\d:\d\d|T\d\d|:\d\dZ|\d\dZ\b)", line), line
    assert not GUID.search(out)  # shortened on a terminal


def test_wide_shows_full_guids(sandbox, tmp_path):
    code, out = run_on_tty(
        ["usage", "list", "--limit", "2", "-o", "wide"],
        {"CF_HOME": str(tmp_path), "COLUMNS": "300"},
        sandbox,
    )
    assert code == 0
    assert GUID.search(out)


def test_crashes_on_a_terminal_have_an_age(sandbox, tmp_path):
    code, out = run_on_tty(
        ["crashes", "--limit", "3"], {"CF_HOME": str(tmp_path), "COLUMNS": "200"}, sandbox
    )
    assert code == 0
    lines = _lines(out)
    assert "age" in lines[0].split()
    ages = [line.split()[1] for line in lines[1:] if TIMESTAMP.match(line)]
    assert ages and all(re.fullmatch(r"\d+[smhd]", a) for a in ages), ages


def test_local_time_on_a_terminal_and_piped(sandbox, tmp_path, cli):
    code, out = run_on_tty(
        ["--local-time", "crashes", "--limit", "2"],
        {"CF_HOME": str(tmp_path), "COLUMNS": "200", "TZ": "Asia/Kolkata"},
        sandbox,
    )
    assert code == 0
    assert "+05:30" in out and "Z " not in out
    piped = cli("crashes", "--limit", "2", "--local-time")  # in-process: this process's zone
    assert piped.exit_code == 0
    assert re.search(r"T\d\d:\d\d:\d\d[+-]\d\d:\d\d ", piped.stdout)
    machine = cli("crashes", "--limit", "2", "--local-time", "-o", "csv")
    assert re.search(r"T\d\d:\d\d:\d\dZ", machine.stdout)  # machine formats keep CC's UTC


def test_local_time_and_age_helpers():
    assert local_time("not a time") == "not a time"
    assert age("2026-01-01T00:00:00Z", now=1767225600 + 3 * 3600 + 5) == "3h"
    assert age("2026-01-01T00:00:00Z", now=1767225600 + 42) == "42s"
    assert age("2026-01-01T00:00:00Z", now=1767225600 + 2 * 86400) == "2d"


def test_fit_widths_keeps_minimums_and_hides_what_cannot_fit():
    widths, kept = fit_widths([20, 30, 30], [20, 5, 5], 40, ["time", "a", "b"])
    assert kept == [0, 1, 2] and sum(widths) + 4 <= 40 and widths[0] == 20
    widths, kept = fit_widths([20, 9, 9], [20, 9, 9], 35, ["time", "cell", "app"])
    assert kept == [0, 2]  # "cell" is hidden before the rightmost column
