"""A server that misbehaves: loops, wrong shapes, repeats, drips; one line and exit 5 or 6."""

import json
import re

import pytest
from bad_server import BadServer, page
from cli_helpers import one_line_error, run
from jwt_helpers import make_jwt


def env_for(server, tmp_path, **extra):
    return {
        "CF_API": server.url,
        "CF_TOKEN": make_jwt(),
        "CF_HOME": str(tmp_path),
        "CFEVENTS_OUTPUT": "",
        "CF_CLIENT_ID": "",
        **extra,
    }


def event(n):
    return {
        "guid": f"guid-{n:04d}",
        "created_at": f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}Z",
        "updated_at": f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}Z",
        "state": {"current": "STARTED", "previous": None},
        "app": {"guid": "a", "name": "app"},
        "space": {"guid": "s", "name": "space"},
        "organization": {"guid": "o"},
    }


def root_or(path, answer):
    if path == "/":
        return 200, b'{"links": {}}', {}
    return answer(path)


@pytest.mark.parametrize(
    "command",
    [
        ["usage", "list", "-n", "50", "--per-page", "2"],
        ["usage", "list", "-n", "50", "--per-page", "2", "--order", "desc"],
        ["usage", "export", "--min-age", "0s", "--per-page", "2"],
    ],
)
def test_a_next_link_or_cursor_that_does_not_advance_is_exit_5(tmp_path, command):
    def answer(path):
        # every page is the same two events, with a next link back to itself
        return 200, page([event(1), event(2)], "/v3/app_usage_events?page=2&per_page=2"), {}

    with BadServer(lambda p: root_or(p, answer)) as server:
        result = run(env_for(server, tmp_path), *command)
    assert result.exit_code == 5, result.output
    line = one_line_error(result)
    assert "does not advance" in line or "all seen on earlier pages" in line
    assert len(server.requests) < 10


def test_usage_list_drops_a_guid_repeated_across_pages(tmp_path):
    def answer(path):
        if path.startswith("/v3/app_usage_events?page=2"):
            return 200, page([event(2), event(3)]), {}
        return 200, page([event(1), event(2)], "/v3/app_usage_events?page=2&per_page=2"), {}

    with BadServer(lambda p: root_or(p, answer)) as server:
        result = run(
            env_for(server, tmp_path),
            "usage",
            "list",
            "-o",
            "ndjson",
            "-n",
            "10",
            "--per-page",
            "2",
            "--order",
            "desc",
        )
    assert result.exit_code == 0, result.output
    guids = [json.loads(x)["guid"] for x in result.stdout.splitlines()]
    assert sorted(guids) == ["guid-0001", "guid-0002", "guid-0003"]


def test_export_drops_a_guid_repeated_across_keyset_pages(tmp_path):
    def answer(path):
        if "after_guid=guid-0002" in path:
            return 200, page([event(2), event(3)]), {}
        return 200, page([event(1), event(2)], "/v3/app_usage_events?page=2"), {}

    with BadServer(lambda p: root_or(p, answer)) as server:
        result = run(
            env_for(server, tmp_path),
            *("usage", "export", "--min-age", "0s", "--per-page", "2", "--fields", "guid"),
        )  # --fields without the org name: no /v3/organizations request (this server has none)
    assert result.exit_code == 0, result.output
    guids = [json.loads(x)["guid"] for x in result.stdout.splitlines()]
    assert guids == ["guid-0001", "guid-0002", "guid-0003"]


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"[1, 2]", "with an array"),
        (b'{"pagination": {}, "resources": {"a": 1}}', "'resources' is a dict"),
        (b'{"pagination": {}}', "'resources' is missing"),
        (b'{"pagination": {}, "resources": [{"created_at": "x"}]}', "an item that has no guid"),
        (
            b'{"errors": [{"detail": "database is on fire", "title": "CF-Fire", "code": 1}]}',
            "with an error: database is on fire",
        ),
    ],
)
@pytest.mark.parametrize("command", [["usage", "list"], ["usage", "export", "--min-age", "0s"]])
def test_a_200_of_the_wrong_shape_is_exit_5(tmp_path, body, said, command):
    with BadServer(lambda p: root_or(p, lambda _: (200, body, {}))) as server:
        result = run(env_for(server, tmp_path), *command)
    assert result.exit_code == 5, result.output
    assert said in one_line_error(result)
    assert result.stdout in ("", "[]\n")


