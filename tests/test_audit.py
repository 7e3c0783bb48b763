"""Pure tests for cfevents.events.audit: query builders, q grammar, normalisation, crash pairing."""

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest

from cfevents.errors import UsageError
from cfevents.events import audit
from cfevents.events.audit import (
    APP_CRASH,
    CRASH_TYPES,
    PROCESS_CRASH,
    EventQuery,
    build_v2_events_params,
    build_v3_audit_params,
    crash_records,
    normalise_v2,
    normalise_v3,
    parse_q,
    settle_ties,
    summarise,
    unique,
)
from cfevents.events.query import TimeWindow

A = datetime(2024, 5, 1, tzinfo=UTC)
B = datetime(2024, 5, 8, 6, 7, 8, tzinfo=UTC)
NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)

# -- query builders ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (EventQuery(), [("order_by", "-created_at")]),
        (EventQuery(order="asc"), [("order_by", "created_at")]),
        (
            EventQuery(types=CRASH_TYPES, per_page=101),
            [
                ("types", "app.crash,audit.app.process.crash"),
                ("order_by", "-created_at"),
                ("per_page", "101"),
            ],
        ),
        (
            EventQuery(target_guids=("a1", "a2"), space_guids=("s1",), org_guids=("o1", "o2")),
            [
                ("target_guids", "a1,a2"),
                ("space_guids", "s1"),
                ("organization_guids", "o1,o2"),
                ("order_by", "-created_at"),
            ],
        ),
        (
            EventQuery(window=TimeWindow(gte=A, lt=B)),
            [
                ("created_ats[gte]", "2024-05-01T00:00:00Z"),
                ("created_ats[lt]", "2024-05-08T06:07:08Z"),
                ("order_by", "-created_at"),
            ],
        ),
        (
            EventQuery(window=TimeWindow(gt=A)),
            [("created_ats[gt]", "2024-05-01T00:00:00Z"), ("order_by", "-created_at")],
        ),
    ],
)
def test_build_v3_audit_params(query, expected):
    assert build_v3_audit_params(query) == expected


def test_v3_params_refuse_raw_q():
    with pytest.raises(UsageError, match="--source v2"):
        build_v3_audit_params(EventQuery(raw_q=("type:x",)))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (EventQuery(), [("order-direction", "desc")]),
        (
            EventQuery(types=(APP_CRASH,), order="asc", per_page=100),
            [("q", "type:app.crash"), ("order-direction", "asc"), ("results-per-page", "100")],
        ),
        (
            EventQuery(types=CRASH_TYPES),
            [("q", "type IN app.crash,audit.app.process.crash"), ("order-direction", "desc")],
        ),
        (
            EventQuery(target_guids=("a1",), space_guids=("s1", "s2"), org_guids=("o1",)),
            [
                ("q", "actee:a1"),
                ("q", "space_guid IN s1,s2"),
                ("q", "organization_guid:o1"),
                ("order-direction", "desc"),
            ],
        ),
        (
            EventQuery(target_guids=("a1", "a2"), space_guids=("s1",), org_guids=("o1", "o2")),
            [
                ("q", "actee IN a1,a2"),
                ("q", "space_guid:s1"),
                ("q", "organization_guid IN o1,o2"),
                ("order-direction", "desc"),
            ],
        ),
        (
            # --since is >=, --until is <, --created-after is > (v2 widens it to T+1s, as v3)
            EventQuery(window=TimeWindow(gte=A, gt=A, lt=B)),
            [
                ("q", "timestamp>=2024-05-01T00:00:00Z"),
                ("q", "timestamp>2024-05-01T00:00:00Z"),
                ("q", "timestamp<2024-05-08T06:07:08Z"),
                ("order-direction", "desc"),
            ],
        ),
        (
            EventQuery(window=TimeWindow(equals=(A,))),
            [("q", "timestamp:2024-05-01T00:00:00Z"), ("order-direction", "desc")],
        ),
        (
            EventQuery(window=TimeWindow(equals=(A, B))),
            [
                ("q", "timestamp IN 2024-05-01T00:00:00Z,2024-05-08T06:07:08Z"),
                ("order-direction", "desc"),
            ],
        ),
        (
            EventQuery(types=("audit.app.update",), raw_q=("actee:x", "type IN a,b")),
            [
                ("q", "type:audit.app.update"),
                ("q", "actee:x"),
                ("q", "type IN a,b"),
                ("order-direction", "desc"),
            ],
        ),
    ],
)
def test_build_v2_events_params(query, expected):
    assert build_v2_events_params(query) == expected


