"""Secrets never show and never travel: bad tokens, every error path grepped, login-link trust."""

import json

import pytest
import requests
import responses
from cli_helpers import API, run
from jwt_helpers import make_jwt

from cfevents.cc.client import CFClient
from cfevents.cc.config import Credentials, Settings, login_link_trusted
from cfevents.errors import AuthError

ACCESS = make_jwt(exp_in=-5)  # expired: every run refreshes first
REFRESH = "refresh-SECRET-r3fr3sh-0001"
CLIENT_SECRET = "client-SECRET-c1i3nt-0002"


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("abc\r\nX-Injected: 1", "contains a line break"),
        ("abc\ndef", "contains a line break"),
        ("abc\x07def", "contains an invalid character"),
        ("abc def", "contains an invalid character"),
        ("abcdéf", "contains an invalid character"),
    ],
)
@pytest.mark.parametrize("where", ["flag", "env", "cf config"])
def test_a_token_that_cannot_be_a_header_is_exit_3_and_never_echoed(cli, token, message, where):
    env = cli.env(token=f"{token}-TOKENTAIL")
    args = ["usage", "list"]
    if where == "flag":
        env["CF_TOKEN"] = ""
        args = ["--token", f"{token}-TOKENTAIL", *args]
    elif where == "cf config":
        del env["CF_API"], env["CF_TOKEN"]
        (cli.home / ".cf").mkdir()
        (cli.home / ".cf" / "config.json").write_text(
            json.dumps(
                {
                    "ConfigVersion": 4,
                    "Target": cli.sandbox.url,
                    "AccessToken": f"bearer {token}-TOKENTAIL",
                }
            )
        )
    result = cli(*args, env=env)
    assert result.exit_code == 3, result.stderr
    assert message in result.stderr
    assert "TOKENTAIL" not in result.output and "Invalid leading whitespace" not in result.output
    assert cli.sandbox.requests == []


def test_requests_invalid_header_text_is_never_shown():
    creds = Credentials(access_token="bearer ok\nSECRETPART", source="t")  # past every check
    client = CFClient(Settings(api="http://127.0.0.1:9", credentials=creds, retries=0))
    with pytest.raises(AuthError) as caught:
        client.get_json("/v3/apps")
    assert "SECRETPART" not in str(caught.value) and "invalid character" in str(caught.value)


def root_with_login(login):
    responses.get(f"{API}/", json={"links": {"login": {"href": login}}})


def client_env(env):
    return {**env, "CF_TOKEN": "", "CF_CLIENT_ID": "ci", "CF_CLIENT_SECRET": CLIENT_SECRET}


@pytest.mark.parametrize(
    "login",
    [
        "https://evil.example.net",
        "http://login.example.com",  # plain http off the API's origin
        "https://example.com.evil.net",
        "https://login.example.com:99999",
    ],
)
@responses.activate
def test_secrets_never_go_to_an_untrusted_login_link(env, login):
    root_with_login(login)
    result = run(client_env(env), "usage", "list")
    assert result.exit_code == 3, result.stderr
    assert "refusing to send the refresh token or client secret" in result.stderr
    assert "--trust-login-link" in result.stderr
    assert [c.request.method for c in responses.calls] == ["GET"]  # only GET /, no POST


