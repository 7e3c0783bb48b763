"""`cfevents events list|get`: edge cases with `responses`, then end to end against the sandbox."""

import csv
import io
import json
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from cli_helpers import API, one_line_error, run

ORG, SPACE, APP = (
    "0a0a0a0a-0000-4000-8000-000000000001",
    "5a5a5a5a-0000-4000-8000-000000000002",
    "aaaaaaaa-0000-4000-8000-000000000003",
)
ROOT_V2_ON = {"links": {"self": {"href": API}, "cloud_controller_v2": {"href": f"{API}/v2"}}}
ROOT_V2_OFF = {"links": {"self": {"href": API}, "cloud_controller_v2": None}}

# -- helpers -----------------------------------------------------------------------------------


def v3_event(guid, at="2024-05-01T10:00:00Z", kind="audit.app.update", space=SPACE, org=ORG):
    return {
        "guid": guid,
        "created_at": at,
        "updated_at": at,
        "type": kind,
        "actor": {"guid": "user-1", "type": "user", "name": "alice@example.com"},
        "target": {"guid": APP, "type": "app", "name": "api"},
        "data": {"request": {"instances": 2}},
        "space": {"guid": space} if space else None,
        "organization": {"guid": org} if org else None,
        "links": {"self": {"href": f"{API}/v3/audit_events/{guid}"}},
    }


def v2_event(guid, at="2024-05-01T10:00:00Z", kind="audit.app.update", space=SPACE, org=ORG):
    return {
        "metadata": {"guid": guid, "url": f"/v2/events/{guid}", "created_at": at, "updated_at": at},
        "entity": {
            "type": kind,
            "actor": "user-1",
            "actor_type": "user",
            "actor_name": "alice@example.com",
            "actor_username": "alice",
            "actee": APP,
            "actee_type": "app",
            "actee_name": "api",
            "timestamp": at,
            "metadata": {"request": {"instances": 2}},
            "space_guid": space or "",
            "organization_guid": org or "",
        },
    }


def v3_page(events, total=None, next_href=None):
    return {
        "pagination": {
            "total_results": len(events) if total is None else total,
            "total_pages": 1,
            "next": {"href": next_href} if next_href else None,
        },
        "resources": events,
    }


def v2_page(events, total=None, next_url=None):
    return {
        "total_results": len(events) if total is None else total,
        "total_pages": 1,
        "prev_url": None,
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


def params_of(call):
    return parse_qsl(urlsplit(call.request.url).query)


def calls_to(mock, path):
    return [c for c in mock.calls if urlsplit(c.request.url).path == path]


# -- bad input: usage errors before any request --------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--source", "v2", "--per-page", "500"],
            "--per-page must be between 1 and 100 for v2 /v2/events (got 500)",
        ),
        (["--per-page", "5001"], "--per-page must be between 1 and 5000"),
        (["--q", "typeapp.crash"], "--q 'typeapp.crash': no operator"),
        (
            ["--q", "actor:someone"],
            "cannot filter events on 'actor'; valid keys: timestamp, type, actee, space_guid, organization_guid",
        ),
        (["--q", "type:"], "no value for 'type'"),
        (["--q", "timestamp>=soon"], "cannot read 'soon'"),
        (
            ["--source", "v3", "--q", "type:app.crash"],
            "--q filters are v2 syntax and need --source v2",
        ),
        (["--q", "type:x", "--per-page", "101"], "between 1 and 100 for v2"),  # --q means v2
        (["--source", "v4"], "--source must be one of auto, v3, v2"),
        (["--order", "newest"], "--order must be desc or asc"),
        (["--since", "tomorrowish"], "--since"),
        (["--limit", "3", "--all"], "--limit N or --all"),
        (["--fields", "nosuch"], "unknown field"),
        (["-o", "xml"], "unknown format"),
    ],
)
def test_usage_errors_before_any_request(env, args, message):
    with responses.RequestsMock() as mock:
        result = run(env, "events", "list", *args)
        assert len(mock.calls) == 0
    assert result.exit_code == 2, result.output
    assert message in one_line_error(result)
    assert result.stdout == ""


@pytest.mark.parametrize("guid", ["", " ", "a/b"])
def test_get_rejects_non_guids(env, guid):
    with responses.RequestsMock() as mock:
        result = run(env, "events", "get", guid)
        assert len(mock.calls) == 0
    assert result.exit_code == 2
    assert "not an event GUID" in one_line_error(result)


# -- v3 ----------------------------------------------------------------------------------------


