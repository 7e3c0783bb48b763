"""Reports from history (cfevents.report.history) against live reports over real HTTP.

A store written by ``usage export --out`` (SQLite and PostgreSQL) and an NDJSON export give the
same report as Cloud Controller for a window inside retention, and still report the window
after the sandbox pruned those events from the API (where the live report exits 7).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

import cfevents
from cfevents.errors import ExitCode, IncompleteDataError
from cfevents.report import CloudControllerSource, Window, usage_report
from cfevents.report.history import NdjsonSource, StoreSource, history_report, history_source
from cfevents.sandbox import Sandbox, SandboxConfig

END = datetime(2026, 3, 1, tzinfo=UTC)
WINDOW = Window(END - timedelta(days=4), END - timedelta(days=1))


@pytest.fixture
def own_sandbox():
    sb = Sandbox(SandboxConfig(seed=5, end=END, days=10)).start()
    yield sb
    sb.stop()


@pytest.fixture
def own_cli(own_sandbox, tmp_path):
    from conftest import Cli

    return Cli(own_sandbox, tmp_path)


def live_report(sb: Sandbox, window: Window = WINDOW, **kwargs):
    with cfevents.connect(api=sb.url, token=sb.admin_token()) as cf:
        return usage_report(CloudControllerSource(cf.http, sb.url), window, now=END, **kwargs)


def same(a, b) -> None:
    assert a.rows == b.rows
    assert a.totals == b.totals
    assert a.rows, "an empty report proves nothing"


def without_org_names(rows):
    return sorted(({**row, "org_name": None} for row in rows), key=lambda row: row["app_guid"])


def test_a_report_from_the_store_equals_the_live_report(own_cli, own_sandbox, store_target):
    assert own_cli("usage", "export", "--out", store_target).exit_code == 0
    live = live_report(own_sandbox)
    by_org = live_report(own_sandbox, by="org", daily=True)
    with history_source(store_target) as source:
        assert isinstance(source, StoreSource)
        assert source.foundation == own_sandbox.url
        same(usage_report(source, WINDOW, now=END), live)
        same(usage_report(source, WINDOW, now=END, by="org", daily=True), by_org)
        assert history_report(source, WINDOW).rows == live.rows  # ends at the horizon

    # the API forgets the window; the store still has it
    own_sandbox.prune_usage_events_before(END - timedelta(hours=12))
    with pytest.raises(IncompleteDataError) as gone:
        live_report(own_sandbox)
    assert gone.value.exit_code == ExitCode.INCOMPLETE
    with history_source(store_target) as source:
        same(usage_report(source, WINDOW, now=END), live)


def test_a_window_after_the_snapshot_replays_from_it(fresh_cli, fresh_sandbox, tmp_path):
    """An app stopped after the store's snapshot, with no event in the window: not running."""
    target = str(tmp_path / "usage.db")
    t_s = datetime.now(UTC).replace(microsecond=0)
    assert fresh_cli("usage", "export", "--out", target, "--min-age", "0s").exit_code == 0
    with history_source(target) as source:
        started = [app["guid"] for app in source.snapshot().apps if app["state"] == "STARTED"]
    assert fresh_sandbox.perform("stop", started[0], at=t_s + timedelta(seconds=10))
    assert fresh_cli("usage", "export", "--out", target, "--min-age", "0s").exit_code == 0
    window = Window(t_s + timedelta(seconds=30), t_s + timedelta(seconds=90))
    now, quick = t_s + timedelta(seconds=120), {"min_age": timedelta(0), "margin": timedelta(0)}
    with cfevents.connect(api=fresh_sandbox.url, token=fresh_sandbox.admin_token()) as cf:
        live = usage_report(CloudControllerSource(cf.http, cf.api), window, now=now, **quick)
    with history_source(target) as source:
        report = usage_report(source, window, now=now, **quick)
    assert [r for r in live.rows if r["app_guid"] == started[0]] == []
    assert report.rows == live.rows and report.totals == live.totals


def test_a_report_from_an_ndjson_export(own_cli, own_sandbox, tmp_path):
    out = tmp_path / "usage.ndjson"
    assert own_cli("usage", "export", "--out", str(out)).exit_code == 0
    live = live_report(own_sandbox, opening="events")
    with history_source(out, foundation=own_sandbox.url) as source:
        assert isinstance(source, NdjsonSource)
        report = usage_report(source, WINDOW, now=END, opening="events")
    # a file holds no org names: everything else is the live report's
    assert without_org_names(report.rows) == without_org_names(live.rows)
    assert report.totals == live.totals
    with history_source(out, foundation=own_sandbox.url) as source:
        assert source.horizon is not None and source.horizon <= END
        with pytest.raises(cfevents.errors.UsageError, match="no opening snapshot"):
            usage_report(source, WINDOW, now=END)  # a file holds no snapshot


def test_a_window_before_the_first_stored_event_is_incomplete(own_cli, own_sandbox, tmp_path):
    target = str(tmp_path / "usage.db")
    guids = own_sandbox.foundation.store
    after = guids.guid(len(guids) // 2)  # the store starts in the middle of the history
    assert own_cli("usage", "export", "--out", target, "--after-guid", after).exit_code == 0
    with history_source(target) as source, pytest.raises(IncompleteDataError):
        usage_report(source, Window(END - timedelta(days=9), END - timedelta(days=8)), now=END)


def test_a_hole_in_seq_inside_the_window_is_incomplete(own_cli, own_sandbox, tmp_path):
    target = tmp_path / "usage.db"
    assert own_cli("usage", "export", "--out", str(target)).exit_code == 0
    with sqlite3.connect(target) as conn:
        conn.execute(
            "delete from app_usage_events where created_at >= ? and created_at < ?",
            ("2026-02-26T00:00:00Z", "2026-02-26T06:00:00Z"),
        )
    with history_source(str(target)) as source, pytest.raises(IncompleteDataError, match="seq"):
        usage_report(source, WINDOW, now=END)
    with history_source(str(target), allow_incomplete=True) as source:
        report = history_report(source, WINDOW, now=END)
    assert any("seq" in problem for problem in report.meta["incomplete"])
    # a hole before the window does not matter
    with history_source(str(target)) as source:
        usage_report(source, Window(END - timedelta(days=2), END - timedelta(days=1)), now=END)


def test_not_a_history(tmp_path):
    with pytest.raises(cfevents.errors.UsageError, match="neither a store"):
        history_source(str(tmp_path / "nothing.csv"))