@responses.activate
def test_trusted_login_link_and_the_explicit_flag(env):
    root_with_login("https://login.example.com")
    responses.post(
        "https://login.example.com/oauth/token",
        json={"access_token": make_jwt(), "token_type": "bearer"},
    )
    page = {"pagination": {"total_results": 0, "next": None}, "resources": []}
    responses.get(f"{API}/v3/app_usage_events", json=page)
    assert run(client_env(env), "usage", "list", "-o", "json").exit_code == 0

    responses.replace(
        responses.GET, f"{API}/", json={"links": {"login": {"href": "https://uaa.other.io"}}}
    )
    responses.post(
        "https://uaa.other.io/oauth/token",
        json={"access_token": make_jwt(), "token_type": "bearer"},
    )
    result = run(client_env(env), "--trust-login-link", "usage", "list", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert responses.calls[-2].request.url == "https://uaa.other.io/oauth/token"


@pytest.mark.parametrize(
    ("api", "login", "trusted"),
    [
        ("https://api.sys.example.com", "https://login.sys.example.com", True),
        ("https://api.sys.example.com", "https://uaa.sys.example.com/uaa", True),
        ("https://api.sys.example.com", "https://api.sys.example.com:8443", True),
        ("https://api.sys.example.com", "https://login.example.com", False),
        ("https://api.sys.example.com", "http://login.sys.example.com", False),
        ("https://api.example.com", "https://login.example.com", True),
        ("https://example.com", "https://login.com", False),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/login", True),
        ("http://127.0.0.1:8080", "http://127.0.0.1:9090", False),
        ("https://10.0.0.1", "https://0.0.1", False),
    ],
)
def test_login_link_trust_rule(api, login, trusted):
    assert login_link_trusted(api, login) is trusted


def _error_paths(env):
    """Runs that fail in every way that has credentials around; yields each result."""
    cfg = {**env, "CF_TOKEN": ACCESS}
    # 1. the UAA refuses the refresh token (from the cf CLI config)
    yield "uaa-refused", _with_config(env, login_status=401)
    # 2. the UAA is down
    yield "uaa-down", _with_config(env, login_status=None)
    # 3. the API answers 401 / 403 / 500 with the -v log on
    for status in (401, 403, 500):
        with responses.RequestsMock() as mock:
            mock.get(
                f"{API}/v3/app_usage_events",
                status=status,
                json={"errors": [{"detail": "nope", "title": "CF-X", "code": 1}]},
            )
            yield (
                f"api-{status}",
                run({**cfg, "CF_TOKEN": make_jwt()}, "-v", "--retries", "0", "usage", "list"),
            )
    # 4. the network fails
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/v3/app_usage_events", body=requests.ConnectionError("refused"))
        yield (
            "network",
            run({**cfg, "CF_TOKEN": make_jwt()}, "-v", "--retries", "0", "usage", "list"),
        )
    # 5. client credentials against an untrusted login link
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/", json={"links": {"login": {"href": "https://evil.example.net"}}})
        yield "untrusted-login", run(client_env(env), "-v", "usage", "list")
    # 6. client credentials refused by the UAA
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/", json={"links": {"login": {"href": "https://login.example.com"}}})
        mock.post(
            "https://login.example.com/oauth/token",
            status=401,
            json={"error": "unauthorized", "error_description": f"bad {CLIENT_SECRET}"},
        )
        yield "client-refused", run(client_env(env), "-v", "usage", "list")


def _with_config(env, *, login_status):
    home = env["CF_HOME"]
    import pathlib

    (pathlib.Path(home) / ".cf").mkdir(exist_ok=True)
    (pathlib.Path(home) / ".cf" / "config.json").write_text(
        json.dumps(
            {
                "ConfigVersion": 4,
                "Target": API,
                "AccessToken": f"bearer {ACCESS}",
                "RefreshToken": REFRESH,
                "AuthorizationEndpoint": "https://login.example.com",
                "UAAOAuthClientSecret": CLIENT_SECRET,
            }
        )
    )
    run_env = {k: v for k, v in env.items() if k not in ("CF_API", "CF_TOKEN")}
    with responses.RequestsMock() as mock:
        if login_status is None:
            mock.post(
                "https://login.example.com/oauth/token", body=requests.ConnectionError("down")
            )
        else:
            mock.post(
                "https://login.example.com/oauth/token",
                status=login_status,
                json={"error": "invalid_token", "error_description": f"{REFRESH} expired"},
            )
        result = run(run_env, "-v", "--retries", "0", "usage", "list")
    (pathlib.Path(home) / ".cf" / "config.json").unlink()
    return result


def test_no_error_path_prints_a_secret(env):
    seen = []
    for name, result in _error_paths(env):
        seen.append(name)
        assert result.exit_code != 0, name
        text = result.stdout + result.stderr
        for secret in (ACCESS, REFRESH, CLIENT_SECRET):
            assert secret not in text, (name, text)
    assert len(seen) == 8
