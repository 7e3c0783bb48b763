"""History stores against real databases: SQLite files and a PostgreSQL server started here."""

from __future__ import annotations

import re
import sqlite3
import sys
import time
from collections.abc import Iterator

import pytest
from store_helpers import FOUNDATION, execute_sql, sandbox_events

from cfevents.errors import ExitCode, StoreError, StoreLockedError, UsageError
from cfevents.stores import (
    APP_USAGE,
    SERVICE_USAGE,
    flatten,
    is_store_target,
    open_store,
    schema,
)
from cfevents.stores.columns import kind_for_path, kind_named

# The v3 presenter's shape (cloud-controller-api.md §1.3), every field a distinct value.
APP_EVENT = {
    "guid": "e-1",
    "created_at": "2020-05-28T16:41:23Z",
    "updated_at": "2020-05-28T16:41:24Z",
    "state": {"current": "STARTED", "previous": "STOPPED"},
    "app": {"guid": "app-1", "name": "web-app"},
    "process": {"guid": "proc-1", "type": "web"},
    "space": {"guid": "space-1", "name": "prod"},
    "organization": {"guid": "org-1"},
    "buildpack": {"guid": "bp-1", "name": "ruby"},
    "task": {"guid": "task-1", "name": "migrate"},
    "memory_in_mb_per_instance": {"current": 512, "previous": 256},
    "instance_count": {"current": 10, "previous": 5},
    "links": {"self": {"href": "https://api.x/v3/app_usage_events/e-1"}},
}
# docs/accounting.md §1.7
SERVICE_EVENT = {
    "guid": "s-1",
    "created_at": "2020-05-28T16:41:23Z",
    "updated_at": "2020-05-28T16:41:25Z",
    "state": "UPDATED",
    "space": {"guid": "space-1", "name": "prod"},
    "organization": {"guid": "org-1"},
    "service_instance": {"guid": "si-1", "name": "db", "type": "managed_service_instance"},
    "service_plan": {"guid": "plan-1", "name": "small"},
    "service_offering": {"guid": "off-1", "name": "postgres"},
    "service_broker": {"guid": "broker-1", "name": "brokerage"},
    "links": {"self": {"href": "https://api.x/v3/service_usage_events/s-1"}},
}


def leaves(value, prefix=()) -> Iterator[tuple[tuple[str, ...], object]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from leaves(inner, (*prefix, key))
    else:
        yield prefix, value


@pytest.mark.parametrize(
    ("kind", "event"), [(APP_USAGE, APP_EVENT), (SERVICE_USAGE, SERVICE_EVENT)]
)
def test_flatten_has_a_snake_case_column_for_every_documented_field(kind, event):
    flat = flatten(event, kind)
    assert list(flat) == list(kind.column_names)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in flat)
    assert flat.pop("org_name") is None  # CC sends no org name: cfevents looks it up
    values = {value for path, value in leaves(event) if path[0] != "links"}
    assert set(flat.values()) == values  # every field has its column, no column is empty
    assert len(set(flat.values())) == len(flat)


def test_app_columns_are_the_documented_csv_columns_in_snake_case():
    from cfevents.output.columns import USAGE_COLUMNS

    # org_name: the organization.name cfevents looks up (a store fills it from its syncs)
    documented = list(USAGE_COLUMNS)
    assert [".".join(column.path) for column in APP_USAGE.columns] == documented
    assert [name.replace("organization.", "org.").replace(".", "_") for name in documented] == [
        *APP_USAGE.column_names
    ]


def test_flatten_names_and_nulls():
    flat = flatten(APP_EVENT)
    assert flat["org_guid"] == "org-1"
    assert flat["memory_in_mb_per_instance_previous"] == 256
    assert flat["state_previous"] == "STOPPED"
    sparse = flatten({"guid": "g", "process": None, "state": {"current": "TASK_STARTED"}})
    assert sparse["process_guid"] is None and sparse["state_previous"] is None
    assert sparse["state_current"] == "TASK_STARTED"
    assert kind_named("app_usage_events") is APP_USAGE
    assert kind_named("service_usage") is SERVICE_USAGE
    assert kind_for_path("/v3/app_usage_events") is APP_USAGE
    assert kind_for_path("/v3/service_usage_events/") is SERVICE_USAGE


