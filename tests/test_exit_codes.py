"""One test per documented exit code (README "Exit codes"), through the real CLI entry."""

import pytest
import requests
import responses
from cli_helpers import API, one_line_error
from typer.testing import CliRunner

from cfevents.cli import app

runner = CliRunner()


def invoke(args, env):
    return runner.invoke(app, args, env=env)


def cc_error(status, title, code, detail):
    return {
        "status": status,
        "json": {"errors": [{"detail": detail, "title": title, "code": code}]},
    }


@responses.activate
def test_0_ok(env):
    responses.get(
        f"{API}/v3/app_usage_events", json={"pagination": {"total_results": 0}, "resources": []}
    )
    result = invoke(["usage", "list", "-o", "json"], env)
    assert result.exit_code == 0
    assert result.stdout == "[]\n"


def test_1_unexpected_failure_is_one_line(env, monkeypatch):
    from cfevents.events import usage

    def boom(*a, **k):
        raise RuntimeError("kaput")

    monkeypatch.setattr(usage, "kind_events", boom)  # a bug inside the library
    with responses.RequestsMock():
        result = invoke(["usage", "list"], env)
    assert result.exit_code == 1
    assert "unexpected RuntimeError: kaput" in one_line_error(result)


@pytest.mark.parametrize(
    "args",
    [
        ["usage", "list", "--per-page", "6000"],
        ["usage", "list", "--per-page", "abc"],
        ["usage", "list", "--since", "yesterday"],
        ["usage", "list", "--bogus"],
        ["usage", "list", "-o", "xml"],
        ["usage", "list", "--order-by", "guid"],
        ["usage", "list", "--limit", "5", "--all"],
        ["usage", "list", "--after-guid", "a,b"],
        ["usage", "list", "--created-at", "2024-01-01T00:00:00Z", "--since", "1d"],
        ["usage", "list", "--fields", "nosuch.field"],
        ["usage", "list", "--table-format", "nosuch"],
        ["nosuchcommand"],
    ],
)
def test_2_usage_errors_before_any_request(env, args):
    with responses.RequestsMock() as mock:  # any request would fail the test
        result = invoke(args, env)
        assert len(mock.calls) == 0
    assert result.exit_code == 2, result.output
    one_line_error(result)
    assert result.stdout == ""


def test_3_no_credentials_says_cf_login(tmp_path):
    with responses.RequestsMock():
        result = invoke(["usage", "list"], {"CF_HOME": str(tmp_path), "CF_API": "", "CF_TOKEN": ""})
    assert result.exit_code == 3
    assert "cf login" in one_line_error(result)


@responses.activate
@pytest.mark.parametrize(
    ("status", "title", "code", "detail"),
    [
        (401, "CF-NotAuthenticated", 10002, "Authentication error"),
        (403, "CF-NotAuthorized", 10003, "You are not authorized to perform the requested action"),
    ],
)
def test_3_auth_refused(env, status, title, code, detail):
    responses.get(f"{API}/v3/app_usage_events", **cc_error(status, title, code, detail))
    result = invoke(["usage", "list"], env)
    assert result.exit_code == 3
    assert detail in one_line_error(result)


@responses.activate
def test_4_not_found(env):
    responses.get(
        f"{API}/v3/app_usage_events/nope",
        **cc_error(404, "CF-ResourceNotFound", 10010, "App usage event not found"),
    )
    result = invoke(["usage", "get", "nope"], env)
    assert result.exit_code == 4
    assert "App usage event not found" in one_line_error(result)


@responses.activate
def test_5_api_error_shows_detail_and_request_id(env):
    responses.get(
        f"{API}/v3/app_usage_events",
        headers={"X-VCAP-Request-ID": "req-77"},
        **cc_error(
            422,
            "CF-UnprocessableEntity",
            10008,
            "After guid filter must be a valid app usage event guid.",
        ),
    )
    result = invoke(["usage", "list", "--after-guid", "gone"], env)
    assert result.exit_code == 5
    line = one_line_error(result)
    assert "After guid filter must be a valid app usage event guid." in line and "req-77" in line


@responses.activate
def test_5_v2_disabled_is_clean(env):
    responses.get(
        f"{API}/v2/app_usage_events/g",
        status=404,
        body="V2 endpoints disabled",
        content_type="text/html",
    )
    result = invoke(["usage", "get", "g", "--v2"], env)
    assert result.exit_code == 5
    assert "v2 API switched off" in one_line_error(result)


@responses.activate
def test_6_network(env):
    responses.get(
        f"{API}/v3/app_usage_events", body=requests.exceptions.ConnectionError("Connection refused")
    )
    result = invoke(["--retries", "0", "usage", "list"], env)
    assert result.exit_code == 6
    assert "cannot connect" in one_line_error(result)


def test_7_incomplete_data_names_the_way_out(fresh_cli):
    """A usage report whose window needs events CC no longer has (the sandbox keeps 30 days)."""
    result = fresh_cli("usage", "report", "--since", "40d")
    assert result.exit_code == 7
    line = one_line_error(result)
    assert "events it needs are gone" in line
    assert "--opening FILE" in line and "--allow-incomplete" in line


def test_130_interrupted(env, monkeypatch):
    from cfevents.events import usage

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(usage, "kind_events", interrupt)
    with responses.RequestsMock():
        result = invoke(["usage", "list"], env)
    assert result.exit_code == 130
    assert "interrupted" in one_line_error(result)


def test_8_locked(cli, tmp_path):
    """Another export holds the store: one line, exit 8, nothing written."""
    from cfevents.stores import APP_USAGE, open_store

    target = str(tmp_path / "usage.db")
    with open_store(target) as store, store.begin_export(cli.sandbox.url, APP_USAGE):
        result = cli("usage", "export", "--out", target)
    assert result.exit_code == 8
    assert "another export" in one_line_error(result)
    with open_store(target) as store:
        assert store.coverage(cli.sandbox.url, APP_USAGE) is None