def test_list_v3_sends_every_filter_and_writes_named_columns(env):
    with responses.RequestsMock() as mock:
        mock.get(
            f"{API}/v3/audit_events",
            json=v3_page([v3_event("e2", "2024-05-01T10:00:01Z"), v3_event("e1")]),
        )
        mock_names(mock)
        result = run(
            env,
            "events", "list",
            "--type", "audit.app.update,made.up.type", "--type", "app.crash",
            "--actee", APP, "--space", SPACE, "--org", ORG,
            "--since", "2024-05-01T00:00:00Z", "--until", "2024-05-02T00:00:00Z",
            "--order", "asc", "--limit", "10", "-o", "csv",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        [listing] = calls_to(mock, "/v3/audit_events")
        assert params_of(listing) == [
            ("types", "audit.app.update,made.up.type,app.crash"),  # unknown types are fine
            ("target_guids", APP),
            ("space_guids", SPACE),
            ("organization_guids", ORG),
            ("created_ats[gte]", "2024-05-01T00:00:00Z"),
            ("created_ats[lt]", "2024-05-02T00:00:00Z"),
            ("order_by", "created_at"),
            ("per_page", "11"),
        ]
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["guid"] for r in rows] == ["e2", "e1"]
    assert rows[0] == {
        "guid": "e2",
        "created_at": "2024-05-01T10:00:01Z",
        "type": "audit.app.update",
        "actor.guid": "user-1",
        "actor.type": "user",
        "actor.name": "alice@example.com",
        "target.guid": APP,
        "target.type": "app",
        "target.name": "api",
        "organization.guid": ORG,
        "organization.name": "acme",
        "space.guid": SPACE,
        "space.name": "prod",
        "data": '{"request":{"instances":2}}',
    }


def test_names_are_looked_up_once_per_run(env):
    events = [v3_event(f"e{i}", f"2024-05-01T10:00:{59 - i:02d}Z") for i in range(30)]
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/v3/audit_events", json=v3_page(events))
        mock_names(mock)
        result = run(env, "events", "list", "-o", "ndjson")
        assert result.exit_code == 0
        assert len(calls_to(mock, "/v3/spaces")) == 1
        assert len(calls_to(mock, "/v3/organizations")) == 1
    assert {json.loads(line)["space"]["name"] for line in result.stdout.splitlines()} == {"prod"}


def test_no_name_lookups_when_no_name_is_shown(env):
    with responses.RequestsMock() as mock:  # unregistered /v3/spaces would fail
        mock.get(f"{API}/v3/audit_events", json=v3_page([v3_event("e1")]))
        result = run(env, "events", "list", "--fields", "guid,space.guid", "-o", "csv")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"guid,space.guid\ne1,{SPACE}\n"


def test_org_level_events_have_empty_space_cells(env):
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/v3/audit_events", json=v3_page([v3_event("e1", space=None)]))
        mock.get(f"{API}/v3/organizations", json=v3_page([{"guid": ORG, "name": "acme"}]))
        result = run(
            env,
            "events",
            "list",
            "--fields",
            "guid,organization.name,space.name",
            "-o",
            "csv",
            "--no-headers",
        )
    assert result.stdout == "e1,acme,\n"


def test_default_limit_note_shows_n_of_m(env):
    events = [
        v3_event(f"e{i:03d}", f"2024-05-01T10:{i // 60:02d}:{i % 60:02d}Z") for i in range(60)
    ][::-1]
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/v3/audit_events", json=v3_page(events[:51], total=1234))
        result = run(env, "events", "list", "--fields", "guid", "-o", "csv", "--no-headers")
        assert ("per_page", "51") in params_of(mock.calls[0])
    assert len(result.stdout.splitlines()) == 50
    assert "showing the newest 50 of 1,234 matching events (the default limit); use --all" in (
        result.stderr
    )


def test_a_refused_request_writes_no_half_document(env):
    body = {
        "errors": [
            {
                "detail": "The query parameter is invalid: types",
                "title": "CF-BadQueryParameter",
                "code": 10005,
            }
        ]
    }
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/v3/audit_events", status=400, json=body)
        result = run(env, "events", "list", "-o", "json")
    assert result.exit_code == 5
    assert result.stdout == ""
    assert "CF-BadQueryParameter" in one_line_error(result)


def test_get_v3(env):
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/v3/audit_events/e1", json=v3_event("e1"))
        mock_names(mock)
        result = run(env, "events", "get", "e1", "-o", "json")
    assert result.exit_code == 0, result.output
    event = json.loads(result.stdout)
    assert event["guid"] == "e1" and event["space"] == {"guid": SPACE, "name": "prod"}
    assert "links" not in event