def test_undocumented_nested_values_store_as_null(tmp_path):
    odd = dict(APP_EVENT, state={"current": {"odd": 1}, "previous": "STOPPED"})
    assert flatten(odd)["state_current"] is None
    with (
        open_store(str(tmp_path / "u.db")) as store,
        store.begin_export(FOUNDATION, APP_USAGE) as x,
    ):
        x.write_page([odd])
        assert list(store.events(FOUNDATION, APP_USAGE)) == [odd]  # raw keeps it all
    with sqlite3.connect(tmp_path / "u.db") as conn:
        row = conn.execute("select state_current, state_previous from app_usage_events").fetchone()
    assert row == (None, "STOPPED")


def test_store_targets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for target in ("usage.db", "a.sqlite", "b.SQLITE3", "sqlite:///c.data"):
        assert is_store_target(target)
        open_store(target).close()
    open_store(f"sqlite:///{tmp_path}/d.data").close()  # sqlite:////abs/path
    assert {p.name for p in tmp_path.iterdir()} >= {"usage.db", "a.sqlite", "c.data", "d.data"}
    assert not is_store_target("usage.ndjson")
    with pytest.raises(UsageError, match="not a store"):
        open_store("usage.csv")
    (tmp_path / "text.db").write_text("not a database, just text\n" * 100)
    with pytest.raises(StoreError) as err:
        open_store(str(tmp_path / "text.db"))
    assert "\n" not in str(err.value) and "text.db" in str(err.value)
    assert err.value.exit_code == ExitCode.STORE


def test_postgres_without_psycopg_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(StoreError, match=re.escape("pip install 'cfevents[postgres]'")):
        open_store("postgresql://u@127.0.0.1:1/db")


def test_postgres_unreachable_is_one_line_without_the_password():
    from pg_server import free_port

    with pytest.raises(StoreError) as err:
        open_store(f"postgres://me:s3cret@127.0.0.1:{free_port()}/db")
    text = str(err.value)
    assert "s3cret" not in text and "me:***@" in text and "\n" not in text


def test_export_twice_stores_every_event_once(store_target):
    events = sandbox_events(1000)
    for _ in range(2):  # the second run starts over (no cursor): nothing is stored twice
        with open_store(store_target) as store, store.begin_export(FOUNDATION, APP_USAGE) as x:
            for first in range(0, len(events), 300):
                x.write_page(events[first : first + 300])
    with open_store(store_target) as store:
        assert list(store.events(FOUNDATION, APP_USAGE)) == events  # CC's order, exact JSON
        coverage = store.coverage(FOUNDATION, APP_USAGE)
        assert (coverage.events, coverage.first_seq, coverage.last_seq) == (1000, 1, 1000)
        assert coverage.first_guid == events[0]["guid"]
        assert coverage.first_created_at == events[0]["created_at"]
        assert coverage.last_created_at == events[-1]["created_at"]
        assert store.first_event(FOUNDATION, APP_USAGE) == events[0]
        cursor = store.cursor(FOUNDATION, APP_USAGE)
        assert cursor.after_guid == events[-1]["guid"]
        assert cursor.last_created_at == events[-1]["created_at"]
        assert store.continuity(FOUNDATION, APP_USAGE).ok
        assert store.foundations(APP_USAGE) == [FOUNDATION]
        assert store.cursor("https://other", APP_USAGE) is None
        assert store.coverage("https://other", APP_USAGE) is None
        assert list(store.events(FOUNDATION, APP_USAGE, from_seq=10, to_seq=12)) == events[9:12]


def test_sql_needs_no_quoting(tmp_path):
    target = tmp_path / "usage.db"
    events = sandbox_events(300)
    with open_store(str(target)) as store, store.begin_export(FOUNDATION, APP_USAGE) as x:
        x.write_page(events)
    by_org: dict[str, int] = {}
    for event in events:
        by_org[event["organization"]["guid"]] = by_org.get(event["organization"]["guid"], 0) + 1
    with sqlite3.connect(target) as conn:
        rows = conn.execute("select org_guid, count(*) from app_usage_events group by 1")
        assert dict(rows.fetchall()) == by_org
        memory = conn.execute(
            "select sum(memory_in_mb_per_instance_current * instance_count_current) "
            "from app_usage_events where state_current = 'STARTED'"
        ).fetchone()[0]
    assert memory == sum(
        e["memory_in_mb_per_instance"]["current"] * e["instance_count"]["current"]
        for e in events
        if e["state"]["current"] == "STARTED"
    )


