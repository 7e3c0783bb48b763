"""Issue 19's "Done when": a collector started on the first of a month makes
``usage report --month last`` exact on the 5th of the next month, from history, with no API
request; before that it exits 7 with one line saying from when it will work, and ``--out``
leaves no file.

The sandbox keeps 31 days of usage events (pruned as Cloud Controller's daily cleanup does)
and runs its API clock at simulated days (``Sandbox.set_clock``: the sync trusts the API's
clock, as it does when the local clock is off); the report's own clock is the same simulated
day. Nothing waits for wall time. Figures are checked against the simulation's truth.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from cli_helpers import one_line_error
from conftest import Cli

import cfevents.timeparse
from cfevents.errors import ExitCode
from cfevents.sandbox import Sandbox, SandboxConfig

START = datetime(2026, 9, 1, 6, 0, tzinfo=UTC)  # the collector starts on the first of a month
RETENTION = timedelta(days=31)
SEPTEMBER = (datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC))


@pytest.fixture
def collector(tmp_path):
    sb = Sandbox(SandboxConfig(seed=29, end=START, days=45)).start()
    sb.set_clock(START)
    sb.prune_usage_events_before(START - RETENTION)
    yield sb, Cli(sb, tmp_path), str(tmp_path / "usage.db")
    sb.stop()


def live_day(sb: Sandbox, day: datetime) -> None:
    """A day on the foundation: events through the day, then CC's retention cleanup."""
    for hours in (2, 9, 15, 21):
        sb.append_usage_events(6, at=day - timedelta(days=1) + timedelta(hours=hours))
    sb.set_clock(day)
    sb.prune_usage_events_before(day - RETENTION)


def report_at(monkeypatch, cli: Cli, env: dict[str, str], when: datetime, *args: str):
    """``cfevents usage report`` as run on ``when`` (the report's clock, not the wall's)."""
    with monkeypatch.context() as patch:
        patch.setattr(cfevents.timeparse, "utcnow", lambda: when)
        return cli("usage", "report", *args, env=env)


def test_month_last_from_a_collector_started_on_the_first(monkeypatch, collector, tmp_path):
    sb, cli, store = collector
    init = cli("history", "init", store)
    assert init.exit_code == 0, init.stderr
    assert "the first whole month it can report is 2026-09" in init.stdout
    assert "after 2026-10-01T00:00:00Z" in init.stdout
    assert "history sync" in init.stdout and "OnCalendar=" in init.stdout
    env = cli.env(CFEVENTS_STORE=store)
    out = tmp_path / "out" / "august.csv"
    out.parent.mkdir()

    day = START
    while day < START + timedelta(days=34):  # daily syncs up to 2026-10-05
        day += timedelta(days=1)
        live_day(sb, day)
        synced = cli("history", "sync", store)
        assert synced.exit_code == 0, synced.stderr
        if day == START + timedelta(days=2):  # 2026-09-03: August is not in the history
            early = report_at(monkeypatch, cli, env, day, "--month", "last", "--out", str(out))
            assert early.exit_code == ExitCode.INCOMPLETE
            line = one_line_error(early)
            assert "2026-09" in line and "2026-10-01T00:00:00Z" in line, line
            assert list(out.parent.iterdir()) == []  # no file, not an empty one

    # 2026-10-05: Cloud Controller no longer has the first days of September ...
    sb.clear_requests()
    live = report_at(monkeypatch, cli, cli.env(), day, "--month", "last")
    assert live.exit_code == ExitCode.INCOMPLETE
    # ... the history has all of it: exact, and not one request to the API
    sb.clear_requests()
    args = ("--month", "last", "--by", "process", "-o", "json")
    result = report_at(monkeypatch, cli, env, day, *args)
    assert result.exit_code == 0, result.stderr
    assert sb.requests == []
    assert "window 2026-09-01T00:00:00Z .. 2026-10-01T00:00:00Z" in result.stderr
    assert "partial" not in result.stderr
    check_against_truth(sb, json.loads(result.stdout))

    written = report_at(monkeypatch, cli, env, day, "--month", "last", "--out", str(out))
    assert written.exit_code == 0, written.stderr
    assert out.read_text().count("\n") > 5


def check_against_truth(sb: Sandbox, rows: list[dict]) -> None:
    truth = sb.usage_truth(*SEPTEMBER)
    want = {
        g: (u.instance_seconds, u.memory_mb_seconds)
        for g, u in truth.items()
        if u.instance_seconds or u.memory_mb_seconds
    }
    got = {
        r["process_guid"]: (r["instance_seconds"], r["memory_mb_seconds"])
        for r in rows
        if r["process_guid"] and (r["instance_seconds"] or r["memory_mb_seconds"])
    }
    assert got == want and len(want) > 10
    tasks: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for task in sb.task_truth(*SEPTEMBER).values():
        tasks[task.app_guid][0] += task.seconds
        tasks[task.app_guid][1] += task.memory_mb_seconds
    got_tasks = {
        r["app_guid"]: [r["task_seconds"], r["task_memory_mb_seconds"]]
        for r in rows
        if r["process_type"] == "task" and r["process_guid"] is None and r["task_seconds"]
    }
    assert got_tasks == {a: v for a, v in tasks.items() if v != [0, 0]}


def test_history_status_per_foundation_and_kind(collector):
    sb, cli, store = collector
    missing = cli("history", "status")
    assert missing.exit_code == ExitCode.USAGE and "CFEVENTS_STORE" in one_line_error(missing)
    assert cli("history", "init", store).exit_code == 0
    result = cli("history", "status", store, "-o", "json")
    assert result.exit_code == 0, result.stderr
    rows = {row["kind"]: row for row in json.loads(result.stdout)}
    app = rows["app_usage_events"]
    assert app["foundation"] == sb.url
    assert app["rows"] == len(sb.foundation.store)  # every event CC still had
    assert app["first_event"] >= "2026-08-01T06:00:00Z"
    synced = datetime.strptime(app["last_sync"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert START <= synced < START + timedelta(minutes=5)  # the API's clock, not the wall's
    complete = synced - timedelta(seconds=60)  # the sync's CC time less its min-age
    assert app["complete_until"] == complete.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (app["gaps"], app["reseeds"], app["first_month"]) == (0, 0, "2026-09")
    assert app["months"] == ""  # no whole month yet
    assert rows["service_usage_events"]["rows"] > 0


def test_history_status_of_a_missing_store_creates_nothing(tmp_path):
    from conftest import Cli

    cli = Cli(None, tmp_path)
    missing = tmp_path / "nothing.db"
    result = cli("history", "status", str(missing), env={"CF_HOME": str(tmp_path)})
    assert result.exit_code == ExitCode.USAGE
    assert "history init" in one_line_error(result)
    assert not missing.exists()
