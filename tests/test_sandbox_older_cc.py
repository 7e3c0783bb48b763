"""Rows real foundations hold that the default sandbox never wrote (issue 22): usage events of
an older Cloud Controller with no parent app (v3 `app` guid and name null, v2 `parent_app_*`
null), and audit events of a client-credentials actor (`actor_name` and `actor_username` `''`,
`UserAuditInfo`'s defaults). Options of the sandbox (`SandboxConfig.appless_usage_days`,
`client_actor_events`), on in `--live`; cfevents reads them without tripping."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import Cli
from test_report_e2e import check_against_truth, iso, report
from test_sandbox_shapes import SCHEMAS, served

from cfevents.sandbox import Sandbox, SandboxConfig

END = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
START = END - timedelta(days=30)
APPLESS_DAYS = 3


@pytest.fixture(scope="module")
def older():
    config = SandboxConfig(
        seed=5, end=END, appless_usage_days=APPLESS_DAYS, client_actor_events=True
    )
    sb = Sandbox(config).start()
    yield sb
    sb.stop()


def test_usage_events_without_a_parent_app(older):
    events = list(older.foundation.usage_events_v3())
    cut = iso(START + timedelta(days=APPLESS_DAYS))
    appless = [e for e in events if e["app"] == {"guid": None, "name": None}]
    assert appless and all(e["created_at"] < cut for e in appless)
    assert all(e["app"]["guid"] for e in events if e["created_at"] >= cut)
    # an app's first web process (its guid the app's): task, build and other processes'
    # rows came with v3, which always names the app
    assert all(e["process"]["guid"] and not e["task"]["guid"] for e in appless)
    web = {a.guid for a in older.foundation.apps}
    assert all(e["process"]["guid"] in web for e in appless)
    v2 = {e["metadata"]["guid"]: e["entity"] for e in older.foundation.usage_events_v2()}
    for e in appless:
        assert v2[e["guid"]]["parent_app_guid"] is None is v2[e["guid"]]["parent_app_name"]


def test_audit_events_of_a_client_credentials_actor(older):
    v2 = [
        e["entity"]
        for e in older.foundation.audit_events_v2()
        if e["entity"]["actor"] == "ci-pipeline"
    ]
    assert v2 and all(e["actor_username"] == "" and e["actor_name"] == "" for e in v2)
    v3 = [e for e in older.foundation.audit_events_v3() if e["actor"]["guid"] == "ci-pipeline"]
    assert len(v3) == len(v2) and all(e["actor"]["name"] == "" for e in v3)


def test_the_rows_have_ccs_shape(older):
    problems = [p for kind, _, payload in served(older) for p in SCHEMAS[kind].problems(payload)]
    assert not problems, problems[:10]


def test_cfevents_reads_them(older, tmp_path):
    cli = Cli(older, tmp_path)
    listed = cli("usage", "list", "--order", "asc", "--limit", "20")
    assert listed.exit_code == 0, listed.stderr
    as_json = cli("usage", "list", "--order", "asc", "--limit", "20", "-o", "json")
    rows = json.loads(as_json.stdout)
    assert any(r["app"] == {"guid": None, "name": None} for r in rows)
    out = tmp_path / "u.csv"
    exported = cli("usage", "export", "--out", str(out), "--min-age", "0s")
    assert exported.exit_code == 0, exported.stderr
    with out.open(newline="") as fh:
        assert sum(1 for _ in csv.DictReader(fh)) == older.foundation.usage_event_count()
    for fmt in ("table", "json", "csv"):
        events = cli("events", "list", "--limit", "5000", "-o", fmt)
        assert events.exit_code == 0, events.stderr
        if fmt == "json":  # an empty actor name reads as no name
            mine = [e for e in json.loads(events.stdout) if e["actor"]["guid"] == "ci-pipeline"]
            assert mine and all(e["actor"]["name"] in ("", None) for e in mine)
    # a report over the app-less days, per process (its key): exact against the truth
    start, end = START + timedelta(hours=1), START + timedelta(days=APPLESS_DAYS + 2)
    rows, _ = report(cli, start, end, "--by", "process")
    check_against_truth(older, rows, start, end)


def test_a_report_by_app_places_rows_that_name_no_app(older, tmp_path):
    """The engine finds an app-less row's app from the snapshot (its process, or the app whose
    guid the first web process shares): per app, exact against the truth."""
    cli = Cli(older, tmp_path)
    start, end = START + timedelta(hours=1), START + timedelta(days=APPLESS_DAYS + 2)
    rows, _ = report(cli, start, end, "--by", "app")
    got = {r["app_guid"]: (r["instance_seconds"], r["memory_mb_seconds"]) for r in rows}
    want: dict[str, list[int]] = {}
    for usage in older.usage_truth(start, end).values():
        figures = want.setdefault(usage.app_guid, [0, 0])
        figures[0] += usage.instance_seconds
        figures[1] += usage.memory_mb_seconds
    assert None not in got
    assert {a: f for a, f in got.items() if any(f)} == {
        a: tuple(f) for a, f in want.items() if any(f)
    }
