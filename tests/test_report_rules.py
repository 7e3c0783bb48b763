"""Each accounting rule of the report engine, opening modes, state files and completeness."""

import json
import subprocess
import sys
import tracemalloc
from datetime import timedelta

import pytest
from report_helpers import (
    FOUNDATION,
    LATER,
    WINDOW,
    FakeSource,
    dt,
    ev,
    file_opening,
    report,
    row,
    snapshot,
    task_ev,
)

from cfevents.errors import AuthError, ExitCode, IncompleteDataError, UsageError
from cfevents.report import (
    Accountant,
    Snapshot,
    Window,
    month_window,
    read_state,
    summary_lines,
    table_rows,
    usage_report,
    window_from_options,
    write_state,
)
from cfevents.report.timeutil import epoch

T0 = "2024-05-01T00:00:00Z"


# --- ordering and time -------------------------------------------------------------------


def test_list_order_is_the_sequence_never_created_at():
    # same second, STOPPED listed first: a restart (running all day), not a stop
    events = [
        ev("08:00", "P", "STOPPED", "STARTED", (1, 1)),
        ev("08:00", "P", "STARTED", "STOPPED", (1, 1)),
    ]
    assert (
        row(report(events, opening=file_opening(T0, {"P": (1, 512)})), process_guid="P")[
            "instance_seconds"
        ]
        == 86400
    )
    # the reverse list order is a different history: stopped from 08:00
    rev = list(reversed([dict(e) for e in events]))
    r = row(report(rev, opening=file_opening(T0, {"P": (1, 512)})), process_guid="P")
    assert r["instance_seconds"] == 8 * 3600


def test_clock_is_clamped_per_process_not_across_processes():
    events = [
        ev("10:00:10", "P1", "STARTED", "STOPPED", (1, 1)),
        ev("10:00:00", "P2", "STARTED", "STOPPED", (1, 1)),  # another key: not adjusted
        ev("11:00:00", "P1", "STOPPED", "STARTED", (1, 1)),
        ev("11:00:00", "P2", "STOPPED", "STARTED", (1, 1)),
    ]
    rep = report(events)
    assert row(rep, process_guid="P1")["instance_seconds"] == 3590
    assert row(rep, process_guid="P2")["instance_seconds"] == 3600
    assert rep.meta["counters"]["clock_skew_adjustments"] == 0


# --- the process state machine -----------------------------------------------------------


def test_same_values_started_is_a_noop_update_not_a_scale():
    events = [
        ev("01:00", "P", "STARTED", "STOPPED", (2, 2)),
        ev("02:00", "P", "STARTED", "STARTED", (2, 2)),
        ev("03:00", "P", "STOPPED", "STARTED", (2, 2)),
    ]
    rep = report(events)
    r = row(rep, process_guid="P")
    assert (r["scales"], r["instance_seconds"]) == (0, 2 * 7200)
    assert rep.meta["counters"]["noop_updates"] == 1


def test_buildpack_set_changes_nothing_but_checks_consistency():
    events = [
        ev("01:00", "P", "STARTED", "STOPPED", (1, 1)),
        ev("02:00", "P", "BUILDPACK_SET", "STARTED", (1, 1)),
        ev("03:00", "P", "BUILDPACK_SET", "STOPPED", (1, 1)),  # disagrees: we know it runs
        ev("04:00", "P", "STOPPED", "STARTED", (1, 1)),
    ]
    rep = report(events)
    r = row(rep, process_guid="P")
    assert r["instance_seconds"] == 3 * 3600
    assert (r["starts"], r["stops"], r["scales"]) == (1, 1, 0)
    assert "state_mismatch" in r["flags"]
    assert rep.meta["counters"]["buildpack_sets"] == 2


def test_buildpack_set_as_first_event_gives_the_opening():
    rep = report([ev("06:00", "P", "BUILDPACK_SET", "STARTED", (3, 3))])
    assert row(rep, process_guid="P")["instance_seconds"] == 3 * 86400


