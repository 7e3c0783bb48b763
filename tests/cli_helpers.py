"""Helpers for CLI tests that mock Cloud Controller with `responses`."""

from typer.testing import CliRunner

from cfevents.cli import app

API = "https://api.example.com"


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
