"""`cfevents usage list|get` end to end over real HTTP against the sandbox."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import EXTERNAL, usage_requests
from jwt_helpers import make_jwt

SECOND = 1_000_000


def all_events(sb):
    return list(sb.foundation.usage_events_v3(EXTERNAL))


def created_us(sb):
    f = sb.foundation
    return {
        f.usage_event_guid(i): f.usage_event_created_at_us(i) for i in range(f.usage_event_count())
    }


def us(text):
    return (
        int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()) * SECOND
    )


def guids_csv(result):
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    return [r["guid"] for r in rows]


def test_all_csv_gives_every_event_exactly_once_in_id_order(cli):
    result = cli("usage", "list", "--all", "-o", "csv")
    got = guids_csv(result)
    expected = [e["guid"] for e in all_events(cli.sandbox)]
    assert got == expected
    assert len(set(got)) == len(got) > 1000
    # keyset paging at 5000 per page, never OFFSET links
    reqs = usage_requests(cli.sandbox)
    assert all(("page", "1") in p and ("per_page", "5000") in p for p in reqs)


def test_default_limit_one_request_and_note_on_stderr(cli):
    result = cli("usage", "list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["time", "state", "previous"]
    assert len(lines) == 2 + 50
    total = cli.sandbox.foundation.usage_event_count()
    assert f"showing the newest 50 of {total:,} matching events" in result.stderr
    assert "--all" in result.stderr
    assert usage_requests(cli.sandbox) == [[("order_by", "-created_at"), ("per_page", "50")]]


def test_limit_sets_page_size_and_fetches_no_extra_page(cli):
    result = cli("usage", "list", "--limit", "7", "-o", "ndjson", "--until", "2099-01-01")
    assert len(result.stdout.splitlines()) == 7
    assert [p for p in usage_requests(cli.sandbox)[0] if p[0] != "created_ats[lt]"] == [
        ("page", "1"),
        ("per_page", "7"),
    ]
    assert result.stderr == ""  # an explicit limit needs no note


def test_limit_across_pages(cli):
    result = cli(
        "usage", "list", "--limit", "12", "--per-page", "5", "-o", "csv", "--until", "2099-01-01"
    )
    assert guids_csv(result) == [e["guid"] for e in all_events(cli.sandbox)][:12]
    assert len(usage_requests(cli.sandbox)) == 3


@pytest.mark.parametrize(
    ("flag", "param", "keep"),
    [
        ("--since", "created_ats[gte]", lambda c, t: c >= t),
        ("--until", "created_ats[lt]", lambda c, t: c < t),
        ("--created-before", "created_ats[lt]", lambda c, t: c < t),
        ("--created-after", "created_ats[gt]", lambda c, t: c > t + SECOND - 1),
    ],
)
def test_time_flags_send_cc_format_and_filter_exactly(cli, flag, param, keep):
    times = created_us(cli.sandbox)
    middle = sorted(times.values())[len(times) // 2]
    t_text = (
        datetime.fromtimestamp(middle // SECOND, UTC).strftime("%Y-%m-%dT%H:%M:%S") + ".7+00:00"
    )
    result = cli("usage", "list", "--all", flag, t_text, "-o", "csv")
    t_sent = datetime.fromtimestamp(middle // SECOND, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (param, t_sent) in usage_requests(cli.sandbox)[0]
    expected = [g for g, c in times.items() if keep(c, us(t_sent))]
    assert sorted(guids_csv(result)) == sorted(expected)


def test_since_until_windows_partition_exactly(cli):
    times = created_us(cli.sandbox)
    ordered = sorted(times.values())
    a, b, c = (
        datetime.fromtimestamp(ordered[i] // SECOND, UTC).isoformat() for i in (100, 700, 1500)
    )
    first = set(guids_csv(cli("usage", "list", "--all", "--since", a, "--until", b, "-o", "csv")))
    second = set(guids_csv(cli("usage", "list", "--all", "--since", b, "--until", c, "-o", "csv")))
    whole = set(guids_csv(cli("usage", "list", "--all", "--since", a, "--until", c, "-o", "csv")))
    assert first and second
    assert not first & second
    assert first | second == whole


def test_created_at_equality_seconds(cli):
    events = all_events(cli.sandbox)
    t1, t2 = events[10]["created_at"], events[20]["created_at"]
    result = cli("usage", "list", "--all", "--created-at", t1, "--created-at", t2, "-o", "csv")
    assert ("created_ats", f"{t1},{t2}") in usage_requests(cli.sandbox)[0]
    expected = {e["guid"] for e in events if e["created_at"] in (t1, t2)}
    assert set(guids_csv(result)) == expected


def test_relative_age(cli):
    # the sandbox month ends at a fixed past date, so "7d" selects nothing... but is sent right
    before = datetime.now(UTC) - timedelta(days=7, seconds=5)
    result = cli("usage", "list", "--created-after", "7d", "-o", "json")
    assert result.exit_code == 0 and json.loads(result.stdout) == []
    sent = dict(usage_requests(cli.sandbox)[0])["created_ats[gt]"]
    moment = datetime.strptime(sent, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= moment <= datetime.now(UTC) - timedelta(days=7) + timedelta(seconds=5)


def test_guid_and_after_guid(cli):
    events = all_events(cli.sandbox)
    picked = [events[3]["guid"], events[9]["guid"]]
    result = cli("usage", "list", "--guid", picked[0], "--guid", picked[1], "-o", "csv")
    assert guids_csv(result) == picked
    assert ("guids", ",".join(picked)) in usage_requests(cli.sandbox)[0]
    result = cli("usage", "list", "--after-guid", events[100]["guid"], "--limit", "3", "-o", "csv")
    assert guids_csv(result) == [e["guid"] for e in events[101:104]]


def test_unknown_after_guid_is_api_error_exit_5(cli):
    result = cli("usage", "list", "--after-guid", "00000000-0000-0000-0000-000000000000")
    assert result.exit_code == 5
    assert "After guid filter must be a valid app usage event guid" in result.stderr


def test_order_by_desc_uses_links(cli):
    result = cli(
        "usage",
        "list",
        "--order-by",
        "-created_at",
        "--limit",
        "30",
        "--per-page",
        "10",
        "-o",
        "ndjson",
    )
    stamps = [json.loads(line)["created_at"] for line in result.stdout.splitlines()]
    assert len(stamps) == 30 and stamps == sorted(stamps, reverse=True)
    reqs = usage_requests(cli.sandbox)
    assert len(reqs) == 3 and ("order_by", "-created_at") in reqs[0]
    assert ("page", "3") in reqs[2]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_order_is_the_one_ordering_flag_and_order_by_its_hidden_alias(cli, order):
    spelled = {"asc": "created_at", "desc": "-created_at"}[order]
    new = cli("usage", "list", "--order", order, "-n", "7", "-o", "ndjson")
    old = cli("usage", "list", "--order-by", spelled, "-n", "7", "-o", "ndjson")
    assert new.exit_code == old.exit_code == 0
    assert new.stdout == old.stdout and new.stdout.count("\n") == 7
    assert [("order_by", spelled) in r for r in usage_requests(cli.sandbox)] == [True, True]
    both = cli("usage", "list", "--order", order, "--order-by", spelled)
    assert both.exit_code == 2 and "give one" in both.stderr
    bad = cli("usage", "list", "--order", "newest")
    assert bad.exit_code == 2 and "--order must be desc or asc" in bad.stderr
    shown = cli("usage", "list", "--help")
    assert "--order" in shown.stdout and "--order-by" not in shown.stdout


def test_page_fetches_only_that_page(cli):
    result = cli("usage", "list", "--page", "3", "--per-page", "4", "-o", "csv")
    assert guids_csv(result) == [e["guid"] for e in all_events(cli.sandbox)][8:12]
    assert usage_requests(cli.sandbox) == [[("page", "3"), ("per_page", "4")]]


def test_client_side_scope_filters(cli):
    f = cli.sandbox.foundation
    org = f.orgs[0]
    space = next(s for s in f.spaces if s.org_guid == org.guid and s.name == "prod")
    result = cli(
        "usage",
        "list",
        "--all",
        "--org",
        org.name,
        "--space",
        "prod",
        "--state",
        "started",
        "-o",
        "csv",
    )
    expected = [
        e["guid"]
        for e in all_events(cli.sandbox)
        if e["space"]["guid"] == space.guid and e["state"]["current"] == "STARTED"
    ]
    assert expected and guids_csv(result) == expected


def test_app_filter_by_guid(cli):
    events = all_events(cli.sandbox)
    app_guid = events[0]["app"]["guid"]
    result = cli("usage", "list", "--all", "--app", app_guid, "-o", "csv")
    assert guids_csv(result) == [e["guid"] for e in events if e["app"]["guid"] == app_guid]


def test_ambiguous_space_name_is_usage_error(cli):
    result = cli("usage", "list", "--space", "prod")
    assert result.exit_code == 2
    assert "ambiguous" in result.stderr and "--org" in result.stderr


def test_unknown_org_name_is_not_found(cli):
    result = cli("usage", "list", "--org", "no-such-org")
    assert result.exit_code == 4
    assert "no-such-org" in result.stderr


def test_non_admin_gets_empty_list_and_hint(cli):
    token = cli.sandbox.token(["cloud_controller.read"])
    result = cli("usage", "list", "-o", "json", token=token)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []
    assert "admin_read_only and global_auditor" in result.stderr


@pytest.mark.parametrize("fmt", ["table", "json", "ndjson", "csv", "tsv"])
def test_golden_outputs(cli, golden, fmt):
    result = cli("usage", "list", "--limit", "6", "-o", fmt, "--until", "2099-01-01")
    assert result.exit_code == 0, result.output
    golden(f"usage_list.{fmt}", result.stdout)


def test_fields_and_no_headers(cli):
    result = cli(
        "usage",
        "list",
        "--limit",
        "2",
        "-o",
        "tsv",
        "--fields",
        "app.name,state.current,instance_count.current",
        "--no-headers",
        "--until",
        "2099-01-01",
    )
    events = all_events(cli.sandbox)[:2]
    assert result.stdout == "".join(
        f"{e['app']['name']}\t{e['state']['current']}\t{e['instance_count']['current']}\n"
        for e in events
    )
    result = cli(
        "usage",
        "list",
        "-n",
        "1",
        "-o",
        "json",
        "--fields",
        "guid,space.name",
        "--until",
        "2099-01-01",
    )
    assert json.loads(result.stdout) == [
        {"guid": events[0]["guid"], "space.name": events[0]["space"]["name"]}
    ]


def test_markup_like_app_name_prints_literally(cli):
    result = cli(
        "usage", "list", "--app", "[beta]-search", "--limit", "3", "--table-format", "plain"
    )
    assert result.exit_code == 0, result.output
    assert "[beta]-search" in result.stdout


def test_output_env_default(cli):
    result = cli("usage", "list", "--limit", "1", env=cli.env(CFEVENTS_OUTPUT="ndjson"))
    assert json.loads(result.stdout)["guid"]


def test_get_v3_and_v2_shapes(cli):
    event = all_events(cli.sandbox)[5]
    result = cli("usage", "get", event["guid"], "-o", "json")
    shown = json.loads(result.stdout)
    assert (
        shown["organization"].pop("name") == org_names(cli.sandbox)[event["organization"]["guid"]]
    )
    assert shown == event
    result = cli("usage", "get", event["guid"], "--v2", "-o", "json")
    v2 = json.loads(result.stdout)
    assert v2["metadata"]["guid"] == event["guid"]
    assert "package_state" in v2["entity"]
    table = cli("usage", "get", event["guid"], "--v2")
    assert "entity.package_state" in table.stdout


def test_get_unknown_is_exit_4(cli):
    result = cli("usage", "get", "00000000-0000-0000-0000-000000000001")
    assert result.exit_code == 4
    assert "App usage event not found" in result.stderr


def test_v2_get_when_v2_disabled(fresh_cli):
    fresh_cli.sandbox.set_v2_enabled(False)
    event = next(iter(fresh_cli.sandbox.foundation.usage_events_v3()))
    result = fresh_cli("usage", "get", event["guid"], "--v2")
    assert result.exit_code == 5
    assert "v2 API switched off" in result.stderr


def test_verbose_logs_requests_without_the_token(cli):
    token = cli.sandbox.admin_token()
    result = cli("-v", "usage", "list", "--limit", "1", token=token)
    assert "> GET " in result.stderr and "< 200" in result.stderr
    assert "> Authorization: [redacted]" in result.stderr
    assert token.split()[-1] not in result.stderr
    assert token.split()[-1][-20:] not in result.output


def test_cf_cli_config_login_with_proactive_refresh(cli):
    sb = cli.sandbox
    (cli.home / ".cf").mkdir()
    (cli.home / ".cf" / "config.json").write_text(
        json.dumps(
            {
                "ConfigVersion": 4,
                "Target": sb.url,
                "AccessToken": sb.token(
                    ["cloud_controller.admin"], ttl=20
                ),  # expires within a minute
                "RefreshToken": sb.refresh_token(),
                "AuthorizationEndpoint": sb.url,
                "UAAOAuthClient": "cf",
                "UAAOAuthClientSecret": "",
            }
        )
    )
    grants = sb.token_grants
    result = cli(
        "usage",
        "list",
        "--limit",
        "1",
        "-o",
        "ndjson",
        env={"CF_HOME": str(cli.home), "NO_COLOR": "1"},
    )
    assert result.exit_code == 0, result.output
    assert sb.token_grants == grants + 1


def test_expired_token_refreshed_after_401(cli):
    sb = cli.sandbox
    (cli.home / ".cf").mkdir()
    (cli.home / ".cf" / "config.json").write_text(
        json.dumps(
            {
                "ConfigVersion": 4,
                "Target": sb.url,
                "AccessToken": "bearer not-a-jwt",
                "RefreshToken": sb.refresh_token(),
                "AuthorizationEndpoint": sb.url,
            }
        )
    )
    result = cli("usage", "list", "--limit", "1", "-o", "ndjson", env={"CF_HOME": str(cli.home)})
    assert result.exit_code == 0, result.output


def test_client_credentials_env(fresh_cli):
    env = fresh_cli.env(CF_TOKEN="", CF_CLIENT_ID="cfevents-ci", CF_CLIENT_SECRET="ci-secret")
    result = fresh_cli("usage", "list", "--limit", "1", "-o", "ndjson", env=env)
    assert result.exit_code == 0, result.output


def test_dead_refresh_token_exit_3(cli):
    (cli.home / ".cf").mkdir()
    (cli.home / ".cf" / "config.json").write_text(
        json.dumps(
            {
                "ConfigVersion": 4,
                "Target": cli.sandbox.url,
                "AccessToken": f"bearer {make_jwt(exp_in=-10)}",
                "RefreshToken": "revoked",
                "AuthorizationEndpoint": cli.sandbox.url,
            }
        )
    )
    result = cli("usage", "list", env={"CF_HOME": str(cli.home)})
    assert result.exit_code == 3
    assert "cf login" in result.stderr


def test_demo_mode(tmp_path):
    from typer.testing import CliRunner

    from cfevents.cli import app

    result = CliRunner().invoke(
        app,
        ["--demo", "usage", "list", "--limit", "3", "-o", "csv"],
        env={"CF_HOME": str(tmp_path), "CF_API": "", "CF_TOKEN": ""},
    )
    assert result.exit_code == 0, result.output
    assert len(list(csv.reader(io.StringIO(result.stdout)))) == 4


def org_names(sb):
    return {org.guid: org.name for org in sb.foundation.orgs}


def org_requests(sb):
    return [r for r in sb.requests if r.path == "/v3/organizations"]


def test_usage_events_carry_the_org_name_looked_up_once_per_org(fresh_cli, tmp_path):
    sb = fresh_cli.sandbox
    names = org_names(sb)
    events = all_events(sb)
    orgs = {e["organization"]["guid"] for e in events}
    assert len(orgs) > 1 and len(events) > 3 * len(orgs)
    out = tmp_path / "usage.csv"
    result = fresh_cli("usage", "export", "--out", str(out), "--per-page", "100")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == len(events)
    assert all(r["organization.name"] == names[r["organization.guid"]] for r in rows)
    assert len(org_requests(sb)) == len(orgs)  # one lookup per new org GUID, cached
    listed = fresh_cli("usage", "list", "--limit", "20", "-o", "ndjson")
    for line in listed.stdout.splitlines():
        event = json.loads(line)
        assert event["organization"]["name"] == names[event["organization"]["guid"]]
    table = fresh_cli("usage", "list", "--limit", "5")
    assert " org " in table.stdout.splitlines()[0] + " "


def test_a_listed_page_looks_up_its_orgs_in_one_request(fresh_cli):
    """The table lays out a whole page before its first line: the page's orgs are looked up
    together when it arrives (one request), not one request per org as rows are formatted
    (three round trips before `usage list --all | head -1` printed anything)."""
    sb = fresh_cli.sandbox
    names = org_names(sb)
    shown = all_events(sb)[:200]
    assert len({e["organization"]["guid"] for e in shown}) > 1
    result = fresh_cli("usage", "list", "--limit", "200", "--until", "2099-01-01", "-o", "ndjson")
    assert result.exit_code == 0, result.stderr
    listed = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["guid"] for e in listed] == [e["guid"] for e in shown]
    assert all(e["organization"]["name"] == names[e["organization"]["guid"]] for e in listed)
    assert len(org_requests(sb)) == 1


def test_no_org_lookup_when_the_fields_do_not_show_it(fresh_cli):
    sb = fresh_cli.sandbox
    for args in (["usage", "list", "--all"], ["usage", "export"]):
        result = fresh_cli(*args, "-o", "csv", "--fields", "guid,organization.guid")
        assert result.exit_code == 0, result.stderr
        assert "organization.name" not in result.stdout
    assert org_requests(sb) == []
    fresh_cli("usage", "list", "--limit", "1", "-o", "csv", "--fields", "organization")
    assert len(org_requests(sb)) == 1


@pytest.mark.parametrize("command", [["usage", "list"], ["usage", "export"], ["usage", "get", "x"]])
def test_fields_that_can_never_exist_are_refused(cli, command):
    result = cli(*command, "--fields", "guid,app.nmae")
    assert result.exit_code == 2
    assert "'app.nmae'" in result.stderr and "organization.name" in result.stderr
    assert "Traceback" not in result.stderr
    ok = cli("usage", "list", "--limit", "1", "-o", "csv", "--fields", "state,links.self.href")
    assert ok.exit_code == 0, ok.stderr


def test_a_limit_without_a_window_shows_the_most_recent_oldest_first(cli):
    """`usage list --limit N` is `tail`: the N most recent events, printed oldest to newest
    (0.2.0 showed the oldest N, two months back); a window, --order or --all keep theirs."""
    events = sorted(all_events(cli.sandbox), key=lambda e: e["created_at"])
    result = cli("usage", "list", "--limit", "5", "-o", "csv", "--fields", "guid,created_at")
    rows = [line.split(",") for line in result.stdout.splitlines()[1:]]
    # the five newest (CC orders events of the same second its own way)
    assert [t for _, t in rows] == [e["created_at"] for e in events[-5:]]  # oldest first
    assert events[-1]["guid"] == rows[-1][0]
    assert usage_requests(cli.sandbox)[0][0] == ("order_by", "-created_at")
    windowed = cli("usage", "list", "-n", "2", "-o", "csv", "--fields", "guid", "--since", "60d")
    assert windowed.exit_code == 0
    oldest = cli("usage", "list", "-n", "2", "-o", "csv", "--fields", "guid", "--order", "asc")
    assert oldest.stdout.split()[1:] == [e["guid"] for e in events[:2]]
    services = cli("services", "list", "-n", "3", "-o", "csv", "--fields", "created_at")
    times = services.stdout.split()[1:]
    assert times == sorted(times) and len(times) == 3
