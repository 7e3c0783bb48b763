import json

import pytest

from cfevents.cc.config import (
    CLIENT_CREDENTIALS,
    CONFIG_CORRUPT_KEY,
    bearer,
    cf_config_path,
    load_cf_config,
    normalise_api,
    resolve,
)
from cfevents.errors import AuthError, UsageError

CONFIG = {
    "ConfigVersion": 4,
    "Target": "https://api.sys.example.com",
    "AccessToken": "bearer cfg-access",
    "RefreshToken": "cfg-refresh",
    "AuthorizationEndpoint": "https://login.sys.example.com",
    "SSLDisabled": True,
    "UAAOAuthClient": "cf",
    "UAAOAuthClientSecret": "",
    "UAAGrantType": "",
}


def test_config_path_honours_cf_home_as_parent_of_dot_cf(tmp_path):
    assert cf_config_path({"CF_HOME": str(tmp_path)}) == tmp_path / ".cf" / "config.json"
    assert cf_config_path({"HOME": "/home/x"}).as_posix() == "/home/x/.cf/config.json"


def test_load_cf_config_only_version_4(tmp_path):
    (tmp_path / ".cf").mkdir()
    path = tmp_path / ".cf" / "config.json"
    env = {"CF_HOME": str(tmp_path)}
    assert load_cf_config(env) is None
    path.write_text(json.dumps({**CONFIG, "ConfigVersion": 3}))
    assert load_cf_config(env) is None
    path.write_text("{not json")
    assert "not valid JSON" in load_cf_config(env)[CONFIG_CORRUPT_KEY]  # resolve() reports it
    path.write_text(json.dumps(CONFIG))
    assert load_cf_config(env)["Target"] == CONFIG["Target"]


@pytest.mark.parametrize(
    ("flags", "env", "api", "token", "source"),
    [
        ({}, {}, "https://api.sys.example.com", "bearer cfg-access", "cf CLI config"),
        ({}, {"CF_TOKEN": "envtok"}, "https://api.sys.example.com", "bearer envtok", "CF_TOKEN"),
        (
            {"token_flag": "bearer flagtok"},
            {"CF_TOKEN": "envtok"},
            "https://api.sys.example.com",
            "bearer flagtok",
            "--token",
        ),
        (
            {},
            {"CF_API": "https://api.other.io", "CF_TOKEN": "t"},
            "https://api.other.io",
            "bearer t",
            "CF_TOKEN",
        ),
        (
            {"api_flag": "api.flag.io"},
            {"CF_API": "https://api.other.io", "CF_TOKEN": "t"},
            "https://api.flag.io",
            "bearer t",
            "CF_TOKEN",
        ),
    ],
)
def test_precedence_flags_env_config(flags, env, api, token, source):
    s = resolve(
        api_flag=flags.get("api_flag"),
        token_flag=flags.get("token_flag"),
        skip_ssl_validation=False,
        env=env,
        cf_config=CONFIG,
    )
    assert s.api == api
    assert s.credentials.access_token == token
    assert s.credentials.source == source


def test_config_credentials_never_used_for_another_api():
    s = resolve(
        api_flag="https://api.elsewhere.io",
        token_flag=None,
        skip_ssl_validation=False,
        env={},
        cf_config=CONFIG,
    )
    assert s.credentials.access_token is None
    assert s.credentials.refresh_token is None
    assert s.verify_tls is True  # SSLDisabled belongs to the config's target only


def test_config_target_gives_refresh_and_ssl():
    s = resolve(api_flag=None, token_flag=None, skip_ssl_validation=False, env={}, cf_config=CONFIG)
    assert s.credentials.refresh_token == "cfg-refresh"
    assert s.credentials.auth_endpoint == "https://login.sys.example.com"
    assert s.verify_tls is False
    assert s.credentials.can_refresh


def test_client_credentials_from_env():
    s = resolve(
        api_flag="https://api.x.io",
        token_flag=None,
        skip_ssl_validation=False,
        env={"CF_CLIENT_ID": "ci", "CF_CLIENT_SECRET": "s3"},
        cf_config=None,
    )
    assert s.credentials.grant_type == CLIENT_CREDENTIALS
    assert s.credentials.client_id == "ci"
    assert s.credentials.access_token is None
    assert "s3" not in repr(s.credentials)


def test_no_api_is_auth_error_mentioning_cf_login():
    with pytest.raises(AuthError, match="cf login"):
        resolve(api_flag=None, token_flag=None, skip_ssl_validation=False, env={}, cf_config=None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("api.x.io", "https://api.x.io"), ("http://127.0.0.1:8080/", "http://127.0.0.1:8080")],
)
def test_normalise_api(raw, expected):
    assert normalise_api(raw) == expected


def test_normalise_api_rejects_other_schemes():
    with pytest.raises(UsageError):
        normalise_api("ftp://x")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("abc", "bearer abc"), ("Bearer abc", "bearer abc"), (" bearer  abc ", "bearer abc")],
)
def test_bearer(raw, expected):
    assert bearer(raw) == expected
