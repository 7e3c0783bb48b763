"""Reading ahead: the next page downloads while this one is written; memory stays flat.

Paging must give exactly the pages plain paging gives, with exactly the same requests; a
wrong guess of the next cursor costs one wasted request and never a wrong page; no page is kept
alive once the consumer is done with it.
"""

from __future__ import annotations

import json
import threading
import weakref

import pytest

from cfevents.cc.client import CFClient
from cfevents.cc.config import Credentials, Settings
from cfevents.cc.readahead import Background
from cfevents.errors import NetworkError
from cfevents.export.engine import ExportJob, ExportPlan, guess_last_guid, keyset_pages

PATH = "/v3/app_usage_events"


def raw_page(guids, *, more=True, base="https://api.x"):
    body = {
        "pagination": {
            "total_results": 99,
            "next": {"href": f"{base}{PATH}?page=2&per_page=3"} if more else None,
            "previous": None,
        },
        "resources": [
            {
                "guid": g,
                "app": {"guid": "app-" + g},
                "links": {"self": {"href": f"{base}{PATH}/{g}"}},
            }
            for g in guids
        ],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def test_guess_last_guid_reads_the_last_self_link():
    assert guess_last_guid(raw_page(["a-1", "b-2", "c-3"]), PATH) == "c-3"
    pretty = json.dumps(json.loads(raw_page(["a-1", "z-9"])), indent=2).encode() + b"\n"
    assert guess_last_guid(pretty, PATH) == "z-9"


@pytest.mark.parametrize(
    "raw",
    [
        raw_page(["a", "b"], more=False),  # the last page: nothing to guess
        b'{"resources":[],"pagination":{"next":{"href":"x"}}}',  # no self link at the end
        b"not json at all",
        b"",
    ],
)
def test_guess_last_guid_gives_up_rather_than_guess_wildly(raw):
    assert guess_last_guid(raw, PATH) is None


def test_background_returns_or_raises():
    assert Background(lambda: 42).result() == 42

    def boom():
        raise NetworkError("down")

    with pytest.raises(NetworkError, match="down"):
        Background(boom).result()


class FakeResponse:
    status_code = 200
    url = "https://api.x" + PATH

    def __init__(self, content):
        self.content = content
        self.headers = {}


def offline_client(pages):
    """A CFClient whose transport serves ``pages[after_guid]`` and records each request."""
    client = CFClient(Settings(api="https://api.x", credentials=Credentials(access_token="t")))
    calls = []
    reads = client.reads = []  # type: ignore[attr-defined]
    lock = threading.Lock()

    def get(target, params=None, *, auth=True, before_body=None):
        after = dict(params or []).get("after_guid")
        with lock:
            calls.append((after, threading.current_thread().name))
        if after not in pages:
            raise NetworkError(f"no page after {after}")
        if before_body is not None:  # the headers are in: the body waits for this
            before_body()
        with lock:
            reads.append(f"body {after}")
        return FakeResponse(pages[after])

    client.get = get  # type: ignore[method-assign]
    return client, calls


def three_pages():
    return {
        None: raw_page(["g1", "g2", "g3"]),
        "g3": raw_page(["g4", "g5", "g6"]),
        "g6": raw_page(["g7"], more=False),
    }


def test_read_ahead_downloads_in_the_background_with_the_same_requests():
    client, calls = offline_client(three_pages())
    pages = list(keyset_pages(client, PATH, [], None, 3))
    assert [[e["guid"] for e in p["resources"]] for p in pages] == [
        ["g1", "g2", "g3"],
        ["g4", "g5", "g6"],
        ["g7"],
    ]
    assert [after for after, _ in calls] == [None, "g3", "g6"]
    assert all(name == "cfevents-read-ahead" for _, name in calls)


def test_a_wrong_guess_costs_one_request_never_a_wrong_page():
    pages = three_pages()
    # The self links lie about the last guid of the first page (a proxy rewrote them, say).
    pages[None] = pages[None].replace(b"/g3", b"/gX")
    pages["gX"] = raw_page(["wrong"])
    client, calls = offline_client(pages)
    got = [e["guid"] for p in keyset_pages(client, PATH, [], None, 3) for e in p["resources"]]
    assert got == ["g1", "g2", "g3", "g4", "g5", "g6", "g7"]
    assert sorted(str(after) for after, _ in calls) == ["None", "g3", "g6", "gX"]


def test_read_ahead_stops_at_max_pages():
    client, calls = offline_client(three_pages())
    pages = list(keyset_pages(client, PATH, [], None, 3, max_pages=2))
    assert len(pages) == 2
    assert [after for after, _ in calls] == [None, "g3"]


def test_a_failed_read_ahead_raises_where_the_page_is_asked_for():
    pages = three_pages()
    del pages["g3"]
    client, _ = offline_client(pages)
    it = keyset_pages(client, PATH, [], None, 3)
    assert len(next(it)["resources"]) == 3
    with pytest.raises(NetworkError, match="no page after g3"):
        next(it)


class Page(dict):
    """A page that can be watched with a weak reference."""


class Events(list):
    pass


class WatchingClient:
    """Serves keyset pages; on every request, checks no page served before is still alive."""

    api = "https://api.example.com"

    def __init__(self, n, per_page):
        self.events = [{"guid": f"g{i}", "created_at": "2024-05-01T00:00:00Z"} for i in range(n)]
        self.per_page = per_page
        self.served: list[weakref.ref] = []
        self.alive_at_request: list[int] = []

    def get_json(self, path, params=None):
        self.alive_at_request.append(sum(ref() is not None for ref in self.served))
        after = dict(params or []).get("after_guid")
        start = 0 if after is None else int(after[1:]) + 1
        items = Events(self.events[start : start + self.per_page])
        more = start + self.per_page < len(self.events)
        page = Page(pagination={"next": {"href": "x"} if more else None}, resources=items)
        self.served += [weakref.ref(page), weakref.ref(items)]
        return page


def test_export_lets_each_page_go_before_fetching_the_next():
    client = WatchingClient(10, per_page=3)
    job = ExportJob(
        client,
        ExportPlan(PATH, per_page=3, interval=0),
        note=lambda _: None,
        warn=lambda _: None,
    )
    written = [event["guid"] for event in job.stream()]
    assert written == [f"g{i}" for i in range(10)]
    assert client.alive_at_request == [0, 0, 0, 0]


# -- audit events and crashes read ahead too ------------------------------------------------


def _record_threads(monkeypatch):
    """Each audit-event request's thread name, in order."""
    from cfevents.cc import client as client_module

    seen: list[str] = []
    real = client_module.CFClient.get_json

    def get_json(self, target, params=None, *, auth=True):
        if "events" in target and "usage" not in target:
            seen.append(threading.current_thread().name)
        return real(self, target, params, auth=auth)

    monkeypatch.setattr(client_module.CFClient, "get_json", get_json)
    return seen


@pytest.mark.parametrize(
    "command",
    [
        ("crashes", "--all", "-o", "csv", "--per-page", "7"),
        ("crashes", "--all", "-o", "csv", "--per-page", "5", "--source", "v2"),
        ("events", "list", "--all", "-o", "csv", "--per-page", "50"),
        ("crashes", "--summary", "--all", "-o", "csv", "--per-page", "7"),
    ],
)
def test_audit_listings_read_the_next_page_ahead_with_the_same_bytes(cli, monkeypatch, command):
    import cfevents.cc.readahead as readahead

    threads = _record_threads(monkeypatch)
    ahead = cli(*command)
    assert ahead.exit_code == 0, ahead.output
    assert threads[0] != "cfevents-read-ahead"  # the first page: errors before any output
    assert len(threads) > 3
    assert set(threads[1:]) == {"cfevents-read-ahead"}

    threads.clear()
    monkeypatch.setattr(readahead, "read_ahead", lambda pages, depth=1: pages)
    serial = cli(*command)
    assert serial.exit_code == 0, serial.output
    assert "cfevents-read-ahead" not in threads
    assert ahead.stdout_bytes == serial.stdout_bytes


def test_a_limited_listing_never_reads_ahead(cli, monkeypatch):
    threads = _record_threads(monkeypatch)
    result = cli("crashes", "-n", "3", "-o", "csv")
    assert result.exit_code == 0, result.output
    assert threads and "cfevents-read-ahead" not in threads


def test_audit_read_ahead_lets_each_page_go():
    """At most the page being written and the one downloaded ahead are alive at a request."""
    from cfevents.cc.paging import PageInfo
    from cfevents.events.audit import EventQuery
    from cfevents.events.audit_listing import read_events

    served: list[weakref.ref] = []
    alive: list[int] = []
    total, size = 40, 4

    def event(i):
        return {"guid": f"e{i:03d}", "created_at": f"2024-05-01T00:00:{i:02d}Z", "data": {}}

    class Http:
        def get_json(self, target, params=None):
            alive.append(sum(ref() is not None for ref in served))
            page = 1 if params is not None else int(target.rsplit("=", 1)[1])
            items = Events(event(i) for i in range((page - 1) * size, min(page * size, total)))
            more = page * size < total
            body = Page(
                pagination={"next": {"href": f"/x?page={page + 1}"} if more else None},
                resources=items,
            )
            served.append(weakref.ref(body))
            return body

    events = read_events(Http(), EventQuery(order="asc"), "v3", PageInfo())  # type: ignore[arg-type]
    got = [e["guid"] for e in events]
    assert got == [f"e{i:03d}" for i in range(total)]
    assert len(alive) == total // size
    assert max(alive) <= 2, alive


# -- the usage report: one page at a time (issue 23) ----------------------------------------


def test_without_guessing_the_next_download_starts_after_the_page_is_decoded():
    """The report's paging: no request is made from a raw body (here the self links lie, so a
    guess would ask for gX); the same pages, the same requests as plain paging."""
    pages = three_pages()
    pages[None] = pages[None].replace(b"/g3", b"/gX")
    client, calls = offline_client(pages)
    got = [
        e["guid"]
        for p in keyset_pages(client, PATH, [], None, 3, guess_next=False)
        for e in p["resources"]
    ]
    assert got == ["g1", "g2", "g3", "g4", "g5", "g6", "g7"]
    assert [after for after, _ in calls] == [None, "g3", "g6"]


def test_report_events_let_each_page_go_before_fetching_the_next():
    from datetime import UTC, datetime

    from cfevents.api import Client
    from cfevents.report.ccsource import keyset_events

    start = datetime(2024, 5, 1, tzinfo=UTC)
    client = WatchingClient(12_000, per_page=5000)
    assert sum(1 for _ in Client(client)._report_events(start)) == 12_000  # type: ignore[arg-type]
    assert client.alive_at_request == [0, 0, 0]
    plain = WatchingClient(12_000, per_page=5000)
    assert sum(1 for _ in keyset_events(plain, start)) == 12_000
    assert plain.alive_at_request == [0, 0, 0]


def test_a_guessed_download_reads_its_body_only_once_the_page_before_is_let_go(monkeypatch):
    """At most one raw body alive, and never next to a decoded page: the request guessed from
    page N's raw body is sent at once, but its body is read only when page N+1 is asked for,
    after the consumer is done with page N (which is decoded without its raw body)."""
    from cfevents.cc import client as client_module

    client, _ = offline_client(three_pages())
    decode = client_module.decode_body
    gate_open_while_decoding = []

    def decode_body(resp):
        ahead = client._ahead
        gate_open_while_decoding.append(ahead is not None and ahead.may_read.is_set())
        page = decode(resp)
        client.reads.append(f"decoded {page['resources'][0]['guid']}")
        return page

    monkeypatch.setattr(client_module, "decode_body", decode_body)
    for page in keyset_pages(client, PATH, [], None, 3):
        client.reads.append(f"done with {page['resources'][0]['guid']}")
    assert gate_open_while_decoding == [False, False, False]
    assert client.reads == [
        "body None",
        "decoded g1",
        "done with g1",
        "body g3",
        "decoded g4",
        "done with g4",
        "body g6",
        "decoded g7",
        "done with g7",
    ]


def test_every_read_ahead_of_a_client_runs_on_one_thread():
    """A new thread per page gave each its own malloc arena, which kept freed bodies resident:
    memory grew with the pages. The client's downloads share one worker thread."""
    client = CFClient(Settings(api="https://api.x", credentials=Credentials(access_token="t")))
    pages = three_pages()
    threads = []

    def get(target, params=None, *, auth=True, before_body=None):
        threads.append(threading.current_thread())
        if before_body is not None:
            before_body()
        return FakeResponse(pages[dict(params or []).get("after_guid")])

    client.get = get  # type: ignore[method-assign]
    for _ in range(2):
        assert len(list(keyset_pages(client, PATH, [], None, 3))) == 3
    assert len(threads) == 6
    assert all(thread is threads[0] for thread in threads)
    assert threads[0].name == "cfevents-read-ahead"
