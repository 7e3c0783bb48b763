"""Text from the server never reaches a terminal as control sequences, on any output path."""

import io
import json
import re

import pytest
import responses
from cli_helpers import API, run

from cfevents.output.formatters import OutputSpec, escape_control, write, write_one

# ESC (CSI and OSC), a one-byte C1 CSI, DEL, BEL, a bidi override and an isolate.
HOSTILE = "\x1b[2J\x1b]0;owned\x07\x9b31m\x7f\u202eevil\u2066x\u2069\x85"
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def assert_inert(text):
    assert not RAW.search(text), repr(text)


def test_escape_control_covers_c0_c1_del_and_bidi():
    assert escape_control(HOSTILE) == (
        "\\x1b[2J\\x1b]0;owned\\x07\\x9b31m\\x7f\\u202eevil\\u2066x\\u2069\\x85"
    )
    assert escape_control("plain naïve name ✓") == "plain naïve name ✓"


@responses.activate
def test_cc_error_detail_title_and_request_id_are_escaped_on_stderr(env):
    responses.get(
        f"{API}/v3/app_usage_events",
        status=422,
        headers={"X-VCAP-Request-ID": "req\x9b2J\u202e-1"},
        json={"errors": [{"detail": f"bad {HOSTILE}", "title": f"CF-{HOSTILE}", "code": 1}]},
    )
    result = run(env, "usage", "list")
    assert result.exit_code == 5
    assert_inert(result.stderr)
    assert "\\x1b[2J" in result.stderr and "\\u202eevil" in result.stderr
    assert len(result.stderr.splitlines()) == 1


@responses.activate
def test_a_multi_line_detail_stays_one_escaped_line(env):
    responses.get(
        f"{API}/v3/app_usage_events",
        status=500,
        json={"errors": [{"detail": "line one\nline two\r\x1b[1A", "title": "CF-X", "code": 9}]},
    )
    result = run(env, "usage", "list")
    assert result.exit_code == 5
    assert len(result.stderr.splitlines()) == 1
    assert_inert(result.stderr)


@responses.activate
def test_names_in_notes_and_warnings_are_escaped(env):
    app = {"guid": "a1", "name": f"app{HOSTILE}", "relationships": {}}
    page = {
        "pagination": {"total_results": 2, "next": None},
        "resources": [app, {**app, "guid": "a2"}],
    }
    responses.get(f"{API}/v3/apps", json=page)
    result = run(env, "usage", "list", "--app", f"app{HOSTILE}")
    assert result.exit_code in (2, 4), result.stderr
    assert "app\\x1b[2J" in result.stderr
    assert_inert(result.stderr)


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv", "tsv", "table"])
def test_every_format_on_a_terminal_is_inert_and_json_still_parses(fmt):
    record = {"guid": "g", "app": {"name": f"x{HOSTILE}"}, HOSTILE: 1}
    out = io.StringIO()
    write([record], out, OutputSpec(fmt=fmt, columns=("guid", "app.name"), tty=True))
    assert_inert(out.getvalue())
    if fmt == "json":
        assert json.loads(out.getvalue()) == [record]
    if fmt == "ndjson":
        assert json.loads(out.getvalue()) == record
    one = io.StringIO()
    write_one(record, one, OutputSpec(fmt=fmt, columns=("guid", "app.name"), tty=True))
    assert_inert(one.getvalue())


def test_piped_json_is_the_data_as_is():
    out = io.StringIO()
    write([{"n": "\u202e\x9b"}], out, OutputSpec(fmt="ndjson"))
    assert out.getvalue() == '{"n":"\u202e\x9b"}\n'


def test_notes_warnings_and_the_verbose_log_share_the_escaping(capsys):
    from cfevents.cli.runtime import Runtime

    runtime = Runtime(verbose=True)
    runtime.note(f"note {HOSTILE}")
    runtime.warn(f"warn {HOSTILE}")
    runtime.log(f"GET /v3/x?{HOSTILE}")
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 3
    assert_inert(err)


def test_the_verbose_traceback_of_a_bug_is_escaped_too(env, monkeypatch):
    import cfevents.api as api

    def boom(*a, **k):
        raise RuntimeError(f"kaput {HOSTILE}")

    monkeypatch.setattr(api.Client, "usage_events", boom)
    with responses.RequestsMock():
        result = run(env, "-v", "usage", "list")
    assert result.exit_code == 1
    assert "Traceback (most recent call last):" in result.stderr
    assert "kaput \\x1b[2J" in result.stderr
    assert_inert(result.stderr)
