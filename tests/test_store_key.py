"""The stores' event key, (foundation, created_at, guid) since schema 3 (issue 23, item 4).

(foundation, guid) cost a store export a third of its time (a random index page per row) and
dropped the rows of a second purge-and-reseed, whose guids are the process guids again."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest
from store_helpers import FOUNDATION, execute_sql, sandbox_events

from cfevents.errors import BadResponseError
from cfevents.stores import APP_USAGE, SERVICE_USAGE, open_store, schema

SECOND_US = 1_000_000


def _indexes(target: str) -> set[str]:
    if target.startswith("postgresql"):
        import psycopg

        with psycopg.connect(target) as conn:
            rows = conn.execute(
                b"SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                b"AND tablename = 'app_usage_events'"
            ).fetchall()
    else:
        with sqlite3.connect(target) as conn:
            rows = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' "
                "AND tbl_name = 'app_usage_events'"
            ).fetchall()
    return {str(row[0]) for row in rows}


def test_a_second_purge_and_reseed_is_stored_and_seen(fresh_cli, store_target):
    """Each reseed's rows reuse the running processes' guids. The process the cursor was on
    stops before the second reseed, so that reseed loses the cursor and the export restarts:
    both reseeds are in the store, and the continuity check (what reports warn from) finds
    both. With the key (foundation, guid) the second reseed's rows were all dropped."""
    sb = fresh_cli.sandbox
    export = ["usage", "export", "--out", store_target, "--min-age", "0s"]
    assert fresh_cli(*export).exit_code == 0
    truth: list[tuple[str, str]] = []
    sizes = []
    now = time.time_ns() // 1000
    for ago_s in (7200, 3600):  # two reseeds, an hour apart
        sb.foundation.purge_and_reseed(now - ago_s * SECOND_US)
        rows = list(sb.foundation.usage_events_v3(sb.url))
        assert rows and all(row["guid"] == row["process"]["guid"] for row in rows)
        truth += [(row["guid"], row["created_at"]) for row in rows]
        sizes.append(len(rows))
        result = fresh_cli(*export, "--on-lost-cursor", "restart")
        assert result.exit_code == 0, result.stderr
        # the process the cursor is on stops (the STOPPED row goes with the next purge)
        sb.foundation.perform("stop", rows[-1]["app"]["guid"], now - (ago_s - 600) * SECOND_US)
    with open_store(store_target) as store:
        [foundation] = store.foundations(APP_USAGE)
        found = store.continuity(foundation, APP_USAGE)
    assert [(r.guid, r.created_at) for r in found.reseeds] == truth
    first, second = truth[: sizes[0]], truth[sizes[0] :]
    assert {g for g, _ in second} < {g for g, _ in first}  # the same guids, less the stopped


def test_a_schema_2_store_is_rekeyed_keeping_every_row(store_target, monkeypatch):
    """A store cfevents 0.2 wrote (key (foundation, guid), no org_name column) is migrated
    when opened for writing: every row kept in seq order, the new key, the seq index."""
    events = sandbox_events(50)
    with monkeypatch.context() as old:
        old.setattr(schema, "SCHEMA_VERSION", 2)
        old.setattr(schema, "EVENT_KEY", ("foundation", "guid"))
        with open_store(store_target) as store, store.begin_export(FOUNDATION, APP_USAGE) as x:
            x.write_page(events[:30])
            x.write_page(events[30:])
    execute_sql(store_target, "ALTER TABLE app_usage_events DROP COLUMN org_name")
    with open_store(store_target) as store:
        assert store.schema_version() == 3
        assert list(store.events(FOUNDATION, APP_USAGE)) == events
        assert store.continuity(FOUNDATION, APP_USAGE).ok
        with store.begin_export(FOUNDATION, APP_USAGE) as x:
            assert x.write_page([events[0]]) == 0  # the same event: stored already
            later = dict(events[0], created_at="2026-03-01T00:00:00Z")
            assert x.write_page([later]) == 1  # the guid again, a later event: kept
        assert [e["guid"] for e in store.events(FOUNDATION, APP_USAGE, from_seq=51)] == [
            events[0]["guid"]
        ]
    assert "app_usage_events_seq" in _indexes(store_target)


def test_an_event_without_created_at_is_refused_in_one_line(store_target):
    event = dict(sandbox_events(1)[0], created_at=None)
    with open_store(store_target) as store, store.begin_export(FOUNDATION, APP_USAGE) as x:
        with pytest.raises(BadResponseError, match="without a created_at") as err:
            x.write_page([event])
        assert "\n" not in str(err.value)
        assert list(store.events(FOUNDATION, APP_USAGE)) == []


def test_an_overlapping_page_stores_only_its_new_events(store_target):
    """The conflict path (a page partly stored: a restarted cursor) finds stored events by
    the key and numbers the new ones after the stored ones, without a hole."""
    events = sandbox_events(40)
    with open_store(store_target) as store, store.begin_export(FOUNDATION, APP_USAGE) as x:
        assert x.write_page(events[:25]) == 25
        reseeded = dict(events[5], created_at="2026-03-01T00:00:00Z")  # stored guid, new key
        assert x.write_page([*events[10:40], reseeded]) == 16
        stored = list(store.events(FOUNDATION, APP_USAGE))
    assert stored == [*events, reseeded]


