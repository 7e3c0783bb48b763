"""Worked examples E1–E21 of the rules in docs/accounting.md §2 as table tests (E16, services, is out of
the issue's scope: its rows have no service columns)."""

import pytest
from report_helpers import (
    WINDOW,
    FakeSource,
    Window,
    dt,
    ev,
    file_opening,
    report,
    row,
    snapshot,
    task_ev,
)

from cfevents.report import IncompleteDataError, usage_report

T0 = "2024-05-01T00:00:00Z"


def test_e1_start_stop():
    rep = report(
        [
            ev("01:00", "P1", "STARTED", "STOPPED", (2, 2), (512, 512)),
            ev("03:00", "P1", "STOPPED", "STARTED", (2, 2), (512, 512)),
        ]
    )
    r = row(rep, process_guid="P1")
    assert r["instance_seconds"] == 14400
    assert r["instance_hours"] == 4.0
    assert r["gb_hours"] == 2.0
    assert r["running_seconds"] == 7200
    assert (r["starts"], r["stops"], r["max_instances"]) == (1, 1, 2)
    assert r["avg_instances"] == pytest.approx(0.1667, abs=1e-4)


def test_e2_scale_is_a_duplicated_started():
    rep = report(
        [
            ev("00:00", "P2", "STARTED", "STOPPED", (1, 1), (1024, 1024)),
            ev("06:00", "P2", "STARTED", "STARTED", (1, 3), (1024, 1024)),
            ev("12:00", "P2", "STOPPED", "STARTED", (3, 3), (1024, 1024)),
        ]
    )
    r = row(rep, process_guid="P2")
    assert r["instance_seconds"] == 21600 + 64800
    assert r["gb_hours"] == 24.0
    assert (r["starts"], r["scales"], r["stops"], r["max_instances"]) == (1, 1, 1, 3)


def test_e3_memory_change_from_a_state_file():
    rep = report(
        [ev("12:00", "P1", "STARTED", "STARTED", (2, 2), (256, 1024))],
        opening=file_opening(T0, {"P1": (2, 256)}),
    )
    r = row(rep, process_guid="P1")
    assert r["instance_seconds"] == 172800
    assert r["gb_hours"] == 30.0
    assert r["scales"] == 1
    assert "open_at_end" in r["flags"]
    assert rep.meta["opening_source"] == "file"


@pytest.mark.parametrize(
    ("mode", "seconds", "gbh"),
    [("snapshot", 345600, 48.0), ("events", None, None), ("none", None, None)],
)
def test_e4_silent_running_app(mode, seconds, gbh):
    snap = snapshot([("P4", "A4", 4, 512)])
    rep = report([], opening=mode, snap=snap)
    if seconds is None:
        assert rep.rows == []
        assert rep.totals["instance_seconds"] == 0
    else:
        r = row(rep, process_guid="P4")
        assert (r["instance_seconds"], r["gb_hours"]) == (seconds, gbh)
        assert rep.meta["opening_source"] == "snapshot"
    if mode == "events":
        assert any("1 started process(es) / 4 instance(s)" in w for w in rep.warnings)
        assert rep.meta["unseen_started_processes"] == 1
    else:
        assert not any("started process" in w for w in rep.warnings)


@pytest.mark.parametrize(
    ("mode", "seconds", "flag"),
    [
        ("snapshot", 43200, "inferred_start"),
        ("events", 43200, "inferred_start"),
        ("none", 0, "unknown_start"),
    ],
)
def test_e5_first_event_stopped(mode, seconds, flag):
    rep = report([ev("06:00", "P5", "STOPPED", "STARTED", (2, 2), (1024, 1024))], opening=mode)
    r = row(rep, process_guid="P5")
    assert r["instance_seconds"] == seconds
    assert r["gb_hours"] == seconds / 3600
    assert flag in r["flags"]
    assert r["stops"] == 1


E6_EVENTS = [
    ("10:00:00", "PN", "STARTED", "STOPPED", (1, 1)),
    ("10:01:00", "A", "STARTED", "STARTED", (2, 1)),
    ("10:01:00", "PN", "STARTED", "STARTED", (1, 2)),
    ("10:02:00", "A", "STARTED", "STARTED", (1, 0)),
    ("10:02:00", "A", "STOPPED", "STARTED", (0, 0)),
]


def e6_events():
    return [ev(at, p, s, prev, n, (512, 512)) for at, p, s, prev, n in E6_EVENTS]


