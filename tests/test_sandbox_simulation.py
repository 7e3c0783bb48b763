"""The sandbox's simulation: events emitted as Cloud Controller emits them, a snapshot
(`/v3/apps`, `/v3/processes`, `/v3/tasks`) that agrees with it, and a truth (what really
ran) kept from the simulation's own timeline, never from reading the events back."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from cfevents.sandbox import Sandbox, SandboxConfig
from cfevents.sandbox.data import Foundation

END = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
SECOND = 1_000_000
LATER = END + timedelta(days=400)  # after every change: the truth of one second there is "now"


@pytest.fixture(scope="module")
def foundation() -> Foundation:
    return Foundation.generate(5, END, days=30, usage_events=12_000)


@pytest.fixture(scope="module")
def events(foundation) -> list[dict[str, Any]]:
    return list(foundation.usage_events_v3())


def stamp(event: dict[str, Any]) -> int:
    return int(datetime.strptime(event["created_at"], "%Y-%m-%dT%H:%M:%S%z").timestamp())


def by_process(events):
    found = defaultdict(list)
    for event in events:
        if event["process"]["guid"]:
            found[event["process"]["guid"]].append(event)
    return found


def replay(events, lo: int, hi: int) -> dict[str, tuple[int, int]]:
    """A second, independent reading: instance- and MB-seconds per process from the events.

    Valid only when every process's state before its first event is known from `previous`.
    """
    state: dict[str, tuple[int, int, int]] = {}  # guid -> (second, instances or -1, memory)
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])

    def accrue(guid, until):
        t, n, m = state[guid]
        seconds = min(until, hi) - max(t, lo)
        if n > 0 and seconds > 0:
            totals[guid][0] += n * seconds
            totals[guid][1] += n * m * seconds

    for event in events:
        guid = event["process"]["guid"]
        if not guid or event["state"]["current"] not in ("STARTED", "STOPPED"):
            continue
        t = stamp(event)
        if guid in state:
            t = max(t, state[guid][0])
            accrue(guid, t)
        running = event["state"]["current"] == "STARTED"
        instances = event["instance_count"]["current"] if running else -1
        state[guid] = (t, instances, event["memory_in_mb_per_instance"]["current"])
    for guid in state:
        accrue(guid, hi)
    return {g: (v[0], v[1]) for g, v in totals.items() if v != [0, 0]}


def truth_totals(truth) -> dict[str, tuple[int, int]]:
    return {
        g: (u.instance_seconds, u.memory_mb_seconds)
        for g, u in truth.items()
        if u.instance_seconds or u.memory_mb_seconds
    }


# -- CC's emission rules ----------------------------------------------------------


def test_each_process_changes_in_id_order_with_non_decreasing_created_at(events):
    for guid, mine in by_process(events).items():
        stamps = [stamp(e) for e in mine]
        assert stamps == sorted(stamps), guid
    # across processes, a later id may carry an earlier created_at (long transactions)
    stamps = [stamp(e) for e in events]
    assert any(b < a for a, b in itertools.pairwise(stamps))


def test_previous_values_are_the_values_before_each_change(events):
    """STARTED→STARTED carries the old footprint; a STOPPED changes only the state."""
    scales = 0
    for mine in by_process(events).values():
        for before, event in itertools.pairwise(mine):
            current, previous = event["state"]["current"], event["state"]["previous"]
            if current == "BUILDPACK_SET":
                continue
            last = before["state"]["current"]
            last = last if last != "BUILDPACK_SET" else before["state"]["previous"]
            assert previous == last
            if (current, previous) == ("STARTED", "STARTED"):
                assert event["instance_count"]["previous"] == before["instance_count"]["current"]
                prev_mem = event["memory_in_mb_per_instance"]["previous"]
                assert prev_mem == before["memory_in_mb_per_instance"]["current"]
                scales += 1
            elif previous is None:  # a new app's first start: created, no previous values
                assert event["instance_count"]["previous"] is None
                assert all(e["state"]["current"] != "STARTED" for e in mine[: mine.index(event)])
            else:  # a state change alone: previous counts equal current ones
                assert event["instance_count"]["previous"] == event["instance_count"]["current"]
    assert scales > 100


def test_a_restart_writes_stopped_and_started_in_one_second(events):
    pairs = 0
    for mine in by_process(events).values():
        for stop, start in itertools.pairwise(mine):
            states = (stop["state"]["current"], start["state"]["current"])
            if states == ("STOPPED", "STARTED") and stamp(stop) == stamp(start):
                pairs += 1
    assert pairs > 20


def test_a_start_covers_every_process_including_zero_instance_ones(events):
    zero = [
        e
        for e in events
        if e["state"] == {"current": "STARTED", "previous": "STOPPED"}
        and e["instance_count"]["current"] == 0
    ]
    assert zero and all(e["process"]["type"] != "web" for e in zero)


def test_rolling_deploys_hand_over_to_a_new_web_process(foundation, events):
    processes = by_process(events)
    webs_per_app = defaultdict(set)
    for guid, mine in processes.items():
        if mine[0]["process"]["type"] == "web":
            webs_per_app[mine[0]["app"]["guid"]].add(guid)
    deployed = [app for app, webs in webs_per_app.items() if len(webs) > 1]
    assert len(deployed) >= 3
    handovers = 0
    for i, event in enumerate(events):
        nxt = events[i + 1] if i + 1 < len(events) else None
        if (
            nxt
            and event["state"] == nxt["state"] == {"current": "STARTED", "previous": "STARTED"}
            and event["app"]["guid"] == nxt["app"]["guid"]
            and event["process"]["guid"] != nxt["process"]["guid"]
            and event["process"]["type"] == nxt["process"]["type"] == "web"
            and stamp(event) == stamp(nxt)  # one transaction: a step of a deployment
        ):
            down = event["instance_count"]["previous"] - event["instance_count"]["current"]
            up = nxt["instance_count"]["current"] - nxt["instance_count"]["previous"]
            assert down == up > 0  # the old process gives what the new one takes
            handovers += 1
    assert handovers > 5
    # the replaced process: scaled to 0, then destroyed (STOPPED), never heard of again
    finished = 0
    for app in deployed:
        for guid in webs_per_app[app]:
            mine = processes[guid]
            if mine[-1]["state"]["current"] == "STOPPED" and mine[-1]["instance_count"] == {
                "current": 0,
                "previous": 0,
            }:
                assert mine[-2]["instance_count"]["current"] == 0
                finished += 1
    assert finished >= 3
    # every deployment's process started STOPPED→STARTED with a new guid
    original = {a.guid for a in foundation.apps}
    new_webs = [g for webs in webs_per_app.values() for g in webs if g not in original]
    assert new_webs and all(
        processes[g][0]["state"] == {"current": "STARTED", "previous": "STOPPED"} for g in new_webs
    )


def test_a_v3_restage_sets_the_buildpack_on_the_build_then_deploys(foundation, events):
    original = {a.guid for a in foundation.apps}
    deploys_after_builds = 0
    for i, event in enumerate(events):
        if event["state"] != {"current": "BUILDPACK_SET", "previous": "STAGED"}:
            continue
        assert event["process"] == {"guid": None, "type": None}
        assert event["instance_count"]["current"] == 1
        assert event["memory_in_mb_per_instance"]["current"] == 1024
        assert events[i - 1]["state"]["current"] == "STAGING_STOPPED"
        following = next(e for e in events[i + 1 :] if e["app"]["guid"] == event["app"]["guid"])
        assert following["state"] == {"current": "STARTED", "previous": "STOPPED"}
        assert following["process"]["guid"] not in original
        deploys_after_builds += 1
    assert deploys_after_builds >= 3


def test_tasks_start_from_pending_and_stop_from_running(events):
    tasks = defaultdict(list)
    for event in events:
        if event["task"]["guid"]:
            tasks[event["task"]["guid"]].append(event["state"])
    assert len(tasks) > 100
    pending_stops = 0
    for states in tasks.values():
        if states[0]["current"] == "TASK_STARTED":
            assert states[0]["previous"] == "PENDING"
            assert all(s == {"current": "TASK_STOPPED", "previous": "RUNNING"} for s in states[1:])
            assert len(states) <= 2
        else:  # deleted while PENDING: a stop, never a start
            assert states == [{"current": "TASK_STOPPED", "previous": "PENDING"}]
            pending_stops += 1
    assert pending_stops >= 1


def test_an_app_deletion_as_cc_writes_it(foundation, events):
    deleted = [a for a in foundation.apps if a.deleted_at_us is not None]
    assert deleted
    started_at_deletion = 0
    for app in deleted:
        mine = [e for e in events if e["app"]["guid"] == app.guid]
        last_second = [e for e in mine if stamp(e) == stamp(mine[-1])]
        states = [(e["state"]["current"], e["state"]["previous"]) for e in last_second]
        assert ("TASK_STOPPED", "PENDING") in states
        earlier = [e for e in mine[: -len(last_second)] if e["process"]["guid"]]
        was_started = bool(earlier) and earlier[-1]["state"]["current"] != "STOPPED"
        stops = [s for s in states if s[0] not in ("TASK_STOPPED", "STAGING_STARTED")]
        assert stops == [("STOPPED", "STARTED")] * (len(app.processes) if was_started else 0)
        started_at_deletion += was_started
        staging = [e["state"]["current"] for e in mine if e["state"]["current"].startswith("STAG")]
        assert staging[-1] == "STAGING_STARTED"  # the build was bulk-deleted: never stopped
    assert started_at_deletion


def test_scaling_a_stopped_app_writes_nothing_and_the_next_start_carries_it():
    f = Foundation.generate(9, END, days=5, usage_events=600)
    app = next(a for a, s in zip(f.apps, f.simulator.apps, strict=True) if s.started and s.live)
    at = f.end_us + 60 * SECOND
    assert f.perform("stop", app.guid, at) == len(app.processes)
    before = f.usage_event_count()
    written = sum(f.perform("scale", app.guid, at + SECOND) for _ in range(5))
    assert written == 0 and f.usage_event_count() == before
    f.perform("start", app.guid, at + 2 * SECOND)
    events = list(f.usage_events_v3())
    stops, starts = events[before - len(app.processes) : before], events[before:]
    assert [e["state"] for e in starts] == [{"current": "STARTED", "previous": "STOPPED"}] * len(
        app.processes
    )
    now = {p.guid: p.instances for p in f.processes_now() if p.app.guid == app.guid}
    assert {e["process"]["guid"]: e["instance_count"]["current"] for e in starts} == now
    assert any(
        a["instance_count"]["current"] != b["instance_count"]["current"]
        for a, b in zip(stops, starts, strict=True)
    )


def test_perform_scripts_a_restart_and_a_deploy():
    f = Foundation.generate(9, END, days=5, usage_events=600)
    app = next(a for a, s in zip(f.apps, f.simulator.apps, strict=True) if s.started)
    at = f.end_us + 60 * SECOND
    n = f.perform("restart", app.guid, at)
    tail = list(f.usage_events_v3())[-n:]
    assert [e["state"]["current"] for e in tail] == ["STOPPED"] * (n // 2) + ["STARTED"] * (n // 2)
    web = app.processes[0][0]
    f.perform("deploy", app.guid, at + SECOND)
    new_web = f.apps[f.apps.index(next(a for a in f.apps if a.guid == app.guid))].processes[0][0]
    assert new_web != web
    assert web not in {p.guid for p in f.processes_now()}
    assert f.perform("rolling_restage", app.guid, at + 2 * SECOND) == 1  # STAGING_STARTED
    n = f.perform("next", app.guid, at + 3 * SECOND)
    tail = list(f.usage_events_v3())[-n:]
    assert [e["state"]["current"] for e in tail[:2]] == ["STAGING_STOPPED", "BUILDPACK_SET"]
    assert tail[2]["state"] == {"current": "STARTED", "previous": "STOPPED"}
    assert tail[2]["process"]["guid"] not in (web, new_web)
    with pytest.raises(ValueError, match="unknown action"):
        f.perform("explode", app.guid, at)


# -- the truth ------------------------------------------------------------------------


def test_truth_is_additive_over_adjacent_windows(foundation):
    a, b, c = END - timedelta(days=20), END - timedelta(days=7, seconds=13), END
    whole = foundation.usage_truth(a, c)
    parts = [foundation.usage_truth(a, b), foundation.usage_truth(b, c)]
    for guid, usage in whole.items():
        pieces = [p[guid] for p in parts if guid in p]
        assert sum(p.instance_seconds for p in pieces) == usage.instance_seconds
        assert sum(p.memory_mb_seconds for p in pieces) == usage.memory_mb_seconds
        assert sum(p.running_seconds for p in pieces) == usage.running_seconds
    assert set(parts[0]) | set(parts[1]) == set(whole)
    tasks = foundation.task_truth(a, c)
    task_parts = [foundation.task_truth(a, b), foundation.task_truth(b, c)]
    for guid, usage in tasks.items():
        assert sum(p[guid].seconds for p in task_parts if guid in p) == usage.seconds
    assert sum(u.memory_mb_seconds for u in tasks.values()) > 0


def test_an_app_with_no_events_still_accrues(foundation, events):
    heard = {e["app"]["guid"] for e in events}
    quiet = [
        a
        for a in foundation.apps
        if a.guid not in heard and foundation.app_state(a.guid) == "STARTED"
    ]
    assert quiet
    start, end = END - timedelta(days=30), END
    truth = foundation.usage_truth(start, end)
    for app in quiet:
        for guid, kind in app.processes:
            usage = truth[guid]
            assert usage.running_seconds == 30 * 86400
            assert usage.process_type == kind and usage.app_guid == app.guid
            process = next(p for p in foundation.processes_now() if p.guid == guid)
            assert usage.instance_seconds == process.instances * 30 * 86400
            assert usage.memory_mb_seconds == usage.instance_seconds * process.memory_in_mb


def test_the_truth_agrees_with_an_independent_replay_of_the_events(foundation, events):
    """Both readings must agree where the events say everything (after the first event)."""
    lo = stamp(events[0]) + 86400
    hi = int(END.timestamp())
    truth = foundation.usage_truth(datetime.fromtimestamp(lo, UTC), END)
    replayed = replay(events, lo, hi)
    opened = set()  # processes whose state before their first event the events do show
    for guid, mine in by_process(events).items():
        if stamp(mine[0]) <= lo or mine[0]["state"]["previous"] in ("STOPPED", None):
            opened.add(guid)
    expected = {g: v for g, v in truth_totals(truth).items() if g in opened}
    assert {g: v for g, v in replayed.items() if g in opened} == expected
    assert len(expected) > 20


def test_deleted_apps_accrue_until_their_deletion_and_never_after(foundation):
    deleted = [a for a in foundation.apps if a.deleted_at_us is not None]
    after = datetime.fromtimestamp(max(a.deleted_at_us for a in deleted) // SECOND + 1, UTC)
    guids = {g for a in deleted for g in foundation.store.apps[foundation.apps.index(a)].processes}
    assert not {g for g, _ in guids} & set(foundation.usage_truth(after, LATER))
    before = foundation.usage_truth(END - timedelta(days=30), after)
    assert {g for g, _ in guids} & set(before)
    for usage in foundation.task_truth(after, LATER).values():
        assert usage.app_guid not in {a.guid for a in deleted}


def test_a_task_deleted_while_pending_never_ran(foundation, events):
    pending = [
        e["task"]["guid"]
        for e in events
        if e["state"] == {"current": "TASK_STOPPED", "previous": "PENDING"}
    ]
    assert pending
    ran = foundation.task_truth(END - timedelta(days=400), LATER)
    assert not set(pending) & set(ran)


def test_truth_wants_aware_datetimes(foundation):
    with pytest.raises(ValueError, match="timezone-aware"):
        foundation.usage_truth(datetime(2026, 2, 1), END)


def test_truth_clips_tasks_to_the_window(foundation):
    tasks = foundation.task_truth(END - timedelta(days=30), END)
    done = [t for t in tasks.values() if t.stopped_at is not None]
    assert done
    task = done[0]
    inner = foundation.task_truth(task.started_at + timedelta(seconds=1), LATER)
    if task.seconds > 1:
        assert inner[task.task_guid].seconds == task.seconds - 1
    assert all(t.memory_mb_seconds == t.seconds * t.memory_in_mb for t in tasks.values())


# -- the snapshot, over HTTP ---------------------------------------------------------


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxConfig(seed=5, end=END, usage_events=12_000)).start() as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def http(sb):
    with requests.Session() as session:
        session.headers["Authorization"] = sb.admin_token()
        yield session


def fetch_all(http, sb, path, params=None, per_page=7):
    """Follow `pagination.next` from page 1; check the v3 pagination object on the way."""
    url, found, pages = sb.url + path, [], 0
    query = {"per_page": per_page, **(params or {})}
    while url:
        body = http.get(url, params=query).json()
        query = None
        pages += 1
        found += body["resources"]
        pagination = body["pagination"]
        assert pagination["first"]["href"].startswith(sb.url + path + "?")
        url = pagination["next"]["href"] if pagination["next"] else None
    assert pagination["total_results"] == len(found) and pagination["total_pages"] == pages
    return found


def now_of(sb):
    """The truth of one second after every change: what runs now."""
    return sb.usage_truth(LATER, LATER + timedelta(seconds=1))


def assert_snapshot_agrees(http, sb):
    apps = {a["guid"]: a for a in fetch_all(http, sb, "/v3/apps")}
    processes = fetch_all(http, sb, "/v3/processes")
    truth = now_of(sb)
    assert {p["guid"] for p in processes} >= set(truth)
    for process in processes:
        app = apps[process["relationships"]["app"]["data"]["guid"]]
        assert process["links"]["app"]["href"].endswith("/v3/apps/" + app["guid"])
        if app["state"] == "STARTED":
            usage = truth[process["guid"]]
            assert usage.instance_seconds == process["instances"]
            assert usage.memory_mb_seconds == process["instances"] * process["memory_in_mb"]
            assert usage.process_type == process["type"] and usage.app_guid == app["guid"]
        else:
            assert process["guid"] not in truth
    running = fetch_all(http, sb, "/v3/tasks", {"states": "RUNNING"}, per_page=2)
    assert all(t["state"] == "RUNNING" for t in running)
    tasks_now = sb.task_truth(LATER, LATER + timedelta(seconds=1))
    assert {t["guid"] for t in running} == set(tasks_now)
    for task in running:
        assert task["relationships"]["app"]["data"]["guid"] in apps
        assert tasks_now[task["guid"]].memory_in_mb == task["memory_in_mb"]
    return apps, processes


def test_the_snapshot_agrees_with_the_simulation(http, sb):
    apps, processes = assert_snapshot_agrees(http, sb)
    assert any(a["state"] == "STOPPED" for a in apps.values())
    assert any(p["type"] == "worker" for p in processes)
    deleted = {a.guid for a in sb.foundation.apps if a.deleted_at_us is not None}
    assert deleted and not deleted & set(apps)
    gone = http.get(sb.url + "/v3/apps/" + next(iter(deleted)))
    assert gone.status_code == 404
    orgs = {o["guid"] for o in fetch_all(http, sb, "/v3/organizations")}
    spaces = fetch_all(http, sb, "/v3/spaces")
    assert {s["relationships"]["organization"]["data"]["guid"] for s in spaces} <= orgs
    assert {a["relationships"]["space"]["data"]["guid"] for a in apps.values()} <= {
        s["guid"] for s in spaces
    }
    tasks = fetch_all(http, sb, "/v3/tasks", per_page=500)
    assert {t["state"] for t in tasks} >= {"SUCCEEDED", "FAILED", "RUNNING"}


def test_process_and_task_lists_follow_v3_conventions(http, sb):
    body = http.get(sb.url + "/v3/processes", params={"per_page": 3, "types": "worker"}).json()
    assert body["pagination"]["first"]["href"] == (
        f"{sb.url}/v3/processes?page=1&per_page=3&types=worker"
    )
    assert all(p["type"] == "worker" for p in body["resources"])
    assert list(body["resources"][0]) == [
        "guid",
        "created_at",
        "updated_at",
        "version",
        "type",
        "command",
        "user",
        "instances",
        "memory_in_mb",
        "disk_in_mb",
        "log_rate_limit_in_bytes_per_second",
        "health_check",
        "readiness_health_check",
        "relationships",
        "metadata",
        "links",
    ]
    too_many = http.get(sb.url + "/v3/tasks", params={"per_page": 5001})
    assert too_many.status_code == 400
    assert "Per page must be between 1 and 5000" in too_many.json()["errors"][0]["detail"]
    unknown = http.get(sb.url + "/v3/processes", params={"bogus": 1})
    assert unknown.status_code == 400 and "'bogus'" in unknown.json()["errors"][0]["detail"]
    guid = body["resources"][0]["guid"]
    assert http.get(sb.url + "/v3/processes/" + guid).json()["guid"] == guid


def test_the_snapshot_stays_in_step_with_appends_and_purges(http):
    with Sandbox(SandboxConfig(seed=12, end=None, usage_events=3000)).start() as sb:
        sb.append_usage_events(400, at=datetime.now(UTC) - timedelta(seconds=30))
        assert_snapshot_agrees(http, sb)
        app = next(
            a for a in sb.foundation.live_apps() if sb.foundation.app_state(a.guid) == "STARTED"
        )
        sb.perform("deploy", app.guid)
        sb.perform("delete", next(a for a in sb.foundation.live_apps() if a.guid != app.guid).guid)
        assert_snapshot_agrees(http, sb)
        sb.purge_and_reseed()
        apps, processes = assert_snapshot_agrees(http, sb)
        reseeded = fetch_all(http, sb, "/v3/app_usage_events", per_page=5000)
        started = {
            p["guid"]
            for p in processes
            if apps[p["relationships"]["app"]["data"]["guid"]]["state"] == "STARTED"
        }
        assert {e["guid"] for e in reseeded} == started
        assert all(e["process"]["guid"] == e["guid"] for e in reseeded)


def opening_replay(events, processes, apps, lo: int, hi: int) -> dict[str, tuple[int, int]]:
    """What a report can know: events read from lo - 15 min, each process's state before its
    first event from that event's `previous`, and from the snapshot when it has no event."""
    state: dict[str, tuple[int, int, int]] = {}
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])

    def accrue(guid, until):
        t, n, m = state[guid]
        seconds = min(until, hi) - max(t, lo)
        if n > 0 and seconds > 0:
            totals[guid][0] += n * seconds
            totals[guid][1] += n * m * seconds

    read = [e for e in events if stamp(e) >= lo - 15 * 60]
    first = events.index(read[0])
    for event in events[first:]:  # CC's order from the first event read, late rows included
        guid = event["process"]["guid"]
        if not guid or event["state"]["current"] not in ("STARTED", "STOPPED"):
            continue
        t = stamp(event)
        if guid not in state:
            previous = event["state"]["previous"]
            count = event["instance_count"]["previous"]
            memory = event["memory_in_mb_per_instance"]["previous"]
            running = previous == "STARTED"
            state[guid] = (-(2**40), count if running else -1, memory or 0)
        t = max(t, state[guid][0])
        accrue(guid, t)
        running = event["state"]["current"] == "STARTED"
        instances = event["instance_count"]["current"] if running else -1
        state[guid] = (t, instances, event["memory_in_mb_per_instance"]["current"])
    for guid in state:
        accrue(guid, hi)
    for process in processes:
        if process["guid"] in state:
            continue
        app = apps[process["relationships"]["app"]["data"]["guid"]]
        if app["state"] == "STARTED":
            n, m = process["instances"], process["memory_in_mb"]
            totals[process["guid"]] = [n * (hi - lo), n * m * (hi - lo)]
    return {g: (v[0], v[1]) for g, v in totals.items() if v != [0, 0]}


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (END - timedelta(days=10, seconds=-37), END - timedelta(hours=1)),
        (END - timedelta(days=29), END - timedelta(days=3, seconds=11)),
        (END - timedelta(days=2), END),
    ],
)
def test_events_plus_the_snapshot_give_exactly_the_truth(http, sb, start, end):
    """The sandbox is self-consistent: a report from its events and snapshot can be exact.
    (If a report disagrees with the truth, the report is wrong, not the sandbox.)"""
    events = fetch_all(http, sb, "/v3/app_usage_events", per_page=5000)
    apps = {a["guid"]: a for a in fetch_all(http, sb, "/v3/apps", per_page=5000)}
    processes = fetch_all(http, sb, "/v3/processes", per_page=5000)
    lo, hi = int(start.timestamp()), int(end.timestamp())
    truth = truth_totals(sb.usage_truth(start, end))
    assert opening_replay(events, processes, apps, lo, hi) == truth
    kinds = {u.process_type for u in sb.usage_truth(start, end).values()}
    assert kinds == {"web", "worker"} and len(truth) > 20