# -- raw q filters -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "sent"),
    [
        ("type:app.crash", "type:app.crash"),
        ("type IN app.crash,audit.app.update", "type IN app.crash,audit.app.update"),
        ("actee:abc", "actee:abc"),
        ("space_guid IN s1,s2", "space_guid IN s1,s2"),
        ("organization_guid:o1", "organization_guid:o1"),
        # the first operator from the left wins, as in CC's split
        ("type:odd>type", "type:odd>type"),
        ("timestamp>=2024-05-01T00:00:00Z", "timestamp>=2024-05-01T00:00:00Z"),
        ("timestamp<2024-05-01T02:00:00+02:00", "timestamp<2024-05-01T00:00:00Z"),
        ("timestamp>7d", "timestamp>2024-05-25T12:00:00Z"),
        ("timestamp<=2024-05-01", "timestamp<=2024-05-01T00:00:00Z"),
        (
            "timestamp IN 2024-05-01,2024-05-02",
            "timestamp IN 2024-05-01T00:00:00Z,2024-05-02T00:00:00Z",
        ),
        ("type:app.crash;actee:a1", "type:app.crash;actee:a1"),
        ("type:we;;ird", "type:we;;ird"),
    ],
)
def test_parse_q_valid(raw, sent):
    assert parse_q(raw, NOW) == sent


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            "typeapp.crash",
            r"--q 'typeapp.crash': no operator; .*KEY is one of: timestamp, type, actee, space_guid, organization_guid",
        ),
        (
            "actor:abc",
            r"--q 'actor:abc': Cloud Controller cannot filter events on 'actor'; valid keys: timestamp, type, actee, space_guid, organization_guid",
        ),
        ("type IN", r"no operator"),  # IN needs a space on both sides
        ("Type:x", r"cannot filter events on 'Type'"),
        ("type:", r"no value for 'type'"),
        ("type:a;actor_name:x", r"cannot filter events on 'actor_name'"),
        ("timestamp>=yesterday", r"--q 'timestamp>=yesterday': cannot read 'yesterday'"),
        ("", r"no operator"),
    ],
)
def test_parse_q_invalid(raw, message):
    with pytest.raises(UsageError, match=message):
        parse_q(raw, NOW)


# -- normalisation -------------------------------------------------------------------------------

V3_CRASH = {
    "guid": "ev-1",
    "created_at": "2024-05-01T10:00:00Z",
    "updated_at": "2024-05-01T10:00:00Z",
    "type": PROCESS_CRASH,
    "actor": {"guid": "proc-1", "type": "process", "name": "web"},
    "target": {"guid": "app-1", "type": "app", "name": "api"},
    "data": {"instance": "i-1", "index": 1, "cell_id": "cell-7", "reason": "CRASHED"},
    "space": {"guid": "space-1"},
    "organization": {"guid": "org-1"},
    "links": {"self": {"href": "https://api.x/v3/audit_events/ev-1"}},
}
V2_CRASH = {
    "metadata": {"guid": "ev-1", "url": "/v2/events/ev-1", "created_at": "2024-05-01T10:00:00Z"},
    "entity": {
        "type": PROCESS_CRASH,
        "actor": "proc-1",
        "actor_type": "process",
        "actor_name": "web",
        "actor_username": "",
        "actee": "app-1",
        "actee_type": "app",
        "actee_name": "api",
        "timestamp": "2024-05-01T10:00:00Z",
        "metadata": {"instance": "i-1", "index": 1, "cell_id": "cell-7", "reason": "CRASHED"},
        "space_guid": "space-1",
        "organization_guid": "org-1",
    },
}