def test_overlapping_pages_keep_seq_without_holes(store_target):
    events = sandbox_events(600)
    with open_store(store_target) as store, store.begin_export(FOUNDATION, APP_USAGE) as x:
        assert x.write_page(events[:300]) == 300
        assert x.write_page(events[200:450]) == 150  # a restarted cursor re-reads 100 events
        assert x.write_page(events[450:]) == 150
        assert x.written == 600
        assert store.continuity(FOUNDATION, APP_USAGE).ok
        assert store.coverage(FOUNDATION, APP_USAGE).last_seq == 600
        assert list(store.events(FOUNDATION, APP_USAGE)) == events


def test_foundations_are_numbered_apart(store_target):
    events = sandbox_events(50)
    with open_store(store_target) as store:
        for foundation in ("https://api.a", "https://api.b"):
            with store.begin_export(foundation, APP_USAGE) as x:
                x.write_page(events)
        for foundation in ("https://api.a", "https://api.b"):
            coverage = store.coverage(foundation, APP_USAGE)
            assert (coverage.first_seq, coverage.last_seq) == (1, 50)
        assert store.foundations(APP_USAGE) == ["https://api.a", "https://api.b"]


REFUSE_CURSOR = {
    "sqlite": "CREATE TRIGGER refuse BEFORE INSERT ON cfevents_cursors "
    "BEGIN SELECT RAISE(ABORT, 'cursor refused'); END;",
    "postgresql": "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
    "$$BEGIN RAISE EXCEPTION 'cursor refused'; END$$; CREATE TRIGGER refuse BEFORE INSERT "
    "ON cfevents_cursors FOR EACH ROW EXECUTE FUNCTION refuse();",
}


def test_page_and_cursor_commit_together(store_target):
    dialect = "postgresql" if store_target.startswith("postgresql") else "sqlite"
    events = sandbox_events(100)
    open_store(store_target).close()
    execute_sql(store_target, REFUSE_CURSOR[dialect])
    with open_store(store_target) as store:
        with store.begin_export(FOUNDATION, APP_USAGE) as x, pytest.raises(StoreError) as err:
            x.write_page(events)
        assert "cursor refused" in str(err.value)
        assert store.coverage(FOUNDATION, APP_USAGE) is None  # the rows went with the cursor
    execute_sql(
        store_target,
        "DROP TRIGGER refuse" + (" ON cfevents_cursors" if dialect == "postgresql" else ""),
    )
    with open_store(store_target) as store, store.begin_export(FOUNDATION, APP_USAGE) as x:
        assert x.write_page(events) == 100


def test_second_export_fails_on_the_lock(store_target):
    with open_store(store_target) as first, open_store(store_target) as second:
        with (
            first.begin_export(FOUNDATION, APP_USAGE),
            pytest.raises(StoreLockedError, match="another export holds"),
            second.begin_export(FOUNDATION, APP_USAGE),
        ):
            pass  # pragma: no cover
        with second.begin_export(FOUNDATION, APP_USAGE) as x:  # released at the end
            assert x.write_page(sandbox_events(10)) == 10


def test_sqlite_page_waits_for_another_writer_then_fails_clearly(tmp_path):
    from cfevents.stores.sqlite import SQLiteStore

    path = tmp_path / "usage.db"
    with (
        SQLiteStore(path, busy_timeout=0.3) as store,
        store.begin_export(FOUNDATION, APP_USAGE) as x,
    ):
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # e.g. someone's sqlite3 shell in a write transaction
        started = time.monotonic()
        with pytest.raises(StoreLockedError, match=r"locked by another writer \(waited 0.3s\)"):
            x.write_page(sandbox_events(5))
        assert time.monotonic() - started >= 0.25
        other.execute("ROLLBACK")
        other.close()
        assert x.write_page(sandbox_events(5)) == 5


def test_a_cursor_moved_underneath_refuses_the_page(store_target):
    events = sandbox_events(20)
    with open_store(store_target) as store, store.begin_export(FOUNDATION, APP_USAGE) as x:
        x.write_page(events[:10])
        execute_sql(store_target, "UPDATE cfevents_cursors SET after_guid = 'elsewhere'")
        with pytest.raises(StoreError, match="moved to elsewhere"):
            x.write_page(events[10:])
        assert store.coverage(FOUNDATION, APP_USAGE).events == 10