def test_e6_rolling_deploy_by_process_and_by_app():
    opening = file_opening(T0, {"A": (2, 512)})
    by_proc = report(e6_events(), opening=opening)
    assert row(by_proc, process_guid="A")["instance_seconds"] == 72180
    assert row(by_proc, process_guid="PN")["instance_seconds"] == 100740
    by_app = report(e6_events(), opening=file_opening(T0, {"A": (2, 512)}), by="app")
    r = row(by_app, app_guid="A")
    assert r["instance_seconds"] == 172920
    assert r["instance_hours"] == pytest.approx(48.0333, abs=1e-4)
    assert r["gb_hours"] == pytest.approx(24.0167, abs=1e-4)
    # 2+1 at 10:00 and 1+2 after the 10:01 batch; the transient 1+1 never counts
    assert r["max_instances"] == 3
    assert "process_guid" not in r


def test_e6_same_second_batch_keeps_transient_out_of_the_peak():
    # the old process scales UP first in the batch: a transient 3+1 must not count
    events = [
        ev("10:00", "PN", "STARTED", "STOPPED", (1, 1)),
        ev("10:01", "PN", "STARTED", "STARTED", (1, 2)),
        ev("10:01", "A", "STARTED", "STARTED", (2, 1)),
    ]
    rep = report(events, opening=file_opening(T0, {"A": (2, 512)}), by="app")
    assert row(rep, app_guid="A")["max_instances"] == 3


def test_e7_restart_in_one_second_is_no_gap():
    rep = report(
        [
            ev("08:00:00", "P7", "STOPPED", "STARTED", (1, 1), (1024, 1024)),
            ev("08:00:00", "P7", "STARTED", "STOPPED", (1, 1), (1024, 1024)),
        ],
        opening=file_opening(T0, {"P7": (1, 1024)}),
    )
    r = row(rep, process_guid="P7")
    assert (r["instance_hours"], r["gb_hours"]) == (24.0, 24.0)
    assert (r["starts"], r["stops"]) == (1, 1)


def test_e8_created_at_inversion_is_clamped():
    rep = report(
        [
            ev("10:00:05", "P8", "STARTED", "STOPPED", (1, 1), (512, 512)),
            ev("10:00:03", "P8", "STARTED", "STARTED", (1, 2), (512, 512)),
            ev("11:00:00", "P8", "STOPPED", "STARTED", (2, 2), (512, 512)),
        ]
    )
    r = row(rep, process_guid="P8")
    assert r["instance_seconds"] == 2 * 3595
    assert r["gb_hours"] == pytest.approx(0.998611, abs=1e-6)
    assert rep.meta["counters"]["clock_skew_adjustments"] == 1
    assert rep.meta["counters"]["clock_skew_seconds"] == 2


def test_e9_zero_instances_count_zero_but_run():
    events = [
        ev("09:00", "P9w", "STARTED", "STOPPED", (1, 1), (256, 256), app="A9"),
        ev("09:00", "P9k", "STARTED", "STOPPED", (0, 0), (1024, 1024), app="A9", ptype="worker"),
        ev("17:00", "P9w", "STOPPED", "STARTED", (1, 1), (256, 256), app="A9"),
        ev("17:00", "P9k", "STOPPED", "STARTED", (0, 0), (1024, 1024), app="A9", ptype="worker"),
    ]
    rep = report(events)
    web, worker = row(rep, process_guid="P9w"), row(rep, process_guid="P9k")
    assert (web["instance_seconds"], web["gb_hours"]) == (28800, 2.0)
    assert (worker["instance_seconds"], worker["gb_hours"]) == (0, 0.0)
    assert worker["running_seconds"] == 28800
    assert worker["process_type"] == "worker"
    app = row(report(events, by="app"), app_guid="A9")
    assert (app["instance_hours"], app["gb_hours"]) == (8.0, 2.0)


def test_e10_crashes_change_nothing():
    rep = report([], opening="snapshot", snap=snapshot([("P10", "A10", 3, 512)]))
    r = row(rep, process_guid="P10")
    assert (r["instance_hours"], r["gb_hours"]) == (72.0, 36.0)


