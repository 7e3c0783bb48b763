"""Why it crashed: --reason, --exit-status and --oom on crashes, summaries and follows (checked
against the sandbox's own crashes), the summary's rate, and its last exit description on an
80-column terminal."""

from __future__ import annotations

import csv
import io
import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from test_tty import run_on_tty

from cfevents.api import connect
from cfevents.errors import UsageError
from cfevents.events.audit import per_hour
from cfevents.events.crashfilter import CrashFilter, crash_filter, exit_status, is_oom


@pytest.mark.parametrize(
    ("crash", "status", "oom"),
    [
        ({"exit_status": 137}, 137, True),
        ({"exit_status": "137"}, 137, True),
        ({"exit_description": "APP/PROC/WEB: Exited with status 137 (out of memory)"}, 137, True),
        ({"exit_description": "APP/PROC/WEB: Exited with status 1"}, 1, False),
        ({"exit_description": "Instance never healthy after 1m0s"}, None, False),
        ({"reason": "CRASHED", "exit_description": "container OOM killed"}, None, True),
        ({"exit_status": 2, "exit_description": "Exited with status 137"}, 2, False),
        ({"exit_status": True}, None, False),
    ],
)
def test_exit_status_and_oom(crash, status, oom):
    assert exit_status(crash) == status
    assert is_oom(crash) is oom


def test_filter_rules():
    crash = {"reason": "CRASHED", "exit_description": "Failed to make TCP connection to port 8080"}
    assert CrashFilter(reasons=("tcp connection",)).matches(crash)
    assert CrashFilter(reasons=("crashed",)).matches(crash)
    assert not CrashFilter(reasons=("http",)).matches(crash)
    assert not CrashFilter(reasons=("tcp",), oom=True).matches(crash)
    assert crash_filter(["a, b"], ["1,137", 2]) == CrashFilter(("a", "b"), (1, 137, 2))
    assert not crash_filter()
    for bad in (["x"], ["256"], ["-1"]):
        with pytest.raises(UsageError, match=r"^exit_statuses: "):
            crash_filter(statuses=bad)
    with pytest.raises(UsageError, match=r"^reasons: "):
        crash_filter(reasons=[" "])


def test_per_hour():
    assert per_hour(1, 0, 0) is None
    assert per_hour(3, 0, 3600) == 2.0
    assert per_hour(2, 0, 5 * 86400) == 0.00833
    assert per_hour(2, 10, 10) == 3600.0  # same second: at most one a second


def _truth(sandbox):
    return {c.process_event_guid: c for c in sandbox.foundation.crashes()}


def _rows(result):
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_oom_exit_status_and_reason_match_the_sandboxs_crashes(cli, sandbox):
    truth = _truth(sandbox)
    fields = ("--all", "-o", "csv", "--fields", "process_crash_guid")

    def expect(keep):
        return sorted(g for g, c in truth.items() if keep(c))

    oom = _rows(cli("crashes", "--oom", *fields))
    assert sorted(r["process_crash_guid"] for r in oom) == expect(
        lambda c: "out of memory" in c.exit_description or str(c.exit_status) == "137"
    )
    one = _rows(cli("crashes", "--exit-status", "1", *fields))
    assert sorted(r["process_crash_guid"] for r in one) == expect(
        lambda c: (
            str(c.exit_status) == "1"
            if c.exit_status is not None
            else c.exit_description.endswith("Exited with status 1")
        )
    )
    refused = _rows(cli("crashes", "--reason", "CONNECTION REFUSED", *fields))
    assert sorted(r["process_crash_guid"] for r in refused) == expect(
        lambda c: "connection refused" in c.exit_description
    )
    assert oom and one and refused


def test_summary_with_oom_counts_only_oom_kills(cli, sandbox):
    rows = _rows(cli("crashes", "--summary", "--all", "--oom", "-o", "csv"))
    counts: dict[str, int] = {}
    for c in sandbox.foundation.crashes():
        if "out of memory" in c.exit_description or str(c.exit_status) == "137":
            counts[c.app_guid] = counts.get(c.app_guid, 0) + 1
    assert {r["app.guid"]: int(r["crashes"]) for r in rows} == counts
    assert all(r["per_hour"] == "" or float(r["per_hour"]) > 0 for r in rows)


def test_a_filter_that_matches_nothing_says_how_much_it_read(cli):
    result = cli("crashes", "--reason", "no such text anywhere", "--all", "-o", "ndjson")
    assert result.exit_code == 0 and result.stdout == ""
    assert "none matched --reason 'no such text anywhere'" in result.stderr


def test_follow_filters_live_crashes(tmp_path):
    from cfevents.sandbox import Sandbox, SandboxConfig

    end = datetime(2026, 3, 1, tzinfo=UTC)
    with Sandbox(SandboxConfig(seed=4, end=end, days=2)).start() as sb:
        app = sb.foundation.apps[0].guid
        sb.append_crash(app, end + timedelta(minutes=1), "APP/PROC/WEB: Exited with status 1")
        oom = sb.append_crash(
            app, end + timedelta(minutes=2), "APP/PROC/WEB: Exited with status 137 (out of memory)"
        )
        stop = threading.Event()
        got = []
        with connect(sb.url, sb.admin_token(), env={}) as cf:
            for crash in cf.follow_crashes(since=end.isoformat(), interval=5, stop=stop, oom=True):
                got.append(crash)
                stop.set()
        assert [c["process_crash_guid"] for c in got] == [oom.process_event_guid]


def test_summary_on_an_80_column_terminal_shows_the_last_exit_description(sandbox, tmp_path):
    code, out = run_on_tty(
        ["crashes", "--summary", "--limit", "6"],
        {"CF_HOME": str(tmp_path), "COLUMNS": "80", "NO_COLOR": "1"},
        sandbox,
    )
    assert code == 0
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in out.replace("\r\n", "\n").splitlines()]
    lines = [line for line in lines if line.strip()]
    assert all(len(line) <= 80 for line in lines)
    header_end = next(i for i, line in enumerate(lines) if re.search(r"\d{4}-\d\d-\d\dT", line))
    header = " ".join(lines[:header_end])
    assert "description" in header and "hour" in header  # the column is there, not hidden
    rows = [line for line in lines[header_end:] if re.search(r"\d{4}-\d\d-\d\dT", line)]
    assert len(rows) == 6
    for row in rows:  # each crash's why is on screen (cut with an ellipsis if need be)
        assert re.search(r"(APP/PROC|Instance)\S*", row), row