def test_get_not_found_is_exit_4(env):
    body = {
        "errors": [{"detail": "Event not found", "title": "CF-ResourceNotFound", "code": 10010}]
    }
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/v3/audit_events/nope", status=404, json=body)
        result = run(env, "events", "get", "nope")
    assert result.exit_code == 4
    assert "Event not found" in one_line_error(result)


def test_get_table_is_field_value_pairs(env):
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/v3/audit_events/e1", json=v3_event("e1"))
        mock_names(mock)
        result = run(env, "events", "get", "e1")
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["field", "value"]
    assert any(line.split() == ["space.name", "prod"] for line in lines)


# -- v2 ----------------------------------------------------------------------------------------


def test_list_v2_sends_q_filters_and_follows_relative_next_url(env):
    first = v2_page(
        [v2_event("e3", "2024-05-01T10:00:03Z"), v2_event("e2", "2024-05-01T10:00:02Z")],
        total=3,
        next_url="/v2/events?page=2&results-per-page=2",
    )
    second = v2_page([v2_event("e1", "2024-05-01T10:00:01Z")], total=3)
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/", json=ROOT_V2_ON)
        mock.get(
            f"{API}/v2/events",
            match=[responses.matchers.query_param_matcher({"page": "2", "results-per-page": "2"})],
            json=second,
        )
        mock.get(f"{API}/v2/events", json=first)
        mock_names(mock)
        result = run(
            env,
            "events", "list", "--source", "v2",
            "--type", "app.crash,audit.app.process.crash", "--actee", APP,
            "--space", SPACE, "--org", ORG, "--since", "2024-05-01T00:00:00Z",
            "--created-after", "2024-05-01T00:00:00Z", "--until", "2024-05-02T00:00:00Z",
            "--per-page", "2", "--all", "-o", "csv",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        listing = calls_to(mock, "/v2/events")
        assert params_of(listing[0]) == [
            ("q", "type IN app.crash,audit.app.process.crash"),
            ("q", f"actee:{APP}"),
            ("q", f"space_guid:{SPACE}"),
            ("q", f"organization_guid:{ORG}"),
            ("q", "timestamp>=2024-05-01T00:00:00Z"),
            ("q", "timestamp>2024-05-01T00:00:00Z"),
            ("q", "timestamp<2024-05-02T00:00:00Z"),
            ("order-direction", "desc"),
            ("results-per-page", "2"),
        ]
        assert len(listing) == 2
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["guid"] for r in rows] == ["e3", "e2", "e1"]
    assert rows[0]["space.name"] == "prod" and rows[0]["actor.name"] == "alice@example.com"


def test_v2_and_v3_give_the_same_csv(env):
    at = ["2024-05-01T10:00:02Z", "2024-05-01T10:00:01Z", "2024-05-01T10:00:01Z"]
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/", json=ROOT_V2_ON)
        mock.get(
            f"{API}/v2/events",
            json=v2_page([v2_event(g, t) for g, t in zip("cab", at, strict=True)]),
        )
        mock.get(
            f"{API}/v3/audit_events",
            json=v3_page([v3_event(g, t) for g, t in zip("cba", at, strict=True)]),
        )
        mock_names(mock)
        v2 = run(env, "events", "list", "--source", "v2", "-o", "csv")
        v3 = run(env, "events", "list", "--source", "v3", "-o", "csv")
    assert v2.exit_code == v3.exit_code == 0
    assert v2.stdout == v3.stdout
    # the default limit, no window: the most recent, printed oldest to newest (like tail)
    assert [r["guid"] for r in csv.DictReader(io.StringIO(v3.stdout))] == ["a", "b", "c"]


def test_q_is_passed_through_and_auto_uses_v2_for_it(env):
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/", json=ROOT_V2_ON)
        mock.get(f"{API}/v2/events", json=v2_page([v2_event("e1")]))
        result = run(
            env,
            "events",
            "list",
            "--q",
            "type IN app.crash,audit.app.update",
            "--q",
            "timestamp>=2024-05-01",
            "--fields",
            "guid",
            "-o",
            "csv",
        )
        assert result.exit_code == 0, result.output
        [listing] = calls_to(mock, "/v2/events")
        assert params_of(listing)[:2] == [
            ("q", "type IN app.crash,audit.app.update"),
            ("q", "timestamp>=2024-05-01T00:00:00Z"),
        ]
        assert (
            "type%20IN%20app.crash" in listing.request.url
            or "type+IN+app.crash" in listing.request.url
        )
    assert "--q filters are v2 syntax" in result.stderr


