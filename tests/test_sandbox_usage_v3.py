"""Sandbox fidelity: `GET /v3/app_usage_events` behaves as Cloud Controller's does.

Every expectation here comes from the CC source (see shared/reference/cloud-controller-api.md
§1): error codes and joined messages, whole-second window widening, link formats.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from http.client import HTTPConnection
from urllib.parse import urlsplit

import pytest
import requests

from cfevents.sandbox import Sandbox, SandboxConfig

END = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
SECOND = 1_000_000
PATH = "/v3/app_usage_events"


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxConfig(seed=3, end=END)).start() as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def http(sb):
    with requests.Session() as session:
        session.headers["Authorization"] = sb.admin_token()
        yield session


def get(http, sb, params=None, path=PATH, **kwargs):
    return http.get(sb.url + path, params=params, **kwargs)


def iso(us: int) -> str:
    return datetime.fromtimestamp(us // SECOND, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def created(sb) -> dict[str, int]:
    f = sb.foundation
    return {
        f.usage_event_guid(i): f.usage_event_created_at_us(i) for i in range(f.usage_event_count())
    }


def fetch_all(http, sb, params) -> list[dict]:
    """Follow `next` links verbatim."""
    url, out = sb.url + PATH, []
    response = http.get(url, params={**params, "per_page": 5000})
    while True:
        body = response.json()
        assert response.status_code == 200, body
        out += body["resources"]
        if body["pagination"]["next"] is None:
            return out
        response = http.get(body["pagination"]["next"]["href"])


def error(response) -> tuple[int, str, int, str]:
    (only,) = response.json()["errors"]
    assert list(only) == ["detail", "title", "code"]
    return response.status_code, only["title"], only["code"], only["detail"]


# -- shape and pagination ---------------------------------------------------------


def test_first_page_defaults_and_absolute_sorted_links(http, sb):
    response = get(http, sb)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["X-VCAP-Request-ID"]
    body = response.json()
    total = sb.foundation.usage_event_count()
    pages = -(-total // 50)
    assert body["pagination"] == {
        "total_results": total,
        "total_pages": pages,
        "first": {"href": f"{sb.url}{PATH}?page=1&per_page=50"},
        "last": {"href": f"{sb.url}{PATH}?page={pages}&per_page=50"},
        "next": {"href": f"{sb.url}{PATH}?page=2&per_page=50"},
        "previous": None,
    }
    assert body["resources"] == list(sb.foundation.usage_events_v3(sb.url))[:50]


def test_natural_month_size():
    # 2,000-4,000 events for a 30-day month, whatever the seed
    for seed in (1, 2, 3):
        assert (
            2000
            <= Sandbox(SandboxConfig(seed=seed, end=END)).foundation.usage_event_count()
            <= 4000
        )


def test_presenter_shape(http, sb):
    events = list(sb.foundation.usage_events_v3(sb.url))
    for event in events:
        assert list(event) == [
            "guid",
            "created_at",
            "updated_at",
            "state",
            "app",
            "process",
            "space",
            "organization",
            "buildpack",
            "task",
            "memory_in_mb_per_instance",
            "instance_count",
            "links",
        ]
        assert event["updated_at"] == event["created_at"]
        assert datetime.strptime(event["created_at"], "%Y-%m-%dT%H:%M:%SZ")
        assert event["links"]["self"]["href"] == f"{sb.url}{PATH}/{event['guid']}"
    states = {e["state"]["current"] for e in events}
    assert {
        "STAGING_STARTED",
        "STAGING_STOPPED",
        "BUILDPACK_SET",
        "TASK_STARTED",
        "TASK_STOPPED",
    } <= states
    tasks = [e for e in events if e["state"]["current"].startswith("TASK_")]
    assert all(e["process"] == {"guid": None, "type": None} and e["task"]["guid"] for e in tasks)
    assert all(e["instance_count"]["current"] == 1 for e in tasks)
    assert any(
        e["state"]["previous"] is None and e["instance_count"]["previous"] is None for e in events
    )
    assert any(e["buildpack"]["guid"] is None for e in events) and any(
        e["buildpack"]["guid"] for e in events
    )
    scales = [e for e in events if e["state"] == {"current": "STARTED", "previous": "STARTED"}]
    assert any(e["instance_count"]["current"] != e["instance_count"]["previous"] for e in scales)
    # the newest event is minutes old at `end`, never in the future
    newest = max(created(sb).values())
    assert 60 * SECOND < int(END.timestamp()) * SECOND - newest < 20 * 60 * SECOND


def test_created_at_is_not_monotonic_in_id_order(sb):
    values = list(created(sb).values())
    inversions = [i for i in range(1, len(values)) if values[i] < values[i - 1]]
    assert inversions
    assert all(SECOND <= values[i - 1] - values[i] <= 3 * SECOND for i in inversions)
    seconds = [v // SECOND for v in values]
    assert len(seconds) - len(set(seconds)) > 10  # many events share a whole second


def test_follow_next_links_gives_every_event_in_id_order(http, sb):
    expected = [e["guid"] for e in sb.foundation.usage_events_v3()]
    assert [e["guid"] for e in fetch_all(http, sb, {})] == expected


def test_keyset_paging_with_after_guid(http, sb):
    guids = [e["guid"] for e in sb.foundation.usage_events_v3()]
    response = get(http, sb, {"after_guid": guids[99], "per_page": 10})
    body = response.json()
    assert [e["guid"] for e in body["resources"]] == guids[100:110]
    assert body["pagination"]["total_results"] == len(guids) - 100
    next_href = body["pagination"]["next"]["href"]
    assert next_href == f"{sb.url}{PATH}?after_guid={guids[99]}&page=2&per_page=10"


def test_page_past_the_end_and_empty_results(http, sb):
    total = sb.foundation.usage_event_count()
    body = get(http, sb, {"page": 9999, "per_page": 100}).json()
    assert body["resources"] == []
    assert body["pagination"]["next"] is None
    assert body["pagination"]["previous"]["href"].endswith("page=9998&per_page=100")
    assert body["pagination"]["total_results"] == total

    empty = get(http, sb, {"created_ats[lt]": "2000-01-01T00:00:00Z"}).json()["pagination"]
    assert empty["total_results"] == 0 and empty["total_pages"] == 1
    assert empty["last"]["href"] == empty["first"]["href"]
    assert "page=1&" in empty["last"]["href"] and empty["next"] is None


def test_links_echo_filters_cgi_escaped_and_order_by_with_sign(http, sb):
    guid = sb.foundation.usage_event_guid(5)
    params = {
        "order_by": "created_at",
        "created_ats[gte]": "2026-02-01T00:00:00Z",
        "after_guid": guid,
    }
    href = get(http, sb, {**params, "per_page": 2}).json()["pagination"]["first"]["href"]
    assert href == (
        f"{sb.url}{PATH}?after_guid={guid}&created_ats%5Bgte%5D=2026-02-01T00%3A00%3A00Z"
        "&order_by=%2Bcreated_at&page=1&per_page=2"
    )
    href = get(http, sb, {"order_by": "-created_at", "guids": "a,b"}).json()["pagination"]["first"][
        "href"
    ]
    assert urlsplit(href).query == "guids=a%2Cb&order_by=-created_at&page=1&per_page=50"
    # page and per_page are echoed as integers (Ruby's to_i): "0007" is 7
    href = get(http, sb, {"per_page": "0007"}).json()["pagination"]["first"]["href"]
    assert href.endswith("?page=1&per_page=7")


def test_external_url_is_used_for_every_link():
    config = SandboxConfig(
        seed=3, end=END, usage_events=30, external_url="https://api.example.test"
    )
    with Sandbox(config).start() as proxied, requests.Session() as session:
        body = session.get(
            proxied.url + PATH, headers={"Authorization": proxied.admin_token()}
        ).json()
        assert (
            body["pagination"]["first"]["href"]
            == f"https://api.example.test{PATH}?page=1&per_page=50"
        )
        assert body["resources"][0]["links"]["self"]["href"].startswith(
            "https://api.example.test/v3/"
        )
        root = session.get(proxied.url + "/").json()["links"]
        assert root["self"]["href"] == "https://api.example.test"


# -- filters ----------------------------------------------------------------------


def a_crowded_second(sb) -> int:
    """A whole second (µs) holding at least two events."""
    counts: dict[int, int] = {}
    for value in created(sb).values():
        counts[value // SECOND] = counts.get(value // SECOND, 0) + 1
    return max(counts, key=lambda s: (counts[s], s)) * SECOND


@pytest.mark.parametrize(
    ("operator", "matches"),
    [
        ("lt", lambda c, t: c < t),
        ("lte", lambda c, t: c < t + SECOND),  # widened by 0.999999 s
        ("gt", lambda c, t: c >= t + SECOND),  # from the next whole second
        ("gte", lambda c, t: c >= t),
    ],
)
def test_relational_created_ats_widen_to_whole_seconds(http, sb, operator, matches):
    t = a_crowded_second(sb)
    got = {e["guid"] for e in fetch_all(http, sb, {f"created_ats[{operator}]": iso(t)})}
    assert got == {g for g, c in created(sb).items() if matches(c, t)}


def test_gte_and_lt_is_exactly_a_half_open_window(http, sb):
    t = a_crowded_second(sb)
    params = {"created_ats[gte]": iso(t - 6 * 3600 * SECOND), "created_ats[lt]": iso(t)}
    got = [e["guid"] for e in fetch_all(http, sb, params)]
    expected = [g for g, c in created(sb).items() if t - 6 * 3600 * SECOND <= c < t]
    assert got == expected and expected


def test_equality_is_an_or_of_whole_seconds(http, sb):
    t = a_crowded_second(sb)
    other = t - 7 * 86400 * SECOND
    got = [e["guid"] for e in fetch_all(http, sb, {"created_ats": f"{iso(t)}, {iso(other)}"})]
    expected = [g for g, c in created(sb).items() if c // SECOND in (t // SECOND, other // SECOND)]
    assert got == expected and len(expected) >= 2


def test_guids_filter_comma_list_and_rack_quirks(http, sb):
    guids = [sb.foundation.usage_event_guid(i) for i in (3, 1, 2)]
    got = [e["guid"] for e in get(http, sb, {"guids": ",".join(guids)}).json()["resources"]]
    assert got == sorted(guids, key=lambda g: int(g[-12:], 16))  # id order, not request order
    # a repeated key keeps only the last value (Rack)
    assert [
        e["guid"]
        for e in get(http, sb, [("guids", guids[0]), ("guids", guids[1])]).json()["resources"]
    ] == [guids[1]]
    # the guids[]= form is not an error, but matches nothing (Ruby stringifies the array)
    response = get(http, sb, [("guids[]", guids[0]), ("guids[]", guids[1])])
    assert response.status_code == 200 and response.json()["pagination"]["total_results"] == 0
    # a guid that looks right but was never issued
    fake = guids[0][:-12] + "0000000fffff"
    assert get(http, sb, {"guids": fake}).json()["resources"] == []


@pytest.mark.parametrize("descending", [False, True])
def test_order_by_created_at_sorts_by_created_at_then_guid(http, sb, descending):
    key = "-created_at" if descending else "created_at"
    got = [e["guid"] for e in fetch_all(http, sb, {"order_by": key})]
    stamps = created(sb)
    assert got == sorted(stamps, key=lambda g: (stamps[g], g), reverse=descending)
    assert got != [e["guid"] for e in sb.foundation.usage_events_v3()][:: -1 if descending else 1]


# -- validation ---------------------------------------------------------------------

UNPROCESSABLE = (422, "CF-UnprocessableEntity", 10008)
BAD_FORMAT = "Created ats has an invalid timestamp format. Timestamps should be formatted as 'YYYY-MM-DDThh:mm:ssZ'"


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        (
            {"foo": "1", "bar": "2"},
            "Unknown query parameter(s): 'foo', 'bar'. Valid parameters are: 'page', 'per_page', "
            "'order_by', 'created_ats', 'updated_ats', 'guids', 'after_guid'",
        ),
        ({"page": "0"}, "Page must be a positive integer"),
        ({"page": "abc"}, "Page must be a positive integer"),
        ({"page": "-1"}, "Page must be a positive integer"),
        ({"per_page": "0"}, "Per page must be a positive integer"),
        ({"per_page": "5001"}, "Per page must be between 1 and 5000"),
        ({"order_by": "updated_at"}, "Order by can only be: 'created_at'"),
        ({"order_by": "+created_at "}, "Order by can only be: 'created_at'"),
        ({"after_guid": "a,b"}, "After guid filter accepts only one guid"),
        ({"after_guid": "not-a-guid"}, "After guid filter must be a valid app usage event guid."),
        (
            {"updated_ats": "2026-01-01T00:00:00Z"},
            "Filtering by 'updated_ats' is not allowed on this resource.",
        ),
        ({"created_ats": "2026-01-01T00:00:00.5Z"}, BAD_FORMAT),
        ({"created_ats": "2026-01-01T00:00:00+00:00"}, BAD_FORMAT),
        ({"created_ats": "2026-01-01T00:00:00z"}, BAD_FORMAT),
        ({"created_ats": "2026-01-01"}, BAD_FORMAT),
        ({"created_ats[gt]": "1767225600"}, BAD_FORMAT),
        (
            {"created_ats[after]": "2026-01-01T00:00:00Z"},
            "Created ats Invalid relational operator: 'after'",
        ),
        (
            {"created_ats[lt]": "2026-01-01T00:00:00Z,2026-01-02T00:00:00Z"},
            "Created ats only accepts one value when using a relational operator",
        ),
        (
            {
                "page": "0",
                "per_page": "9999",
                "created_ats": "yesterday",
                "foo": "x",
                "updated_ats": "x",
            },
            "Page must be a positive integer, Per page must be between 1 and 5000, "
            f"{BAD_FORMAT}, {BAD_FORMAT.replace('Created', 'Updated')}, "
            "Unknown query parameter(s): 'foo'. Valid parameters are: 'page', 'per_page', 'order_by', "
            "'created_ats', 'updated_ats', 'guids', 'after_guid', "
            "Filtering by 'updated_ats' is not allowed on this resource.",
        ),
    ],
)
def test_invalid_params_are_422_with_cc_messages(http, sb, params, detail):
    assert error(get(http, sb, params)) == (*UNPROCESSABLE, detail)


def test_mixing_equality_and_relational_created_ats_is_a_rack_error(http, sb):
    mixed = f"{sb.url}{PATH}?created_ats=2026-02-01T00:00:00Z&created_ats[gt]=2026-02-02T00:00:00Z"
    assert error(http.get(mixed)) == (400, "CF-InvalidRequest", 10004, "The request is invalid")
    # the other order is fine for Rack: the plain value replaces the hash
    reversed_order = (
        f"{sb.url}{PATH}?created_ats[gt]=2026-02-02T00:00:00Z&created_ats=2026-02-01T00:00:00Z"
    )
    response = http.get(reversed_order)
    assert response.status_code == 200
    assert "created_ats=2026-02-01T00%3A00%3A00Z" in response.json()["pagination"]["first"]["href"]


def test_malformed_percent_escape_is_a_bad_request(sb):
    # requests would re-quote "%zz", so send the raw request line
    connection = HTTPConnection(urlsplit(sb.url).netloc)
    connection.request("GET", f"{PATH}?guids=%zz", headers={"Authorization": sb.admin_token()})
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    assert response.status == 400
    assert body == {
        "errors": [
            {"detail": "The request is invalid", "title": "CF-InvalidRequest", "code": 10004}
        ]
    }


def test_stale_after_guid_only_fails_for_global_readers(http, sb):
    reader = {"Authorization": sb.token(["cloud_controller.read"])}
    response = get(http, sb, {"after_guid": "gone"}, headers=reader)
    assert response.status_code == 200 and response.json()["resources"] == []


# -- permissions and authentication ------------------------------------------------


@pytest.mark.parametrize(
    "scope", ["cloud_controller.admin_read_only", "cloud_controller.global_auditor"]
)
def test_global_readers_see_everything(http, sb, scope):
    body = get(http, sb, headers={"Authorization": sb.token([scope])}).json()
    assert body["pagination"]["total_results"] == sb.foundation.usage_event_count()


def test_other_users_get_200_and_nothing(http, sb):
    headers = {"Authorization": sb.token(["cloud_controller.read", "openid"])}
    body = get(http, sb, headers=headers).json()
    assert body["pagination"]["total_results"] == 0 and body["resources"] == []
    guid = sb.foundation.usage_event_guid(0)
    response = get(http, sb, path=f"{PATH}/{guid}", headers=headers)
    assert error(response) == (404, "CF-ResourceNotFound", 10010, "App usage event not found")


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        (None, (401, "CF-NotAuthenticated", 10002, "Authentication error")),
        ("Basic Y2Y6", (401, "CF-NotAuthenticated", 10002, "Authentication error")),
        ("bearer not-a-jwt", (401, "CF-InvalidAuthToken", 1000, "Invalid Auth Token")),
        ("bearertoken", (401, "CF-InvalidAuthToken", 1000, "Invalid Auth Token")),
    ],
)
def test_authentication_errors(sb, authorization, expected):
    headers = {} if authorization is None else {"Authorization": authorization}
    assert error(requests.get(sb.url + PATH, headers=headers)) == expected


def test_expired_and_tampered_tokens_are_invalid(sb):
    expired = sb.token(["cloud_controller.admin"], expired=True)
    assert error(requests.get(sb.url + PATH, headers={"Authorization": expired}))[2] == 1000
    head, body, _ = sb.admin_token().split(" ")[1].split(".")
    other_signature = sb.token(["openid"]).split(".")[2]  # valid, but for other claims
    forged = f"bearer {head}.{body}.{other_signature}"
    assert error(requests.get(sb.url + PATH, headers={"Authorization": forged}))[2] == 1000


def test_bearer_scheme_is_case_insensitive(sb):
    token = sb.admin_token().split(" ")[1]
    assert (
        requests.get(sb.url + PATH, headers={"Authorization": f"BEARER {token}"}).status_code == 200
    )


def test_token_without_read_scope_is_forbidden(sb):
    headers = {"Authorization": sb.token(["openid", "cloud_controller.write"])}
    expected = (
        403,
        "CF-NotAuthorized",
        10003,
        "You are not authorized to perform the requested action",
    )
    assert error(requests.get(sb.url + PATH, headers=headers)) == expected


# -- single event and unknown routes -----------------------------------------------


def test_get_one_event(http, sb):
    event = next(iter(sb.foundation.usage_events_v3(sb.url)))
    assert get(http, sb, path=f"{PATH}/{event['guid']}").json() == event
    missing = get(http, sb, path=f"{PATH}/{event['guid'][:-1]}0")
    assert error(missing) == (404, "CF-ResourceNotFound", 10010, "App usage event not found")


def test_unknown_route_is_v3_not_found(http, sb):
    assert error(get(http, sb, path="/v3/nothing_here")) == (
        404,
        "CF-NotFound",
        10000,
        "Unknown request",
    )
    assert error(http.delete(sb.url + PATH)) == (404, "CF-NotFound", 10000, "Unknown request")