def test_follow_interval_below_5s_is_a_usage_error(cli):
    cli.sandbox.clear_requests()
    result = cli("usage", "export", "--follow", "--interval", "1s")
    assert result.exit_code == 2
    assert "--interval" in one_line_error(result) and "at least 5s" in result.stderr
    assert cli.sandbox.requests == []


def test_https_against_a_plain_http_server_says_so_at_once(tmp_path):
    import time

    with BadServer(lambda p: root_or(p, lambda _: (200, page([]), {}))) as server:
        host = server.url.removeprefix("http://")
        for api in (f"https://{host}", host):  # host:port alone means https
            started = time.monotonic()
            result = run(env_for(server, tmp_path, CF_API=api), "usage", "list")
            assert result.exit_code == 6, result.output
            line = one_line_error(result)
            assert f"{host} answered in plain http, not https" in line
            assert "retry" not in result.stderr and "urllib3" not in line
            assert time.monotonic() - started < 5


def test_refused_client_credentials_are_not_called_a_refresh(fresh_cli):
    env = fresh_cli.env(CF_TOKEN="", CF_CLIENT_ID="cfevents-ci", CF_CLIENT_SECRET="wrong-secret")
    result = fresh_cli("usage", "list", "--limit", "1", env=env)
    assert result.exit_code == 3, result.output
    line = one_line_error(result)
    assert "the UAA refused the client credentials" in line and "refresh" not in line


def test_timeout_is_a_deadline_for_the_whole_response(tmp_path):
    import time

    body = page([event(1)])

    with BadServer(lambda p: root_or(p, lambda _: ("drip", body, {})), drip_s=0.2) as server:
        started = time.monotonic()
        result = run(env_for(server, tmp_path), "--timeout", "1", "--retries", "1", "usage", "list")
        took = time.monotonic() - started
    assert result.exit_code == 6, result.output
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("cfevents: error: ") and "Traceback" not in result.output
    assert "did not send the whole response within 1s (--timeout)" in line
    assert "gave up after 2 attempts" in line
    assert "retry 1/1" in result.stderr
    assert took < 6  # each attempt cut off at 1 s, though every byte came within 0.2 s
    assert len([r for r in server.requests if r.startswith("/v3/")]) == 2


def test_min_age_uses_the_api_clock_when_ours_is_off(tmp_path):
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    now = datetime.now(UTC)
    old, recent = event(1), event(2)
    old["created_at"] = (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    recent["created_at"] = (now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = page([old, recent])

    def answer(path):  # the API's clock says it is an hour earlier than ours
        api_now = datetime.now(UTC) - timedelta(hours=1)
        return 200, body, {"Date": format_datetime(api_now, usegmt=True)}

    with BadServer(lambda p: root_or(p, answer)) as server:
        result = run(env_for(server, tmp_path), "usage", "export", "--min-age", "60s")
    assert result.exit_code == 0, result.output
    guids = [json.loads(x)["guid"] for x in result.stdout.splitlines()]
    assert guids == ["guid-0001"]  # 30 minutes old here, not yet written by the API's clock
    assert re.search(r"the local clock is 3[56]\d\ds ahead of the API's", result.stderr)


def test_plain_http_against_an_https_port_says_so(tmp_path):
    nginx = (
        b"<html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>"
        b"\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>The plain HTTP "
        b"request was sent to HTTPS port</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n"
        b"</html>\r\n"
    )
    with BadServer(lambda p: (400, nginx, {"Content-Type": "text/html"})) as server:
        result = run(env_for(server, tmp_path), "usage", "list")
    host = server.url.removeprefix("http://")
    assert result.exit_code == 6, result.output
    assert f"{host} expects https, not plain http: use --api https://{host}" in one_line_error(
        result
    )