def test_stop_while_stopped_is_flagged():
    events = [
        ev("01:00", "P", "STARTED", "STOPPED", (1, 1)),
        ev("02:00", "P", "STOPPED", "STARTED", (1, 1)),
        ev("03:00", "P", "STOPPED", "STARTED", (1, 1)),
    ]
    r = row(report(events), process_guid="P")
    assert r["instance_seconds"] == 3600
    assert r["stops"] == 1
    assert "stop_while_stopped" in r["flags"]


def test_scale_while_stopped_is_not_a_chain_gap():
    events = [
        ev("01:00", "P", "STARTED", "STOPPED", (1, 1)),
        ev("02:00", "P", "STOPPED", "STARTED", (1, 1)),
        ev("03:00", "P", "STARTED", "STOPPED", (3, 3)),  # scaled to 3 while stopped: silent
        ev("04:00", "P", "STOPPED", "STARTED", (3, 3)),
    ]
    r = row(report(events), process_guid="P")
    assert r["instance_seconds"] == 3600 + 3 * 3600
    assert "chain_gap" not in r["flags"]


def test_unknown_memory_is_never_read_as_zero():
    events = [
        ev("01:00", "P", "STARTED", "STOPPED", (2, 2), (None, None)),
        ev("02:00", "P", "STOPPED", "STARTED", (2, 2), (None, None)),
    ]
    rep = report(events)
    r = row(rep, process_guid="P")
    assert (r["instance_seconds"], r["memory_mb_seconds"]) == (7200, 0)
    assert "unknown_memory" in r["flags"]
    assert rep.meta["counters"]["unknown_memory_instance_seconds"] == 7200


def test_events_outside_the_window_only_set_state():
    events = [
        ev("2024-04-30T23:50Z", "P", "STARTED", "STOPPED", (1, 1)),  # in the 15-min margin
        ev("2024-05-02T01:00Z", "P", "STOPPED", "STARTED", (1, 1)),  # after E
    ]
    r = row(report(events), process_guid="P")
    assert r["instance_seconds"] == 86400
    assert (r["starts"], r["stops"]) == (0, 0)
    assert "open_at_end" in r["flags"]


def test_none_mode_counts_only_what_it_saw():
    events = [
        ev("06:00", "P", "STARTED", "STARTED", (2, 3)),
        ev("12:00", "P", "STOPPED", "STARTED", (3, 3)),
        ev("13:00", "Q", "STARTED", "STOPPED", (1, 1)),
    ]
    rep = report(events, opening="none")
    p = row(rep, process_guid="P")
    assert p["instance_seconds"] == 3 * 6 * 3600
    assert "unknown_start" in p["flags"]
    assert p["starts"] == 0
    q = row(rep, process_guid="Q")
    assert (q["instance_seconds"], q["starts"], q["flags"]) == (11 * 3600, 1, ["open_at_end"])


# --- reseed ------------------------------------------------------------------------------


def test_reseed_batch_continues_members_and_closes_absentees():
    opening = file_opening(T0, {"P1": (1, 512), "P2": (2, 512), "P3": (1, 512)})
    events = [
        ev("12:00", "P1", "STARTED", "STARTED", (1, 1), guid="P1"),
        ev("12:00", "P3", "STARTED", "STARTED", (1, 1), guid="P3"),
        ev("13:00", "P3", "STOPPED", "STARTED", (1, 1)),
    ]
    rep = report(events, opening=opening, allow_incomplete=True)
    assert row(rep, process_guid="P1")["instance_seconds"] == 86400
    assert row(rep, process_guid="P1")["starts"] == 0
    p2 = row(rep, process_guid="P2")
    assert p2["instance_seconds"] == 2 * 12 * 3600
    assert "closed_by_reseed" in p2["flags"]
    p3 = row(rep, process_guid="P3")
    assert p3["instance_seconds"] == 13 * 3600
    assert "closed_by_reseed" not in p3["flags"]
    assert rep.meta["counters"]["reseed_batches"] == 1
    assert rep.meta["counters"]["reseeds"] == 2
    assert all("incomplete" in r["flags"] for r in rep.rows)