def test_v2_off_per_root_document_is_one_line_exit_5(env):
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/", json=ROOT_V2_OFF)
        result = run(env, "events", "list", "--source", "v2", "-o", "json")
        assert calls_to(mock, "/v2/events") == []
    assert result.exit_code == 5
    assert (
        one_line_error(result)
        == "cfevents: error: this foundation has the v2 API switched off; use --source v3"
    )
    assert result.stdout == ""


def test_v2_off_per_nginx_404_is_one_line_exit_5(env):
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/", json=ROOT_V2_ON)  # a stale root document; nginx still says no
        mock.get(
            f"{API}/v2/events", status=404, body="V2 endpoints disabled", content_type="text/html"
        )
        result = run(env, "events", "list", "--source", "v2", "-o", "json")
    assert result.exit_code == 5
    assert "v2 API switched off; use --source v3" in one_line_error(result)
    assert "JSON" not in result.stderr and result.stdout == ""


def test_v2_off_with_q_says_what_to_use_instead(env):
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/", json=ROOT_V2_OFF)
        result = run(env, "events", "list", "--q", "type:app.crash")
    assert result.exit_code == 5
    assert "--q filters need v2: use --type, --actee" in one_line_error(result)


def test_get_v2(env):
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/", json=ROOT_V2_ON)
        mock.get(f"{API}/v2/events/e1", json=v2_event("e1"))
        mock_names(mock)
        v2 = run(env, "events", "get", "e1", "--source", "v2", "-o", "json")
        mock.get(f"{API}/v3/audit_events/e1", json=v3_event("e1"))
        v3 = run(env, "events", "get", "e1", "-o", "json")
    assert v2.exit_code == 0, v2.output
    assert json.loads(v2.stdout) == json.loads(v3.stdout)


def test_get_v2_off_is_exit_5(env):
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/", json=ROOT_V2_OFF)
        result = run(env, "events", "get", "e1", "--source", "v2")
    assert result.exit_code == 5
    assert "use --source v3" in one_line_error(result)


def test_get_v2_not_found_is_exit_4(env):
    body = {
        "description": "Event could not be found: nope",
        "error_code": "CF-EventNotFound",
        "code": 230002,
    }
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/", json=ROOT_V2_ON)
        mock.get(f"{API}/v2/events/nope", status=404, json=body)
        result = run(env, "events", "get", "nope", "--source", "v2")
    assert result.exit_code == 4
    assert "Event could not be found: nope" in one_line_error(result)


# -- end to end against the sandbox ----------------------------------------------------------------
# conftest's session sandbox (seed 7, fixed END) is read-only.


def csv_rows(result):
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


def sandbox_requests(sb, path):
    return [r for r in sb.requests if r.path == path]


def space_named(sb, space_name, org_name):
    org = next(o for o in sb.foundation.orgs if o.name == org_name)
    return next(s for s in sb.foundation.spaces if s.name == space_name and s.org_guid == org.guid)


def test_v2_and_v3_list_every_event_identically(cli):
    v3 = cli("events", "list", "--all", "-o", "csv", "--source", "v3")
    v2 = cli("events", "list", "--all", "-o", "csv", "--source", "v2")
    assert v2.stdout == v3.stdout
    rows = csv_rows(v3)
    assert [r["guid"] for r in rows] != []
    assert sorted(r["guid"] for r in rows) == sorted(
        e.guid for e in cli.sandbox.foundation.audit_events
    )


def test_crashes_show_up_twice_here(cli):
    rows = csv_rows(
        cli(
            "events",
            "list",
            "--type",
            "app.crash",
            "--type",
            "audit.app.process.crash",
            "--all",
            "-o",
            "csv",
        )
    )
    crashes = cli.sandbox.foundation.crashes()
    assert len(rows) == 2 * len(crashes)
    assert {r["guid"] for r in rows} == {c.process_event_guid for c in crashes} | {
        c.app_event_guid for c in crashes
    }
    [request] = sandbox_requests(cli.sandbox, "/v3/audit_events")
    assert ("types", "app.crash,audit.app.process.crash") in request.params


@pytest.mark.parametrize("source", ["v3", "v2"])
def test_scope_type_and_window_filters_on_the_sandbox(cli, source):
    staging = space_named(cli.sandbox, "staging", "globex")
    since, until = "2026-01-09T00:00:00Z", "2026-01-31T00:00:00Z"
    args = ["--space", "staging", "--org", "globex", "--type", "audit.app.update,app.crash"]
    rows = csv_rows(
        cli(
            "events",
            "list",
            *args,
            "--since",
            since,
            "--until",
            until,
            "--all",
            "--order",
            "asc",
            "-o",
            "csv",
            "--source",
            source,
        )
    )
    expected = [
        e
        for e in cli.sandbox.foundation.audit_events
        if e.space_guid == staging.guid
        and e.type in ("audit.app.update", "app.crash")
        and since <= e.present_v3("")["created_at"] < until
    ]
    assert len(rows) == len(expected) > 5
    assert {r["guid"] for r in rows} == {e.guid for e in expected}
    assert {(r["organization.name"], r["space.name"]) for r in rows} == {("globex", "staging")}
    assert [r["created_at"] for r in rows] == sorted(r["created_at"] for r in rows)


