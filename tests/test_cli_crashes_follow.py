"""crashes --follow: new crashes as they arrive, each once, --exec per crash, clean stop."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

from cli_helpers import QUICK_POLL_CFEVENTS, one_line_error

from cfevents.api import Client
from cfevents.cli.crashes import exec_environment


def _run(sandbox, tmp_path, *args):
    return subprocess.run(
        [sys.executable, "-m", "cfevents", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(sandbox, tmp_path),
    )


def _env(sandbox, tmp_path):
    return {
        **os.environ,
        "CF_API": sandbox.url,
        "CF_TOKEN": sandbox.admin_token(),
        "CF_HOME": str(tmp_path),
        "CFEVENTS_OUTPUT": "",
    }


def test_follow_prints_each_crash_once_runs_exec_and_stops_on_sigterm(sandbox, tmp_path):
    newest = _run(
        sandbox, tmp_path, "crashes", "--limit", "5", "-o", "csv", "--fields", "created_at"
    )
    since = newest.stdout.split()[1]  # the 5th newest crash (printed oldest to newest, like tail)
    every = _run(
        sandbox,
        tmp_path,
        "crashes",
        "--since",
        since,
        "--all",
        "--order",
        "asc",
        "-o",
        "csv",
        "--fields",
        "process_crash_guid",
    )
    expected = every.stdout.split()[1:]
    assert len(expected) > 3
    hook = tmp_path / "hook"
    proc = subprocess.Popen(
        [
            *QUICK_POLL_CFEVENTS,
            "crashes",
            "--follow",
            "--since",
            since,
            "--interval",
            "1s",
            "-o",
            "csv",
            "--fields",
            "process_crash_guid",
            "--exec",
            f'cat > "{hook}/$CFEVENTS_PROCESS_CRASH_GUID.json"',
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            "CF_API": sandbox.url,
            "CF_TOKEN": sandbox.admin_token(),
            "CF_HOME": str(tmp_path),
            "CFEVENTS_OUTPUT": "",
        },
    )
    hook.mkdir()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(hook.iterdir())) < len(expected):
        time.sleep(0.2)
    answered = len(sandbox.requests)
    while time.monotonic() < deadline + 60 and len(sandbox.requests) < answered + 2:
        time.sleep(0.1)  # at least two more polls, which must print nothing again
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err  # SIGTERM: the documented 143
    lines = out.split()
    assert lines and lines[0] == "process_crash_guid", err  # one header
    assert lines[1:] == expected  # oldest first, each once
    assert "stopped following" in err and "Traceback" not in err
    for guid in expected:
        crash = json.loads((hook / f"{guid}.json").read_text())
        assert crash["process_crash_guid"] == guid


def test_exec_environment_names_fields():
    env = exec_environment(
        {
            "created_at": "2026-01-01T00:00:00Z",
            "app": {"name": "web", "guid": "g"},
            "exit_status": 137,
        }
    )
    assert env["CFEVENTS_APP_NAME"] == "web"
    assert env["CFEVENTS_CREATED_AT"] == "2026-01-01T00:00:00Z"
    assert env["CFEVENTS_EXIT_STATUS"] == "137"


def test_follow_yields_new_arrivals_once(monkeypatch):
    """New crashes appearing between polls, and a crash whose second event arrives a poll
    later, are each handed out once (the sandbox's crashes are fixed, so its reads are stood in)."""
    polls = [
        [{"created_at": "2030-01-01T00:00:01Z", "process_crash_guid": "a", "app_crash_guid": None}],
        [
            {
                "created_at": "2030-01-01T00:00:01Z",
                "process_crash_guid": "a",
                "app_crash_guid": "a2",
            },
            {
                "created_at": "2030-01-01T00:00:05Z",
                "process_crash_guid": None,
                "app_crash_guid": "b2",
            },
        ],
        [
            {
                "created_at": "2030-01-01T00:00:01Z",
                "process_crash_guid": "a",
                "app_crash_guid": "a2",
            },
            {
                "created_at": "2030-01-01T00:00:05Z",
                "process_crash_guid": "b",
                "app_crash_guid": "b2",
            },
            {
                "created_at": "2030-01-01T00:00:09Z",
                "process_crash_guid": "c",
                "app_crash_guid": "c2",
            },
        ],
    ]

    class Stop(threading.Event):
        def wait(self, timeout=None):  # the polls come at once: this test is about the cursor
            return self.is_set()

    stop = Stop()
    sinces = []

    def crashes(self, **args):
        sinces.append(args["since"])
        if len(sinces) == len(polls):
            stop.set()
        return iter(polls[len(sinces) - 1])

    monkeypatch.setattr(Client, "crashes", crashes)
    client = Client.__new__(Client)
    got = list(client.follow_crashes(interval=5, stop=stop, since="2030-01-01T00:00:00Z"))
    assert [c["created_at"] for c in got] == [
        "2030-01-01T00:00:01Z",
        "2030-01-01T00:00:05Z",
        "2030-01-01T00:00:09Z",
    ]
    assert sinces[0] == "2030-01-01T00:00:00Z"


def test_exec_without_follow_and_bad_interval_are_usage_errors(cli):
    result = cli("crashes", "--exec", "true")
    assert result.exit_code == 2 and "--follow" in one_line_error(result)
    result = cli("crashes", "--follow", "--interval", "0s")
    assert result.exit_code == 2 and "--interval" in one_line_error(result)
    result = cli("crashes", "--follow", "--summary")
    assert result.exit_code == 2
    for extra in (["--loop", "5/10m"], ["--exec-timeout", "5s"], ["--exec-log", "x"]):
        result = cli("crashes", *extra)
        assert result.exit_code == 2 and "--follow" in one_line_error(result)
    for bad in (["--loop", "5"], ["--repeat", "1m"], ["--exec-timeout", "0s", "--exec", "true"]):
        result = cli("crashes", "--follow", *bad)
        assert result.exit_code == 2, result.output