def test_reseed_after_the_window_is_not_an_error():
    opening = file_opening(T0, {"P1": (1, 512), "P2": (1, 512)})
    events = [ev("2024-05-02T00:05Z", "P1", "STARTED", "STARTED", (1, 1), guid="P1")]
    rep = report(events, opening=opening)
    assert rep.totals["instance_seconds"] == 2 * 86400
    assert all("closed_by_reseed" not in r["flags"] for r in rep.rows)


def test_reseed_marks_open_tasks_stop_unobservable():
    opening = file_opening(T0, {"P1": (1, 512)}, tasks={"T1": 256})
    events = [ev("12:00", "P1", "STARTED", "STARTED", (1, 1), guid="P1")]
    rep = report(events, opening=opening, by="app", allow_incomplete=True)
    r = row(rep, app_guid="A")
    assert "stop_unobservable" in r["flags"]
    assert r["task_seconds"] == 86400


# --- tasks -------------------------------------------------------------------------------


def test_task_stopped_from_canceling_ran_since_the_opening():
    rep = report([task_ev("02:00", "T", "TASK_STOPPED", "CANCELING", 512)], by="app")
    r = row(rep, app_guid="A")
    assert (r["task_seconds"], r["task_runs"]) == (7200, 0)
    assert "running_at_start" in r["flags"]


def test_task_figures_belong_to_the_app_and_a_task_row_by_process():
    events = [
        ev("01:00", "P", "STARTED", "STOPPED", (1, 1)),
        task_ev("02:00", "T", "TASK_STARTED", "PENDING", 256),
        task_ev("03:00", "T", "TASK_STOPPED", "RUNNING", 256),
    ]
    by_app = row(report(events, by="app"), app_guid="A")
    assert (by_app["task_seconds"], by_app["task_memory_mb_seconds"]) == (3600, 3600 * 256)
    assert by_app["instance_seconds"] == 23 * 3600
    by_process = report(events, by="process")
    task_row = row(by_process, process_type="task")
    assert task_row["process_guid"] is None
    assert (task_row["task_seconds"], task_row["task_runs"], task_row["max_instances"]) == (
        3600,
        1,
        0,
    )
    assert row(by_process, process_guid="P")["task_seconds"] == 0


def test_snapshot_running_tasks():
    snap = snapshot([], running_tasks=[("Told", "A", 512), ("Tnew", "A", 1024)])
    events = [task_ev("20:00", "Tnew", "TASK_STARTED", "PENDING", 1024)]
    rep = report(events, opening="snapshot", snap=snap, by="app")
    r = row(rep, app_guid="A")
    assert r["task_seconds"] == 86400 + 4 * 3600
    assert r["task_memory_mb_seconds"] == 86400 * 512 + 4 * 3600 * 1024
    assert r["task_runs"] == 1
    assert {"running_at_start", "open_at_end"} <= set(r["flags"])


def test_duplicate_task_events_are_flagged_not_counted():
    events = [
        task_ev("01:00", "T", "TASK_STARTED", "PENDING", 512),
        task_ev("01:30", "T", "TASK_STARTED", "PENDING", 512),
        task_ev("02:00", "T", "TASK_STOPPED", "RUNNING", 512),
        task_ev("02:30", "T", "TASK_STOPPED", "RUNNING", 512),
    ]
    r = row(report(events, by="app"), app_guid="A")
    assert (r["task_seconds"], r["task_runs"]) == (3600, 1)
    assert {"duplicate_task_start", "duplicate_task_stop"} <= set(r["flags"])


# --- staging -----------------------------------------------------------------------------


def test_staging_pairs_fifo_per_app_and_counts_stops_without_start():
    def st(at, state, app):
        return ev(at, None, state, "STAGING", (1, 1), (1024, 1024), app=app, ptype=None)

    events = [
        st("01:00", "STAGING_STARTED", "A"),
        st("01:01", "STAGING_STARTED", "B"),
        st("01:02", "STAGING_STOPPED", "A"),
        st("01:05", "STAGING_STOPPED", "B"),
        st("02:00", "STAGING_STOPPED", "C"),
    ]
    c = report(events).meta["counters"]
    assert (c["staging_builds"], c["staging_seconds"]) == (2, 120 + 240)
    assert (c["staging_stops_without_start"], c["unmatched_staging_starts"]) == (1, 0)


