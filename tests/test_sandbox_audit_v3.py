"""Sandbox fidelity: `/v3/audit_events` (crash pairs, filters, 400s) and the
organizations, spaces and apps endpoints (reference §3.4, §4)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from cfevents.sandbox import Sandbox, SandboxConfig

END = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
SECOND = 1_000_000
PATH = "/v3/audit_events"
VALID = (
    "Valid parameters are: 'page', 'per_page', 'order_by', 'created_ats', 'updated_ats', 'guids', "
    "'types', 'target_guids', 'space_guids', 'organization_guids'"
)


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxConfig(seed=9, end=END)).start() as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def api(sb):
    with requests.Session() as session:
        session.headers["Authorization"] = sb.admin_token()
        yield session


def listing(api, sb, path=PATH, **params) -> list[dict]:
    response = api.get(sb.url + path, params={"per_page": 5000, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["pagination"]["total_results"] == len(body["resources"])
    return body["resources"]


def error(response) -> tuple[int, str, int, str]:
    (only,) = response.json()["errors"]
    return response.status_code, only["title"], only["code"], only["detail"]


def iso(us: int) -> str:
    return datetime.fromtimestamp(us // SECOND, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- crash pairs ------------------------------------------------------------------


def test_volumes(sb):
    f = sb.foundation
    assert 100 <= len(f.crashes()) <= 200
    others = [e for e in f.audit_events if e.type not in ("app.crash", "audit.app.process.crash")]
    assert len(others) >= 200
    per_app: dict[str, int] = {}
    for crash in f.crashes():
        per_app[crash.app_guid] = per_app.get(crash.app_guid, 0) + 1
    assert max(per_app.values()) >= 15  # a crash loop
    assert len(per_app) < len(f.apps)  # most apps never crash


def test_every_crash_is_written_as_the_real_pair(api, sb):
    by_guid = {e["guid"]: e for e in listing(api, sb)}
    ids = {e.guid: e.id for e in sb.foundation.audit_events}
    counts_seen: dict[tuple[str, int], list[int]] = {}
    for crash in sb.foundation.crashes():
        process_event, app_event = by_guid[crash.process_event_guid], by_guid[crash.app_event_guid]
        assert 0 < ids[crash.app_event_guid] - ids[crash.process_event_guid] <= 3
        assert process_event["type"] == "audit.app.process.crash"
        assert process_event["actor"] == {
            "guid": crash.process_guid,
            "type": "process",
            "name": crash.process_type,
        }
        assert process_event["target"] == {
            "guid": crash.app_guid,
            "type": "app",
            "name": crash.app_name,
        }
        assert [k for k in process_event["data"] if k != "exit_status"] == [
            "instance",
            "index",
            "cell_id",
            "reason",
            "exit_description",
            "crash_count",
            "crash_timestamp",
            "version",
        ]  # exit_status (omitempty) follows reason when Diego reports it
        assert process_event["data"]["reason"] == "CRASHED"
        assert isinstance(process_event["data"]["crash_timestamp"], int)
        assert process_event["data"]["crash_timestamp"] > 10**18  # nanoseconds
        assert app_event["type"] == "app.crash"
        assert app_event["actor"] == {"guid": crash.app_guid, "type": "app", "name": crash.app_name}
        assert "crash_count" not in app_event["data"] and "crash_timestamp" not in app_event["data"]
        assert app_event["data"]["exit_description"] == crash.exit_description
        assert app_event["data"].get("exit_status") == crash.exit_status
        assert app_event["space"] == {"guid": crash.space_guid}
        counts_seen.setdefault((crash.app_guid, crash.index), []).append(crash.crash_count)
    assert any(
        counts == list(range(1, len(counts) + 1)) and len(counts) > 3
        for counts in counts_seen.values()
    )
    statuses = [c.exit_status for c in sb.foundation.crashes()]
    assert None in statuses and any(isinstance(s, str) for s in statuses)
    assert any(isinstance(s, int) for s in statuses)  # real foundations send both (issue 10)
    assert len({c.exit_description for c in sb.foundation.crashes()}) >= 3


def test_some_pairs_straddle_a_second_boundary(sb):
    stamps = {e.guid: e.timestamp_us for e in sb.foundation.audit_events}
    assert any(
        stamps[c.process_event_guid] // SECOND != stamps[c.app_event_guid] // SECOND
        for c in sb.foundation.crashes()
    )


def test_org_level_events_have_no_space(api, sb):
    org_events = listing(api, sb, types="audit.organization.update")
    assert org_events and all(e["space"] is None and e["organization"]["guid"] for e in org_events)


# -- filters ------------------------------------------------------------------------


def test_type_target_space_and_org_filters(api, sb):
    crash = sb.foundation.crashes()[0]
    both_types = "app.crash,audit.app.process.crash"
    got = listing(api, sb, types=both_types, target_guids=crash.app_guid)
    assert {e["guid"] for e in got} >= {crash.process_event_guid, crash.app_event_guid}
    assert all(e["target"]["guid"] == crash.app_guid for e in got)
    excluded = listing(api, sb, types=both_types, **{"target_guids[not]": crash.app_guid})
    assert excluded and all(e["target"]["guid"] != crash.app_guid for e in excluded)
    assert len(got) + len(excluded) == 2 * len(sb.foundation.crashes())
    in_space = listing(api, sb, space_guids=crash.space_guid)
    assert in_space and all(e["space"] == {"guid": crash.space_guid} for e in in_space)
    in_org = listing(api, sb, organization_guids=crash.org_guid)
    assert all(e["organization"] == {"guid": crash.org_guid} for e in in_org)
    assert len(in_org) > len(in_space)


def test_created_at_is_the_timestamp_to_the_microsecond(api, sb):
    """CC fills the created_at and timestamp columns from one clock reading (issue 10):
    the created_ats filter (on created_at) finds every event at the second it shows."""
    assert all(e.created_at_us == e.timestamp_us for e in sb.foundation.audit_events)
    late = [e for e in sb.foundation.audit_events if e.timestamp_us % SECOND > SECOND - 1000]
    assert late  # written in the last millisecond of a second: no drift into the next one
    for event in late[:5]:
        got = listing(api, sb, created_ats=iso(event.timestamp_us))
        shown = next(e for e in got if e["guid"] == event.guid)
        assert shown["created_at"] == shown["updated_at"] == iso(event.timestamp_us)
        assert all(e["created_at"] == iso(event.timestamp_us) for e in got)
        assert event.guid not in {
            e["guid"] for e in listing(api, sb, created_ats=iso(event.timestamp_us + SECOND))
        }


def test_order_by_created_at_descending(api, sb):
    got = [e["guid"] for e in listing(api, sb, order_by="-created_at")]
    by_column = sorted(
        sb.foundation.audit_events, key=lambda e: (e.created_at_us, e.guid), reverse=True
    )
    assert got == [e.guid for e in by_column]
    assert [e["guid"] for e in listing(api, sb)] == [
        e.guid for e in sb.foundation.audit_events
    ]  # id order


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"foo": "1"}, f"Unknown query parameter(s): 'foo'. {VALID}"),
        ({"after_guid": "x"}, f"Unknown query parameter(s): 'after_guid'. {VALID}"),
        ({"per_page": "5001"}, "Per page must be between 1 and 5000"),
        ({"order_by": "timestamp"}, "Order by can only be: 'created_at', 'updated_at'"),
        ({"target_guids[in]": "x"}, "Target guids target_guids has an invalid operator"),
        (
            {"created_ats[gt]": "2026-01-01"},
            "Created ats has an invalid timestamp format. Timestamps should be formatted as 'YYYY-MM-DDThh:mm:ssZ'",
        ),
    ],
)
def test_invalid_params_are_400_bad_query_parameter(api, sb, params, detail):
    response = api.get(sb.url + PATH, params=params)
    assert error(response) == (
        400,
        "CF-BadQueryParameter",
        10005,
        f"The query parameter is invalid: {detail}",
    )


def test_get_one_audit_event(api, sb):
    event = next(sb.foundation.audit_events_v3(sb.url))
    assert api.get(event["links"]["self"]["href"]).json() == event
    assert error(api.get(sb.url + PATH + "/missing")) == (
        404,
        "CF-ResourceNotFound",
        10010,
        "Event not found",
    )


def test_non_global_readers_see_no_audit_events(sb):
    reader = {"Authorization": sb.token(["cloud_controller.read"])}
    body = requests.get(sb.url + PATH, headers=reader).json()
    assert body["pagination"]["total_results"] == 0


# -- organizations, spaces, apps ----------------------------------------------------


def test_space_and_app_names_are_ambiguous(api, sb):
    orgs = listing(api, sb, "/v3/organizations")
    assert sorted(o["name"] for o in orgs) == ["acme", "globex", "initech"]
    prods = listing(api, sb, "/v3/spaces", names="prod")
    assert len(prods) == 3
    assert {s["relationships"]["organization"]["data"]["guid"] for s in prods} == {
        o["guid"] for o in orgs
    }
    assert len(listing(api, sb, "/v3/spaces")) == 7
    apis = listing(api, sb, "/v3/apps", names="api")
    assert len({a["relationships"]["space"]["data"]["guid"] for a in apis}) >= 3
    assert [a["name"] for a in listing(api, sb, "/v3/apps", names="[beta]-search")] == [
        "[beta]-search"
    ]


def test_resource_filters_and_shapes(api, sb):
    org = sb.foundation.orgs[0]
    spaces = listing(api, sb, "/v3/spaces", organization_guids=org.guid)
    assert {s["guid"] for s in spaces} == {
        s.guid for s in sb.foundation.spaces if s.org_guid == org.guid
    }
    space = spaces[0]
    apps = listing(api, sb, "/v3/apps", space_guids=space["guid"])
    assert apps and all(a["relationships"]["space"]["data"]["guid"] == space["guid"] for a in apps)
    assert all(a["state"] in ("STARTED", "STOPPED") for a in apps)
    one = api.get(apps[0]["links"]["self"]["href"]).json()
    assert one == apps[0]
    assert api.get(space["links"]["self"]["href"]).json() == space
    assert api.get(f"{sb.url}/v3/organizations/{org.guid}").json()["name"] == org.name
    names = [a["name"] for a in listing(api, sb, "/v3/apps", order_by="-name")]
    assert names == sorted(names, reverse=True)


@pytest.mark.parametrize(
    ("path", "label"),
    [("/v3/apps", "App"), ("/v3/spaces", "Space"), ("/v3/organizations", "Organization")],
)
def test_resource_errors(api, sb, path, label):
    assert error(api.get(f"{sb.url}{path}/missing")) == (
        404,
        "CF-ResourceNotFound",
        10010,
        f"{label} not found",
    )
    status, title, code, detail = error(api.get(sb.url + path, params={"bogus": "1"}))
    assert (status, title, code) == (400, "CF-BadQueryParameter", 10005)
    assert detail.startswith("The query parameter is invalid: Unknown query parameter(s): 'bogus'.")
    assert error(api.get(sb.url + path, params={"per_page": "0"}))[3].endswith(
        "Per page must be a positive integer"
    )


def test_platform_events_have_no_org_and_some_have_no_names(api, sb):
    """Real foundations: brokers belong to no org, visibilities to no space, bindings have no name."""
    events = listing(api, sb, per_page=5000)
    kinds = {e["type"].split(".")[1] for e in events}
    assert {"service_broker", "service_plan_visibility", "service_instance", "route"} <= kinds
    brokers = [e for e in events if e["type"].startswith("audit.service_broker.")]
    assert brokers and all(e["organization"] is None and e["space"] is None for e in brokers)
    visibilities = [e for e in events if e["type"] == "audit.service_plan_visibility.create"]
    assert visibilities and all(
        e["space"] is None and e["organization"]["guid"] and e["target"]["name"] == ""
        for e in visibilities
    )
    bindings = [e for e in events if e["type"] == "audit.service_binding.create"]
    assert bindings and all(e["target"]["name"] == "" for e in bindings)
    v2 = api.get(sb.url + "/v2/events", params={"q": "type:audit.service_broker.update"}).json()
    assert v2["resources"] and all(
        r["entity"]["organization_guid"] == "" == r["entity"]["space_guid"] for r in v2["resources"]
    )
