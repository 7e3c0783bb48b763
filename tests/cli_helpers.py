"""Helpers for CLI tests that mock Cloud Controller with `responses`."""

import sys
import time

from typer.testing import CliRunner

from cfevents.cli import app

API = "https://api.example.com"

# `python -m cfevents` with the follow's poll floor (5 s of politeness to a shared Cloud
# Controller, cfevents/events/bounds.py, tested on its own) lowered to 1 s: a test that
# watches a follow's many polls runs the real CLI in its own process, minus the waiting.
QUICK_POLL_CFEVENTS = [
    sys.executable,
    "-c",
    "import sys; sys.argv[0] = 'cfevents'; import cfevents.events.bounds as b; "
    "b.MIN_INTERVAL_S = 1.0; from cfevents.cli import main; main()",
]


def run(env, *args):
    """Run cfevents in-process with this environment."""
    return CliRunner().invoke(app, list(args), env=env)


def one_line_error(result):
    """The single stderr line of a failed run (and no traceback anywhere)."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cfevents: error: ")
    assert "Traceback" not in result.output
    return lines[0]


def wait_for(predicate, timeout=60.0):
    """Poll ``predicate`` until it holds: tests wait for events, and ``timeout`` only stops a
    test whose event never comes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")