def test_continuity_finds_holes_and_reseeds(store_target):
    events = sandbox_events(100)
    reseeded = dict(events[0], guid=events[0]["process"]["guid"], created_at="2026-02-01T00:00:00Z")
    with open_store(store_target) as store, store.begin_export(FOUNDATION, APP_USAGE) as x:
        x.write_page([*events, reseeded])
        assert store.continuity(FOUNDATION, APP_USAGE, to_seq=100).ok
        found = store.continuity(FOUNDATION, APP_USAGE)
        assert [(r.seq, r.guid) for r in found.reseeds] == [(101, reseeded["guid"])]
        assert found.reseeds[0].created_at == "2026-02-01T00:00:00Z"
        assert found.gaps == []
    execute_sql(store_target, "DELETE FROM app_usage_events WHERE seq IN (40, 41, 70)")
    with open_store(store_target) as store:
        found = store.continuity(FOUNDATION, APP_USAGE)
        assert found.gaps == [(39, 42), (69, 71)]
        assert store.continuity(FOUNDATION, APP_USAGE, from_seq=50, to_seq=68).ok


def test_a_new_event_kind_gets_its_table_without_a_migration(store_target):
    open_store(store_target).close()
    execute_sql(store_target, "DROP TABLE service_usage_events")  # as made before the kind existed
    with open_store(store_target) as store, store.begin_export(FOUNDATION, SERVICE_USAGE) as x:
        assert x.write_page([SERVICE_EVENT]) == 1
        assert list(store.events(FOUNDATION, SERVICE_USAGE)) == [SERVICE_EVENT]


def test_reading_while_exporting(store_target):
    events = sandbox_events(30)
    with open_store(store_target) as store, store.begin_export(FOUNDATION, APP_USAGE) as x:
        x.write_page(events[:10])
        reading = store.events(FOUNDATION, APP_USAGE)
        assert next(reading) == events[0]
        x.write_page(events[10:])  # committed now, whatever the reader does
        with open_store(store_target) as other:
            assert other.coverage(FOUNDATION, APP_USAGE).events == 30
        assert len(list(reading)) >= 9
        reading.close()


def test_opening_snapshot(store_target):
    with open_store(store_target) as store, store.begin_export(FOUNDATION, APP_USAGE) as x:
        assert x.needs_snapshot
        parts = {"apps": [{"guid": "a", "state": "STARTED"}], "processes": [], "tasks": [{"g": 1}]}
        x.save_snapshot("2026-01-01T00:00:00Z", parts)
        assert not x.needs_snapshot
        store.save_snapshot(FOUNDATION, "2026-01-02T00:00:00Z", {"apps": []})  # a later one
        snapshot = store.snapshot(FOUNDATION)
        assert snapshot.taken_at == "2026-01-01T00:00:00Z" and snapshot.parts == parts
        assert store.snapshot("https://other") is None


def test_schema_is_created_migrated_and_refused_when_newer(store_target, monkeypatch):
    with open_store(store_target) as store:
        assert store.schema_version() == schema.SCHEMA_VERSION
        with store.begin_export(FOUNDATION, APP_USAGE) as x:
            x.write_page(sandbox_events(10))
    newer = schema.SCHEMA_VERSION + 1
    monkeypatch.setattr(schema, "SCHEMA_VERSION", newer)
    monkeypatch.setitem(
        schema.MIGRATIONS, newer, ["ALTER TABLE cfevents_cursors ADD COLUMN note TEXT"]
    )
    with open_store(store_target) as store:  # this cfevents is newer: it migrates the store
        assert store.schema_version() == newer
        assert store.coverage(FOUNDATION, APP_USAGE).events == 10
    execute_sql(store_target, "UPDATE cfevents_cursors SET note = 'the new column'")
    monkeypatch.undo()  # back to this cfevents: the store is newer now
    with pytest.raises(StoreError) as err:
        open_store(store_target)
    assert f"schema version {newer}, written by a newer cfevents" in str(err.value)
    assert "\n" not in str(err.value)


def test_first_seq_since_matches_a_scan(store_target):
    """The first seq of an event created at or after a time, against scanning every event."""
    from datetime import UTC, datetime, timedelta

    events = sandbox_events(600)
    with open_store(store_target) as store:
        with store.begin_export(FOUNDATION, APP_USAGE) as export:
            for first in range(0, len(events), 100):
                export.write_page(events[first : first + 100])
        stamps = sorted({e["created_at"] for e in events})
        probes = [stamps[0], stamps[len(stamps) // 3], stamps[-1]]
        for text in probes:
            moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            for at in (moment, moment + timedelta(seconds=1)):
                want = next(
                    (
                        seq
                        for seq, e in enumerate(events, 1)
                        if e["created_at"] >= at.strftime("%Y-%m-%dT%H:%M:%SZ")
                    ),
                    None,
                )
                assert store.first_seq_since(FOUNDATION, APP_USAGE, at) == want
