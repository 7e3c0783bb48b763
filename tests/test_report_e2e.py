"""``cfevents usage report`` end to end over real HTTP against the sandbox, checked against the
simulation's own truth (``Sandbox.usage_truth`` / ``task_truth``), never a second reading of the
events."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from cli_helpers import one_line_error
from conftest import Cli

from cfevents.sandbox import Sandbox, SandboxConfig

END = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
SEED = 23
FIGURES = ("instance_seconds", "memory_mb_seconds")


@pytest.fixture
def report_sandbox():
    """A fresh sandbox (tests mutate it) with a fixed seed and end: deterministic."""
    sb = Sandbox(SandboxConfig(seed=SEED, end=END)).start()
    yield sb
    sb.stop()


@pytest.fixture
def rcli(report_sandbox, tmp_path):
    return Cli(report_sandbox, tmp_path)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def report(cli, start, end, *extra):
    result = cli(
        "usage", "report", "--since", iso(start), "--until", iso(end), "-o", "json", *extra
    )
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def by_process(rows):
    return {r["process_guid"]: r for r in rows if r["process_guid"]}


def tasks_by_app(rows):
    found: dict[str, tuple[int, int, int]] = {}
    for r in rows:
        if r["process_type"] == "task" and r["process_guid"] is None:
            found[r["app_guid"]] = (r["task_runs"], r["task_seconds"], r["task_memory_mb_seconds"])
    return found


def check_against_truth(sandbox, rows, start, end):
    """Every process's instance- and MB-seconds and every app's task seconds equal the truth."""
    truth = sandbox.usage_truth(start, end)
    want = {
        g: (u.instance_seconds, u.memory_mb_seconds)
        for g, u in truth.items()
        if u.instance_seconds or u.memory_mb_seconds
    }
    got = {
        g: (r["instance_seconds"], r["memory_mb_seconds"])
        for g, r in by_process(rows).items()
        if r["instance_seconds"] or r["memory_mb_seconds"]
    }
    assert got == want
    for guid, row in by_process(rows).items():
        if guid in truth:
            assert row["running_seconds"] == truth[guid].running_seconds, guid
            assert row["max_instances"] == truth[guid].max_instances, guid
    task_want: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for task in sandbox.task_truth(start, end).values():
        task_want[task.app_guid][0] += task.seconds
        task_want[task.app_guid][1] += task.memory_mb_seconds
    task_got = {a: [s, m] for a, (_n, s, m) in tasks_by_app(rows).items() if s or m}
    assert task_got == {a: v for a, v in task_want.items() if v != [0, 0]}
    return want


def kinds_in(sandbox, start, end):
    """What happens in [start, end) according to the events: restarts, scales, deploys, ..."""
    events = list(sandbox.foundation.usage_events_v3())
    lo, hi = iso(start), iso(end)
    inside = [e for e in events if lo <= e["created_at"] < hi]
    live = {a.guid for a in sandbox.foundation.live_apps()}
    seen_web: dict[str, set[str]] = defaultdict(set)
    for e in events:
        if e["created_at"] < lo and e["process"]["type"] == "web":
            seen_web[e["app"]["guid"]].add(e["process"]["guid"])
    kinds = set()
    for a, b in itertools.pairwise(inside):
        same = a["process"]["guid"] and a["process"]["guid"] == b["process"]["guid"]
        pair = (a["state"]["current"], b["state"]["current"])
        if same and pair == ("STOPPED", "STARTED") and a["created_at"] == b["created_at"]:
            kinds.add("restart")
    for e in inside:
        state, proc = e["state"], e["process"]
        if state == {"current": "STARTED", "previous": "STARTED"}:
            n = e["instance_count"]
            if n["current"] != n["previous"]:
                kinds.add("scale")
        if state["current"] == "STARTED" and proc["type"] == "web":
            others = seen_web[e["app"]["guid"]] - {proc["guid"]}
            if (
                state["previous"] == "STOPPED"
                and others
                and proc["guid"] not in seen_web[e["app"]["guid"]]
            ):
                kinds.add("rolling_deploy")
            seen_web[e["app"]["guid"]].add(proc["guid"])
        if state["current"] == "TASK_STARTED":
            kinds.add("task")
        if e["app"]["guid"] not in live:
            kinds.add("deleted_app")
    return kinds


# windows: the generated month starts 2026-01-30T12:31Z; apps run from before it
WINDOWS = [
    (END - timedelta(days=20, hours=3), END - timedelta(days=13, minutes=17)),
    (END - timedelta(days=9), END - timedelta(days=2)),
    (END - timedelta(days=6, hours=5), END),
]


def test_every_process_equals_the_truth_in_windows_with_every_kind_of_change(rcli, report_sandbox):
    kinds: set[str] = set()
    for start, end in WINDOWS:
        rows, err = report(rcli, start, end, "--by", "process")
        want = check_against_truth(report_sandbox, rows, start, end)
        assert len(want) > 10
        assert "opening: snapshot" in err
        # the window starts while apps run: some process counts from T0 without an event there
        running_at_t0 = report_sandbox.usage_truth(start, start + timedelta(seconds=1))
        assert any(u.instance_seconds for u in running_at_t0.values())
        kinds |= kinds_in(report_sandbox, start, end)
    assert kinds >= {"restart", "scale", "rolling_deploy", "task", "deleted_app"}, kinds


def test_scripted_changes_equal_the_truth(rcli, report_sandbox):
    sb = report_sandbox
    started = [
        a.guid for a in sb.foundation.live_apps() if sb.foundation.app_state(a.guid) == "STARTED"
    ]
    one, two, three = started[:3]
    at = END + timedelta(hours=1)
    script = [
        ("restart", one),
        ("scale", one),
        ("deploy", two),
        ("next", two),
        ("resize", two),
        ("run_task", three),
        ("next", three),
        ("run_task", one),
        ("stop", three),
        ("scale", three),  # stopped: no event
        ("start", three),
        ("delete", one),
    ]
    written = 0
    for i, (action, app) in enumerate(script):
        written += sb.perform(action, app, at=at + timedelta(minutes=17 * i, seconds=i))
    assert written > len(script)
    start, end = END - timedelta(hours=2), END + timedelta(hours=6)
    rows, _ = report(rcli, start, end, "--by", "process")
    check_against_truth(sb, rows, start, end)
    # the rolling deploy left two web processes of app two with usage in the window
    webs = [r for r in rows if r["app_guid"] == two and r["process_type"] == "web"]
    assert len([r for r in webs if r["instance_seconds"]]) >= 2
    # and the deleted app's usage stays
    assert any(r["app_guid"] == one and r["instance_seconds"] for r in rows)
    # a window that starts in the middle of the script (processes running since a change)
    mid = at + timedelta(minutes=40)
    rows, _ = report(rcli, mid, end, "--by", "process")
    check_against_truth(sb, rows, mid, end)


def test_daily_rows_sum_exactly_to_the_window(rcli, report_sandbox):
    start, end = END - timedelta(days=5, hours=7, minutes=3), END - timedelta(days=1, hours=2)
    whole, _ = report(rcli, start, end, "--by", "process")
    daily, _ = report(rcli, start, end, "--by", "process", "--daily")
    days = {r["day"] for r in daily}
    assert len(days) == 5
    sums: dict[tuple, list[int]] = defaultdict(lambda: [0] * 5)
    keys = (
        "instance_seconds",
        "memory_mb_seconds",
        "running_seconds",
        "task_seconds",
        "task_memory_mb_seconds",
    )
    for r in daily:
        for i, k in enumerate(keys):
            sums[(r["app_guid"], r["process_type"], r["process_guid"])][i] += r[k]
    expected = {
        (r["app_guid"], r["process_type"], r["process_guid"]): [r[k] for k in keys]
        for r in whole
        if any(r[k] for k in keys)
    }
    assert {k: v for k, v in sums.items() if any(v)} == expected
    # and each day equals the truth of that day
    first = datetime.strptime(min(days), "%Y-%m-%d").replace(tzinfo=UTC)
    day_start = max(start, first + timedelta(days=1))
    day_rows = [r for r in daily if r["day"] == day_start.strftime("%Y-%m-%d")]
    check_against_truth(report_sandbox, day_rows, day_start, day_start + timedelta(days=1))


def test_a_chain_of_state_files_equals_a_direct_report(rcli, report_sandbox, tmp_path):
    t0, t1, t2 = (
        END - timedelta(days=20),
        END - timedelta(days=11, hours=5),
        END - timedelta(days=3),
    )
    state = tmp_path / "a.json"
    report(rcli, t0, t1, "--by", "process", "--save-state", str(state))
    assert json.loads(state.read_text())["as_of"] == iso(t1)
    chained, err = report(rcli, t1, t2, "--by", "process", "--opening", str(state))
    assert "opening: file" in err
    direct, _ = report(rcli, t1, t2, "--by", "process")
    strip = [{k: v for k, v in r.items() if k != "flags"} for r in chained]
    assert strip == [{k: v for k, v in r.items() if k != "flags"} for r in direct]
    # the flags differ only where the direct report had to infer what the file knows
    inferred = {"inferred_start", "running_at_start"}
    assert all(
        set(a["flags"]) == set(b["flags"]) - inferred for a, b in zip(chained, direct, strict=True)
    )
    check_against_truth(report_sandbox, chained, t1, t2)
    # a state file of another time is refused in one line
    wrong = rcli(
        "usage", "report", "--since", iso(t2), "--until", iso(END), "--opening", str(state)
    )
    assert wrong.exit_code == 2
    assert "state file is as of" in one_line_error(wrong)


def test_a_window_before_retention_exits_7_with_one_line(rcli, report_sandbox):
    report_sandbox.prune_usage_events_before(END - timedelta(days=10))
    args = ("usage", "report", "--since", iso(END - timedelta(days=12)), "--until", iso(END))
    result = rcli(*args)
    assert result.exit_code == 7
    line = one_line_error(result)
    assert (
        "oldest usage event" in line and "--allow-incomplete" in line and "--opening FILE" in line
    )
    assert result.stdout == ""
    allowed = rcli(*args, "--allow-incomplete", "-o", "json")
    assert allowed.exit_code == 0, allowed.stderr
    rows = json.loads(allowed.stdout)
    assert rows and all("incomplete" in r["flags"] for r in rows)
    assert "warning: incomplete:" in allowed.stderr
    # a window inside what is left is exact again
    later = END - timedelta(days=9)
    rows, _ = report(rcli, later, END, "--by", "process")
    check_against_truth(report_sandbox, rows, later, END)


def test_a_window_across_a_purge_and_reseed_exits_7(rcli, report_sandbox):
    report_sandbox.purge_and_reseed()  # the reseed is stamped now
    args = ("usage", "report", "--since", iso(END - timedelta(days=2)))
    result = rcli(*args)
    assert result.exit_code == 7
    line = one_line_error(result)
    assert "purge-and-reseed" in line and "--allow-incomplete" in line
    allowed = rcli(*args, "--allow-incomplete", "--by", "process", "-o", "ndjson")
    assert allowed.exit_code == 0, allowed.stderr
    rows = [json.loads(line) for line in allowed.stdout.splitlines()]
    assert rows and all("incomplete" in r["flags"] for r in rows)


def test_table_rounds_hours_and_ends_with_totals_and_csv_keeps_integers(rcli):
    start, end = WINDOWS[1]
    table = rcli("usage", "report", "--since", iso(start), "--until", iso(end), "--by", "org")
    assert table.exit_code == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["org_name", "instance_hours", "gb_hours"]
    assert lines[-1].startswith("TOTAL")
    csv = rcli(
        "usage", "report", "--since", iso(start), "--until", iso(end), "--by", "org", "-o", "csv"
    )
    header, *body = csv.stdout.splitlines()
    assert header.split(",")[:4] == [
        "org_guid",
        "org_name",
        "instance_seconds",
        "memory_mb_seconds",
    ]
    seconds = sum(int(line.split(",")[2]) for line in body)
    hours = [float(v.replace(",", "")) for v in lines[-1].split()[1:2]]  # 1,234.56
    assert hours == [round(seconds / 3600, 2)]
    assert "events read:" in table.stderr and "window " in table.stderr


def test_fields_and_bad_values_are_checked_before_any_request(rcli, report_sandbox):
    report_sandbox.clear_requests()
    for args, words in [
        (("--by", "team"), "--by must be one of"),
        (("--fields", "nosuch"), "--fields"),
        (("--month", "2026-13"), "--month"),
        (("--month", "2026-01", "--since", "2026-01-01"), "not both"),
        (("--min-age", "soon"), "--min-age"),
        (("--opening", "/nonexistent/state.json"), "does not exist"),
    ]:
        result = rcli("usage", "report", *args)
        assert result.exit_code == 2, (args, result.stderr)
        assert words in one_line_error(result)
    assert not report_sandbox.requests
    start, end = WINDOWS[1]
    picked = rcli(
        "usage",
        "report",
        "--since",
        iso(start),
        "--until",
        iso(end),
        "--fields",
        "org_name,gb_hours",
        "-o",
        "json",
    )
    assert picked.exit_code == 0
    assert all(set(r) == {"org_name", "gb_hours"} for r in json.loads(picked.stdout))


def test_demo_report_prints_a_table_for_this_month_and_last(tmp_path):
    from typer.testing import CliRunner

    from cfevents.cli import app

    now = datetime.now(UTC)
    last = (now.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    env = {"CF_HOME": str(tmp_path), "CFEVENTS_OUTPUT": "", "NO_COLOR": "1"}
    for extra in (["--month", last], []):
        args = ["--demo", "usage", "report", *extra, "--by", "org"]
        result = CliRunner().invoke(app, args, env=env)
        assert result.exit_code == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0].split()[:2] == ["org_name", "instance_hours"]
        orgs = [line.split()[0] for line in lines[2:]]
        assert orgs == ["acme", "globex", "initech", "TOTAL"]
        assert float(lines[-1].split()[1].replace(",", "")) > 100  # hours (1,234.56)


def test_library_call_equals_the_truth_and_saves_state(report_sandbox, tmp_path):
    import cfevents

    start, end = WINDOWS[1]
    state = tmp_path / "state.json"
    with cfevents.connect(report_sandbox.url, report_sandbox.admin_token(), env={}) as cf:
        rep = cf.usage_report(since=start, until=end, by="process", save_state=state)
    assert isinstance(rep, cfevents.Report)
    check_against_truth(report_sandbox, rep.rows, start, end)
    assert rep.meta["opening_source"] == "snapshot" and not rep.meta["partial"]
    assert json.loads(state.read_text())["as_of"] == iso(end)


def test_readme_chargeback_names_every_column():
    from pathlib import Path

    from cfevents.report import row_fields

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("## Chargeback") : readme.index("## The sandbox foundation")]
    missing = [f for f in row_fields("process", True) if f"{f}" not in section]
    assert not missing, missing


def test_opening_events_and_none_say_what_they_cannot_see(rcli, report_sandbox):
    start, end = END - timedelta(hours=6), END - timedelta(hours=1)
    exact, _ = report(rcli, start, end, "--by", "process")
    truth = check_against_truth(report_sandbox, exact, start, end)
    for mode in ("events", "none"):
        rows, err = report(rcli, start, end, "--by", "process", "--opening", mode)
        assert f"opening: {mode}" in err
        got = {g: r["instance_seconds"] for g, r in by_process(rows).items()}
        assert all(n <= truth.get(g, (0, 0))[0] for g, n in got.items())  # never more than ran
        assert sum(got.values()) < sum(v[0] for v in truth.values())  # apps idle for hours
        if mode == "events":
            assert "had no events in the window and are not counted" in err


def test_a_report_from_a_store_equals_the_truth_after_the_api_pruned_the_window(
    rcli, report_sandbox, tmp_path
):
    """usage export --out usage.db keeps the history; usage report --input reads it, with no
    request to the API, and still equals the simulation's truth once CC has pruned the window."""
    start, end = WINDOWS[0]
    db = str(tmp_path / "usage.db")
    exported = rcli("usage", "export", "--out", db, "--min-age", "0s")
    assert exported.exit_code == 0, exported.stderr
    live, _ = report(rcli, start, end, "--by", "process")
    report_sandbox.prune_usage_events_before(end + timedelta(days=1))
    pruned = rcli("usage", "report", "--since", iso(start), "--until", iso(end))
    assert pruned.exit_code == 7  # the API no longer has the window
    report_sandbox.clear_requests()
    stored, _ = report(rcli, start, end, "--by", "process", "--input", db)
    assert [r.path for r in report_sandbox.requests] == []  # history only: no API request
    check_against_truth(report_sandbox, stored, start, end)
    assert by_process(stored) == by_process(live)


def test_a_report_from_history_that_lacks_the_window_exits_7(rcli, report_sandbox, tmp_path):
    db = str(tmp_path / "usage.db")
    report_sandbox.prune_usage_events_before(END - timedelta(days=5))
    assert rcli("usage", "export", "--out", db, "--min-age", "0s").exit_code == 0
    start, end = WINDOWS[0]  # before the first event the store ever saw
    result = rcli("usage", "report", "--since", iso(start), "--until", iso(end), "--input", db)
    assert result.exit_code == 7
    assert one_line_error(result)
