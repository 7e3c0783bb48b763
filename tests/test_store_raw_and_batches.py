"""Stores at a file's speed (issue 23): ``raw`` is the text Cloud Controller sent, cut out of
the page body (never encoded again); pages share a transaction without the cursor ever
running ahead of what is committed; PostgreSQL COPYs a page straight into the event table."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
import weakref

import pytest
from bad_server import BadServer
from cli_helpers import run
from jwt_helpers import make_jwt
from store_helpers import FOUNDATION, sandbox_events

from cfevents.cc.client import decode_json
from cfevents.errors import StoreError
from cfevents.stores import APP_USAGE, open_store
from cfevents.stores.base import encode_rows
from cfevents.stores.raw import split_page

EVENTS = sandbox_events(30)


def body(resources, **dump) -> bytes:
    page = {"pagination": {"total_results": len(resources), "next": None}, "resources": resources}
    return json.dumps(page, **dump).encode()


def assert_texts(data: bytes, texts: dict[str, str], resources) -> None:
    """Every resource has its text: a piece of the body that decodes to the resource."""
    text = data.decode()
    assert sorted(texts) == sorted({r["guid"] for r in resources})
    for resource in resources:
        piece = texts[resource["guid"]]
        assert piece in text and json.loads(piece) == resource


# -- cutting the texts out of a page ------------------------------------------------------------


def test_a_compact_page_is_cut_into_the_texts_cc_sent():
    data = body(EVENTS, separators=(",", ":"), ensure_ascii=False)
    page, texts = split_page(data, decode_json)
    assert page["resources"] == EVENTS
    assert_texts(data, texts, EVENTS)
    compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    assert [texts[e["guid"]] for e in EVENTS] == [compact(e) for e in EVENTS]


@pytest.mark.parametrize(
    "dump",
    [
        {"indent": 2},  # whitespace everywhere
        {"ensure_ascii": True},  # ", " and ": ", \u escapes
        {"separators": (",", ":"), "ensure_ascii": True, "sort_keys": True},  # guid not first
    ],
)
def test_any_other_layout_is_walked_and_each_text_is_still_the_bytes_sent(dump):
    odd = [
        {**EVENTS[0], "app": {"guid": "a", "name": 'x},{"guid":"' + EVENTS[1]["guid"] + '"'}},
        {**EVENTS[1], "space": {"guid": "s", "name": "café ünïcode ☃"}},
        *EVENTS[2:5],
    ]
    data = body(odd, **dump)
    page, texts = split_page(data, decode_json)
    assert page["resources"] == odd
    assert_texts(data, texts, odd)


def test_a_string_holding_the_separator_falls_back_to_the_exact_walk():
    tricky = [{**EVENTS[0], "task": {"guid": None, "name": 'a},{"guid":"b"}'}}, EVENTS[1]]
    data = body(tricky, separators=(",", ":"), ensure_ascii=False)
    _, texts = split_page(data, decode_json)
    assert_texts(data, texts, tricky)


def test_a_repeated_guid_keeps_the_first_text_as_the_row_keeps_the_first_event():
    second = {**EVENTS[0], "state": {"current": "STOPPED", "previous": "STARTED"}}
    data = body([EVENTS[0], second], separators=(",", ":"))
    page, texts = split_page(data, decode_json)
    rows = encode_rows(page["resources"], APP_USAGE, texts=texts)
    assert len(rows) == 1 and json.loads(rows[0][1][-1]) == EVENTS[0]


def test_escaped_nul_and_lone_surrogate_keep_cc_text_and_escape_the_flat_values():
    odd = {**EVENTS[0], "app": {"guid": "a", "name": "nul\x00 half\ud800"}}
    data = body([odd], ensure_ascii=True)  # CC's only way to send them: \u0000, \ud800
    page, texts = split_page(data, decode_json)
    ((_, row),) = encode_rows(page["resources"], APP_USAGE, texts=texts)
    assert row[-1] == texts[odd["guid"]] and "\\u0000" in row[-1]
    assert "nul\\u0000 half\\ud800" in row


def test_a_body_that_is_not_json_still_fails_as_before():
    with pytest.raises(ValueError):
        split_page(b"<html>", decode_json)
    assert split_page(b'{"pagination": {}}', decode_json)[1] is None


# -- end to end: raw is the text the server sent --------------------------------------------


def stored_raw(target: str, table: str = "app_usage_events") -> list[str]:
    if target.startswith("postgresql"):
        import psycopg

        with psycopg.connect(target) as conn:
            return [r[0] for r in conn.execute(f"SELECT raw::text FROM {table} ORDER BY seq")]
    with sqlite3.connect(target) as conn:
        return [r[0] for r in conn.execute(f"SELECT raw FROM {table} ORDER BY seq")]


def test_usage_export_stores_the_event_text_as_the_server_sent_it(tmp_path, store_target):
    """A server that indents its JSON and escapes non-ASCII: ``raw`` holds those bytes, not a
    compact encoding of the decoded event (which earlier cfevents stored)."""
    events = [{**e, "space": {"guid": "s", "name": "café"}} for e in EVENTS[:6]]
    events_body = body(events, indent=1, ensure_ascii=True)
    empty = body([])

    def answer(path: str):
        if path == "/":
            return 200, b'{"links": {}}', {}
        return 200, events_body if path.startswith("/v3/app_usage_events") else empty, {}

    env = {
        "CF_TOKEN": make_jwt(),
        "CF_HOME": str(tmp_path),
        "CFEVENTS_OUTPUT": "",
        "CF_CLIENT_ID": "",
    }
    with BadServer(answer) as server:
        result = run({**env, "CF_API": server.url}, "usage", "export", "--out", store_target)
    assert result.exit_code == 0, result.output
    raws = stored_raw(store_target)
    text = events_body.decode()
    assert [json.loads(raw) for raw in raws] == events
    for raw, event in zip(raws, events, strict=True):
        assert raw in text and "\n" in raw and "caf\\u00e9" in raw
        assert raw != json.dumps(event, separators=(",", ":"), ensure_ascii=False)


# -- pages sharing a transaction ----------------------------------------------------------------


def committed(target: str) -> int:
    with open_store(target) as store:
        coverage = store.coverage(FOUNDATION, APP_USAGE)
        return coverage.events if coverage else 0


def test_pages_share_a_transaction_and_the_cursor_commits_with_them(store_target):
    events = sandbox_events(50)
    with open_store(store_target) as store, store.begin_export(FOUNDATION, APP_USAGE) as export:
        export.commit_every(3, 3600.0)
        seen = []
        for first in range(0, 50, 10):
            export.write_page(events[first : first + 10])
            seen.append(committed(store_target))
            with open_store(store_target) as other:  # what a kill would leave
                cursor = other.cursor(FOUNDATION, APP_USAGE)
                assert cursor is None or cursor.after_guid == events[seen[-1] - 1]["guid"]
        assert seen == [0, 0, 30, 30, 30]  # committed every 3 pages
    assert committed(store_target) == 50  # the session's end commits the rest


def test_a_stop_mid_batch_keeps_every_page_written_in_full(store_target):
    events = sandbox_events(40)
    with (
        pytest.raises(KeyboardInterrupt),
        open_store(store_target) as store,
        store.begin_export(FOUNDATION, APP_USAGE) as x,
    ):
        x.commit_every(10, 3600.0)
        x.write_page(events[:10])
        x.write_page(events[10:20])
        raise KeyboardInterrupt  # the stop comes between pages
    with open_store(store_target) as store:
        assert [e["guid"] for e in store.events(FOUNDATION, APP_USAGE)] == [
            e["guid"] for e in events[:20]
        ]
        assert store.cursor(FOUNDATION, APP_USAGE).after_guid == events[19]["guid"]


def test_a_page_that_fails_halfway_leaves_no_row_of_it_and_keeps_the_pages_before(store_target):
    events = sandbox_events(30)
    bad = [*events[20:25], {**events[25], "created_at": "not a time"}]  # PostgreSQL refuses it
    with open_store(store_target) as store, store.begin_export(FOUNDATION, APP_USAGE) as x:
        x.commit_every(10, 3600.0)
        x.write_page(events[:10])
        x.write_page(events[10:20])
        if store_target.startswith("postgresql"):
            with pytest.raises(StoreError):
                x.write_page(bad)
        else:  # SQLite takes any text: make its insert fail halfway instead
            real = store.insert_sql

            def fails_after_some_rows(kind):
                store.conn.execute(
                    "CREATE TEMP TRIGGER IF NOT EXISTS t BEFORE INSERT ON "
                    "app_usage_events WHEN NEW.created_at = 'not a time' "
                    "BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
                return real(kind)

            store.insert_sql = fails_after_some_rows  # type: ignore[method-assign]
            with pytest.raises(StoreError):
                x.write_page(bad)
        assert x.after_guid == events[19]["guid"]
    with open_store(store_target) as store:
        assert [e["guid"] for e in store.events(FOUNDATION, APP_USAGE)] == [
            e["guid"] for e in events[:20]
        ]
        assert store.cursor(FOUNDATION, APP_USAGE).after_guid == events[19]["guid"]


def test_postgresql_copies_a_page_straight_into_the_table_and_dedups_an_overlap(pg_url):
    events = sandbox_events(30)
    with open_store(pg_url) as store, store.begin_export(FOUNDATION, APP_USAGE) as export:
        export.write_page(events[:10])
        export.write_page(events[10:20])
        assert store._temp_tables == set()  # type: ignore[attr-defined]  # no detour
        export.write_page(events[15:30])  # overlaps: the COPY hits the key, undone
        assert store._temp_tables  # type: ignore[attr-defined]
    with open_store(pg_url) as store:
        assert [e["guid"] for e in store.events(FOUNDATION, APP_USAGE)] == [
            e["guid"] for e in events
        ]
        coverage = store.coverage(FOUNDATION, APP_USAGE)
        assert (coverage.first_seq, coverage.last_seq) == (1, 30)
        assert store.continuity(FOUNDATION, APP_USAGE).ok


# -- a batch and the waits for the next page ----------------------------------------------------


def wait_for(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_a_long_wait_commits_the_batch_and_a_short_one_keeps_it(store_target):
    events = sandbox_events(30)
    with open_store(store_target) as store, store.begin_export(FOUNDATION, APP_USAGE) as x:
        x.commit_every(10, 3600.0)
        x.write_page(events[:10])
        with x.waiting(3600.0):  # the next page comes at once: the batch stays open
            assert committed(store_target) == 0
        assert committed(store_target) == 0 and x.durable == (None, None)
        x.write_page(events[10:20])
        with x.waiting(0.0):  # a wait that lasts: the pages so far commit meanwhile
            wait_for(lambda: committed(store_target) == 20)
        assert x.durable[0] == events[19]["guid"]
        with open_store(store_target) as other:  # the committed cursor is after them
            assert other.cursor(FOUNDATION, APP_USAGE).after_guid == events[19]["guid"]
        x.write_page(events[20:30])  # a new batch
        assert committed(store_target) == 20
    assert committed(store_target) == 30


def test_a_commit_that_fails_during_a_wait_is_raised_when_the_wait_ends(tmp_path):
    target = str(tmp_path / "usage.db")
    events = sandbox_events(20)
    with open_store(target) as store, store.begin_export(FOUNDATION, APP_USAGE) as x:
        x.commit_every(10, 3600.0)
        x.write_page(events[:10])
        tried = []

        def full_disk() -> bool:  # the fault: SQLite cannot end the transaction
            tried.append(True)
            store.rollback()
            raise StoreError(f"{target}: database or disk is full")

        x._commit = full_disk  # type: ignore[method-assign]
        with pytest.raises(StoreError, match="disk is full"), x.waiting(0.0):
            wait_for(lambda: bool(tried))
        assert x.after_guid is None and x.durable == (None, None)  # back to the committed one
    assert committed(target) == 0


def test_a_page_the_server_answered_is_read_without_cutting_the_batch(sandbox):
    """Reading ahead, the next page's request is sent while a page is written; once the
    server has answered it, the export does not wait for the server: the batch stays open
    (it commits only if reading that answer takes longer than COMMIT_IDLE). A page the
    server is still working on commits the batch at once, while the server works."""
    import threading

    from cfevents.cc.client import CFClient
    from cfevents.cc.config import Credentials, Settings
    from cfevents.export.store import COMMIT_IDLE, KeepsText

    creds = Credentials(access_token=sandbox.admin_token())
    client = CFClient(Settings(api=sandbox.url, credentials=creds))
    idles = []

    @contextlib.contextmanager
    def waiting(idle):
        idles.append(idle)
        yield

    pages = KeepsText(client, waiting)
    first = [("per_page", "5")]
    page = pages.get_json(APP_USAGE.path, first)  # nothing read ahead: the server works
    after = [("per_page", "5"), ("after_guid", page["resources"][-1]["guid"])]
    gate = threading.Event()  # a guessed request: its body waits until it is asked for
    client.read_ahead(APP_USAGE.path, after, may_read=gate)
    wait_for(lambda: not client.would_wait(APP_USAGE.path, after))  # the answer is in
    assert not gate.is_set()
    nxt = pages.get_json(APP_USAGE.path, after)
    assert idles == [0.0, COMMIT_IDLE]
    assert len(nxt["resources"]) == 5 and sorted(pages.texts) == sorted(
        e["guid"] for e in nxt["resources"]
    )


# -- the SQLite file's pages and the rows' org names --------------------------------------------


def page_size(path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA page_size").fetchone()[0])


def test_a_new_sqlite_store_has_32k_pages_and_an_existing_one_keeps_its_own(tmp_path):
    events = sandbox_events(20)
    new = tmp_path / "new.db"
    with open_store(str(new)) as store, store.begin_export(FOUNDATION, APP_USAGE) as x:
        x.write_page(events[:10])
    assert page_size(new) == 32768
    old = tmp_path / "old.db"  # a store an earlier cfevents made: SQLite's 4 KiB pages
    with sqlite3.connect(old) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS unrelated (x)")
    assert page_size(old) == 4096
    for part in (events[:10], events[10:]):  # written, then resumed from its cursor
        with open_store(str(old)) as store, store.begin_export(FOUNDATION, APP_USAGE) as x:
            x.write_page(part)
    assert page_size(old) == 4096
    for path in (new, old):
        with open_store(str(path)) as store:
            got = [e["guid"] for e in store.events(FOUNDATION, APP_USAGE)]
        assert got == [e["guid"] for e in events[: len(got)]] and len(got) in (10, 20)


def test_org_names_fill_the_column_and_follow_the_flat_values_rule():
    page = {"resources": sandbox_events(3)}
    org = page["resources"][0]["organization"]["guid"]
    names = {org: "acme\x00"}
    data = body(page["resources"])
    _, texts = split_page(data, decode_json)
    at = APP_USAGE.column_names.index("org_name")
    rows = encode_rows(page["resources"], APP_USAGE, names, texts)
    for event, (_, row) in zip(page["resources"], rows, strict=True):
        mine = event["organization"]["guid"] == org
        assert row[at] == ("acme\\u0000" if mine else None)
    named = [{**e, "organization": {"guid": org, "name": "Named"}} for e in page["resources"]]
    assert {row[at] for _, row in encode_rows(named, APP_USAGE, names)} == {"Named"}
    nested = [{**page["resources"][0], "app": ["not", "an", "object"]}]  # not CC's shape
    ((_, row),) = encode_rows(nested, APP_USAGE, names)
    assert row[at] == "acme\\u0000" and row[APP_USAGE.column_names.index("app_guid")] is None


# -- memory: one page at a time -----------------------------------------------------------------


class _Page(dict):
    """A page that can be watched with a weak reference."""


class _Events(list):
    pass


class _WatchingServer:
    """Serves keyset pages of usage events (and empty lists for the snapshot); on every
    request for events, counts the event pages served before that are still alive."""

    api = "https://api.example.com"

    def __init__(self, events, per_page):
        self.events, self.per_page = events, per_page
        self.served: list = []
        self.alive_at_request: list[int] = []

    def get_json(self, path, params=None):
        if path != APP_USAGE.path:
            return {"pagination": {"next": None}, "resources": []}
        self.alive_at_request.append(sum(ref() is not None for ref in self.served))
        after = dict(params or []).get("after_guid")
        guids = [e["guid"] for e in self.events]
        start = 0 if after is None else guids.index(after) + 1
        items = _Events(self.events[start : start + self.per_page])
        more = start + self.per_page < len(self.events)
        page = _Page(pagination={"next": {"href": "x"} if more else None}, resources=items)
        self.served += [weakref.ref(page), weakref.ref(items)]
        return page


def test_a_store_export_lets_each_page_go_before_fetching_the_next(store_target):
    """A page's events are let go once they are in the store: the page before is never alive
    while the next one is fetched and decoded (it doubled a store export's peak memory)."""
    from datetime import timedelta

    from cfevents.export.engine import ExportJob, ExportPlan

    events = sandbox_events(10)
    server = _WatchingServer(events, per_page=3)
    plan = ExportPlan(
        APP_USAGE.path, per_page=3, interval=0, store=store_target, min_age=timedelta(0)
    )
    job = ExportJob(server, plan, note=lambda _: None, warn=lambda _: None)
    job.run()
    assert server.alive_at_request == [0, 0, 0, 0]
    with open_store(store_target) as store:
        stored = [e["guid"] for e in store.events(server.api, APP_USAGE)]
    assert stored == [e["guid"] for e in events]


def test_a_signal_during_the_wait_for_a_commit_is_raised_once_the_commit_ended():
    """Ctrl-C while the export waits for a commit under way in the helper thread: the commit
    ends first (no two threads use the store at once), then the stop goes on."""
    import threading

    from cfevents.stores.base import wait_through_signals

    may_end, ended = threading.Event(), []

    class Interrupted(threading.Event):
        """The commit's end; the first wait for it is cut by Ctrl-C, the commit still under
        way (the fault injected); the next one lets the commit end."""

        waits = 0

        def wait(self, timeout=None):
            Interrupted.waits += 1
            if Interrupted.waits == 1:
                raise KeyboardInterrupt
            may_end.set()
            return super().wait(timeout)

    done = Interrupted()

    def commit() -> None:
        may_end.wait(60)
        ended.append(True)
        done.set()

    worker = threading.Thread(target=commit, daemon=True)
    worker.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            wait_through_signals(done)
        assert ended == [True] and Interrupted.waits == 2
    finally:
        may_end.set()
        worker.join(60)


def test_an_export_checkpoints_the_wal_on_its_own_thread(tmp_path):
    """The writer's automatic checkpoint (copy + fsync inside its COMMIT) is off while an
    export runs; a Checkpointer thread copies each commit into the database file instead, and
    stops with the export (the writer checkpoints itself again)."""
    import threading

    from cli_helpers import wait_for

    def checkpointers() -> int:
        return sum(t.name == "cfevents-checkpoint" for t in threading.enumerate())

    path = tmp_path / "u.db"
    with open_store(str(path)) as store:
        with store.begin_export(FOUNDATION, APP_USAGE) as export:
            assert store.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
            assert checkpointers() == 1
            before = path.stat().st_size
            export.write_page(sandbox_events(300))  # committed: far below 1000 WAL pages
            # the file grows only by a checkpoint: none would run before the close without it
            wait_for(lambda: path.stat().st_size > before)
        assert store.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
        wait_for(lambda: checkpointers() == 0)  # it ends once stopped
        assert store.coverage(FOUNDATION, APP_USAGE).events == 300