def test_v2_and_v3_normalise_to_the_same_event():
    assert normalise_v2(V2_CRASH) == normalise_v3(V3_CRASH)
    assert normalise_v3(V3_CRASH) == {
        "guid": "ev-1",
        "created_at": "2024-05-01T10:00:00Z",
        "type": PROCESS_CRASH,
        "actor": {"guid": "proc-1", "type": "process", "name": "web"},
        "target": {"guid": "app-1", "type": "app", "name": "api"},
        "data": {"instance": "i-1", "index": 1, "cell_id": "cell-7", "reason": "CRASHED"},
        "space": {"guid": "space-1", "name": None},
        "organization": {"guid": "org-1", "name": None},
    }


EMPTY_EVENT = {
    "guid": None,
    "created_at": None,
    "type": None,
    "actor": {"guid": None, "type": None, "name": None},
    "target": {"guid": None, "type": None, "name": None},
    "data": {},
    "space": {"guid": None, "name": None},
    "organization": {"guid": None, "name": None},
}


@pytest.mark.parametrize(
    ("normalise", "resource"),
    [
        (normalise_v3, {}),
        (
            normalise_v3,
            {"actor": None, "target": None, "data": None, "space": None, "organization": None},
        ),
        (normalise_v2, {}),
        (normalise_v2, {"metadata": None, "entity": None}),
        (normalise_v2, {"entity": {"space_guid": "", "organization_guid": "", "metadata": None}}),
    ],
)
def test_normalise_tolerates_missing_everything(normalise, resource):
    assert normalise(resource) == EMPTY_EVENT


def test_v2_org_level_event_has_no_space():
    event = normalise_v2({"entity": {"space_guid": "", "organization_guid": "o1"}})
    assert event["space"] == {"guid": None, "name": None}
    assert event["organization"]["guid"] == "o1"


def test_v2_created_at_falls_back_to_metadata():
    assert (
        normalise_v2({"metadata": {"created_at": "2024-01-01T00:00:00Z"}})["created_at"]
        == "2024-01-01T00:00:00Z"
    )


def test_unique_drops_repeats_within_memory():
    events = [{"guid": g} for g in ["a", "b", "a", "c", "b", "d", "a"]]
    assert [e["guid"] for e in unique(events)] == ["a", "b", "c", "d"]
    assert [e["guid"] for e in unique(events, memory=1)] == ["a", "b", "a", "c", "b", "d", "a"]
    assert len(list(unique([{"guid": None}, {"guid": None}]))) == 2


def test_settle_ties_orders_same_second_by_guid():
    t1, t2 = "2024-01-01T00:00:01Z", "2024-01-01T00:00:00Z"
    events = [
        {"guid": g, "created_at": t}
        for g, t in [("b", t1), ("c", t1), ("a", t1), ("z", t2), ("y", t2)]
    ]
    assert [e["guid"] for e in settle_ties(events, "desc")] == ["c", "b", "a", "z", "y"]
    assert [e["guid"] for e in settle_ties(reversed(events), "asc")] == ["y", "z", "a", "b", "c"]
    assert list(settle_ties([], "desc")) == []


# -- crash records -------------------------------------------------------------------------------

T0 = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)


