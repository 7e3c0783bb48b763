"""The live foundation (`python -m cfevents.sandbox --live`): the README's recipes rehearsed end to
end against a foundation that keeps moving. Each recipe runs three times with an hour of activity
written between runs (`LiveFoundation.advance`, the test hook: no test waits for the clock), sees
new events each time and none twice, and reports are exact against the simulation's truth."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from cli_helpers import QUICK_POLL_CFEVENTS
from conftest import Cli
from test_report_e2e import check_against_truth

from cfevents.sandbox.live import (
    JOURNAL_FILE,
    STATE_FILE,
    LiveConfig,
    open_live,
    running_url,
    start_live,
    stop_live,
)
from cfevents.sandbox.store import from_us, iso_second

TIMEOUT = 60


@pytest.fixture
def live(tmp_path):
    foundation = start_live(LiveConfig(state_dir=tmp_path / "state", seed=3, speed=0, port=0))
    yield foundation
    stop_live(foundation)


def csv_guids(path: Path) -> list[str]:
    with path.open(newline="") as fh:
        return [row["guid"] for row in csv.DictReader(fh)]


def sandbox_guids(live) -> list[str]:
    return [e["guid"] for e in live.foundation.usage_events_v3()]


def test_hourly_cron_export_three_runs(live, tmp_path):
    """README: `cfevents -q usage export --checkpoint … --out … --on-rotated new-file`."""
    cli = Cli(live.sandbox, tmp_path)
    out, ckpt = tmp_path / "usage.csv", tmp_path / "usage.ckpt"
    args = ("-q", "usage", "export", "--checkpoint", str(ckpt), "--out", str(out))
    seen: list[str] = []
    for _ in range(3):
        assert live.advance(1) > 0
        result = cli(*args, "--on-rotated", "new-file")
        assert result.exit_code == 0, result.stderr
        guids = csv_guids(out)
        assert len(set(guids)) == len(guids)  # nothing twice
        assert guids[: len(seen)] == seen and len(guids) > len(seen)  # new events each run
        assert guids == sandbox_guids(live)  # everything older than the min-age, in id order
        seen = guids


def test_history_store_three_runs_and_the_report_is_exact(live, tmp_path):
    """README: `cfevents usage export --out usage.db`, then a report, three times."""
    cli = Cli(live.sandbox, tmp_path)
    db = tmp_path / "usage.db"
    start = from_us(live.last_us) - timedelta(days=3)
    counts = []
    for _ in range(3):
        live.advance(1)
        result = cli("usage", "export", "--out", str(db))
        assert result.exit_code == 0, result.stderr
        with sqlite3.connect(db) as conn:
            stored, distinct = conn.execute(
                "select count(*), count(distinct guid) from app_usage_events"
            ).fetchone()
        assert stored == distinct == live.foundation.usage_event_count()  # each once, all
        counts.append(stored)
        until = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        window = ("--since", start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "--until", until.strftime("%Y-%m-%dT%H:%M:%SZ"), "--by", "process", "-o", "json")  # fmt: skip
        for source in ((), ("--input", str(db))):  # from the API, and from the store
            report = cli("usage", "report", *source, *window)
            assert report.exit_code == 0, report.stderr
            end = re.search(r"counted to (\S+)", report.stderr)
            assert end, report.stderr
            counted_to = datetime.strptime(end.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            check_against_truth(live.sandbox, json.loads(report.stdout), start, counted_to)
    assert counts[0] < counts[1] < counts[2]


def test_monthly_chargeback_recipe_is_exact(live, tmp_path):
    """README: `cfevents usage report --by org` (this month so far), after each hour."""
    cli = Cli(live.sandbox, tmp_path)
    for _ in range(3):
        live.advance(1)
        result = cli("usage", "report", "--by", "org", "-o", "json")
        assert result.exit_code == 0, result.stderr
        window = re.search(r"window (\S+) \.\. \S+, counted to (\S+)", result.stderr)
        assert window, result.stderr
        t0, e = (
            datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) for v in window.groups()
        )
        want: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for usage in live.sandbox.usage_truth(t0, e).values():
            want[usage.org_guid][0] += usage.instance_seconds
            want[usage.org_guid][1] += usage.memory_mb_seconds
        got = {
            r["org_guid"]: [r["instance_seconds"], r["memory_mb_seconds"]]
            for r in json.loads(result.stdout)
        }
        assert {o: v for o, v in got.items() if any(v)} == {o: v for o, v in want.items() if any(v)}


def test_crash_loop_recipe_sees_new_crashes_each_hour(live, tmp_path):
    """README: `cfevents crashes --since 1h --summary`, then the crash follow."""
    cli = Cli(live.sandbox, tmp_path)
    totals = []
    for _ in range(3):
        live.advance(1)
        result = cli("crashes", "--since", "1h", "--summary", "-o", "json")
        assert result.exit_code == 0, result.stderr
        totals.append(sum(row["crashes"] for row in json.loads(result.stdout)))
    assert 0 < totals[0] < totals[1] < totals[2]
    crashes = [
        c for c in live.foundation.crashes() if c.timestamp > datetime.now(UTC) - timedelta(hours=1)
    ]
    assert len(crashes) == totals[-1]


def wait_for(check, what: str):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_crash_follow_prints_each_new_crash_once(live, tmp_path):
    """README: `cfevents crashes --follow` keeps printing the crashes of every hour, once."""
    since = from_us(live.last_us).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = tmp_path / "follow.ndjson"
    env = {
        **os.environ,
        "CF_API": live.sandbox.url,
        "CF_TOKEN": live.sandbox.admin_token(),
        "CF_HOME": str(tmp_path),
        "CFEVENTS_OUTPUT": "",
    }
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [
                *QUICK_POLL_CFEVENTS,
                "crashes",
                "--follow",
                "--interval",
                "1s",
                "--since",
                since,
                "-o",
                "json",
            ],
            stdout=sink,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            since_dt = from_us(live.last_us - live.last_us % 1_000_000)
            for _ in range(3):
                live.advance(1)
                expected = [
                    c.process_event_guid
                    for c in live.foundation.crashes()
                    if c.timestamp >= since_dt
                ]

                def printed(want=expected):
                    lines = [json.loads(x) for x in out.read_text().splitlines() if x.strip()]
                    guids = [x["process_crash_guid"] for x in lines]
                    return guids if len(guids) >= len(want) else None

                guids = wait_for(printed, "the hour's crashes")
                # each once (same-second crashes come in CC's (created_at, guid) order)
                assert len(set(guids)) == len(guids) and sorted(guids) == sorted(expected)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 143, err  # a follow stopped by SIGTERM exits 143 (README)
    assert "stopped following" in err


def test_restart_continues_the_same_foundation(tmp_path):
    config = LiveConfig(state_dir=tmp_path / "state", seed=4, speed=0, port=0)
    live = start_live(config)
    live.advance(2)
    before = sandbox_guids(live)
    end = datetime.now(UTC)
    truth = live.sandbox.usage_truth(end - timedelta(days=2), end)
    crashes = live.foundation.crashes()
    stop_live(live)
    assert not (config.state_dir / STATE_FILE).exists()
    again = open_live(config)  # regenerated from the recipe, the journal replayed
    assert sandbox_guids(again) == before
    assert again.sandbox.usage_truth(end - timedelta(days=2), end) == truth
    assert again.foundation.crashes() == crashes
    again.advance(1)
    assert sandbox_guids(again)[: len(before)] == before
    assert len(sandbox_guids(again)) > len(before)


def test_python_m_sandbox_live_stable_state_advance_endpoint_and_demo(tmp_path):
    """The command line: a state dir, a live.json with the address, the advance endpoint, a
    restart that continues, and `cfevents --demo` reusing it (one checkpoint, two runs)."""
    state = tmp_path / "state"
    with socket.socket() as probe:  # a free port, the same for both starts: a stable address
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "cfevents.sandbox", "--live", "--state-dir", str(state),
               "--port", str(port), "--speed", "0", "--seed", "6"]  # fmt: skip

    def serve():
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        url = wait_for(lambda: running_url(state), "live.json and a server answering")
        return proc, url

    def stop(proc):
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, err

    proc, url = serve()
    try:
        from cfevents.sandbox.live import admin_token

        headers = {"Authorization": admin_token()}
        refused = requests.post(f"{url}/sandbox/live/advance?hours=1", timeout=TIMEOUT)
        assert refused.status_code == 401
        moved = requests.post(
            f"{url}/sandbox/live/advance?hours=1", headers=headers, timeout=TIMEOUT
        )
        assert moved.status_code == 200 and moved.json()["changes"] > 0
        env = {**os.environ, "CFEVENTS_SANDBOX_DIR": str(state), "CF_HOME": str(tmp_path)}
        ckpt, out = tmp_path / "demo.ckpt", tmp_path / "demo.csv"
        args = [sys.executable, "-m", "cfevents", "--demo", "usage", "export",
                "--checkpoint", str(ckpt), "--out", str(out)]  # fmt: skip
        first = subprocess.run(args, capture_output=True, text=True, env=env, timeout=TIMEOUT)
        assert first.returncode == 0, first.stderr
        assert f"using the live sandbox foundation at {url}" in first.stderr
        requests.post(f"{url}/sandbox/live/advance?hours=1", headers=headers, timeout=TIMEOUT)
        count = len(csv_guids(out))
    finally:
        stop(proc)
    journal = (state / JOURNAL_FILE).read_text()
    proc, again = serve()  # a restart: the same address and foundation, continued
    assert again == url
    try:
        assert (state / JOURNAL_FILE).read_text() == journal
        second = subprocess.run(args, capture_output=True, text=True, env=env, timeout=TIMEOUT)
        assert second.returncode == 0, second.stderr  # the checkpoint's foundation, again
        guids = csv_guids(out)
        assert len(guids) > count and len(set(guids)) == len(guids)
    finally:
        stop(proc)


def test_the_wall_clock_moves_it(tmp_path):
    """With --speed the foundation moves by itself, each change stamped when it happens."""
    config = LiveConfig(state_dir=tmp_path / "state", seed=8, speed=3600, tick_s=0.2, port=0)
    live = start_live(config)
    try:
        started = iso_second(time.time_ns() // 1000)

        def newest() -> str | None:
            stamp = list(live.foundation.usage_events_v3())[-1]["created_at"]
            return stamp if stamp >= started else None

        stamp = wait_for(newest, "usage events stamped after the start")
        assert stamp <= iso_second(time.time_ns() // 1000)  # never in the future
    finally:
        stop_live(live)
    assert (config.state_dir / JOURNAL_FILE).read_text().count('"do":"tick"') >= 1


def test_user_actions_are_audited_each_hour(live, tmp_path):
    """`cfevents events list --since 1h` sees the hour's user actions, as CC audits them."""
    cli = Cli(live.sandbox, tmp_path)
    seen: set[str] = set()
    for _ in range(3):
        live.advance(1)
        result = cli("events", "list", "--since", "1h", "--all", "-o", "json")
        assert result.exit_code == 0, result.stderr
        events = json.loads(result.stdout)
        guids = {e["guid"] for e in events}
        assert len(guids) == len(events) and seen < guids  # new ones, the old ones still there
        assert any(
            e["type"].startswith("audit.app.") and e["actor"]["type"] == "user" for e in events
        )
        seen = guids


