"""Sandbox fidelity: the v2 endpoints (`/v2/app_usage_events`, `/v2/events`, `/v2/info`)
and the nginx behaviour when v2 is disabled (reference §2, §3, §5)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from cfevents.sandbox import Sandbox, SandboxConfig

END = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
SECOND = 1_000_000


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxConfig(seed=5, end=END)).start() as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def api(sb):
    with requests.Session() as session:
        session.headers["Authorization"] = sb.admin_token()
        yield session


def v2_error(response) -> tuple[int, str, int, str]:
    body = response.json()
    # CC's own order; uncaught errors (UnknownError) list error_code first
    assert list(body) in (
        ["description", "error_code", "code"],
        ["error_code", "description", "code"],
    )
    return response.status_code, body["error_code"], body["code"], body["description"]


def iso(us: int) -> str:
    return datetime.fromtimestamp(us // SECOND, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def events(api, sb, *q: str, **params) -> list[dict]:
    """Every /v2/events resource for these q values, following next_url."""
    out: list[dict] = []
    url = sb.url + "/v2/events"
    query: list[tuple[str, str]] | None = [("q", v) for v in q] + [
        (k.replace("_", "-"), v) for k, v in params.items()
    ]
    while url:
        response = api.get(url, params=query)
        body = response.json()
        assert response.status_code == 200, body
        out += body["resources"]
        url = sb.url + body["next_url"] if body["next_url"] else ""
        query = None
    return out


# -- /v2/app_usage_events ---------------------------------------------------------


def test_usage_event_shape(api, sb):
    response = api.get(sb.url + "/v2/app_usage_events", params={"results-per-page": 3})
    assert response.headers["Content-Type"] == "application/json;charset=utf-8"
    body = response.json()
    assert list(body) == ["total_results", "total_pages", "prev_url", "next_url", "resources"]
    first = body["resources"][0]
    assert list(first["metadata"]) == ["guid", "url", "created_at"]
    assert first["metadata"]["url"] == f"/v2/app_usage_events/{first['metadata']['guid']}"
    assert list(first["entity"]) == [
        "state",
        "previous_state",
        "memory_in_mb_per_instance",
        "previous_memory_in_mb_per_instance",
        "instance_count",
        "previous_instance_count",
        "app_guid",
        "app_name",
        "space_guid",
        "space_name",
        "org_guid",
        "buildpack_guid",
        "buildpack_name",
        "package_state",
        "previous_package_state",
        "parent_app_guid",
        "parent_app_name",
        "process_type",
        "task_name",
        "task_guid",
    ]
    assert body["resources"] == list(sb.foundation.usage_events_v2())[:3]


def test_usage_events_next_url_is_relative_with_sorted_keys(api, sb):
    guids = [e["metadata"]["guid"] for e in sb.foundation.usage_events_v2()]
    body = api.get(
        sb.url + "/v2/app_usage_events", params={"results-per-page": 2, "after_guid": guids[9]}
    ).json()
    assert (
        body["next_url"]
        == f"/v2/app_usage_events?after_guid={guids[9]}&order-direction=asc&page=2&results-per-page=2"
    )
    assert body["prev_url"] is None
    assert [r["metadata"]["guid"] for r in body["resources"]] == guids[10:12]
    desc = api.get(
        sb.url + "/v2/app_usage_events", params={"order-direction": "desc", "results-per-page": 2}
    ).json()
    assert [r["metadata"]["guid"] for r in desc["resources"]] == guids[::-1][:2]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"results-per-page": "10001"},
            (
                400,
                "CF-BadQueryParameter",
                10005,
                "The query parameter is invalid: results_per_page must be <= 10000",
            ),
        ),
        ({"order-by": "id"}, (500, "CF-OrderByParameterInvalid", 10012, "Cannot order by: id")),
        (
            {"q": "state:STARTED"},
            (400, "CF-BadQueryParameter", 10005, "The query parameter is invalid: state"),
        ),
        (
            {"after_guid": "nope"},
            (400, "CF-BadQueryParameter", 10005, "The query parameter is invalid: nope"),
        ),
        (
            {"order-direction": "DESC"},
            (
                400,
                "CF-BadQueryParameter",
                10005,
                "The query parameter is invalid: order_direction must be 'asc' or 'desc' but was 'DESC'",
            ),
        ),
        ({"page": "abc"}, (500, "UnknownError", 10001, "An unknown error occurred.")),
    ],
)
def test_usage_event_list_errors(api, sb, params, expected):
    assert v2_error(api.get(sb.url + "/v2/app_usage_events", params=params)) == expected


def test_usage_event_list_allows_10000_per_page(api, sb):
    body = api.get(sb.url + "/v2/app_usage_events", params={"results-per-page": 10000}).json()
    assert body["total_pages"] == 1 and len(body["resources"]) == sb.foundation.usage_event_count()


def test_global_auditor_may_get_one_but_not_list(sb):
    auditor = {"Authorization": sb.token(["cloud_controller.global_auditor"])}
    listing = requests.get(sb.url + "/v2/app_usage_events", headers=auditor)
    expected = (
        403,
        "CF-InsufficientScope",
        10007,
        "Your token lacks the necessary scopes to access this resource.",
    )
    assert v2_error(listing) == expected
    guid = sb.foundation.usage_event_guid(0)
    assert requests.get(f"{sb.url}/v2/app_usage_events/{guid}", headers=auditor).status_code == 200


def test_usage_event_not_found(api, sb):
    response = api.get(sb.url + "/v2/app_usage_events/missing-guid")
    assert v2_error(response) == (
        404,
        "CF-EventNotFound",
        230002,
        "Event could not be found: missing-guid",
    )


def test_v2_auth_errors_use_the_flat_envelope(sb):
    assert v2_error(requests.get(sb.url + "/v2/events"))[:3] == (401, "CF-NotAuthenticated", 10002)
    bad = {"Authorization": "bearer x.y.z"}
    assert v2_error(requests.get(sb.url + "/v2/events", headers=bad))[:3] == (
        401,
        "CF-InvalidAuthToken",
        1000,
    )
    no_scope = {"Authorization": sb.token(["openid"])}
    assert v2_error(requests.get(sb.url + "/v2/events", headers=no_scope))[:3] == (
        403,
        "CF-InsufficientScope",
        10007,
    )


# -- /v2/events -------------------------------------------------------------------


def test_event_shape_and_org_level_events(api, sb):
    body = api.get(sb.url + "/v2/events", params={"results-per-page": 1}).json()
    resource = body["resources"][0]
    assert list(resource["metadata"]) == ["guid", "url", "created_at", "updated_at"]
    assert list(resource["entity"]) == [
        "type",
        "actor",
        "actor_type",
        "actor_name",
        "actor_username",
        "actee",
        "actee_type",
        "actee_name",
        "timestamp",
        "metadata",
        "space_guid",
        "organization_guid",
    ]
    org_level = events(api, sb, "type:audit.organization.update")
    assert org_level and all(e["entity"]["space_guid"] == "" for e in org_level)


def test_q_equality_in_and_and(api, sb):
    crashes = [e for e in sb.foundation.audit_events_v2() if e["entity"]["type"] == "app.crash"]
    got = events(api, sb, "type:app.crash")
    assert {e["metadata"]["guid"] for e in got} == {e["metadata"]["guid"] for e in crashes}
    both = events(api, sb, "type IN app.crash,audit.app.process.crash")
    assert len(both) == 2 * len(crashes)
    actee = crashes[0]["entity"]["actee"]
    anded = events(api, sb, "type:app.crash", f"actee:{actee}")
    assert anded and all(e["entity"]["actee"] == actee for e in anded)
    # ';' separates clauses inside one q
    assert events(api, sb, f"type:app.crash;actee:{actee}") == anded


def test_events_are_always_ordered_by_timestamp_then_id(api, sb):
    got = events(api, sb, order_by="id", order_direction="desc")
    stamps = [(e["entity"]["timestamp"]) for e in got]
    assert stamps == sorted(stamps, reverse=True)
    assert len(got) == len(sb.foundation.audit_events)


@pytest.mark.parametrize(
    ("operator", "matches"),
    [
        ("<", lambda ts, t: ts < t),
        (">=", lambda ts, t: ts >= t),
        ("<=", lambda ts, t: ts <= t + 999_990),  # 0.99999 s: five nines in v2
        (">", lambda ts, t: ts > t + 999_990),
        (":", lambda ts, t: t <= ts <= t + 999_990),
    ],
)
def test_timestamp_operators(api, sb, operator, matches):
    t = (
        sb.foundation.audit_events[len(sb.foundation.audit_events) // 2].timestamp_us
        // SECOND
        * SECOND
    )
    got = {e["metadata"]["guid"] for e in events(api, sb, f"timestamp{operator}{iso(t)}")}
    assert got == {e.guid for e in sb.foundation.audit_events if matches(e.timestamp_us, t)}
    assert got


def test_timestamp_parsing_is_lenient(api, sb):
    t = sb.foundation.audit_events[10].timestamp_us // SECOND * SECOND
    utc = iso(t)
    minus4 = datetime.fromtimestamp(t // SECOND - 4 * 3600, UTC).strftime("%Y-%m-%d %H:%M:%S-04:00")
    assert events(api, sb, f"timestamp>={minus4}") == events(api, sb, f"timestamp>={utc}")
    plus1 = datetime.fromtimestamp(t // SECOND + 3600, UTC).strftime("%Y-%m-%dT%H:%M:%S+01:00")
    assert events(api, sb, f"timestamp IN {plus1}") == events(api, sb, f"timestamp:{utc}")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"q": "actor:x"},
            (400, "CF-BadQueryParameter", 10005, "The query parameter is invalid: actor"),
        ),
        ({"q": "timestamp>yesterday"}, (500, "UnknownError", 10001, "An unknown error occurred.")),
        (
            {"results-per-page": "101"},
            (
                400,
                "CF-BadQueryParameter",
                10005,
                "The query parameter is invalid: results_per_page must be <= 100",
            ),
        ),
        ({"order-by": "type"}, (500, "CF-OrderByParameterInvalid", 10012, "Cannot order by: type")),
    ],
)
def test_event_list_errors(api, sb, params, expected):
    assert v2_error(api.get(sb.url + "/v2/events", params=params)) == expected


def test_events_next_url_repeats_q_and_order_by(api, sb):
    body = api.get(
        sb.url + "/v2/events", params=[("q", "type:app.crash"), ("results-per-page", "5")]
    ).json()
    assert (
        body["next_url"]
        == "/v2/events?order-by=timestamp&order-by=id&order-direction=asc&page=2&q=type:app.crash&results-per-page=5"
    )
    assert api.get(sb.url + body["next_url"]).status_code == 200
    empty = api.get(sb.url + "/v2/events", params={"q": "type:nothing"}).json()
    assert (empty["total_results"], empty["total_pages"], empty["next_url"]) == (0, 1, None)


def test_event_get_and_not_found(api, sb):
    event = next(sb.foundation.audit_events_v2())
    assert api.get(sb.url + event["metadata"]["url"]).json() == event
    response = api.get(sb.url + "/v2/events/nope")
    assert v2_error(response) == (404, "CF-EventNotFound", 230002, "Event could not be found: nope")


# -- v2 disabled ------------------------------------------------------------------


def test_v2_disabled_looks_like_nginx():
    with Sandbox(SandboxConfig(seed=5, end=END, usage_events=20, v2_enabled=False)).start() as off:
        headers = {"Authorization": off.admin_token()}
        for path in ("/v2/events", "/v2/app_usage_events", "/v2/nonsense"):
            response = requests.get(off.url + path, headers=headers)
            assert (response.status_code, response.text) == (404, "V2 endpoints disabled")
            assert response.headers["Content-Type"] == "text/html"
        info = requests.get(off.url + "/v2/info").json()
        assert (info["support"], info["api_version"]) == ("CF API v2 is disabled", "")
        assert "cloud_controller_v2" not in requests.get(off.url + "/").json()["links"]
        off.set_v2_enabled(True)
        assert requests.get(off.url + "/v2/events", headers=headers).status_code == 200
        assert (
            requests.get(off.url + "/").json()["links"]["cloud_controller_v2"]["href"]
            == off.url + "/v2"
        )
        assert requests.get(off.url + "/v2/info").json()["api_version"] != ""
