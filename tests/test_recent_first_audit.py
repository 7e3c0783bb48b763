"""`events list` and `crashes` with a limit and no window show the most recent events, printed
oldest to newest like `tail` (issue 20, item 3), as `usage list` does: 0.2.0 printed them newest
first. A window, `--order` and `--all` keep their own order.

Checked against the sandbox's own records (its audit events and the crashes behind them).
"""

import csv
import io

from conftest import EXTERNAL


def rows(result):
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


def audit_truth(cli):
    """Every audit event the sandbox holds, oldest first (CC breaks same-second ties by guid)."""
    events = list(cli.sandbox.foundation.audit_events_v3(EXTERNAL))
    return sorted(events, key=lambda e: (e["created_at"], e["guid"]))


def test_events_list_limit_shows_the_most_recent_oldest_first(cli):
    truth = audit_truth(cli)
    got = rows(cli("events", "list", "--limit", "7", "-o", "csv", "--fields", "guid,created_at"))
    assert [r["guid"] for r in got] == [e["guid"] for e in truth[-7:]]  # newest last
    request = next(r for r in cli.sandbox.requests if r.path == "/v3/audit_events")
    assert ("order_by", "-created_at") in request.params  # read newest first, at most a page


def test_events_list_default_limit_too_and_its_note_says_newest(cli):
    truth = audit_truth(cli)
    result = cli("events", "list", "-o", "csv", "--fields", "guid")
    assert [r["guid"] for r in rows(result)] == [e["guid"] for e in truth[-50:]]
    assert f"showing the newest 50 of {len(truth):,} matching events" in result.stderr


def test_events_list_order_and_window_keep_control(cli):
    truth = audit_truth(cli)
    newest = rows(
        cli("events", "list", "-n", "3", "--order", "desc", "-o", "csv", "--fields", "guid")
    )
    assert [r["guid"] for r in newest] == [e["guid"] for e in truth[::-1][:3]]
    oldest = rows(
        cli("events", "list", "-n", "3", "--order", "asc", "-o", "csv", "--fields", "guid")
    )
    assert [r["guid"] for r in oldest] == [e["guid"] for e in truth[:3]]
    # a window keeps the documented default: newest first
    since = truth[0]["created_at"]
    windowed = rows(
        cli("events", "list", "-n", "3", "--since", since, "-o", "csv", "--fields", "guid")
    )
    assert [r["guid"] for r in windowed] == [e["guid"] for e in truth[::-1][:3]]


def test_crashes_limit_shows_the_most_recent_oldest_first(cli):
    crashes = cli.sandbox.foundation.crashes()  # oldest first
    got = rows(cli("crashes", "--limit", "4", "-o", "csv", "--fields", "process_crash_guid"))
    assert [r["process_crash_guid"] for r in got] == [c.process_event_guid for c in crashes[-4:]]
    result = cli("crashes", "-o", "csv", "--fields", "process_crash_guid,created_at")
    times = [r["created_at"] for r in rows(result)]
    assert times == sorted(times) and len(times) == 50
    assert "showing the newest 50 crashes" in result.stderr


def test_crashes_order_and_all_are_unchanged(cli):
    crashes = cli.sandbox.foundation.crashes()
    newest = rows(cli("crashes", "-n", "2", "--order", "desc", "-o", "csv"))
    assert [r["process_crash_guid"] for r in newest] == [
        c.process_event_guid for c in crashes[::-1][:2]
    ]
    every = rows(cli("crashes", "--all", "-o", "csv", "--fields", "created_at"))
    times = [r["created_at"] for r in every]
    assert len(times) == len(crashes) and times == sorted(times, reverse=True)  # newest first


def test_the_library_gives_the_same_order(cli):
    from cfevents import connect

    truth = audit_truth(cli)
    with connect(cli.sandbox.url, token=cli.sandbox.admin_token()) as cf:
        got = [e["guid"] for e in cf.audit_events(limit=5, names=False)]
        newest_first = [e["guid"] for e in cf.audit_events(limit=5, order="desc", names=False)]
    assert got == [e["guid"] for e in truth[-5:]]
    assert newest_first == got[::-1]
