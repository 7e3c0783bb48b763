"""Issue 19's accounting edges: ``services report --by plan`` gives one row per plan (0.2.0
gave one per plan and space), checked against the sandbox's own timeline."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from conftest import END
from test_report_services import first_updates, source, truth_for

from cfevents.report import Window
from cfevents.report.services import service_report


def test_services_by_plan_is_one_row_per_plan(sandbox):
    window = Window(END - timedelta(days=20), END - timedelta(days=3))
    report = service_report(source(sandbox), window, by="plan", min_age=timedelta(0), now=END)
    plans = Counter(row["service_plan_guid"] for row in report.rows)
    assert plans and max(plans.values()) == 1, plans
    assert "space_guid" not in report.rows[0] and "org_guid" not in report.rows[0]
    assert {"service_offering_name", "service_plan_name"} <= set(report.rows[0])
    want: Counter[str | None] = Counter()
    for seconds in truth_for(sandbox, window, False, first_updates(sandbox)).values():
        want.update(seconds)
    got = {r["service_plan_guid"]: r["service_seconds"] for r in report.rows}
    assert got == {plan: n for plan, n in want.items() if n}


def test_a_deleted_org_shows_its_guid_and_is_flagged(cli, sandbox, tmp_path):
    """0.2.0 printed a deleted org's usage as a row with a blank name (and, in a table, no
    guid). An org the store's syncs never saw is one deleted before the first sync."""
    import json
    import sqlite3

    target = str(tmp_path / "usage.db")
    assert cli("usage", "export", "--out", target).exit_code == 0
    with sqlite3.connect(target) as conn:
        orgs = json.loads(
            conn.execute(
                "SELECT raw FROM cfevents_snapshots WHERE kind = 'organizations'"
            ).fetchone()[0]
        )
        gone = orgs[0]["guid"]
        kept = json.dumps([org for org in orgs if org["guid"] != gone])
        conn.execute("UPDATE cfevents_snapshots SET raw = ? WHERE kind = 'organizations'", (kept,))
    window = ["--since", "2026-01-20", "--until", "2026-01-30", "--input", target, "--by", "org"]
    result = cli("usage", "report", *window, "-o", "json")
    assert result.exit_code == 0, result.stderr
    rows = {row["org_guid"]: row for row in json.loads(result.stdout)}
    assert rows[gone]["org_name"] == gone and "org_deleted" in rows[gone]["flags"]
    assert rows[gone]["instance_seconds"] > 0
    others = [row for guid, row in rows.items() if guid != gone]
    assert others and all(r["org_name"] and "org_deleted" not in r["flags"] for r in others)
    table = cli("usage", "report", *window)
    assert gone in table.stdout  # a table shows names only: the guid stands in for it


def test_an_event_stamped_a_day_ahead_does_not_stretch_usage():
    """0.2.0 clamped the STOP after a no-op STARTED stamped a day in the future to that day:
    the process was billed until the window's end, and only a stderr counter said so."""
    from report_helpers import ev, report, row

    events = [
        ev("10:00", "P1", "STARTED", "STOPPED"),
        ev("2024-05-02T10:00Z", "P1", "STARTED", "STARTED"),  # a no-op update, a day ahead
        ev("10:30", "P2", "STARTED", "STOPPED"),
        ev("12:00", "P1", "STOPPED", "STARTED"),
        ev("12:00", "P2", "STOPPED", "STARTED"),
    ]
    rep = report(events)
    p1 = row(rep, process_guid="P1")
    assert p1["instance_seconds"] == 2 * 3600  # 10:00 to 12:00, not to the window's end
    assert "clock_outlier" in p1["flags"]
    assert "clock_outlier" not in row(rep, process_guid="P2")["flags"]
    assert rep.meta["counters"]["clock_outliers"] == 1
    # within the margin, CC's same-transaction inversions stay clamped as before
    near = [
        ev("10:00:10", "P1", "STARTED", "STOPPED"),
        ev("10:00:00", "P1", "STOPPED", "STARTED"),
    ]
    assert report(near).meta["counters"]["clock_outliers"] == 0


def test_a_first_event_without_an_app_does_not_bill_a_null_app():
    """0.2.0 (--opening events) put the process's whole window under a null app when its first
    event in the window was an old row without an app."""
    from report_helpers import ev, report, row

    old_row = ev("06:00", "P1", "STARTED", "STARTED", (1, 2))  # a scale, on a row with no app
    old_row["app"] = {"guid": None, "name": None}
    events = [old_row, ev("12:00", "P1", "STOPPED", "STARTED", (2, 2))]
    rep = report(events, by="app")
    assert [r["app_guid"] for r in rep.rows] == ["A"]
    assert row(rep, app_guid="A")["instance_seconds"] == 6 * 3600 + 6 * 3600 * 2


def test_a_foundation_that_keeps_old_starts_reports_exactly_without_a_snapshot(tmp_path):
    """cloud_controller_ng #5210: the cleanup keeps the newest STARTED of every running process
    (and running tasks' TASK_STARTED), however old. Those rows are data — the state of what has
    run quietly since — not a gap: --opening events reads them and is exact; a window before the
    cleanup's cutoff is still refused (the oldest event alone no longer shows the cutoff)."""
    import json
    from datetime import UTC, datetime

    from conftest import Cli
    from test_report_e2e import iso

    from cfevents.errors import ExitCode
    from cfevents.sandbox import Sandbox, SandboxConfig

    end = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    cutoff = end - timedelta(days=31)
    # a quiet foundation: 720 events in 60 days, some processes run untouched for over 31 days
    with Sandbox(SandboxConfig(seed=5, end=end, days=60, usage_events=720)).start() as sb:
        # processes started before the simulated history have no event at all, ever: only a
        # snapshot sees them (a real CC wrote their START; here it never existed)
        ever = {e["process"]["guid"] for e in sb.foundation.usage_events_v3()}
        inside = cutoff + timedelta(days=2)
        quiet = {
            g
            for g, u in sb.usage_truth(inside, end).items()
            if g in ever and u.running_seconds == (end - inside).total_seconds()
        }
        last = {e["process"]["guid"]: e["created_at"] for e in sb.foundation.usage_events_v3()}
        assert any(last[g] < iso(cutoff) for g in quiet)  # ran quietly since before the cutoff
        sb.cleanup(now=end, keep_running=True)
        cli = Cli(sb, tmp_path)
        window = ["--since", iso(inside), "--until", iso(end), "--by", "process", "-o", "json"]
        result = cli("usage", "report", *window, "--opening", "events")
        assert result.exit_code == 0, result.stderr
        rows = json.loads(result.stdout)
        truth = sb.usage_truth(inside, end)
        want = {
            g: (u.instance_seconds, u.memory_mb_seconds)
            for g, u in truth.items()
            if g in ever and (u.instance_seconds or u.memory_mb_seconds)
        }
        got = {
            r["process_guid"]: (r["instance_seconds"], r["memory_mb_seconds"])
            for r in rows
            if r["process_guid"] and (r["instance_seconds"] or r["memory_mb_seconds"])
        }
        assert got == want and len(want) > 5
        before = ["--since", iso(cutoff - timedelta(days=2)), "--until", iso(inside)]
        refused = cli("usage", "report", *before, "--opening", "events")
        assert refused.exit_code == ExitCode.INCOMPLETE
        assert "keeps only the old STARTs" in refused.stderr