@pytest.mark.parametrize("into", ["store", "checkpoint"])
def test_a_reseed_that_brings_the_cursors_guid_back_is_not_skipped(fresh_cli, tmp_path, into):
    """The cursor is on a reseeded event (guid = its process guid) and a second reseed writes
    that guid again: CC knows the cursor, so paging after it would skip the whole reseed in
    silence. The export sees the cursor's event has another created_at: the lost-cursor exit
    (5), then with --on-lost-cursor restart every event of the reseed."""
    sb = fresh_cli.sandbox
    if into == "store":
        target = ["--out", str(tmp_path / "u.db")]
    else:
        target = ["--out", str(tmp_path / "u.ndjson"), "--checkpoint", str(tmp_path / "c")]
    export = ["usage", "export", *target, "--min-age", "0s"]
    assert fresh_cli(*export).exit_code == 0
    now = time.time_ns() // 1000
    sb.foundation.purge_and_reseed(now - 7200 * SECOND_US)
    first = list(sb.foundation.usage_events_v3(sb.url))
    assert fresh_cli(*export, "--on-lost-cursor", "restart").exit_code == 0
    sb.foundation.purge_and_reseed(now - 3600 * SECOND_US)  # the same processes run
    second = list(sb.foundation.usage_events_v3(sb.url))
    assert [e["guid"] for e in second] == [e["guid"] for e in first]
    result = fresh_cli(*export)
    assert result.exit_code == 5, result.stderr
    assert "purged and reseeded" in result.stderr and "--on-lost-cursor restart" in result.stderr
    assert len([line for line in result.stderr.splitlines() if "error" in line]) == 1
    result = fresh_cli(*export, "--on-lost-cursor", "restart")
    assert result.exit_code == 0, result.stderr
    if into == "store":
        with open_store(str(tmp_path / "u.db")) as store:
            [foundation] = store.foundations(APP_USAGE)
            stored = list(store.events(foundation, APP_USAGE))
    else:
        text = (tmp_path / "u.ndjson").read_text()
        stored = [json.loads(line) for line in text.splitlines()]

    def keys(events):
        return [(e["guid"], e["created_at"]) for e in events]

    assert keys(stored[-2 * len(first) :]) == keys([*first, *second])


def test_a_services_reseed_that_brings_the_cursors_guid_back_is_not_skipped(fresh_cli, tmp_path):
    """The same for service usage events: a reseed's CREATED events take their instances'
    guids, so the cursor check applies to ``services export`` as well."""
    sb = fresh_cli.sandbox
    services = sb.foundation.services
    target = str(tmp_path / "s.db")
    export = ["services", "export", "--out", target, "--min-age", "0s"]
    assert fresh_cli(*export).exit_code == 0
    now = time.time_ns() // 1000
    reseeds = []
    for ago_s in (7200, 3600):
        sb.foundation.purge_and_reseed_services(now - ago_s * SECOND_US)
        reseeds.append([services.present_event(e, sb.url) for e in services.events])
        result = fresh_cli(*export)
        if ago_s == 3600:  # the cursor is on a reseeded event whose guid came back
            assert result.exit_code == 5, result.stderr
            assert "purged and reseeded" in result.stderr and "service instance" in result.stderr
        result = fresh_cli(*export, "--on-lost-cursor", "restart")
        assert result.exit_code == 0, result.stderr
    first, second = reseeds
    assert [e["guid"] for e in first] == [e["guid"] for e in second]
    with open_store(target) as store:
        [foundation] = store.foundations(SERVICE_USAGE)
        stored = list(store.events(foundation, SERVICE_USAGE))
    keys = [(e["guid"], e["created_at"]) for e in stored[-2 * len(first) :]]
    assert keys == [(e["guid"], e["created_at"]) for e in [*first, *second]]


@pytest.mark.parametrize(
    ("kind", "event", "reseeded"),
    [
        (APP_USAGE, {"guid": "p1", "process": {"guid": "p1"}}, True),
        (APP_USAGE, {"guid": "e1", "process": {"guid": "p1"}}, False),
        (APP_USAGE, {"guid": "e1", "process": None}, False),
        (APP_USAGE, {"guid": None, "process": {"guid": None}}, False),
        (SERVICE_USAGE, {"guid": "s1", "service_instance": {"guid": "s1"}}, True),
        (SERVICE_USAGE, {"guid": "e1", "service_instance": {"guid": "s1"}}, False),
        (SERVICE_USAGE, {"guid": "s1"}, False),
    ],
)
def test_a_reseeded_event_has_the_guid_of_what_it_reseeds(kind, event, reseeded):
    """One rule for the reports and the export's cursor check (the stores say it in SQL)."""
    assert kind.is_reseeded(event) is reseeded
