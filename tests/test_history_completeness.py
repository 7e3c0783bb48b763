"""A store knows how far it is complete (issue 19, item 2).

Each export pass that reads to the end records, per foundation and kind, the instant up to which
the store holds every event (the pass's Cloud Controller time less its min-age). A report from
the store counts to the window's end when the store was synced past it — equal to the live
report row for row and to the simulation's truth — and a store that lacks part of the window
says so, naming the store, not Cloud Controller.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from cli_helpers import one_line_error

import cfevents
from cfevents.errors import ExitCode, IncompleteDataError
from cfevents.report import CloudControllerSource, Window, usage_report
from cfevents.report.history import history_report, history_source
from cfevents.sandbox import Sandbox, SandboxConfig
from cfevents.stores import APP_USAGE, open_store

END = datetime(2026, 3, 1, tzinfo=UTC)  # the sandbox's last event is before this: a quiet end
QUIET = Window(END - timedelta(days=2), END + timedelta(days=1))


@pytest.fixture
def own_sandbox():
    sb = Sandbox(SandboxConfig(seed=5, end=END, days=10)).start()
    yield sb
    sb.stop()


@pytest.fixture
def own_cli(own_sandbox, tmp_path):
    from conftest import Cli

    return Cli(own_sandbox, tmp_path)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def live_report(sb: Sandbox, window: Window, now: datetime, **kwargs):
    with cfevents.connect(api=sb.url, token=sb.admin_token()) as cf:
        return usage_report(CloudControllerSource(cf.http, sb.url), window, now=now, **kwargs)


def test_an_export_records_how_far_the_store_is_complete(own_cli, own_sandbox, store_target):
    before = datetime.now(UTC).replace(microsecond=0)
    assert own_cli("usage", "export", "--out", store_target, "--min-age", "2m").exit_code == 0
    with open_store(store_target) as store:
        state = store.sync_state(own_sandbox.url, APP_USAGE)
    assert state is not None
    synced = datetime.strptime(state.synced_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    complete = datetime.strptime(state.complete_until, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before - timedelta(seconds=5) <= synced <= datetime.now(UTC) + timedelta(seconds=5)
    assert complete == synced - timedelta(minutes=2)  # the sync's CC time less the min-age


def test_a_report_from_a_store_synced_past_a_quiet_end_counts_to_it(
    own_cli, own_sandbox, store_target
):
    """0.2.0 counted only to the last stored event (every row lower, exit 0)."""
    assert own_cli("usage", "export", "--out", store_target).exit_code == 0
    live = live_report(own_sandbox, QUIET, now=END + timedelta(days=2), by="process")
    assert not live.meta["partial"]
    with history_source(store_target) as source:
        stored = history_report(source, QUIET, by="process")
    assert stored.meta["effective_end"] == iso(QUIET.end)
    assert not stored.meta["partial"]
    assert stored.rows == live.rows and stored.totals == live.totals
    truth = own_sandbox.usage_truth(QUIET.start, QUIET.end)
    want = {g: u.instance_seconds for g, u in truth.items() if u.instance_seconds}
    got = {r["process_guid"]: r["instance_seconds"] for r in stored.rows if r["instance_seconds"]}
    assert got == want and got
    # the CLI, by org, row for row
    result = own_cli(
        "usage", "report", "--input", store_target, "--since", iso(QUIET.start),
        "--until", iso(QUIET.end), "--by", "org", "-o", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    by_org = live_report(own_sandbox, QUIET, now=END + timedelta(days=2), by="org")
    assert json.loads(result.stdout) == by_org.rows
    assert f"counted to {iso(QUIET.end)}" in result.stderr and "partial" not in result.stderr


def test_a_store_not_synced_past_the_window_end_exits_7_naming_the_store(
    own_cli, own_sandbox, tmp_path
):
    target = str(tmp_path / "usage.db")
    until = END - timedelta(days=1)
    assert own_cli("usage", "export", "--out", target, "--until", iso(until)).exit_code == 0
    window = ["--since", iso(END - timedelta(days=3)), "--until", iso(END)]
    result = own_cli("usage", "report", "--input", target, *window)
    assert result.exit_code == ExitCode.INCOMPLETE
    line = one_line_error(result)
    assert target in line and f"only up to {iso(until)}" in line and "history sync" in line
    assert "Cloud Controller" not in line
    allowed = own_cli("usage", "report", "--input", target, *window, "--allow-incomplete")
    assert allowed.exit_code == 0, allowed.stderr
    assert f"counted to {iso(until)} (partial" in allowed.stderr

    # a store written by cfevents 0.2 records no sync: it cannot know it is complete
    assert own_cli("usage", "export", "--out", target).exit_code == 0
    with sqlite3.connect(target) as conn:
        conn.execute("DELETE FROM cfevents_syncs")
    result = own_cli("usage", "report", "--input", target, *window)
    assert result.exit_code == ExitCode.INCOMPLETE
    assert "records no completed sync" in one_line_error(result)


def test_a_store_lacking_the_window_start_names_itself(own_cli, own_sandbox, tmp_path):
    target = str(tmp_path / "usage.db")
    events = own_sandbox.foundation.store
    after = events.guid(len(events) // 2)  # the store starts in the middle of the history
    assert own_cli("usage", "export", "--out", target, "--after-guid", after).exit_code == 0
    with history_source(target) as source, pytest.raises(IncompleteDataError) as caught:
        usage_report(source, Window(END - timedelta(days=9), END - timedelta(days=8)), now=END)
    message = caught.value.message
    assert f"the oldest usage event in the store {target}" in message
    assert "Cloud Controller" not in message
    assert "first whole month it can report" in message


def test_month_last_this_and_strict_yyyy_mm():
    from cfevents.errors import UsageError
    from cfevents.report import month_window, window_from_options

    now = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    last = window_from_options("last", None, None, now)
    assert (last.start, last.end) == (
        datetime(2025, 12, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
    )
    this = month_window("this", now)
    assert (this.start, this.end) == (
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 2, 1, tzinfo=UTC),
    )
    assert month_window("LAST", datetime(2026, 3, 31, 23, 59, tzinfo=UTC)).start == datetime(
        2026, 2, 1, tzinfo=UTC
    )
    for bad in (
        "2026-1",
        "2026-13",
        "2026-00",
        "2026-05-01",
        "26-05",
        "0000-01",
        "x",
        "２０２６-05",
    ):
        with pytest.raises(UsageError, match="YYYY-MM"):
            month_window(bad, now)


def test_report_out_writes_only_a_complete_report(own_cli, own_sandbox, tmp_path):
    target = str(tmp_path / "usage.db")
    assert own_cli("usage", "export", "--out", target).exit_code == 0
    env = own_cli.env(CFEVENTS_STORE=target)
    window = ["--since", iso(QUIET.start), "--until", iso(QUIET.end), "--by", "org"]
    # exit 7 (the store starts after this window): no file, not an empty one, no temp file
    out = tmp_path / "reports" / "usage.csv"
    out.parent.mkdir()
    gone = own_cli("usage", "report", "--month", "2025-12", "--out", str(out), env=env)
    assert gone.exit_code == ExitCode.INCOMPLETE, gone.stderr
    assert "the first whole month it can report" in one_line_error(gone)
    assert list(out.parent.iterdir()) == []

    own_sandbox.clear_requests()
    written = own_cli("usage", "report", *window, "--out", str(out), env=env)
    assert written.exit_code == 0, written.stderr
    assert own_sandbox.requests == []  # CFEVENTS_STORE: from history, no API request
    assert written.stdout == ""
    shown = own_cli("usage", "report", *window, "-o", "csv", env=env)
    assert out.read_text() == shown.stdout and shown.stdout.count("\n") > 2
    assert [p.name for p in out.parent.iterdir()] == ["usage.csv"]

    again = own_cli("usage", "report", *window, "--out", str(out), env=env)
    assert again.exit_code == ExitCode.USAGE and "--force" in one_line_error(again)
    forced = own_cli(
        "usage", "report", *window, "--out", str(out), "--force", "-o", "json", env=env
    )
    assert forced.exit_code == 0 and json.loads(out.read_text())

    live = own_cli("usage", "report", *window, "--live", "-o", "csv", env=env)
    assert live.exit_code == 0 and own_sandbox.requests  # --live reads Cloud Controller


def test_each_sync_records_new_and_renamed_orgs(own_cli, own_sandbox, tmp_path):
    import dataclasses

    target = str(tmp_path / "usage.db")
    assert own_cli("usage", "export", "--out", target).exit_code == 0
    orgs = own_sandbox.foundation.orgs
    orgs[0] = dataclasses.replace(orgs[0], name="acme-renamed")
    assert own_cli("usage", "export", "--out", target).exit_code == 0
    assert own_cli("usage", "export", "--out", target).exit_code == 0  # nothing new: no row
    with open_store(target) as store:
        assert store.names(own_sandbox.url)[orgs[0].guid] == "acme-renamed"
        assert len(store.snapshot_parts(own_sandbox.url, "organizations")) == 2


def test_a_long_report_read_shows_progress_on_a_terminal(monkeypatch, tmp_path):
    """0.2.0 printed nothing for 17 s while a report read 99k events on a terminal."""
    from conftest import Cli

    from cfevents.cli.environment import Environment

    with Sandbox(SandboxConfig(seed=5, end=END, days=10, usage_events=12_000)).start() as sb:
        cli = Cli(sb, tmp_path)
        window = ["--since", "2026-02-20", "--until", "2026-02-28", "-o", "csv"]
        quiet = cli("usage", "report", *window)  # not a terminal: no bar
        assert quiet.exit_code == 0 and "reading" not in quiet.stderr
        monkeypatch.setattr(Environment, "stderr_isatty", lambda self: True)
        shown = cli("usage", "report", *window)
    assert shown.exit_code == 0, shown.stderr
    assert "reading" in shown.stderr and "10862/? events" in shown.stderr  # every event read
    assert shown.stdout == quiet.stdout


def test_store_tables_and_flat_files_carry_org_names(own_cli, own_sandbox, tmp_path):
    """0.2.0: org_guid only; an SQL user had to JSON-join cfevents_snapshots for the name."""
    import csv

    names = {org.guid: org.name for org in own_sandbox.foundation.orgs}
    target = tmp_path / "usage.db"
    assert own_cli("usage", "export", "--out", str(target)).exit_code == 0
    with sqlite3.connect(target) as conn:
        stored = conn.execute(
            "SELECT org_guid, org_name, app_name, space_name FROM app_usage_events"
        )
        rows = stored.fetchall()
        raw = conn.execute("SELECT raw FROM app_usage_events LIMIT 1").fetchone()[0]
    assert rows and all(names[org] == name and app and space for org, name, app, space in rows)
    assert '"name"' not in json.loads(raw)["organization"]  # raw stays CC's event as sent
    flat = tmp_path / "flat.csv"
    result = own_cli("usage", "export", "--flat", "--out", str(flat), "--until", "2026-02-25")
    assert result.exit_code == 0, result.stderr
    with flat.open() as handle:
        records = list(csv.DictReader(handle))
    assert records and all(names[r["org_guid"]] == r["org_name"] for r in records)