def test_e11_deleted_app_keeps_names_from_events():
    events = [
        ev("02:00", "P11", "STARTED", "STOPPED", (2, 2), (512, 512), app="A11", app_name="gone"),
        ev("05:00", "P11", "STOPPED", "STARTED", (2, 2), (512, 512), app="A11", app_name="gone"),
    ]
    rep = report(events, opening="snapshot", snap=snapshot([]), by="app")
    r = row(rep, app_guid="A11")
    assert (r["instance_hours"], r["gb_hours"]) == (6.0, 3.0)
    assert (r["app_name"], r["space_name"], r["org_name"]) == ("gone", "space-S", "org-one")
    assert rep.meta["self_check_mismatches"] == []


def test_e12_null_previous_and_null_memory():
    rep = report(
        [
            ev("04:00", "P12", "STARTED", None, (None, 2), (None, 512)),
            ev("05:00", "P12", "STARTED", "STARTED", (2, 4), (512, None)),
            ev("06:00", "P12", "STOPPED", "STARTED", (4, 4), (None, None)),
        ]
    )
    r = row(rep, process_guid="P12")
    assert r["starts"] == 1
    assert r["instance_seconds"] == 21600
    assert r["gb_hours"] == 3.0
    assert "memory_carried_forward" in r["flags"]


def test_e13_reseed_inside_a_chained_window():
    events = [ev("12:00:00", "P13a", "STARTED", "STARTED", (1, 1), (1024, 1024), guid="P13a")]
    opening = file_opening(T0, {"P13a": (1, 1024), "P13b": (2, 256)})
    with pytest.raises(IncompleteDataError):
        report(events, opening=opening)
    opening = file_opening(T0, {"P13a": (1, 1024), "P13b": (2, 256)})
    rep = report(events, opening=opening, allow_incomplete=True)
    a, b = row(rep, process_guid="P13a"), row(rep, process_guid="P13b")
    assert (a["instance_hours"], a["gb_hours"], a["starts"]) == (24.0, 24.0, 0)
    assert (b["instance_hours"], b["gb_hours"]) == (24.0, 6.0)
    assert "closed_by_reseed" in b["flags"]
    assert (rep.totals["instance_hours"], rep.totals["gb_hours"]) == (48.0, 30.0)
    assert rep.meta["counters"]["reseeds"] == 1


@pytest.mark.parametrize("t2_start", ["2024-04-30T23:00Z", "2024-04-30T23:50Z"])
def test_e14_tasks(t2_start):
    events = [
        task_ev(t2_start, "T2", "TASK_STARTED", "PENDING", 512),
        task_ev("01:00", "T2", "TASK_STOPPED", "RUNNING", 512),
        task_ev("09:00", "T3", "TASK_STOPPED", "PENDING", 256),
        task_ev("10:00", "T1", "TASK_STARTED", "PENDING", 512),
        task_ev("10:30", "T1", "TASK_STOPPED", "RUNNING", 512),
        task_ev("23:00", "T4", "TASK_STARTED", "PENDING", 1024),
    ]
    rep = report(events, by="app")
    r = row(rep, app_guid="A")
    assert r["task_seconds"] == 9000
    assert r["task_memory_mb_seconds"] / 1024 / 3600 == 1.75
    assert r["task_runs"] == 2
    assert r["instance_seconds"] == 0
    assert "open_at_end" in r["flags"]
    assert rep.meta["counters"]["tasks_stopped_without_start"] == 1
    if t2_start.endswith("23:00Z"):  # outside the fetch: known only from its stop
        assert "running_at_start" in r["flags"]


def test_e15_staging_orphan_is_counted_never_billed():
    events = [
        ev("10:00", None, "STAGING_STARTED", "STAGING", (1, 1), (1024, 1024), app="C", ptype=None),
        ev("11:00", None, "STAGING_STARTED", "STAGING", (1, 1), (1024, 1024), app="D", ptype=None),
        ev("11:03", None, "STAGING_STOPPED", "STAGING", (1, 1), (1024, 1024), app="D", ptype=None),
        ev("11:03", None, "BUILDPACK_SET", "STAGING", (1, 1), (1024, 1024), app="D", ptype=None),
    ]
    rep = report(events, by="app")
    c = rep.meta["counters"]
    assert (c["staging_seconds"], c["staging_builds"]) == (180, 1)
    assert (c["unmatched_staging_starts"], c["buildpack_sets"]) == (1, 1)
    assert rep.totals["instance_seconds"] == 0


def test_e17_horizon_makes_a_partial_report():
    rep = report(
        [],
        opening="snapshot",
        snap=snapshot([("P17", "A17", 1, 1024)]),
        now=dt("18:00"),
    )
    r = row(rep, process_guid="P17")
    assert r["instance_seconds"] == 64500
    assert r["gb_hours"] == pytest.approx(17.9167, abs=1e-4)
    assert rep.meta["partial"] is True
    assert rep.meta["as_of"] == "2024-05-01T17:55:00Z"