# --- peaks -------------------------------------------------------------------------------


def test_peak_counts_inferred_openings_learnt_later():
    # events mode: the old process is known only from its first event at 10:01
    events = [
        ev("10:00:00", "PN", "STARTED", "STOPPED", (1, 1)),
        ev("10:01:00", "A", "STARTED", "STARTED", (2, 1)),
        ev("10:01:00", "PN", "STARTED", "STARTED", (1, 2)),
        ev("10:02:00", "A", "STOPPED", "STARTED", (1, 1)),
    ]
    r = row(report(events, by="app"), app_guid="A")
    assert r["max_instances"] == 3


def test_peak_per_day_and_overall():
    two_days = Window(dt("2024-05-01T00:00:00Z"), dt("2024-05-03T00:00:00Z"))
    events = [
        ev("2024-05-01T10:00Z", "P", "STARTED", "STARTED", (1, 5)),
        ev("2024-05-01T11:00Z", "P", "STARTED", "STARTED", (5, 2)),
    ]
    rep = report(
        events,
        opening=file_opening(T0, {"P": (1, 512)}),
        window=two_days,
        daily=True,
        now=dt("2024-05-05T00:00:00Z"),
    )
    assert row(rep, day="2024-05-01")["max_instances"] == 5
    assert row(rep, day="2024-05-02")["max_instances"] == 2
    assert rep.totals["max_instances"] == 5


# --- snapshot mode and the self-check ------------------------------------------------------


def test_snapshot_is_read_before_the_events():
    source = FakeSource([], snapshot([("P", "A", 1, 512)]))
    usage_report(source, WINDOW, now=dt("2024-05-03T00:00:00Z"))
    assert source.calls.index("snapshot") < source.calls.index("events")
    assert source.calls[0] == "oldest"


def test_snapshot_opening_comes_from_the_first_event_not_the_snapshot():
    # the app is stopped now, but its first event says it ran 2 instances since before T0
    snap = snapshot([("P", "A", 4, 512)], stopped_apps=["A"])
    events = [
        ev("06:00", "P", "STARTED", "STARTED", (2, 4)),
        ev("12:00", "P", "STOPPED", "STARTED", (4, 4)),
    ]
    rep = report(events, opening="snapshot", snap=snap)
    assert row(rep, process_guid="P")["instance_seconds"] == 2 * 6 * 3600 + 4 * 6 * 3600
    assert rep.meta["self_check_mismatches"] == []


def test_self_check_reports_mismatches():
    snap = snapshot([("P", "A", 3, 512)])
    events = [
        ev("06:00", "P", "STARTED", "STARTED", (1, 2)),  # replay ends at 2; snapshot says 3
        ev("07:00", "Q", "STARTED", "STOPPED", (1, 1)),  # running, absent from the snapshot
    ]
    rep = report(events, opening="snapshot", snap=snap)
    mismatched = {m["process_guid"]: m for m in rep.meta["self_check_mismatches"]}
    assert set(mismatched) == {"P", "Q"}
    assert mismatched["P"]["snapshot"]["instances"] == 3
    assert mismatched["Q"]["snapshot"] is None
    assert any("self-check: 2 process(es)" in w for w in rep.warnings)


# --- completeness --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("oldest", "ok"),
    [
        (None, True),
        ("2024-04-30T23:45:00Z", True),
        ("2024-04-30T23:45:01Z", False),
    ],
)
def test_retention_check_needs_the_margin(oldest, ok):
    source = FakeSource([], snapshot([]), oldest=oldest)
    if ok:
        usage_report(source, WINDOW, now=dt("2024-05-03T00:00:00Z"))
    else:
        with pytest.raises(IncompleteDataError) as info:
            usage_report(source, WINDOW, now=dt("2024-05-03T00:00:00Z"))
        assert "--since 2024-05-01T00:00:00Z or after" not in str(info.value)
        assert "(2024-05-01T00:01:00Z or after)" in str(info.value)


