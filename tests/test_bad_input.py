"""Bad input never reaches "unexpected": one line, exit 2, and not a single request sent."""

import json

import pytest

from cfevents import checkpoint as ckpt
from cfevents.errors import UsageError
from cfevents.timeparse import TimeParseError, format_cc, parse_time, utcnow


def assert_usage_error(cli, args, *, env=None, contains=""):
    result = cli(*args, env=env)
    assert result.exit_code == 2, (args, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cfevents: error: "), result.stderr
    assert "unexpected" not in result.stderr and "Traceback" not in result.output
    assert contains in lines[0], lines[0]
    assert cli.sandbox.requests == [], "a request went out before the usage error"
    return lines[0]


@pytest.mark.parametrize(
    ("args", "contains"),
    [
        (["usage", "list", "--since", "999999999999d"], "--since: '999999999999d' is out of range"),
        (["events", "list", "--since", "99999999999999w"], "out of range"),
        (["crashes", "--until", "3660001d"], "out of range"),
        (["usage", "list", "--since", "20000000h"], "before the year 1"),
        (["usage", "list", "--since", "0001-01-01T00:00:00+01:00"], "years 1 to 9999"),
        (["usage", "list", "--until", "9999-12-31T23:00:00-02:00"], "years 1 to 9999"),
        (["events", "list", "--since", "0001-01-01T00:30:00+01:00"], "years 1 to 9999"),
        (["usage", "list", "--limit", "99999999999999999999"], "--limit"),
        (["crashes", "--limit", "1000000001"], "--limit"),
        (["usage", "list", "--page", "99999999999999999999"], "--page"),
        (["--timeout", "inf", "usage", "list"], "--timeout"),
        (["--timeout", "nan", "usage", "list"], "--timeout"),
        (["--timeout", "1e400", "usage", "list"], "--timeout"),
        (["--retries", "99999999999999999999", "usage", "list"], "--retries"),
        (["usage", "export", "--min-age", "99999999999w"], "out of range"),
        (["usage", "export", "--min-age", "3651d"], "--min-age"),
        (["usage", "export", "--follow", "--interval", "9999999999s"], "--interval"),
    ],
)
def test_out_of_range_values_are_usage_errors_before_any_request(cli, args, contains):
    assert_usage_error(cli, args, contains=contains)


@pytest.mark.parametrize(
    "api", ["https://api.example.com:99999", "https://[::1", "http://[zz]:80", "api.x:port"]
)
def test_broken_cf_api_is_usage_error(cli, api):
    line = assert_usage_error(cli, ["usage", "list"], env=cli.env(CF_API=api))
    assert "not a valid API URL" in line


def test_years_below_1000_are_zero_padded_when_sent(cli):
    result = cli("usage", "list", "--since", "0500-01-01", "-n", "1", "-o", "json")
    assert result.exit_code == 0, result.stderr
    sent = [dict(r.params) for r in cli.sandbox.requests if r.path == "/v3/app_usage_events"]
    assert sent[0]["created_ats[gte]"] == "0500-01-01T00:00:00Z"
    assert format_cc(parse_time("0009-02-03T04:05:06Z", utcnow())) == "0009-02-03T04:05:06Z"


def test_time_range_errors_are_time_parse_errors():
    with pytest.raises(TimeParseError, match="out of range"):
        parse_time("999999999999d", utcnow())
    with pytest.raises(TimeParseError, match="years 1 to 9999"):
        parse_time("9999-12-31T23:59:59-00:01", utcnow())


def write_cf_config(home, data):
    (home / ".cf").mkdir(exist_ok=True)
    path = home / ".cf" / "config.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def config_for(cli, **fields):
    return {
        "ConfigVersion": 4,
        "Target": cli.sandbox.url,
        "AccessToken": cli.sandbox.admin_token(),
        "RefreshToken": "",
        "AuthorizationEndpoint": cli.sandbox.url,
        "SSLDisabled": False,
        **fields,
    }


def config_env(cli):
    env = cli.env()
    del env["CF_API"], env["CF_TOKEN"]
    return env


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("SSLDisabled", "false"),
        ("SSLDisabled", 1),
        ("AccessToken", 12),
        ("Target", ["x"]),
        ("RefreshToken", {"a": 1}),
        ("AuthorizationEndpoint", True),
    ],
)
def test_cf_config_field_of_wrong_type_names_file_and_key(cli, field, value):
    path = write_cf_config(cli.home, config_for(cli, **{field: value}))
    line = assert_usage_error(cli, ["usage", "list"], env=config_env(cli))
    assert str(path) in line and field in line


def test_ssl_disabled_string_never_turns_tls_off(cli):
    from cfevents.config import load_cf_config, resolve

    write_cf_config(cli.home, config_for(cli, SSLDisabled="true"))
    config = load_cf_config({"CF_HOME": str(cli.home)})
    with pytest.raises(UsageError, match="SSLDisabled"):
        resolve(api_flag=None, token_flag=None, skip_ssl_validation=False, env={}, cf_config=config)
    write_cf_config(cli.home, config_for(cli, SSLDisabled=True))
    config = load_cf_config({"CF_HOME": str(cli.home)})
    settings = resolve(
        api_flag=None, token_flag=None, skip_ssl_validation=False, env={}, cf_config=config
    )
    assert settings.verify_tls is False


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", ""])
def test_corrupt_cf_config_says_corrupt_not_cf_login(cli, text):
    path = write_cf_config(cli.home, text)
    line = assert_usage_error(cli, ["usage", "list"], env=config_env(cli))
    assert f"the cf CLI config {path} is corrupt" in line


def test_corrupt_cf_config_is_ignored_when_flags_and_env_suffice(cli):
    write_cf_config(cli.home, "{not json")
    result = cli("usage", "list", "-n", "1", "-o", "json")
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"events": "12"}, "events"),
        ({"events": True}, "events"),
        ({"after_guid": 5}, "after_guid"),
        ({"api": None}, "api"),
        ({"last_created_at": []}, "last_created_at"),
        ({"output": {"path": "/x", "format": "csv", "bytes": "9"}}, "bytes"),
        ({"output": {"path": 1, "format": "csv", "bytes": 9}}, "path"),
        ({"output": "x.csv"}, "output"),
    ],
)
def test_checkpoint_field_of_wrong_type_names_file_and_key(tmp_path, change, key):
    path = tmp_path / "c.json"
    good = {"version": 1, "api": "https://api.x", "after_guid": "g", "events": 3}
    path.write_text(json.dumps({**good, **change}))
    with pytest.raises(UsageError) as caught:
        ckpt.load(path)
    assert str(path) in str(caught.value) and repr(key) in str(caught.value)


def test_checkpoint_of_wrong_type_stops_export_before_any_request(cli, tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"version": 1, "api": cli.sandbox.url, "events": "lots"}))
    line = assert_usage_error(
        cli, ["usage", "export", "--checkpoint", str(path), "-o", "ndjson"], contains=str(path)
    )
    assert "'events' must be an integer" in line


def test_after_guid_typo_is_not_blamed_on_pruning(cli, tmp_path):
    typo = "00000000-0000-0000-0000-000000000000"
    for args in (["usage", "list"], ["usage", "export", "-o", "ndjson"]):
        result = cli(*args, "--after-guid", typo)
        assert result.exit_code == 5
        assert "pruned" not in result.stderr
        assert f"knows no app usage event {typo}; check the GUID" in result.stderr