def test_e18a_window_before_retention_is_refused():
    may = Window(dt("2024-05-01T00:00:00Z"), dt("2024-06-01T00:00:00Z"))
    source = FakeSource([], snapshot([]), oldest="2024-05-01T18:00:00Z")
    with pytest.raises(IncompleteDataError) as info:
        usage_report(source, may, now=dt("2024-06-01T19:00:00Z"))
    message = str(info.value)
    assert "2024-05-01T18:00:00Z" in message
    for way_out in ("--opening FILE", "--since", "--allow-incomplete"):
        assert way_out in message
    assert info.value.exit_code == 7
    assert "\n" not in message
    assert source.calls == ["oldest"]  # refused before reading anything else


def test_e18b_reseed_batch_inside_the_window():
    may = Window(dt("2024-05-01T00:00:00Z"), dt("2024-06-01T00:00:00Z"))
    reseed = ev("2024-05-20T12:00Z", "P18", "STARTED", "STARTED", (1, 1), (512, 512), guid="P18")
    snap = snapshot([("P18", "A", 1, 512)])
    now = dt("2024-05-21T00:00:00Z")
    with pytest.raises(IncompleteDataError) as info:
        usage_report(FakeSource([reseed], snap, oldest_event=reseed), may, now=now)
    assert "purge-and-reseed at 2024-05-20T12:00:00Z" in str(info.value)
    rep = usage_report(
        FakeSource([reseed], snap, oldest_event=reseed),
        may,
        now=now,
        by="process",
        allow_incomplete=True,
    )
    r = row(rep, process_guid="P18")
    assert r["instance_seconds"] == 11 * 3600 + 55 * 60  # 12:00 to E = 23:55
    assert {"incomplete", "unknown_start"} <= set(r["flags"])
    assert rep.meta["incomplete"]


@pytest.mark.parametrize(
    ("mode", "hours_", "flag"),
    [
        ("snapshot", 84.0, "inferred_start"),
        ("events", 84.0, "inferred_start"),
        ("none", 60.0, "unknown_start"),
    ],
)
def test_e19_scale_as_first_event(mode, hours_, flag):
    snap = snapshot([("P19", "A", 5, 256)])
    rep = report(
        [ev("12:00", "P19", "STARTED", "STARTED", (2, 5), (256, 256))], opening=mode, snap=snap
    )
    r = row(rep, process_guid="P19")
    assert r["instance_hours"] == hours_
    assert flag in r["flags"]
    if mode != "none":
        assert r["gb_hours"] == 21.0


def test_e20_day_split_across_midnight():
    two_days = Window(dt("2024-05-01T00:00:00Z"), dt("2024-05-03T00:00:00Z"))
    events = [
        ev("2024-05-01T22:00Z", "P20", "STARTED", "STOPPED", (1, 1), (2048, 2048)),
        ev("2024-05-02T02:00Z", "P20", "STOPPED", "STARTED", (1, 1), (2048, 2048)),
    ]
    rep = report(events, window=two_days, daily=True, now=dt("2024-05-04T00:00:00Z"))
    d1, d2 = row(rep, day="2024-05-01"), row(rep, day="2024-05-02")
    assert (d1["instance_seconds"], d1["gb_hours"]) == (7200, 4.0)
    assert (d2["instance_seconds"], d2["gb_hours"]) == (7200, 4.0)
    assert (rep.totals["instance_hours"], rep.totals["gb_hours"]) == (4.0, 8.0)


def test_e21_chain_gap_keeps_the_known_count_and_reports_a_bound():
    rep = report(
        [ev("10:00", "P21", "STARTED", "STARTED", (3, 4), (512, 512))],
        opening=file_opening(T0, {"P21": (1, 512)}),
    )
    r = row(rep, process_guid="P21")
    assert r["instance_seconds"] == 237600
    assert "chain_gap" in r["flags"]
    (gap,) = rep.meta["chain_gaps"]
    assert (gap["from"], gap["to"]) == ("2024-05-01T00:00:00Z", "2024-05-01T10:00:00Z")
    assert (r["instance_seconds"] + gap["instance_seconds_delta_if_at_start"]) / 3600 == 86.0


def test_window_fixture_is_one_day():
    assert (WINDOW.end - WINDOW.start).total_seconds() == 86400
