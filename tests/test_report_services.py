"""Service accounting (report/services.py) against the sandbox's own timeline, over real HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import END

import cfevents
from cfevents.errors import IncompleteDataError
from cfevents.report import Window
from cfevents.report.services import CloudControllerServiceSource, service_report


def source(sb):
    client = cfevents.connect(sb.url, sb.admin_token())
    return CloudControllerServiceSource(client.http, sb.url)


def per_instance(report):
    got = {}
    for row in report.rows:
        plan = row["service_plan_guid"]
        seconds = got.setdefault(row["service_instance_guid"], {})
        seconds[plan] = seconds.get(plan, 0) + row["service_seconds"]
    return {g: {p: s for p, s in v.items() if s} for g, v in got.items() if any(v.values())}


def truth_for(sb, window, include_user_provided, first_updates):
    """The timeline's seconds per plan. An instance whose first retained event is an UPDATED
    existed before under a plan no event says (UPDATED has no previous plan): its seconds
    before that UPDATED are expected under None."""
    expected = {}
    for guid, usage in sb.service_truth(window.start, window.end).items():
        if usage.service_instance_type != "managed_service_instance" and not include_user_provided:
            continue
        seconds = dict(usage.seconds)
        updated_at = first_updates.get(guid)
        if updated_at is not None and updated_at > window.start:
            before = sb.service_truth(window.start, min(updated_at, window.end)).get(guid)
            for plan, n in (before.seconds if before else {}).items():
                seconds[plan] -= n
                seconds[None] = seconds.get(None, 0) + n
        expected[guid] = {p: n for p, n in seconds.items() if n}
    return expected


def first_updates(sb):
    """Managed instance guid -> when its first retained event, an UPDATED, happened."""
    from cfevents.sandbox.store import from_us

    sim = sb.foundation.services
    first_event = {}
    for e in sim.events:
        first_event.setdefault(e.instance, e)
    return {
        sim.instances[i].guid: from_us(e.created_us - e.created_us % 1_000_000)
        for i, e in first_event.items()
        if e.state == "UPDATED" and sim.instances[i].type == "managed_service_instance"
    }


@pytest.mark.parametrize("include_user_provided", [False, True])
@pytest.mark.parametrize(
    "days", [(20, 3), (29, 0), (10, 9)], ids=["middle", "to-the-end", "one-day"]
)
def test_per_instance_seconds_equal_the_timeline(sandbox, include_user_provided, days):
    window = Window(END - timedelta(days=days[0]), END - timedelta(days=days[1]))
    report = service_report(
        source(sandbox),
        window,
        by="instance",
        include_user_provided=include_user_provided,
        min_age=timedelta(0),
        now=END,
    )
    expected = truth_for(sandbox, window, include_user_provided, first_updates(sandbox))
    assert per_instance(report) == expected
    kinds = {r["service_instance_type"] for r in report.rows}
    assert ("user_provided_service_instance" in kinds) == include_user_provided
    assert report.totals["service_seconds"] == sum(sum(v.values()) for v in expected.values())


def test_counts_groupings_and_failed_provisions(sandbox):
    window = Window(END - timedelta(days=25), END)
    src = source(sandbox)
    by_instance = service_report(src, window, by="instance", min_age=timedelta(0), now=END)
    events = [
        e
        for e in sandbox.foundation.services.events
        if sandbox.foundation.services.instances[e.instance].type == "managed_service_instance"
        and e.created_us >= int(window.start.timestamp()) * 1_000_000
    ]
    for state in ("CREATED", "UPDATED", "DELETED"):
        assert by_instance.totals[state.lower()] == sum(e.state == state for e in events)
    for by in ("org", "space", "offering", "plan"):
        coarse = service_report(src, window, by=by, min_age=timedelta(0), now=END)
        assert coarse.totals == by_instance.totals
        assert len(coarse.rows) <= len(by_instance.rows)
    assert all(r["org_name"] for r in by_instance.rows)
    # a failed provision is billed like any other instance until its DELETED
    failed = [i for i in sandbox.foundation.services.instances if i.failed]
    truth = sandbox.service_truth(window.start, window.end)
    billed = per_instance(by_instance)
    assert any(i.guid in billed and billed[i.guid] for i in failed)
    for i in failed:
        if i.guid in truth:
            assert sum(billed[i.guid].values()) == truth[i.guid].total_seconds


def test_retention_gap_is_incomplete_exit_7(sandbox):
    window = Window(END - timedelta(days=30), END)
    with pytest.raises(IncompleteDataError) as caught:
        service_report(source(sandbox), window, min_age=timedelta(0), now=END)
    assert caught.value.exit_code == 7
    report = service_report(
        source(sandbox), window, min_age=timedelta(0), now=END, allow_incomplete=True
    )
    assert report.meta["incomplete"] and all("incomplete" in r["flags"] for r in report.rows)


def test_reseed_events_are_continuations(fresh_sandbox):
    sb = fresh_sandbox
    from datetime import UTC, datetime

    target = next(i for i in sb.foundation.services.live() if i.type == "managed_service_instance")
    managed = sum(i.type == "managed_service_instance" for i in sb.foundation.services.live())
    sb.purge_and_reseed_services()
    purge = datetime.now(UTC).replace(microsecond=0)
    window = Window(purge - timedelta(minutes=30), purge + timedelta(hours=1))
    with pytest.raises(IncompleteDataError):  # the purge lies inside the window
        service_report(source(sb), window, min_age=timedelta(0), now=purge + timedelta(hours=2))
    later = Window(purge + timedelta(minutes=16), purge + timedelta(hours=1))
    sb.service_action("update_plan", target.guid, at=purge + timedelta(minutes=30))
    sb.service_action("delete", target.guid, at=purge + timedelta(minutes=40))
    report = service_report(
        source(sb), later, by="instance", min_age=timedelta(0), now=purge + timedelta(hours=2)
    )
    assert report.meta["counters"]["reseeds"] == managed
    assert per_instance(report) == truth_for(sb, later, False, {})
    rows = [r for r in report.rows if r["service_instance_guid"] == target.guid]
    assert sum(r["updated"] for r in rows) == 1 and sum(r["deleted"] for r in rows) == 1
    assert sum(r["created"] for r in report.rows) == 0  # reseeds are not creations


def test_services_report_command_equals_the_timeline(cli, sandbox):
    """cfevents services report over real HTTP: per-instance seconds equal the simulation's."""
    import json

    window = Window(END - timedelta(days=20), END - timedelta(days=3))
    since, until = (t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in (window.start, window.end))
    result = cli(
        "services", "report", "--since", since, "--until", until, "--by", "instance",
        "--min-age", "0s", "-o", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    from types import SimpleNamespace

    rows = SimpleNamespace(rows=json.loads(result.stdout))
    assert per_instance(rows) == truth_for(sandbox, window, False, first_updates(sandbox))
    assert "window " in result.stderr and "events read" in result.stderr
    table = cli("services", "report", "--since", since, "--until", until, "--min-age", "0s")
    assert table.exit_code == 0, table.stderr
    assert table.stdout.splitlines()[-1].startswith("TOTAL")


def test_services_report_exits_7_before_retention_and_rejects_bad_by(cli):
    since = (END - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = cli("services", "report", "--since", since, "--min-age", "0s")
    assert result.exit_code == 7
    assert len(result.stderr.strip().splitlines()) == 1
    bad = cli("services", "report", "--by", "app")
    assert bad.exit_code == 2 and "--by must be one of" in bad.stderr
