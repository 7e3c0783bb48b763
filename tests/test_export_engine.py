"""The export engine without HTTP: keyset paging, min-age cut, read-ahead, checkpoint files."""

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from cfevents.cc.readahead import read_ahead
from cfevents.errors import ApiError, LostCursorError, UsageError
from cfevents.export import checkpoint as ckpt
from cfevents.export.engine import batches, keyset_pages


class FakeClient:
    """Serves a list of events by keyset, records the params of each request."""

    api = "https://api.example.com"

    def __init__(self, n, known=None):
        self.events = [
            {"guid": f"g{i}", "created_at": f"2024-05-01T00:00:{i % 60:02d}Z"} for i in range(n)
        ]
        self.calls = []

    def get_json(self, path, params=None):
        self.calls.append(list(params or []))
        p = dict(params or [])
        start = 0
        if "after_guid" in p:
            idx = (
                [e["guid"] for e in self.events].index(p["after_guid"])
                if p["after_guid"] in {e["guid"] for e in self.events}
                else None
            )
            if idx is None:
                raise ApiError(
                    422,
                    "After guid filter must be a valid app usage event guid.",
                    title="CF-UnprocessableEntity",
                    code=10008,
                )
            start = idx + 1
        size = int(p["per_page"])
        rest = self.events[start:]
        page = rest[:size]
        nxt = {"href": "x"} if len(rest) > size else None
        return {"pagination": {"total_results": len(rest), "next": nxt}, "resources": page}


def test_keyset_pages_use_after_guid_and_page_1():
    client = FakeClient(7)
    pages = list(
        keyset_pages(
            client, "/v3/app_usage_events", [("created_ats[gte]", "X"), ("page", "9")], None, 3
        )
    )
    assert [len(p["resources"]) for p in pages] == [3, 3, 1]
    assert client.calls[0] == [("created_ats[gte]", "X"), ("page", "1"), ("per_page", "3")]
    assert client.calls[1] == [
        ("created_ats[gte]", "X"),
        ("after_guid", "g2"),
        ("page", "1"),
        ("per_page", "3"),
    ]
    assert ("after_guid", "g5") in client.calls[2]


def test_keyset_pages_exact_multiple_stops_on_null_next():
    client = FakeClient(6)
    assert len(list(keyset_pages(client, "/p", [], None, 3))) == 2


def test_unknown_cursor_is_lost_cursor_error():
    client = FakeClient(3)
    with pytest.raises(LostCursorError, match="no longer knows the cursor gone"):
        list(keyset_pages(client, "/p", [], "gone", 3))


def test_batches_cut_at_first_young_event():
    now = datetime(2024, 5, 1, 0, 1, 0, tzinfo=UTC)
    page = {
        "resources": [
            {"guid": "a", "created_at": "2024-05-01T00:00:00Z"},
            {"guid": "b", "created_at": "2024-05-01T00:00:30Z"},  # young (age 30s < 60s)
            {
                "guid": "c",
                "created_at": "2024-04-30T00:00:00Z",
            },  # older but after a young one: waits
        ]
    }
    out = list(batches([page, page], min_age=timedelta(seconds=45), now=lambda: now))
    assert len(out) == 1
    assert [e["guid"] for e in out[0].events] == ["a"]
    assert out[0].stopped_by_age and out[0].last_guid == "a"
    assert [e["guid"] for e in next(batches([page], min_age=None, now=lambda: now)).events] == [
        "a",
        "b",
        "c",
    ]


def test_read_ahead_keeps_order_and_overlaps():
    produced = []

    def source():
        for i in range(5):
            produced.append(i)
            yield i

    it = read_ahead(source())
    assert next(it) == 0
    deadline = time.time() + 2
    while len(produced) < 2 and time.time() < deadline:
        time.sleep(0.01)
    assert len(produced) >= 2  # item 1 was produced while the consumer held item 0
    assert list(it) == [1, 2, 3, 4]


def test_read_ahead_reraises_producer_errors_in_order():
    def source():
        yield 1
        raise ApiError(503, "down")

    it = read_ahead(source())
    assert next(it) == 1
    with pytest.raises(ApiError, match="down"):
        next(it)


def test_read_ahead_stops_producer_when_consumer_stops():
    started = threading.Event()

    def endless():
        i = 0
        while True:
            started.set()
            yield i
            i += 1

    it = read_ahead(endless())
    assert next(it) == 0
    it.close()
    before = threading.active_count()
    time.sleep(0.3)
    assert threading.active_count() <= before


def test_checkpoint_roundtrip_and_atomic_replace(tmp_path):
    path = tmp_path / "c.json"
    assert ckpt.load(path) is None
    cp = ckpt.Checkpoint(
        api="https://api.x",
        after_guid="g1",
        last_created_at="2024-05-01T00:00:00Z",
        events=3,
        output=ckpt.OutputState("/tmp/o.csv", "csv", 120),
    )
    ckpt.save(path, cp)
    assert ckpt.load(path) == cp
    assert json.loads(path.read_text())["version"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.json"]  # no temp files left


def test_checkpoint_garbage_is_usage_error(tmp_path):
    path = tmp_path / "c.json"
    path.write_text("{}")
    with pytest.raises(UsageError, match="not a valid checkpoint"):
        ckpt.load(path)