def test_what_the_live_foundation_writes_has_ccs_shape(live):
    from test_sandbox_shapes import SCHEMAS, served

    live.advance(2)
    problems = [p for kind, _, body in served(live.sandbox) for p in SCHEMAS[kind].problems(body)]
    assert not problems, problems[:10]


def test_a_step_cut_short_by_a_kill_is_dropped_on_restart(tmp_path):
    config = LiveConfig(state_dir=tmp_path / "state", seed=9, speed=0, port=0)
    live = open_live(config)
    live.advance(1)
    before = sandbox_guids(live)
    journal = config.state_dir / JOURNAL_FILE
    whole = journal.read_bytes()
    app = live.foundation.live_apps()[0].guid
    cut = json.dumps({"at_us": live.last_us + 1, "do": "app", "action": "restart", "app": app})
    journal.write_bytes(whole + cut.encode() + b"\n" + cut[:20].encode())  # no tick, half a line
    again = open_live(config)
    assert sandbox_guids(again) == before
    assert journal.read_bytes() == whole


def test_an_unreadable_state_dir_is_one_line_and_exit_2(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "foundation.json").write_text("not json")
    result = subprocess.run(
        [sys.executable, "-m", "cfevents.sandbox", "--live", "--state-dir", str(state), "--port", "0"],
        capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "cannot be read" in result.stderr
    assert "Traceback" not in result.stderr
