"""`cfevents crashes`: edge cases with `responses`, then end to end against the sandbox."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from cli_helpers import API, one_line_error, run

ORG, SPACE, APP = (
    "0a0a0a0a-0000-4000-8000-000000000001",
    "5a5a5a5a-0000-4000-8000-000000000002",
    "aaaaaaaa-0000-4000-8000-000000000003",
)
ROOT_V2_ON = {"links": {"cloud_controller_v2": {"href": f"{API}/v2"}}}
ROOT_V2_OFF = {"links": {}}
T0 = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)

# -- helpers -----------------------------------------------------------------------------------


def stamp(seconds):
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def crash_pair_v3(n, at, index=0, exit_status=None):
    """The two events CC writes for crash n (process event first, as CC does)."""
    instance = f"inst-{n}"
    process = {
        "guid": f"pc-{n}",
        "created_at": stamp(at),
        "type": "audit.app.process.crash",
        "actor": {"guid": "proc-1", "type": "process", "name": "web"},
        "target": {"guid": APP, "type": "app", "name": "api"},
        "data": {
            "instance": instance,
            "index": index,
            "cell_id": f"cell-{n}",
            "reason": "CRASHED",
            "exit_description": f"APP/PROC/WEB: Exited with status {n}",
            "crash_count": n,
            "crash_timestamp": 1714557600000000000 + n,
            "version": "ver-1",
        },
        "space": {"guid": SPACE},
        "organization": {"guid": ORG},
    }
    app_data = {
        "instance": instance,
        "index": index,
        "cell_id": f"cell-{n}",
        "reason": "CRASHED",
        "exit_description": f"APP/PROC/WEB: Exited with status {n}",
    }
    if exit_status is not None:
        app_data["exit_status"] = exit_status
    app_event = {
        "guid": f"ac-{n}",
        "created_at": stamp(at),
        "type": "app.crash",
        "actor": {"guid": APP, "type": "app", "name": "api"},
        "target": {"guid": APP, "type": "app", "name": "api"},
        "data": app_data,
        "space": {"guid": SPACE},
        "organization": {"guid": ORG},
    }
    return [process, app_event]


def to_v2(event):
    return {
        "metadata": {
            "guid": event["guid"],
            "url": f"/v2/events/{event['guid']}",
            "created_at": event["created_at"],
        },
        "entity": {
            "type": event["type"],
            "actor": event["actor"]["guid"],
            "actor_type": event["actor"]["type"],
            "actor_name": event["actor"]["name"],
            "actor_username": None,
            "actee": event["target"]["guid"],
            "actee_type": "app",
            "actee_name": event["target"]["name"],
            "timestamp": event["created_at"],
            "metadata": event["data"],
            "space_guid": event["space"]["guid"],
            "organization_guid": event["organization"]["guid"],
        },
    }


def v3_page(events, total=None, next_href=None):
    return {
        "pagination": {
            "total_results": len(events) if total is None else total,
            "next": {"href": next_href} if next_href else None,
        },
        "resources": events,
    }


def v2_page(events, total=None, next_url=None):
    return {
        "total_results": len(events) if total is None else total,
        "next_url": next_url,
        "resources": events,
    }


def mock_names(mock):
    mock.get(
        f"{API}/v3/spaces",
        json=v3_page(
            [
                {
                    "guid": SPACE,
                    "name": "prod",
                    "relationships": {"organization": {"data": {"guid": ORG}}},
                }
            ]
        ),
    )
    mock.get(f"{API}/v3/organizations", json=v3_page([{"guid": ORG, "name": "acme"}]))


def calls_to(mock, path):
    return [c for c in mock.calls if urlsplit(c.request.url).path == path]


def newest_first(n):
    """n crashes a minute apart, newest first, as CC lists them with order_by=-created_at."""
    events = []
    for i in reversed(range(n)):
        events += crash_pair_v3(i + 1, at=60 * i)
    return events


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--source", "v2", "--per-page", "500"],
            "--per-page must be between 1 and 100 for v2 /v2/events (got 500)",
        ),
        (["--per-page", "0"], "--per-page must be between 1 and 5000"),
        (["--order", "sideways"], "--order must be desc or asc"),
        (["--source", "v1"], "--source must be one of auto, v3, v2"),
        (["--since", "7x"], "--since"),
        (["--until", "2024-01-01", "--created-before", "2024-01-02"], "same bound"),
        (["--fields", "nosuch"], "unknown field"),
        (["--summary", "--fields", "cell_id"], "unknown field"),  # the summary has its own columns
        (["--limit", "5", "--all"], "--limit N or --all"),
    ],
)
def test_usage_errors_before_any_request(env, args, message):
    with responses.RequestsMock() as mock:
        result = run(env, "crashes", *args)
        assert len(mock.calls) == 0
    assert result.exit_code == 2, result.output
    assert message in one_line_error(result)
    assert result.stdout == ""


# -- one record per crash ------------------------------------------------------------------------


def test_default_table_columns_and_one_row_per_crash(env):
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/v3/audit_events", json=v3_page(newest_first(3)))
        mock_names(mock)
        result = run(env, "crashes")
        [listing] = calls_to(mock, "/v3/audit_events")
        assert parse_qsl(urlsplit(listing.request.url).query) == [
            ("types", "app.crash,audit.app.process.crash"),
            ("order_by", "-created_at"),
            ("per_page", "101"),  # two events per crash for the default 50, and one to look ahead
        ]
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "time",
        "org",
        "space",
        "app",
        "index",
        "cell",
        "reason",
        "exit",
        "description",
    ]
    assert len(lines) == 2 + 3
    # the most recent crashes, printed oldest to newest (like tail): the newest is last
    assert lines[-1].split()[:7] == [stamp(120), "acme", "prod", "api", "0", "cell-3", "CRASHED"]
    assert lines[-1].endswith("APP/PROC/WEB: Exited with status 3")
    assert result.stderr == ""


def test_csv_is_the_documented_flat_column_set(env):
    events = crash_pair_v3(1, 0, index=2, exit_status=137)
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/v3/audit_events", json=v3_page(events))
        mock_names(mock)
        result = run(env, "crashes", "-o", "csv")
    [row] = list(csv.DictReader(io.StringIO(result.stdout)))
    assert row == {
        "created_at": stamp(0),
        "organization.guid": ORG,
        "organization.name": "acme",
        "space.guid": SPACE,
        "space.name": "prod",
        "app.guid": APP,
        "app.name": "api",
        "process.guid": "proc-1",
        "process.type": "web",
        "instance.guid": "inst-1",
        "instance.index": "2",
        "cell_id": "cell-1",
        "reason": "CRASHED",
        "exit_status": "137",  # from app.crash: the process event never has it
        "exit_description": "APP/PROC/WEB: Exited with status 1",
        "crash_count": "1",
        "crash_timestamp": "1714557600000000001",
        "version": "ver-1",
        "process_crash_guid": "pc-1",
        "app_crash_guid": "ac-1",
    }


def test_sparse_metadata_gives_empty_cells(env):
    bare = {
        "guid": "ac-9",
        "created_at": stamp(0),
        "type": "app.crash",
        "target": {"guid": APP, "name": "api"},
        "data": {},
        "space": None,
        "organization": None,
    }
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/v3/audit_events", json=v3_page([bare]))
        result = run(env, "crashes", "-o", "csv", "--no-headers")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{stamp(0)},,,,,{APP},api,,,,,,,,,,,,,ac-9\n"


def test_default_limit_stops_early_and_says_so(env):
    with responses.RequestsMock() as mock:
        mock.get(
            f"{API}/v3/audit_events",
            json=v3_page(
                newest_first(60)[:101], total=120, next_href=f"{API}/v3/audit_events?page=2"
            ),
        )
        result = run(env, "crashes", "--fields", "process_crash_guid", "-o", "csv", "--no-headers")
        assert len(calls_to(mock, "/v3/audit_events")) == 1  # the first page had enough
    assert result.stdout.splitlines() == [f"pc-{n}" for n in range(11, 61)]  # oldest to newest
    assert "showing the newest 50 crashes (the default limit)" in result.stderr
    assert "counts 120 crash events" in result.stderr and "--all" in result.stderr


def test_no_note_when_nothing_more(env):
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/v3/audit_events", json=v3_page(newest_first(50)))
        result = run(env, "crashes", "--fields", "app.name", "-o", "csv")
    assert len(result.stdout.splitlines()) == 51
    assert result.stderr == ""


def test_order_asc(env):
    events = []
    for i in range(3):
        events += crash_pair_v3(i + 1, at=60 * i)
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/v3/audit_events", json=v3_page(events))
        result = run(
            env, "crashes", "--order", "asc", "--fields", "crash_count", "-o", "csv", "--no-headers"
        )
        assert ("order_by", "created_at") in parse_qsl(urlsplit(mock.calls[0].request.url).query)
    assert result.stdout.split() == ["1", "2", "3"]


def test_summary_in_json(env):
    events = newest_first(3)
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/v3/audit_events", json=v3_page(events))
        mock_names(mock)
        result = run(env, "crashes", "--summary", "-o", "json", "--limit", "5")
        assert ("per_page", "5000") in parse_qsl(urlsplit(mock.calls[0].request.url).query)
    assert json.loads(result.stdout) == [
        {
            "organization": {"guid": ORG, "name": "acme"},
            "space": {"guid": SPACE, "name": "prod"},
            "app": {"guid": APP, "name": "api"},
            "crashes": 3,
            "first": stamp(0),
            "last": stamp(120),
            "per_hour": 60.0,  # 2 gaps in 120 s
            "last_exit_description": "APP/PROC/WEB: Exited with status 3",
            "last_reason": "CRASHED",
        }
    ]


def test_summary_table_columns(env):
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/v3/audit_events", json=v3_page(newest_first(2)))
        mock_names(mock)
        result = run(env, "crashes", "--summary")
    header, _, row = result.stdout.splitlines()
    assert header.split() == [
        "org",
        "space",
        "app",
        "crashes",
        "per",
        "hour",
        "last",
        "crash",
        "last",
        "exit",
        "description",
    ]
    assert row.split()[:6] == ["acme", "prod", "api", "2", "60.0", stamp(60)]


# -- v2 ----------------------------------------------------------------------------------------


def test_v2_reads_the_same_crashes(env):
    events = newest_first(3)
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/", json=ROOT_V2_ON)
        mock.get(f"{API}/v2/events", json=v2_page([to_v2(e) for e in events]))
        mock.get(f"{API}/v3/audit_events", json=v3_page(events))
        mock_names(mock)
        v2 = run(env, "crashes", "--source", "v2", "-o", "csv")
        v3 = run(env, "crashes", "--source", "v3", "-o", "csv")
        [listing] = calls_to(mock, "/v2/events")
        assert parse_qsl(urlsplit(listing.request.url).query) == [
            ("q", "type IN app.crash,audit.app.process.crash"),
            ("order-direction", "desc"),
            ("results-per-page", "100"),
        ]
    assert v2.exit_code == 0, v2.output
    assert v2.stdout == v3.stdout
    assert len(v2.stdout.splitlines()) == 4


def test_v2_off_says_so_in_one_line(env):
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/", json=ROOT_V2_OFF)
        result = run(env, "crashes", "--source", "v2")
    assert result.exit_code == 5
    assert (
        one_line_error(result)
        == "cfevents: error: this foundation has the v2 API switched off; use --source v3"
    )


def test_v2_off_nginx_404_is_never_a_json_error(env):
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/", status=502, body="<html>bad gateway</html>")  # GET / proves nothing
        mock.get(f"{API}/v2/events", status=404, body="V2 endpoints disabled")
        result = run(env, "--retries", "0", "crashes", "--source", "v2", "-o", "json")
    assert result.exit_code == 5
    assert "use --source v3" in one_line_error(result)
    assert result.stdout == ""


# -- names -----------------------------------------------------------------------------------------

ORG2 = "0a0a0a0a-0000-4000-8000-00000000000f"


def space(guid, name, org):
    return {"guid": guid, "name": name, "relationships": {"organization": {"data": {"guid": org}}}}


def test_ambiguous_space_name_is_a_usage_error_listing_the_orgs(env):
    with responses.RequestsMock() as mock:
        mock.get(
            f"{API}/v3/spaces",
            json=v3_page([space(SPACE, "prod", ORG), space("other-space", "prod", ORG2)]),
        )
        mock.get(
            f"{API}/v3/organizations",
            match=[responses.matchers.query_param_matcher({"guids": ORG}, strict_match=False)],
            json=v3_page([{"guid": ORG, "name": "acme"}]),
        )
        mock.get(
            f"{API}/v3/organizations",
            match=[responses.matchers.query_param_matcher({"guids": ORG2}, strict_match=False)],
            json=v3_page([{"guid": ORG2, "name": "globex"}]),
        )
        result = run(env, "crashes", "--space", "prod")
        assert calls_to(mock, "/v3/audit_events") == []
    assert result.exit_code == 2
    assert one_line_error(result) == (
        "cfevents: error: space name 'prod' is ambiguous: prod (org acme), prod (org globex); add --org to choose"
    )


@pytest.mark.parametrize(
    ("args", "lookup", "message"),
    [
        (["--org", "nosuch"], "/v3/organizations", "no organization named 'nosuch'"),
        (["--space", "nosuch"], "/v3/spaces", "no space named 'nosuch'"),
        (["--app", "nosuch"], "/v3/apps", "no app named 'nosuch'"),
    ],
)
def test_a_name_that_matches_nothing_is_exit_4(env, args, lookup, message):
    with responses.RequestsMock() as mock:
        mock.get(f"{API}{lookup}", json=v3_page([]))
        result = run(env, "crashes", *args)
        assert calls_to(mock, "/v3/audit_events") == []
    assert result.exit_code == 4
    assert message in one_line_error(result)
    assert result.stdout == ""


def test_names_become_server_side_filters(env):
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/v3/organizations", json=v3_page([{"guid": ORG, "name": "acme"}]))
        mock.get(f"{API}/v3/spaces", json=v3_page([space(SPACE, "prod", ORG)]))
        mock.get(
            f"{API}/v3/apps",
            json=v3_page(
                [
                    {
                        "guid": APP,
                        "name": "api",
                        "relationships": {"space": {"data": {"guid": SPACE}}},
                    }
                ]
            ),
        )
        mock.get(f"{API}/v3/audit_events", json=v3_page(newest_first(1)))
        result = run(
            env,
            "crashes",
            "--org",
            "acme",
            "--space",
            "prod",
            "--app",
            "api",
            "--since",
            "2024-05-01",
        )
        assert result.exit_code == 0, result.output
        [listing] = calls_to(mock, "/v3/audit_events")
        params = dict(parse_qsl(urlsplit(listing.request.url).query))
        assert (
            params["target_guids"] == APP
            and params["space_guids"] == SPACE
            and params["organization_guids"] == ORG
        )
        assert params["created_ats[gte]"] == "2024-05-01T00:00:00Z"
        # the names the scope resolved are reused for the name columns: no second lookup
        assert len(calls_to(mock, "/v3/spaces")) == len(calls_to(mock, "/v3/organizations")) == 1
    assert "acme" in result.stdout and "prod" in result.stdout


# -- end to end against the sandbox ----------------------------------------------------------------
# conftest's session sandbox (seed 7, fixed END) is read-only; "now" is frozen at END so that
# relative ages like 7d mean the same on every run. Each crash there is the real pair of events.


@pytest.fixture
def frozen_now(monkeypatch):
    from conftest import END

    import cfevents.timeparse

    monkeypatch.setattr(cfevents.timeparse, "utcnow", lambda: END)
    return END


def second(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def space_named(sb, space_name, org_name):
    org = next(o for o in sb.foundation.orgs if o.name == org_name)
    return next(s for s in sb.foundation.spaces if s.name == space_name and s.org_guid == org.guid)


def csv_rows(result):
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


def audit_requests(sb, path="/v3/audit_events"):
    return [r for r in sb.requests if r.path == path]


@pytest.mark.parametrize("source", ["v3", "v2"])
def test_space_since_7d_lists_exactly_the_sandboxs_crashes_once_each(cli, frozen_now, source):
    sb = cli.sandbox
    since = frozen_now - timedelta(days=7)

    def crashes_in_staging(org_name):
        staging = space_named(sb, "staging", org_name)  # 'staging' exists in every org
        return [
            c
            for c in sb.foundation.crashes()
            if c.space_guid == staging.guid and c.timestamp >= since
        ]

    org = max((o.name for o in sb.foundation.orgs), key=lambda name: len(crashes_in_staging(name)))
    expected = sorted(crashes_in_staging(org), key=lambda c: c.timestamp, reverse=True)
    assert len(expected) > 20  # the test is about something

    result = cli(
        "crashes",
        "--space",
        "staging",
        "--org",
        org,
        "--since",
        "7d",
        "--source",
        source,
        "-o",
        "csv",
    )
    rows = csv_rows(result)
    assert [r["process_crash_guid"] for r in rows] == [c.process_event_guid for c in expected]
    assert [r["app_crash_guid"] for r in rows] == [c.app_event_guid for c in expected]
    for row, crash in zip(rows, expected, strict=True):
        assert row["created_at"] == second(crash.timestamp)
        assert (row["organization.name"], row["space.name"], row["app.name"]) == (
            org,
            "staging",
            crash.app_name,
        )
        assert row["instance.index"] == str(crash.index) and row["cell_id"] == crash.cell_id
        assert row["exit_description"] == crash.exit_description
        assert row["exit_status"] == ("" if crash.exit_status is None else str(crash.exit_status))
        assert row["crash_count"] == str(crash.crash_count) and row["crash_timestamp"] == str(
            crash.crash_timestamp
        )
    assert result.stderr == ""  # fewer than the default limit: no note


def test_the_default_table_for_a_space(cli, frozen_now):
    result = cli("crashes", "--space", "staging", "--org", "globex", "--since", "7d")
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "time",
        "org",
        "space",
        "app",
        "index",
        "cell",
        "reason",
        "exit",
        "description",
    ]
    assert all(line.split()[1:3] == ["globex", "staging"] for line in lines[2:])
    staging = space_named(cli.sandbox, "staging", "globex")
    since = frozen_now - timedelta(days=7)
    assert len(lines) - 2 == sum(
        1
        for c in cli.sandbox.foundation.crashes()
        if c.space_guid == staging.guid and c.timestamp >= since
    )


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_v2_and_v3_give_the_same_csv_for_the_whole_foundation(cli, order):
    v3 = cli("crashes", "--all", "--order", order, "-o", "csv", "--source", "v3")
    v2 = cli("crashes", "--all", "--order", order, "-o", "csv", "--source", "v2")
    assert v3.exit_code == v2.exit_code == 0, v2.output + v3.output
    assert v2.stdout == v3.stdout
    rows = csv_rows(v3)
    crashes = cli.sandbox.foundation.crashes()
    assert len(rows) == len(crashes)
    assert {r["process_crash_guid"] for r in rows} == {c.process_event_guid for c in crashes}
    times = [r["created_at"] for r in rows]
    assert times == sorted(times, reverse=order == "desc")
    assert len(audit_requests(cli.sandbox, "/v2/events")) == -(
        -2 * len(crashes) // 100
    )  # 100 per page


@pytest.mark.parametrize("source", ["v3", "v2"])
def test_summary_counts_match_the_sandboxs_crashes(cli, source):
    result = cli("crashes", "--summary", "--all", "-o", "csv", "--source", source)
    rows = csv_rows(result)
    by_app = {}
    for crash in cli.sandbox.foundation.crashes():
        by_app.setdefault(crash.app_guid, []).append(crash)
    assert {r["app.guid"]: int(r["crashes"]) for r in rows} == {
        g: len(cs) for g, cs in by_app.items()
    }
    counts = [int(r["crashes"]) for r in rows]
    assert counts == sorted(counts, reverse=True)
    orgs = {o.guid: o.name for o in cli.sandbox.foundation.orgs}
    for row in rows:
        crashes = sorted(by_app[row["app.guid"]], key=lambda c: c.timestamp)
        assert row["first"] == second(crashes[0].timestamp)
        assert row["last"] == second(crashes[-1].timestamp)
        assert row["last_exit_description"] == crashes[-1].exit_description
        assert row["app.name"] == crashes[0].app_name
        assert row["organization.name"] == orgs[crashes[0].org_guid]


@pytest.mark.parametrize("fmt", ["table", "json", "ndjson", "csv", "tsv"])
def test_summary_in_every_format(cli, fmt):
    result = cli("crashes", "--summary", "--all", "-o", fmt)
    assert result.exit_code == 0, result.output
    apps = len({c.app_guid for c in cli.sandbox.foundation.crashes()})
    out = result.stdout
    if fmt == "json":
        assert len(json.loads(out)) == apps
    elif fmt == "ndjson":
        assert [json.loads(line)["crashes"] > 0 for line in out.splitlines()] == [True] * apps
    elif fmt == "table":
        assert out.splitlines()[0].split()[:4] == ["org", "space", "app", "crashes"]
        assert len(out.splitlines()) == 2 + apps
    else:
        rows = list(csv.DictReader(io.StringIO(out), delimiter="," if fmt == "csv" else "\t"))
        assert len(rows) == apps and sum(int(r["crashes"]) for r in rows) == len(
            cli.sandbox.foundation.crashes()
        )


def test_default_limit_note_over_the_whole_foundation(cli):
    result = cli("crashes", "-o", "csv")
    assert len(csv_rows(result)) == 50
    total = 2 * len(cli.sandbox.foundation.crashes())
    assert (
        f"showing the newest 50 crashes (the default limit) (Cloud Controller counts {total:,} crash events"
        in result.stderr
    )
    [request] = audit_requests(cli.sandbox)
    assert ("per_page", "101") in request.params


def test_names_are_looked_up_once_per_run(cli):
    result = cli("crashes", "--all", "-o", "ndjson")
    assert result.exit_code == 0
    assert len(audit_requests(cli.sandbox, "/v3/spaces")) == 1
    assert len(audit_requests(cli.sandbox, "/v3/organizations")) == 1
    records = [json.loads(line) for line in result.stdout.splitlines()]
    spaces = {s.guid: s.name for s in cli.sandbox.foundation.spaces}
    assert all(r["space"]["name"] == spaces[r["space"]["guid"]] for r in records)


def test_app_scope_on_the_sandbox(cli):
    acme_prod = space_named(cli.sandbox, "prod", "acme")
    api = next(
        a for a in cli.sandbox.foundation.apps if a.name == "api" and a.space_guid == acme_prod.guid
    )
    rows = csv_rows(
        cli("crashes", "--app", "api", "--space", "prod", "--org", "acme", "--all", "-o", "csv")
    )
    assert {r["app.guid"] for r in rows} <= {api.guid}
    assert len(rows) == sum(1 for c in cli.sandbox.foundation.crashes() if c.app_guid == api.guid)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["--space", "prod"],
            2,
            "space name 'prod' is ambiguous: prod (org acme), prod (org globex), prod (org initech); add --org to choose",
        ),
        (["--app", "api"], 2, "app name 'api' is ambiguous: api (space prod in org acme)"),
        (["--app", "api", "--org", "acme"], 2, "add --space (and --org) to choose"),
        (["--app", "api", "--space", "prod", "--org", "acme"], 0, None),
        (["--space", "nosuch"], 4, "no space named 'nosuch'"),
        (["--org", "nosuch"], 4, "no organization named 'nosuch'"),
        (["--space", "dev", "--org", "globex"], 4, "no space named 'dev' in the given org(s)"),
    ],
)
def test_names_on_the_sandbox(cli, args, code, message):
    result = cli("crashes", *args)
    assert result.exit_code == code, result.output
    if message:
        assert message in one_line_error(result)
        assert audit_requests(cli.sandbox) == []


@pytest.fixture(scope="module")
def v2_off_sandbox():
    from cfevents.sandbox import Sandbox, SandboxConfig

    sb = Sandbox(SandboxConfig(seed=5, days=8, v2_enabled=False)).start()
    yield sb
    sb.stop()


def test_v2_off_sandbox_explains_and_auto_still_works(v2_off_sandbox, tmp_path):
    env = {
        "CF_API": v2_off_sandbox.url,
        "CF_TOKEN": v2_off_sandbox.admin_token(),
        "CF_HOME": str(tmp_path),
        "CFEVENTS_OUTPUT": "",
        "CF_CLIENT_ID": "",
    }
    refused = run(env, "crashes", "--source", "v2", "-o", "csv")
    assert refused.exit_code == 5 and refused.stdout == ""
    assert (
        one_line_error(refused)
        == "cfevents: error: this foundation has the v2 API switched off; use --source v3"
    )
    assert not [r for r in v2_off_sandbox.requests if r.path.startswith("/v2")]

    auto = run(env, "crashes", "--all", "-o", "csv")
    assert auto.exit_code == 0, auto.output
    assert len(auto.stdout.splitlines()) == 1 + len(v2_off_sandbox.foundation.crashes())
