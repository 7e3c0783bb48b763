"""Bad input never reaches "unexpected": one line, exit 2, and not a single request sent."""

import json

import pytest

from cfevents.errors import UsageError
from cfevents.export import checkpoint as ckpt
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
    "api",
    [
        "https://api.example.com:99999",
        "https://api.example.com:0",
        "https://[::1",
        "http://[zz]:80",
        "api.x:port",
    ],
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
    from cfevents.cc.config import load_cf_config, resolve

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


# -- streams: closed stdout, ASCII-only encodings, --out - -------------------------------------


def run_process(sandbox, tmp_path, args, **popen):
    import os
    import subprocess
    import sys

    env = {**os.environ, "CF_API": sandbox.url, "CF_TOKEN": sandbox.admin_token()}
    env.update({"CF_HOME": str(tmp_path), "CFEVENTS_OUTPUT": "", **popen.pop("env", {})})
    return subprocess.run(
        [sys.executable, "-m", "cfevents", *args], env=env, capture_output=True, **popen
    )


def test_closed_stdout_is_one_line_and_out_file_still_works(sandbox, tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "CF_API": sandbox.url, "CF_TOKEN": sandbox.admin_token()}
    env.update({"CF_HOME": str(tmp_path), "CFEVENTS_OUTPUT": ""})

    def closed(args):
        return subprocess.run(
            [sys.executable, "-m", "cfevents", *args],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: os.close(1),
        )

    listing = closed(["usage", "list", "-n", "2"])
    assert listing.returncode == 2
    assert listing.stderr == (
        "cfevents: error: standard output is closed: nowhere to write results (use --out FILE?)\n"
    )
    out = tmp_path / "u.csv"
    export = closed(["-q", "usage", "export", "--until", "2026-01-02", "--out", str(out)])
    assert export.returncode == 0, export.stderr
    assert out.read_text().startswith("guid,")


def test_ascii_only_stdout_gets_valid_ascii_json_and_escaped_text():
    import io

    from cfevents.output.formatters import OutputSpec, write

    record = {"guid": "g", "app": {"name": "café ✓"}}
    for fmt in ("json", "ndjson"):
        raw = io.BytesIO()
        out = io.TextIOWrapper(raw, encoding="ascii", errors="backslashreplace", newline="")
        write([record], out, OutputSpec(fmt=fmt))
        out.flush()
        text = raw.getvalue().decode("ascii")
        parsed = json.loads(text) if fmt == "json" else [json.loads(text)]
        assert parsed == [record]


def test_pythonioencoding_ascii_never_crashes(sandbox, tmp_path):
    for fmt in ("table", "csv", "json"):
        result = run_process(
            sandbox,
            tmp_path,
            ["usage", "list", "-n", "2", "-o", fmt, "--app", "caf\u00e9"],
            env={"PYTHONIOENCODING": "ascii"},
        )
        assert result.returncode == 4, result.stderr  # no such app; the name printed escaped
        assert b"unexpected" not in result.stderr and b"Traceback" not in result.stderr
        assert b"caf\\xe9" in result.stderr


def test_out_dash_is_stdout(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    until = ("--until", "2026-01-02", "-o", "csv")
    result = cli("-q", "usage", "export", "--out", "-", *until)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == cli("-q", "usage", "export", *until).stdout
    assert result.stdout.startswith("guid,") and not (tmp_path / "-").exists()


# -- names with commas ---------------------------------------------------------------------------


def test_split_values_escape_rule():
    from cfevents.events.listing import split_commas as split_values

    assert split_values(["a,b", "web\\,v2", "back\\\\,x", "c:\\path"]) == [
        "a", "b", "web,v2", "back\\", "x", "c:\\path",
    ]  # fmt: skip


def test_an_app_name_with_a_comma_can_be_selected(env):
    import responses
    from cli_helpers import API, run

    app = {"guid": "a1a1a1a1-0000-4000-8000-000000000001", "name": "web,v2", "relationships": {}}
    other = {**app, "guid": "b2", "name": "web"}
    page = {"pagination": {"total_results": 2, "next": None}, "resources": [app, other]}
    empty = {"pagination": {"total_results": 0, "next": None}, "resources": []}
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/v3/apps", json=page)
        mock.get(f"{API}/v3/audit_events", json=empty)
        result = run(env, "events", "list", "--app", "web\\,v2", "-o", "json")
        sent = [c.request.url for c in mock.calls]
    assert result.exit_code == 0, result.stderr
    assert "names=" not in sent[0]  # CC's names filter cannot carry a comma
    assert "target_guids=a1a1a1a1-0000-4000-8000-000000000001" in sent[1]
