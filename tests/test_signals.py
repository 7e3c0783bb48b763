"""SIGTERM and SIGHUP stop a run like Ctrl-C: a clean shutdown, one line, exit 143 / 129."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from cfevents.export import checkpoint as ckpt


def sandbox_guids(sb):
    return [e["guid"] for e in sb.foundation.usage_events_v3()]


def start(sb, home, *args, stdout=subprocess.PIPE):
    env = {
        **os.environ,
        "CF_API": sb.url,
        "CF_TOKEN": sb.admin_token(),
        "CF_HOME": str(home),
        "CFEVENTS_OUTPUT": "",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "cfevents", *args],
        env=env,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


@pytest.mark.parametrize(
    ("signum", "code", "word"),
    [(signal.SIGTERM, 143, "terminated"), (signal.SIGHUP, 129, "hung up")],
)
def test_signal_stops_an_incremental_export_cleanly(tmp_path, signum, code, word):
    from cfevents.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(seed=6, end=None, latency_ms=40)).start() as sb:
        out, cp = tmp_path / "u.ndjson", tmp_path / "c"
        args = (
            "usage",
            "export",
            "--checkpoint",
            str(cp),
            "--out",
            str(out),
            "--per-page",
            "100",
            "--min-age",
            "0s",
        )
        sb.hold_lists_after(3)  # a later page waits: the signal lands mid-export
        proc = start(sb, tmp_path, *args)
        try:
            # three pages written and checkpointed, the fourth held at the server
            wait_for(lambda: sb.held() == 1 and cp.exists() and ckpt.load(cp).events == 300)
            proc.send_signal(signum)
            _, err = proc.communicate(timeout=60)
        finally:
            sb.release_lists()
        assert proc.returncode == code, err
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        saved = ckpt.load(cp)
        assert word in lines[0] and f"{saved.events:,} events" in lines[0]
        assert "rerun to resume" in lines[0]
        written = [json.loads(x)["guid"] for x in out.read_text().splitlines()]
        assert written == sandbox_guids(sb)[: saved.events]  # nothing past the checkpoint
        proc = start(sb, tmp_path, *args)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert f"resuming after event {saved.after_guid}" in err
        assert [json.loads(x)["guid"] for x in out.read_text().splitlines()] == sandbox_guids(sb)


def test_sigterm_closes_the_json_array_on_stdout(tmp_path):
    from cfevents.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(seed=6, end=None, latency_ms=60)).start() as sb:
        sb.hold_lists_after(3)  # a later page waits: the signal lands mid-export
        out = tmp_path / "out.json"
        with out.open("w") as stdout:
            proc = start(
                sb, tmp_path, "usage", "export", "-o", "json", "--per-page", "50", stdout=stdout
            )
        try:
            wait_for(lambda: sb.held() == 1 and out.read_text().count('"guid"') > 0)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
        finally:
            sb.release_lists()
        rest = out.read_text()[1:]
        assert proc.returncode == 143, err
        events = json.loads("[" + rest)
        assert 0 < len(events) < len(sandbox_guids(sb))
        assert "terminated (SIGTERM); the export stopped after reading" in err
        assert len(err.strip().splitlines()) == 1


def test_sigterm_stops_follow_between_polls(tmp_path):
    from cfevents.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(seed=8, end=None)).start() as sb:
        out, cp = tmp_path / "u.ndjson", tmp_path / "c"
        args = (
            "usage",
            "export",
            "--checkpoint",
            str(cp),
            "--out",
            str(out),
            "--follow",
            "--interval",
            "600s",
            "--min-age",
            "0s",
        )
        proc = start(sb, tmp_path, *args)
        total = len(sandbox_guids(sb))
        wait_for(lambda: cp.exists() and ckpt.load(cp).events == total)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=300)
        assert time.monotonic() - started < 300  # at the signal, not after the 600 s sleep
        assert proc.returncode == 143, err
        assert len(err.strip().splitlines()) == 1 and "terminated" in err


def test_sigterm_outside_an_export_exits_143(tmp_path):
    from cfevents.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(seed=6, end=None, latency_ms=3000)).start() as sb:
        proc = start(sb, tmp_path, "usage", "list", "-n", "5")
        wait_for(lambda: any(r.path == "/v3/app_usage_events" for r in sb.requests))
        proc.send_signal(signal.SIGTERM)  # while the answer is on its (3 s) way
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 143, err
        assert err.strip() == "cfevents: error: terminated (SIGTERM)"


# The main thread blocks SIGTERM, so the kernel hands it to the other thread: Python's C
# handler marks it pending (and writes the wakeup byte) while the main thread is already in
# its wait. That is the race a SIGTERM just before ``--follow``'s sleep loses against a plain
# ``time.sleep``: the handler runs only when the sleep ends (600 s). ``pause`` ends at once.
_PENDING_SIGNAL_SCRIPT = """
import os, signal, sys, threading, time
from cfevents.cli import install_signal_handlers, pause
from cfevents.errors import StoppedBySignal

install_signal_handlers()
main = threading.get_native_id()

def waiting():
    with open(f"/proc/self/task/{main}/wchan") as handle:
        where = handle.read()
    return "sleep" in where or "poll" in where or "select" in where

def send():
    while not waiting():  # the main thread is in its wait (not just waiting for the GIL)
        time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=send, daemon=True).start()  # before the mask: it keeps SIGTERM open
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
try:
    WAIT(600)
except StoppedBySignal as exc:
    sys.exit(exc.exit_code)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/wchan"), reason="needs Linux /proc wchan")
def test_a_signal_that_lands_just_before_the_wait_still_ends_it():
    script = _PENDING_SIGNAL_SCRIPT.replace("WAIT", "pause")
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 143, proc.stderr