def stamp(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def process_crash(at=0, app="app-1", instance="i-1", index=0, guid=None, **data):
    meta = {
        "instance": instance,
        "index": index,
        "cell_id": "cell-1",
        "reason": "CRASHED",
        "exit_description": "APP/PROC/WEB: Exited with status 137 (out of memory)",
        "crash_count": 1,
        "crash_timestamp": int((T0.timestamp() + at) * 1e9),
        "version": "v-1",
    }
    meta.update(data)
    return {
        "guid": guid or f"pc-{app}-{instance}-{at}",
        "created_at": stamp(at),
        "type": PROCESS_CRASH,
        "actor": {"guid": f"proc-{app}", "type": "process", "name": "web"},
        "target": {"guid": app, "type": "app", "name": f"name-{app}"},
        "data": {k: v for k, v in meta.items() if v is not None},
        "space": {"guid": "space-1", "name": None},
        "organization": {"guid": "org-1", "name": None},
    }


def app_crash(at=0, app="app-1", instance="i-1", index=0, guid=None, **data):
    meta = {
        "instance": instance,
        "index": index,
        "cell_id": "cell-1",
        "reason": "CRASHED",
        "exit_description": "APP/PROC/WEB: Exited with status 137 (out of memory)",
    }
    meta.update(data)
    return {
        "guid": guid or f"ac-{app}-{instance}-{at}",
        "created_at": stamp(at),
        "type": APP_CRASH,
        "actor": {"guid": app, "type": "app", "name": f"name-{app}"},
        "target": {"guid": app, "type": "app", "name": f"name-{app}"},
        "data": {k: v for k, v in meta.items() if v is not None},
        "space": {"guid": "space-1", "name": None},
        "organization": {"guid": "org-1", "name": None},
    }


def test_a_pair_is_one_crash_with_the_process_event_primary():
    events = [app_crash(1, exit_status=137, cell_id="cell-from-app"), process_crash(0)]
    [record] = crash_records(events, "desc")
    assert record == {
        "created_at": stamp(0),  # the primary's time
        "organization": {"guid": "org-1", "name": None},
        "space": {"guid": "space-1", "name": None},
        "app": {"guid": "app-1", "name": "name-app-1"},
        "process": {"guid": "proc-app-1", "type": "web"},
        "instance": {"guid": "i-1", "index": 0},
        "cell_id": "cell-1",  # the primary's value wins
        "reason": "CRASHED",
        "exit_status": 137,  # only app.crash had it
        "exit_description": "APP/PROC/WEB: Exited with status 137 (out of memory)",
        "crash_count": 1,
        "crash_timestamp": int(T0.timestamp() * 1e9),
        "version": "v-1",
        "process_crash_guid": "pc-app-1-i-1-0",
        "app_crash_guid": "ac-app-1-i-1-1",
    }


@pytest.mark.parametrize("order", ["desc", "asc"])
@pytest.mark.parametrize("process_first", [True, False])
def test_pairing_works_in_either_order(order, process_first):
    pair = [process_crash(0), app_crash(0)]
    if not process_first:
        pair.reverse()
    [record] = crash_records(pair, order)
    assert record["process_crash_guid"] and record["app_crash_guid"]


def test_either_half_alone_counts_once():
    only_app = list(crash_records([app_crash(0, exit_description=None)]))
    only_process = list(crash_records([process_crash(0)]))
    assert len(only_app) == len(only_process) == 1
    assert only_app[0]["process_crash_guid"] is None
    assert only_app[0]["process"] == {"guid": None, "type": None}
    assert only_app[0]["crash_count"] is None and only_app[0]["exit_description"] is None
    assert only_process[0]["app_crash_guid"] is None


def test_missing_metadata_is_none_never_keyerror():
    bare = [
        {"type": PROCESS_CRASH, "created_at": stamp(0)},
        {"type": APP_CRASH, "created_at": stamp(10), "data": None, "actor": None, "target": None},
        {"type": APP_CRASH},
    ]
    records = list(crash_records(bare, "asc"))
    assert len(records) == 3
    for record in records:
        assert record["exit_status"] is None and record["instance"] == {"guid": None, "index": None}


@pytest.mark.parametrize(
    ("second", "pairs"),
    [
        (app_crash(0, app="app-2"), False),  # other app
        (app_crash(0, instance="i-2"), False),  # other instance
        (app_crash(0, index=3), False),  # other index
        (app_crash(6), False),  # more than 5 s apart
        (app_crash(5), True),
        (app_crash(0, instance=None), True),  # a missing key does not prevent the pair
        (process_crash(0, guid="another"), False),  # two process crashes are two crashes
    ],
)
def test_what_pairs(second, pairs):
    records = list(crash_records([process_crash(0), second], "asc"))
    assert len(records) == (1 if pairs else 2)


def test_two_crashes_of_one_instance_pair_with_the_nearest_half():
    events = [
        process_crash(0, crash_count=1),
        app_crash(0),
        process_crash(3, crash_count=2),
        app_crash(3),
    ]
    records = list(crash_records(events, "asc"))
    assert [(r["crash_count"], r["app_crash_guid"]) for r in records] == [
        (1, "ac-app-1-i-1-0"),
        (2, "ac-app-1-i-1-3"),
    ]


def test_other_event_types_are_ignored():
    events = [{"type": "audit.app.update", "created_at": stamp(0)}, process_crash(1)]
    assert len(list(crash_records(events))) == 1


def many_crashes(n=300, seed=3):
    rng = random.Random(seed)
    events = []
    for i in range(n):
        at = i // 4  # four crashes a second
        app = f"app-{rng.randrange(10)}"
        inst, idx = f"i-{i}", rng.randrange(3)
        events.append(process_crash(at, app=app, instance=inst, index=idx, crash_count=i))
        events.append(app_crash(at + rng.choice([0, 0, 1]), app=app, instance=inst, index=idx))
    return events


def shuffle_within_seconds(events, rng):
    """What another API's tie order could look like: same-second events in any order."""
    out = []
    for _, group in itertools.groupby(events, key=lambda e: e["created_at"]):
        group = list(group)
        rng.shuffle(group)
        out.extend(group)
    return out


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_output_does_not_depend_on_the_apis_tie_order(order):
    events = sorted(many_crashes(), key=lambda e: e["created_at"], reverse=order == "desc")
    expected = list(crash_records(events, order))
    assert len(expected) == 300
    times = [r["created_at"] for r in expected]
    assert times == sorted(times, reverse=order == "desc")
    for seed in range(5):
        shuffled = shuffle_within_seconds(events, random.Random(seed))
        assert list(crash_records(shuffled, order)) == expected


def test_crash_records_stream_with_bounded_memory():
    """Records come out long before the input ends, so pairing holds only a few seconds."""

    def endless():
        for i in itertools.count():
            yield process_crash(i, instance=f"i-{i}")
            yield app_crash(i, instance=f"i-{i}")

    first = list(itertools.islice(crash_records(endless(), "asc"), 1000))
    assert len(first) == 1000
    assert [r["crash_count"] for r in first[:3]] == [1, 1, 1]
    assert all(r["app_crash_guid"] for r in first)


def test_crash_records_yield_before_the_input_is_exhausted():
    def failing_after(events):
        yield from events
        raise RuntimeError("stream broken")

    events = [process_crash(i, instance=f"i-{i}") for i in range(20)]
    gen = crash_records(failing_after(events), "asc")
    got = list(itertools.islice(gen, 10))
    assert len(got) == 10


# -- summary -------------------------------------------------------------------------------------


def test_summarise_one_row_per_app():
    events = [
        process_crash(0, app="a", exit_description="first"),
        process_crash(10, app="a", instance="i-2", exit_description="last"),
        process_crash(20, app="b", exit_description="only"),
        process_crash(5, app="a", instance="i-3", exit_description="middle"),
    ]
    crashes = [audit.crash_from_event(e) for e in events]
    rows = summarise(crashes)
    assert [
        (r["app"]["guid"], r["crashes"], r["first"], r["last"], r["last_exit_description"])
        for r in rows
    ] == [
        ("a", 3, stamp(0), stamp(10), "last"),
        ("b", 1, stamp(20), stamp(20), "only"),
    ]
    assert rows[0]["organization"] == {"guid": "org-1", "name": None}
    assert rows[0]["space"] == {"guid": "space-1", "name": None}
    # the same answer whatever the input order
    assert summarise(reversed(crashes)) == rows


def test_summarise_ties_sort_by_last_crash_then_name():
    crashes = [
        audit.crash_from_event(process_crash(t, app=a)) for t, a in [(0, "x"), (9, "y"), (9, "b")]
    ]
    assert [r["app"]["guid"] for r in summarise(crashes)] == ["b", "y", "x"]


def test_summarise_tolerates_missing_times_and_names():
    crashes = [audit.crash_from_event({"type": APP_CRASH, "target": {"guid": "a"}})] * 2
    [row] = summarise(crashes)
    assert row["crashes"] == 2 and row["first"] is None and row["app"]["name"] is None
    assert summarise([]) == []
