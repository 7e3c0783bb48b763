"""--context: each crash (and loop record) with the app's changes just before it, fetched once
per app per batch and cached; checked against the sandbox's own audit table."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta

import pytest

from cfevents.api import connect
from cfevents.events.context import CONTEXT_TYPES, ContextCache, with_context
from cfevents.events.loops import LoopRule, is_loop
from cfevents.sandbox.store import iso_second

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def at(minute: float) -> str:
    return (T0 + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")


CHANGES = {
    "a": [
        {"guid": "d1", "created_at": at(-30), "type": "audit.app.update", "actor": {"name": "x"}},
        {"guid": "d2", "created_at": at(-5), "type": "audit.app.restage", "actor": {"name": "y"}},
        {"guid": "d3", "created_at": at(0), "type": "audit.app.process.scale", "actor": {}},
        {"guid": "d4", "created_at": at(12), "type": "audit.app.stop", "actor": {}},
    ],
    "b": [],
}


def fake_fetch(calls):
    def fetch(guid, start, end):
        calls.append((guid, start, end))
        for e in CHANGES[guid]:
            moment = datetime.fromisoformat(e["created_at"])
            if start <= moment < end:
                yield e

    return fetch


def crash(minute: float, app: str = "a") -> dict:
    return {"created_at": at(minute), "app": {"guid": app}}


def test_context_is_the_period_before_each_crash_same_second_included():
    calls = []
    cache = ContextCache(fake_fetch(calls), timedelta(minutes=15))
    got = cache.attach(crash(0))["context"]
    assert [e["guid"] for e in got] == ["d2", "d3"]
    assert got[0] == {
        "created_at": at(-5),
        "type": "audit.app.restage",
        "actor": "y",
        "guid": "d2",
        "data": None,
    }
    assert [e["guid"] for e in cache.attach(crash(13))["context"]] == ["d3", "d4"]
    # the second crash only asked for what the first had not fetched
    assert calls[1][1] == T0 + timedelta(seconds=1)
    assert cache.attach(crash(5))["context"] == cache.attach(crash(5))["context"]
    assert len(calls) == 2  # covered: no more queries


def test_a_batch_is_one_query_per_app():
    calls = []
    cache = ContextCache(fake_fetch(calls), timedelta(minutes=15))
    records = [crash(m, app) for m, app in ((13, "a"), (9, "b"), (5, "a"), (0, "a"), (1, "b"))]
    out = list(with_context(records, cache))
    assert sorted(guid for guid, _, _ in calls) == ["a", "b"]
    assert [len(r["context"]) for r in out] == [2, 0, 2, 2, 0]


def test_a_loop_record_gets_the_changes_before_its_first_crash_up_to_its_last():
    cache = ContextCache(fake_fetch([]), timedelta(minutes=10))
    loop = {"app": {"guid": "a"}, "first_crash": at(2), "last_crash": at(12), "state": "start"}
    assert [e["guid"] for e in cache.attach(loop)["context"]] == ["d2", "d3", "d4"]


def test_crashes_context_matches_the_sandboxs_audit_table(cli, sandbox):
    sandbox.clear_requests()
    result = cli("crashes", "--all", "--context", "6h", "-o", "json")
    assert result.exit_code == 0, result.output
    crashes = json.loads(result.stdout)
    assert crashes
    table = sandbox.foundation.audit_events
    with_changes = 0
    for c in crashes:
        moment = datetime.fromisoformat(c["created_at"])
        start = moment - timedelta(hours=6)
        expected = [
            e.guid
            for e in sorted(table, key=lambda e: (e.created_at_us, e.guid))
            if e.actee == c["app"]["guid"]
            and e.type in CONTEXT_TYPES
            and start <= datetime.fromisoformat(iso_second(e.created_at_us)) <= moment
        ]
        assert [e["guid"] for e in c["context"]] == expected
        with_changes += bool(expected)
    assert with_changes >= 3
    context_queries = [
        r
        for r in sandbox.requests
        if r.path == "/v3/audit_events" and dict(r.params).get("target_guids")
    ]
    apps = {c["app"]["guid"] for c in crashes}
    assert len({dict(r.params)["target_guids"] for r in context_queries}) == len(apps)
    assert len(context_queries) <= len(apps) * (1 + len(crashes) // 500)  # one per app per batch


def test_context_in_a_table_is_one_line_per_change_and_refused_with_summary(cli):
    result = cli("crashes", "--all", "--context", "6h")
    assert result.exit_code == 0
    header = result.stdout.splitlines()[0]
    assert header.rstrip().endswith("changes before")
    assert any(
        re.search(r"\baudit\.app\.[a-z_.]+ by \S+@example\.com$", line)
        for line in result.stdout.splitlines()[2:]
        if "audit.app" in line
    )
    result = cli("crashes", "--summary", "--context", "15m")
    assert result.exit_code == 2
    result = cli("crashes", "--context", "2d")
    assert result.exit_code == 2 and "--context" in result.stderr


@pytest.fixture
def demo():
    from cfevents.sandbox import Sandbox, SandboxConfig

    end = datetime(2026, 3, 1, 12, tzinfo=UTC)
    sb = Sandbox(SandboxConfig(seed=3, end=end, days=3, recent_crash_loop=True)).start()
    sb.set_clock(end + timedelta(hours=2))
    yield sb, end
    sb.stop()


def test_the_demo_loop_start_shows_the_deploy_before_it(demo):
    sb, end = demo
    stop = threading.Event()
    rule = LoopRule(3, timedelta(minutes=10))
    with connect(sb.url, sb.admin_token(), env={}) as cf:
        for record in cf.follow_crashes(
            since=(end - timedelta(hours=1)).isoformat(),
            interval=5,
            stop=stop,
            loop=rule,
            context="15m",
        ):
            assert "context" in record
            if is_loop(dict(record)) and record["state"] == "start":
                start = record
                stop.set()
    types = [e["type"] for e in start["context"]]
    assert "audit.app.deployment.create" in types and "audit.app.update" in types
