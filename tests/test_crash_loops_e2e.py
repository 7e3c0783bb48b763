"""Crash loops end to end over HTTP: the demo's loop (one start, the expected reminders, one
resolved; nothing for an app that crashed once), and a live loop driven through the sandbox's
crash hook and clock, with --exec run per loop record as a supervisor would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_helpers import QUICK_POLL_CFEVENTS, wait_for

from cfevents.api import connect
from cfevents.events.loops import LoopRule, is_loop

END = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
RULE = LoopRule(3, timedelta(minutes=10), repeat=timedelta(minutes=15))


def expected_loop(times: list[datetime], rule: LoopRule) -> list[tuple[str, datetime]]:
    """A plain reading of the README's rules over the sandbox's true crash times (one app)."""
    out: list[tuple[str, datetime]] = []
    looping, notified, last = False, None, None
    recent: list[datetime] = []
    for t in sorted(times):
        if looping and t - last >= rule.quiet:
            out.append(("resolved", last + rule.quiet))
            looping, recent = False, []
        recent = [r for r in recent if t - r <= rule.period] + [t]
        last = t
        if looping and t - notified >= rule.repeat:
            out.append(("repeat", t))
            notified = t
        elif not looping and len(recent) >= rule.count:
            out.append(("start", t))
            looping, notified = True, t
    if looping:
        out.append(("resolved", last + rule.quiet))
    return out


@pytest.fixture
def demo():
    from cfevents.sandbox import Sandbox, SandboxConfig

    sb = Sandbox(SandboxConfig(seed=3, end=END, days=3, recent_crash_loop=True)).start()
    yield sb
    sb.stop()


def test_the_demo_loop_is_one_start_its_reminders_and_one_resolved(demo):
    since = END - timedelta(hours=1)
    truth = [c for c in demo.foundation.crashes() if c.timestamp >= since]
    by_app: dict[str, list] = {}
    for c in truth:
        by_app.setdefault(c.app_guid, []).append(c)
    loop_app = max(by_app, key=lambda g: len(by_app[g]))  # the demo's loop: every 3-6 minutes
    assert len(by_app[loop_app]) >= 8
    once = next(a for a in demo.foundation.apps if a.guid not in by_app)
    demo.append_crash(once.guid, END - timedelta(minutes=20))
    demo.set_clock(END + timedelta(hours=2))  # the API's clock: long after the last crash
    expected = sorted(
        (at, guid, state)
        for guid, crashes in by_app.items()
        for state, at in expected_loop([c.timestamp.replace(microsecond=0) for c in crashes], RULE)
    )
    loop_states = [state for _, guid, state in expected if guid == loop_app]
    assert loop_states.count("start") == 1 and loop_states[-1] == "resolved"
    assert loop_states.count("repeat") >= 2
    stop = threading.Event()
    got = []
    with connect(demo.url, demo.admin_token(), env={}) as cf:
        for record in cf.follow_crashes(since=since.isoformat(), interval=5, stop=stop, loop=RULE):
            if is_loop(dict(record)):
                got.append(record)
                if record["state"] == "resolved" and record["app"]["guid"] == loop_app:
                    stop.set()
    assert once.guid not in {r["app"]["guid"] for r in got}  # it crashed once: no loop
    assert (
        sorted((datetime.fromisoformat(r["at"]), r["app"]["guid"], r["state"]) for r in got)
        == expected
    )
    resolved = next(r for r in got if r["app"]["guid"] == loop_app and r["state"] == "resolved")
    first = datetime.fromisoformat(resolved["first_crash"])
    in_loop = [c for c in by_app[loop_app] if c.timestamp.replace(microsecond=0) >= first]
    assert resolved["crashes"] == len(in_loop) >= RULE.count
    newest = max(by_app[loop_app], key=lambda c: c.timestamp)
    assert resolved["last_exit_description"] == newest.exit_description


def _start(sb, home: Path, *args: str, **extra: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "CF_API": sb.url,
        "CF_TOKEN": sb.admin_token(),
        "CF_CLIENT_SECRET": "s3cret-client-secret",
        "CF_USERNAME": "admin",
        "CF_PASSWORD": "s3cret-password",
        "CF_HOME": str(home),
        "CFEVENTS_OUTPUT": "",
        **extra,
    }
    return subprocess.Popen(
        [*QUICK_POLL_CFEVENTS, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def live():
    from cfevents.sandbox import Sandbox, SandboxConfig

    sb = Sandbox(SandboxConfig(seed=4, end=END, days=2)).start()
    sb.set_clock(END)
    yield sb
    sb.stop()


def test_a_live_loop_starts_repeats_and_resolves_with_exec_per_record(live, tmp_path):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    app, other = live.foundation.apps[0].guid, live.foundation.apps[1].guid
    cmd = (
        f'cat > "{hooks}/$CFEVENTS_STATE.json.tmp"; env > "{hooks}/$CFEVENTS_STATE.env"; '
        f'echo "hook says hello"; echo "hook complains" >&2; '
        f'mv "{hooks}/$CFEVENTS_STATE.json.tmp" "{hooks}/$CFEVENTS_STATE.json"'
    )
    proc = _start(
        live,
        tmp_path,
        "crashes",
        "--follow",
        "--since",
        END.isoformat(),
        "--interval",
        "1s",
        "--loop",
        "3/10m",
        "--repeat",
        "5m",
        "--resolve-after",
        "10m",
        "-o",
        "ndjson",
        "--exec",
        cmd,
    )
    try:
        for minute in (1, 2, 3):
            live.append_crash(app, END + timedelta(minutes=minute))
        live.append_crash(other, END + timedelta(minutes=2))  # once: never a loop
        wait_for(lambda: (hooks / "start.json").exists())
        for minute in (6, 9):
            live.append_crash(app, END + timedelta(minutes=minute))
        wait_for(lambda: (hooks / "repeat.json").exists())
        live.set_clock(END + timedelta(minutes=30))  # quiet since minute 9: resolved at 19
        wait_for(lambda: (hooks / "resolved.json").exists())
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    records = [json.loads(line) for line in out.splitlines()]  # every stdout line is JSON
    assert [(r["state"], r["at"], r["crashes"]) for r in records] == [
        ("start", "2026-03-01T12:03:00Z", 3),
        ("repeat", "2026-03-01T12:09:00Z", 5),
        ("resolved", "2026-03-01T12:19:00Z", 5),
    ]
    assert {r["app"]["guid"] for r in records} == {app}
    assert json.loads((hooks / "start.json").read_text()) == records[0]
    assert "hook says hello" in err and "hook complains" in err
    env = dict(
        line.split("=", 1) for line in (hooks / "start.env").read_text().splitlines() if "=" in line
    )
    assert not [k for k in env if k.startswith("CF_")]  # no CF credential, no CF_* at all
    assert "s3cret" not in (hooks / "start.env").read_text()
    assert env["CFEVENTS_KIND"] == "loop" and env["CFEVENTS_STATE"] == "start"
    assert set(env) - {"PWD", "SHLVL", "_", "OLDPWD"} <= {"PATH", "HOME", "LANG"} | {
        k for k in env if k.startswith("CFEVENTS_")
    }


def test_sigterm_during_a_hanging_exec_exits_143_and_leaves_no_process(live, tmp_path):
    pids = tmp_path / "pids"
    cmd = f'sleep 300 & echo $! > "{pids}.tmp"; echo $$ >> "{pids}.tmp"; mv "{pids}.tmp" "{pids}"; wait'
    proc = _start(
        live,
        tmp_path,
        "crashes",
        "--follow",
        "--since",
        END.isoformat(),
        "--interval",
        "1s",
        "-o",
        "ndjson",
        "--exec",
        cmd,
    )
    live.append_crash(live.foundation.apps[0].guid, END + timedelta(minutes=1))
    # start-up, a poll and the hook's shell: generous on a loaded machine (events, not delays)
    wait_for(pids.exists, timeout=120)
    children = [int(p) for p in pids.read_text().split()]
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert len(out.splitlines()) == 1 and json.loads(out)["app"]["guid"]
    wait_for(lambda: not any(_alive(pid) for pid in children), timeout=120)


def test_a_stuck_exec_is_killed_at_its_timeout_reported_and_the_follow_goes_on(live, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    # the first run hangs (with a child), the second finishes
    cmd = (
        f'if mkdir "{marks}/first" 2>/dev/null; then sleep 300 & echo $! > "{marks}/child"; wait; '
        f'else touch "{marks}/second"; fi'
    )
    proc = _start(
        live,
        tmp_path,
        "crashes",
        "--follow",
        "--since",
        END.isoformat(),
        "--interval",
        "1s",
        "-o",
        "ndjson",
        "--exec-timeout",
        "1s",
        "--exec",
        cmd,
    )
    try:
        live.append_crash(live.foundation.apps[0].guid, END + timedelta(minutes=1))
        live.append_crash(live.foundation.apps[1].guid, END + timedelta(minutes=2))
        wait_for(lambda: (marks / "second").exists())
        child = int((marks / "child").read_text())
        wait_for(lambda: not _alive(child))
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert len(out.splitlines()) == 2
    timed_out = [line for line in err.splitlines() if "timed out after 1s" in line]
    assert len(timed_out) == 1 and "process group was killed" in timed_out[0]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill 0 until its parent (init) reaps it
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