def test_allow_incomplete_flags_every_row():
    source = FakeSource([], snapshot([("P", "A", 1, 512)]), oldest="2024-05-01T06:00:00Z")
    rep = usage_report(source, WINDOW, now=dt("2024-05-03T00:00:00Z"), allow_incomplete=True)
    assert rep.rows and all("incomplete" in r["flags"] for r in rep.rows)
    assert rep.meta["incomplete"] and rep.warnings[0].startswith("incomplete: ")


def test_error_class_and_exit_code():
    assert ExitCode.INCOMPLETE == 7
    assert IncompleteDataError("x").exit_code == 7


# --- state files ---------------------------------------------------------------------------


def test_state_file_round_trip_and_checks(tmp_path):
    rep = report(
        [ev("10:00", "P", "STARTED", "STOPPED", (2, 2), (256, 256))],
        opening="snapshot",
        snap=snapshot([("P", "A", 2, 256), ("Q", "A", 1, 128)]),
    )
    state = rep.closing_state
    assert state["as_of"] == "2024-05-02T00:00:00Z"
    assert state["foundation"] == FOUNDATION
    assert set(state["processes"]) == {"P", "Q"}
    assert state["processes"]["P"]["since"] == "2024-05-01T10:00:00Z"
    path = tmp_path / "state.json"
    write_state(path, state)
    loaded = read_state(path)
    assert loaded.as_of == epoch("2024-05-02T00:00:00Z")
    assert loaded.processes["Q"].instances == 1

    next_day = Window(dt("2024-05-02T00:00:00Z"), dt("2024-05-03T00:00:00Z"))
    rep2 = usage_report(FakeSource(), next_day, opening=path, now=dt("2024-05-04T00:00:00Z"))
    assert rep2.totals["instance_seconds"] == 3 * 86400
    assert rep2.meta["opening_source"] == "file"

    with pytest.raises(UsageError, match="as of 2024-05-02T00:00:00Z but the window starts"):
        usage_report(FakeSource(), WINDOW, opening=path, now=dt("2024-05-04T00:00:00Z"))
    other = FakeSource()
    other.foundation = "https://api.other.example.com"
    with pytest.raises(UsageError, match=r"is from https://api\.example\.com"):
        usage_report(other, next_day, opening=path, now=dt("2024-05-04T00:00:00Z"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{not json", "is not JSON"),
        ('{"processes": {}}', "no as_of"),
        (
            '{"format": 1, "foundation": "https://api.example.com", '
            '"as_of": "2024-05-01T00:00:00Z", "processes": {"P": {"running": "yes"}}}',
            "running",
        ),
    ],
)
def test_bad_state_files_are_one_clear_line(tmp_path, content, message):
    path = tmp_path / "s.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UsageError, match=message) as info:
        usage_report(FakeSource(), WINDOW, opening=path, now=dt("2024-05-03T00:00:00Z"))
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 2


# --- windows and arguments -----------------------------------------------------------------


def test_windows():
    assert month_window("2024-12").end == dt("2025-01-01T00:00:00Z")
    assert month_window("2024-02").end == dt("2024-03-01T00:00:00Z")
    now = dt("2024-05-17T08:30:00Z")
    this_month = window_from_options(None, None, None, now)
    assert (this_month.start, this_month.end) == (
        dt("2024-05-01T00:00:00Z"),
        dt("2024-06-01T00:00:00Z"),
    )
    w = window_from_options(None, "2024-05-10", "2024-05-12T06:00:00Z", now)
    assert (w.start, w.end) == (dt("2024-05-10T00:00:00Z"), dt("2024-05-12T06:00:00Z"))
    assert window_from_options(None, "1d", None, now).end == now
    for args in [("2024-13", None, None), ("2024-05", "1d", None), (None, None, "1d")]:
        with pytest.raises(UsageError):
            window_from_options(*args, now)
    with pytest.raises(UsageError, match="empty"):
        window_from_options(None, "2024-05-12", "2024-05-10", now)


def test_this_month_so_far_is_partial_and_never_extrapolated():
    now = dt("2024-05-01T12:00:00Z")
    month = window_from_options(None, None, None, now)
    rep = usage_report(FakeSource([], snapshot([("P", "A", 1, 512)])), month, now=now)
    assert rep.meta["partial"] is True
    assert rep.totals["instance_seconds"] == 12 * 3600 - 300
    assert rep.totals["avg_instances"] == 1.0


def test_bad_arguments():
    with pytest.raises(UsageError, match="`by` must be one of"):
        usage_report(FakeSource(), WINDOW, by="planet", now=dt("2024-05-03T00:00:00Z"))
    with pytest.raises(UsageError, match="nothing to report yet"):
        usage_report(FakeSource(), WINDOW, now=dt("2024-05-01T00:04:00Z"))


# --- streaming and layering ----------------------------------------------------------------


def _churn(count):
    base = epoch("2024-05-01T00:00:00Z")
    for i in range(count):
        t = base + i
        stamp = f"{t}"
        n = 1 + i % 3
        yield {
            "guid": f"e{i}",
            "created_at": _iso(t),
            "state": {"current": "STARTED", "previous": "STARTED"},
            "process": {"guid": f"P{i % 5}", "type": "web"},
            "app": {"guid": "A", "name": stamp},
            "space": {"guid": "S", "name": "s"},
            "organization": {"guid": "O"},
            "task": {"guid": None},
            "instance_count": {"previous": n, "current": 1 + (i + 1) % 3},
            "memory_in_mb_per_instance": {"previous": 512, "current": 512},
        }


def _iso(t):
    from cfevents.report.timeutil import iso

    return iso(t)


def _peak(count):
    engine = Accountant(epoch(T0), epoch(T0) + 86400, mode="events")
    tracemalloc.start()
    engine.feed_all(_churn(count))
    engine.finish()
    _size, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def test_memory_does_not_grow_with_events():
    small, large = _peak(1_000), _peak(10_000)
    assert large < small * 1.5 + 64_000


def _short_lived(count, apps):
    """``count`` processes and ``count`` tasks, each with its own guid, each living a minute
    (every 10th process restarts once later): a rolling-deploy-heavy foundation."""
    t0 = epoch(T0)

    def event(t, state, prev, i, *, proc=None, task=None, n=2, mem=256):
        app = f"app-{i % apps}"
        return {
            "guid": f"ev-{i}-{state}-{t}",
            "created_at": _iso(t),
            "state": {"current": state, "previous": prev},
            "process": {"guid": proc, "type": "web" if proc else None},
            "app": {"guid": app, "name": app},
            "space": {"guid": "S", "name": "s"},
            "organization": {"guid": "O"},
            "task": {"guid": task, "name": "t" if task else None},
            "instance_count": {"previous": n, "current": n},
            "memory_in_mb_per_instance": {"previous": mem, "current": mem},
        }

    for i in range(count):
        t, proc, task = t0 + 2 * i, f"proc-{i:08d}", f"task-{i:08d}"
        yield event(t, "STARTED", "STOPPED", i, proc=proc)
        yield event(t, "TASK_STARTED", None, i, task=task, n=1, mem=128)
        yield event(t + 30, "TASK_STOPPED", "RUNNING", i, task=task, n=1, mem=128)
        yield event(t + 60, "STOPPED", "STARTED", i, proc=proc)
        if i % 10 == 0 and i >= 100:
            # an earlier process starts again (and stops), and a duplicate task stop
            old = f"proc-{i - 100:08d}"
            yield event(t + 1, "STARTED", "STOPPED", i - 100, proc=old)
            yield event(t + 11, "STOPPED", "STARTED", i - 100, proc=old)
            yield event(t + 11, "TASK_STOPPED", "RUNNING", i, task=f"task-{i - 100:08d}", n=1)


def test_memory_grows_with_live_processes_and_groups_not_with_keys_ever_seen():
    # the engine folds a stopped process / an ended task into its group and keeps only a
    # small marker; before, it kept ~1.6 KB per process and task ever seen (13 MB here)
    count, apps = 8_000, 10
    engine = Accountant(epoch(T0), epoch(T0) + 86400, mode="events", by="app")
    tracemalloc.start()
    engine.feed_all(_short_lived(count, apps))
    result = engine.finish()
    _size, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 500 * count, peak
    # the figures are those of a straightforward computation
    rows = {r["app_guid"]: r for r in report_rows(result)}
    assert len(rows) == apps
    for a in range(apps):
        mine = range(a, count, apps)
        restarts = sum(1 for i in mine if i % 10 == 0 and i >= 100)
        want = {
            "instance_seconds": sum(2 * 60 for _ in mine) + restarts * 2 * 10,
            "memory_mb_seconds": sum(2 * 256 * 60 for _ in mine) + restarts * 2 * 256 * 10,
            "starts": len(mine) + restarts,
            "stops": len(mine) + restarts,
            "task_runs": len(mine),
            "task_seconds": 30 * len(mine),
            "task_memory_mb_seconds": 128 * 30 * len(mine),
        }
        got = rows[f"app-{a}"]
        assert {k: got[k] for k in want} == want, a
        assert got["max_instances"] == 2
        flags = [f for f in got["flags"] if f != "org_deleted"]  # no org names were given
        assert flags == (["duplicate_task_stop"] if a == 0 else [])
    assert result.flag_counts == {"duplicate_task_stop": 1}
    assert result.closing.processes == {} and result.closing.tasks == {}
    assert len(result.final_processes) == count
    assert result.final_processes["proc-00000000"][0] is False


def report_rows(result):
    from cfevents.report.rows import build_rows

    t0 = epoch(T0)
    return build_rows(result, by="app", daily=False, t0=t0, end=t0 + 86400, org_names={})


def test_report_package_imports_no_cli_or_http_libraries():
    code = (
        "import sys, cfevents.report; "
        "bad = [m for m in ('typer', 'rich', 'requests') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_margin_is_configurable():
    events = [ev("2024-04-30T23:40Z", "P", "STARTED", "STOPPED", (1, 1))]
    assert report(events).totals["instance_seconds"] == 0  # outside the 15-min read
    wide = report(events, margin=timedelta(minutes=30))
    assert wide.totals["instance_seconds"] == 86400
    assert json.loads(json.dumps(wide.meta))["fetch_start"] == "2024-04-30T23:30:00Z"


# --- presentation helpers ------------------------------------------------------------------


def test_table_rows_round_on_output_and_end_with_totals():
    events = [
        ev("01:00", "P1", "STARTED", "STOPPED", (1, 1), (700, 700)),
        ev("01:20", "P1", "STOPPED", "STARTED", (1, 1), (700, 700)),
        ev("02:00", "P2", "STARTED", "STOPPED", (2, 2), (100, 100), app="B"),
        ev("02:10", "P2", "STOPPED", "STARTED", (2, 2), (100, 100), app="B"),
    ]
    rep = report(events, by="app")
    assert rep.rows[0]["instance_hours"] == 1200 / 3600  # exact in the data
    shown = table_rows(rep)
    assert [r["org_guid"] for r in shown] == ["O", "O", "TOTAL"]
    assert [r["instance_hours"] for r in shown] == ["0.33", "0.33", "0.67"]
    assert shown[-1]["instance_seconds"] == "2,400"  # thousands separated on a table
    assert shown[-1]["gb_hours"] == f"{(1200 * 700 + 1200 * 100) / 1024 / 3600:.2f}"


def test_summary_lines_name_window_opening_events_and_flags():
    rep = report(
        [ev("06:00", "P5", "STOPPED", "STARTED", (2, 2))],
        opening="events",
        snap=snapshot([("P9", "Z", 3, 512)]),
        now=dt("12:00"),
    )
    text = "\n".join(summary_lines(rep))
    assert "window 2024-05-01T00:00:00Z .. 2024-05-02T00:00:00Z" in text
    assert "counted to 2024-05-01T11:55:00Z (partial" in text
    assert "opening: events; events read: 1" in text
    assert "inferred_start 1" in text
    assert "warning: 1 started process(es) / 3 instance(s)" in text


def test_task_open_longer_than_retention_is_stop_unobservable():
    opening = file_opening(T0, {}, tasks={"T": 512})
    opening.tasks["T"].since = epoch("2024-03-20T00:00:00Z")
    rep = report([], opening=opening, by="app")
    r = row(rep, app_guid="A")
    assert r["task_seconds"] == 86400
    assert "stop_unobservable" in r["flags"]
    fresh = file_opening(T0, {}, tasks={"T": 512})
    fresh.tasks["T"].since = epoch("2024-04-20T00:00:00Z")
    assert (
        "stop_unobservable" not in row(report([], opening=fresh, by="app"), app_guid="A")["flags"]
    )


def test_epoch_parses_cc_and_rfc3339_times():
    assert epoch("2024-05-01T01:02:03Z") == 1714525323
    assert epoch("2024-05-01T03:02:03+02:00") == 1714525323
    assert epoch("2024-05-01T01:02:03.5Z") == 1714525323


def test_events_mode_survives_an_unreadable_snapshot():
    class NoSnapshot(FakeSource):
        def snapshot(self):
            raise AuthError("403 CF-NotAuthorized: You are not authorized")

    source = NoSnapshot([ev("06:00", "P5", "STOPPED", "STARTED", (2, 2))])
    rep = usage_report(source, WINDOW, opening="events", now=dt("2024-05-03T00:00:00Z"))
    assert rep.totals["instance_seconds"] == 2 * 6 * 3600
    assert any("could not count" in w and "403" in w for w in rep.warnings)
    with pytest.raises(AuthError):
        usage_report(source, WINDOW, opening="snapshot", now=dt("2024-05-03T00:00:00Z"))


def test_reading_stops_after_e_plus_margin_unless_snapshot():
    closed = []

    class Counting(FakeSource):
        def events_since(self, start):
            try:
                yield from super().events_since(start)
            finally:
                closed.append(True)

    events = [
        ev("01:00", "P", "STARTED", "STOPPED", (1, 1)),
        ev("2024-05-02T00:14Z", "P", "STOPPED", "STARTED", (1, 1)),
        ev("2024-05-02T00:16Z", "P", "STARTED", "STOPPED", (1, 1)),
    ]
    rep = usage_report(Counting(events), WINDOW, opening="events", now=dt("2024-05-03T00:00:00Z"))
    assert rep.meta["events_read"] == 2
    assert closed == [True]
    snap = usage_report(
        Counting(events, snapshot([("P", "A", 1, 512)])), WINDOW, now=dt("2024-05-03T00:00:00Z")
    )
    assert snap.meta["events_read"] == 3
    assert snap.totals["instance_seconds"] == rep.totals["instance_seconds"] == 23 * 3600


def test_no_events_at_all_but_started_processes_is_incomplete():
    """A token that sees processes but no usage events (not a global reader) must not bill
    every started process for the whole window."""
    snap = snapshot([("P1", "A", 2, 512)])
    source = FakeSource([], snap, oldest=None)
    with pytest.raises(IncompleteDataError, match="no app usage events at all"):
        usage_report(source, WINDOW, opening="snapshot", now=LATER)
    rep = usage_report(source, WINDOW, opening="snapshot", now=LATER, allow_incomplete=True)
    assert rep.rows and all("incomplete" in r["flags"] for r in rep.rows)
    # nothing started and no events: an empty foundation, exact
    empty = usage_report(FakeSource([], Snapshot(), oldest=None), WINDOW, now=LATER)
    assert empty.rows == [] and empty.meta["incomplete"] == []
