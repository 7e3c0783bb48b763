"""events list --follow: the crashes' keyset follow over audit events, with types and scope
filters, each event once, oldest first; a clean stop exits 143."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from datetime import UTC, datetime, timedelta

import pytest
from cli_helpers import QUICK_POLL_CFEVENTS, one_line_error, wait_for

from cfevents.api import connect
from cfevents.events import bounds
from cfevents.events.follow import KeysetCursor

END = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_keyset_cursor():
    cursor = KeysetCursor(END, lag=60)
    assert cursor.since() == "2026-03-01T12:00:00Z"
    assert cursor.fresh("2026-03-01T12:05:00Z", ["a"])
    assert not cursor.fresh("2026-03-01T12:05:00Z", ["a", "a2"])  # gained a GUID: still seen
    assert not cursor.fresh("2026-03-01T12:05:00Z", ["a2"])
    assert cursor.since() == "2026-03-01T12:04:00Z"
    assert cursor.fresh("2026-03-01T12:01:00Z", ["late"])  # late, but new
    cursor.prune()
    assert cursor.since() == "2026-03-01T12:04:00Z"  # the cursor never moves back


@pytest.fixture
def live():
    from cfevents.sandbox import Sandbox, SandboxConfig

    sb = Sandbox(SandboxConfig(seed=4, end=END, days=2)).start()
    yield sb
    sb.stop()


def test_follow_events_filters_by_type_and_app_and_hands_out_each_once(live, monkeypatch):
    # the 5 s floor is CC politeness (tested in test_one_path.py and test_bad_server.py);
    # this test needs many polls, so it lowers the floor
    monkeypatch.setattr(bounds, "MIN_INTERVAL_S", 0.1)
    web, other = live.foundation.apps[0], live.foundation.apps[1]
    stop = threading.Event()
    got: list[dict] = []
    polls = threading.Event()

    def follow():
        with connect(live.url, live.admin_token(), env={}) as cf:
            for event in cf.follow_events(
                since=END.isoformat(),
                interval=0.2,
                stop=stop,
                types=["app.crash"],
                app=[web.guid],
            ):
                got.append(event)
                polls.set()

    worker = threading.Thread(target=follow)
    worker.start()
    try:
        first = live.append_crash(web.guid, END + timedelta(minutes=1))
        live.append_crash(other.guid, END + timedelta(minutes=1))  # another app: not shown
        wait_for(lambda: len(got) == 1)
        second = live.append_crash(web.guid, END + timedelta(minutes=2))
        wait_for(lambda: len(got) == 2)
        polled = len([r for r in live.requests if r.path == "/v3/audit_events"])
        wait_for(
            lambda: len([r for r in live.requests if r.path == "/v3/audit_events"]) > polled + 2
        )
    finally:
        stop.set()
        worker.join(timeout=60)
    assert [e["guid"] for e in got] == [first.app_event_guid, second.app_event_guid]
    assert {e["type"] for e in got} == {"app.crash"}
    params = dict([r for r in live.requests if r.path == "/v3/audit_events"][-1].params)
    assert params["types"] == "app.crash" and params["target_guids"] == web.guid


def test_events_list_follow_over_http_stops_with_143(live, tmp_path):
    env = {
        **os.environ,
        "CF_API": live.url,
        "CF_TOKEN": live.admin_token(),
        "CF_HOME": str(tmp_path),
        "CFEVENTS_OUTPUT": "",
    }
    proc = subprocess.Popen(
        [
            *QUICK_POLL_CFEVENTS,
            "events",
            "list",
            "--follow",
            "--since",
            END.isoformat(),
            "--interval",
            "1s",
            "--type",
            "audit.app.process.crash",
            "-o",
            "json",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out_lines: list[str] = []
    try:
        crash = live.append_crash(live.foundation.apps[0].guid, END + timedelta(minutes=1))
        out_lines.append(proc.stdout.readline())
        polled = len([r for r in live.requests if r.path == "/v3/audit_events"])
        wait_for(lambda: len([r for r in live.requests if r.path == "/v3/audit_events"]) > polled)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    events = [json.loads(line) for line in out_lines + out.splitlines()]  # one object per line
    assert [e["guid"] for e in events] == [crash.process_event_guid]
    assert "stopped following (1 event shown)" in err


def test_events_follow_usage_errors(cli):
    result = cli("events", "list", "--follow", "--until", "1h")
    assert result.exit_code == 2 and "--follow" in one_line_error(result)
    result = cli("events", "list", "--follow", "--interval", "0s")
    assert result.exit_code == 2 and "--interval" in one_line_error(result)