def test_actee_filter(cli):
    app_ = next(c for c in cli.sandbox.foundation.crashes())
    rows = csv_rows(cli("events", "list", "--actee", app_.app_guid, "--all", "-o", "csv"))
    assert rows and {r["target.guid"] for r in rows} == {app_.app_guid}
    assert len(rows) == sum(
        1 for e in cli.sandbox.foundation.audit_events if e.actee == app_.app_guid
    )


def test_raw_q_on_the_sandbox(cli):
    result = cli(
        "events",
        "list",
        "--q",
        "type IN audit.app.start,audit.app.stop",
        "--q",
        "timestamp>=2026-01-20",
        "--all",
        "-o",
        "csv",
    )
    rows = csv_rows(result)
    assert rows and {r["type"] for r in rows} <= {"audit.app.start", "audit.app.stop"}
    assert min(r["created_at"] for r in rows) >= "2026-01-20T00:00:00Z"
    [request] = sandbox_requests(cli.sandbox, "/v2/events")
    assert ("q", "type IN audit.app.start,audit.app.stop") in request.params
    assert ("q", "timestamp>=2026-01-20T00:00:00Z") in request.params


def test_unknown_types_are_allowed(cli):
    result = cli("events", "list", "--type", "audit.something.new", "-o", "json")
    assert result.exit_code == 0 and json.loads(result.stdout) == []


@pytest.mark.parametrize("kind", ["audit.app.process.crash", "audit.organization.update"])
def test_get_gives_the_same_event_from_both_apis(cli, kind):
    event = next(e for e in cli.sandbox.foundation.audit_events if e.type == kind)
    v3 = cli("events", "get", event.guid, "-o", "json")
    v2 = cli("events", "get", event.guid, "-o", "json", "--source", "v2")
    assert v3.exit_code == v2.exit_code == 0, v3.output + v2.output
    assert json.loads(v2.stdout) == json.loads(v3.stdout)
    got = json.loads(v3.stdout)
    assert got["guid"] == event.guid and got["data"] == event.metadata
    orgs = {o.guid: o.name for o in cli.sandbox.foundation.orgs}
    assert got["organization"] == {
        "guid": event.organization_guid,
        "name": orgs[event.organization_guid],
    }


@pytest.mark.parametrize("source", ["v3", "v2"])
def test_get_unknown_guid_is_exit_4(cli, source):
    result = cli("events", "get", "00000000-0000-4000-8000-000000000000", "--source", source)
    assert result.exit_code == 4
    one_line_error(result)


def test_ambiguous_space_for_events(cli):
    result = cli("events", "list", "--space", "prod")
    assert result.exit_code == 2
    assert "space name 'prod' is ambiguous" in one_line_error(result)


@pytest.fixture(scope="module")
def v2_off(tmp_path_factory):
    from cfevents.sandbox import Sandbox, SandboxConfig

    sb = Sandbox(SandboxConfig(seed=5, days=8, v2_enabled=False)).start()
    env = {
        "CF_API": sb.url,
        "CF_TOKEN": sb.admin_token(),
        "CF_HOME": str(tmp_path_factory.mktemp("home")),
        "CFEVENTS_OUTPUT": "",
        "CF_CLIENT_ID": "",
    }
    yield sb, env
    sb.stop()


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["events", "list", "--source", "v2"], "use --source v3"),
        (
            ["events", "get", "00000000-0000-4000-8000-000000000000", "--source", "v2"],
            "use --source v3",
        ),
        (["events", "list", "--q", "type:app.crash"], "--q filters need v2: use --type"),
    ],
)
def test_v2_off_sandbox_is_one_line_exit_5(v2_off, args, hint):
    _, env = v2_off
    result = run(env, *args)
    assert result.exit_code == 5, result.output
    assert hint in one_line_error(result)
    assert result.stdout == ""


def test_v2_off_sandbox_default_source_works(v2_off):
    sb, env = v2_off
    rows = csv_rows(run(env, "events", "list", "--all", "-o", "csv"))
    assert len(rows) == len(sb.foundation.audit_events)
