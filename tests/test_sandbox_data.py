"""Sandbox data: determinism, exact sizes, the column store's window queries, and
live mutations (appends, purge-and-reseed, retention pruning) as CC performs them."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import requests

from cfevents.sandbox import Sandbox, SandboxConfig
from cfevents.sandbox.data import Foundation

END = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
SECOND = 1_000_000
PATH = "/v3/app_usage_events"


def test_same_seed_and_end_give_identical_data():
    first, second = Foundation.generate(21, END), Foundation.generate(21, END)
    assert list(first.usage_events_v3()) == list(second.usage_events_v3())
    assert list(first.audit_events_v2()) == list(second.audit_events_v2())
    assert first.crashes() == second.crashes()
    other = Foundation.generate(22, END)
    assert list(other.usage_events_v3())[:20] != list(first.usage_events_v3())[:20]


def test_same_seed_gives_byte_identical_responses():
    bodies = []
    for _ in range(2):
        with Sandbox(SandboxConfig(seed=21, end=END)).start() as sb, requests.Session() as session:
            session.headers["Authorization"] = sb.admin_token()
            page = session.get(sb.url + PATH, params={"per_page": 300, "page": 2}).content
            events = session.get(sb.url + "/v2/events", params={"q": "type:app.crash"}).content
            bodies.append((page.replace(sb.url.encode(), b""), events))
    assert bodies[0] == bodies[1]


def test_exact_event_count_spread_over_the_window():
    f = Foundation.generate(2, END, days=10, usage_events=25_000)
    assert f.usage_event_count() == 25_000
    stamps = [f.usage_event_created_at_us(i) for i in range(f.usage_event_count())]
    start, end = int(END.timestamp()) * SECOND - 10 * 86400 * SECOND, int(END.timestamp()) * SECOND
    assert start <= min(stamps) < start + 3600 * SECOND
    assert end - 20 * 60 * SECOND < max(stamps) < end
    assert [f.usage_event_id(i) for i in range(5)] == [1, 2, 3, 4, 5]


def test_guids_carry_a_checksum():
    f = Foundation.generate(2, END, usage_events=100)
    store = f.store
    guid = store.guid(41)
    assert store.find(guid) == 41
    assert (
        store.find(guid[:-1] + ("0" if guid[-1] != "0" else "1")) is None
    )  # another id, wrong checksum
    assert store.find(guid.upper()) is None and store.find("") is None
    other = Foundation.generate(3, END, usage_events=100)
    assert other.store.find(guid) is None  # a guid from another foundation


def brute_force(store, start, windows, guids):
    wanted = None if guids is None else set(guids)
    return [
        p
        for p in range(start, len(store))
        if (windows is None or any(lo <= store.created[p] < hi for lo, hi in windows))
        and (wanted is None or store.guid(p) in wanted)
    ]


def test_window_selection_matches_a_brute_force_scan():
    f = Foundation.generate(8, END, days=3, usage_events=6000)
    # events appended with old timestamps make created_at very non-monotonic
    f.append_usage_events(40, int(END.timestamp() - 2 * 86400) * SECOND)
    f.append_usage_events(40, int(END.timestamp()) * SECOND)
    store, rng = f.store, random.Random(0)
    lo_all, hi_all = min(store.created), max(store.created)
    for _ in range(60):
        windows = None
        if rng.random() < 0.9:
            windows = []
            for _ in range(rng.choice((1, 1, 2, 3))):
                lo = rng.randrange(lo_all - SECOND, hi_all)
                windows.append((lo, lo + rng.choice((SECOND, 60 * SECOND, 86400 * SECOND))))
        guids = (
            [store.guid(rng.randrange(len(store))) for _ in range(5)]
            if rng.random() < 0.2
            else None
        )
        start = rng.choice((0, 0, rng.randrange(len(store))))
        expected = brute_force(store, start, windows, guids)
        selection = store.select_by_id(start, windows, guids)
        assert len(selection) == len(expected)
        assert selection.page(0, len(expected) + 1) == expected
        offset = rng.randrange(len(expected) + 1)
        assert selection.page(offset, 7) == expected[offset : offset + 7]
        assert selection.page(offset, 7, descending=True) == expected[::-1][offset : offset + 7]
        by_created = sorted(expected, key=lambda p: (store.created[p], store.guid(p)))
        assert (
            store.select_by_created(start, windows, guids).page(0, len(expected) + 1) == by_created
        )


# -- mutations --------------------------------------------------------------------


@pytest.fixture
def live():
    with Sandbox(SandboxConfig(seed=6, end=None, usage_events=400)).start() as sandbox:
        yield sandbox


def admin(sb):
    session = requests.Session()
    session.headers["Authorization"] = sb.admin_token()
    return session


def test_appended_events_arrive_at_the_end(live):
    before = [e["guid"] for e in live.foundation.usage_events_v3()]
    at = datetime.now(UTC) - timedelta(minutes=2)
    live.append_usage_events(7, at=at)
    with admin(live) as api:
        body = api.get(live.url + PATH, params={"after_guid": before[-1]}).json()
    new = body["resources"]
    assert len(new) == 7 and all(e["created_at"] == at.strftime("%Y-%m-%dT%H:%M:%SZ") for e in new)
    assert [e["guid"] for e in live.foundation.usage_events_v3()] == before + [
        e["guid"] for e in new
    ]


def test_purge_and_reseed_over_the_api(live):
    old = [e["guid"] for e in live.foundation.usage_events_v3()]
    old_max = live.foundation.usage_event_id(live.foundation.usage_event_count() - 1)
    purge = live.url + PATH + "/actions/destructively_purge_all_and_reseed"
    reader = {"Authorization": live.token(["cloud_controller.admin_read_only"])}
    forbidden = requests.post(purge, headers=reader)
    assert (
        forbidden.status_code == 403
        and forbidden.json()["errors"][0]["title"] == "CF-NotAuthorized"
    )
    with admin(live) as api:
        response = api.post(purge)
        assert (response.status_code, response.json()) == (200, {})
        events = api.get(live.url + PATH, params={"per_page": 5000}).json()["resources"]
        stale = api.get(live.url + PATH, params={"after_guid": old[-1]})
    started = {
        guid
        for app in live.foundation.apps
        if live.foundation.app_state(app.guid) == "STARTED"
        for guid, _ in app.processes
    }
    assert {e["guid"] for e in events} == started
    for event in events:
        assert event["guid"] == event["process"]["guid"] and event["process"]["type"] is None
        assert event["state"] == {"current": "STARTED", "previous": "STARTED"}
        assert event["instance_count"]["previous"] == event["instance_count"]["current"]
    assert len({e["created_at"] for e in events}) == 1
    assert live.foundation.usage_event_id(0) == old_max + 1
    assert stale.status_code == 422
    assert (
        stale.json()["errors"][0]["detail"]
        == "After guid filter must be a valid app usage event guid."
    )


def test_prune_never_deletes_the_newest_row(live):
    f = live.foundation
    stamps = [f.usage_event_created_at_us(i) for i in range(f.usage_event_count())]
    cutoff = sorted(stamps)[len(stamps) // 2]
    newest_id = f.usage_event_id(f.usage_event_count() - 1)
    live.prune_usage_events_before(datetime.fromtimestamp(cutoff / SECOND, UTC))
    kept = [f.usage_event_created_at_us(i) for i in range(f.usage_event_count())]
    assert all(c >= cutoff for c in kept) and len(kept) == len([s for s in stamps if s >= cutoff])
    live.prune_usage_events_before(datetime.now(UTC) + timedelta(days=1))
    assert f.usage_event_count() == 1 and f.usage_event_id(0) == newest_id
