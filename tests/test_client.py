"""Client edge cases the sandbox cannot produce, with `responses` mocks."""

import pytest
import requests
import responses
from jwt_helpers import make_jwt

from cfevents.cc.client import CFClient
from cfevents.cc.config import Credentials, Settings
from cfevents.cc.paging import PageInfo, resources, v2_pages, v3_pages
from cfevents.cc.retry import server_delay
from cfevents.errors import ApiError, AuthError, ExitCode, NetworkError, V2DisabledError

API = "https://api.example.com"


def make_client(token=None, refresh=None, retries=3, **cred):
    creds = Credentials(
        access_token=token or f"bearer {make_jwt()}",
        refresh_token=refresh,
        auth_endpoint=cred.pop("auth_endpoint", "https://login.example.com"),
        source="test",
        **cred,
    )
    sleeps = []
    client = CFClient(Settings(api=API, credentials=creds, retries=retries), sleep=sleeps.append)
    return client, sleeps


@responses.activate
def test_v3_error_envelope_becomes_api_error_with_request_id():
    responses.get(
        f"{API}/v3/app_usage_events",
        status=422,
        json={
            "errors": [
                {
                    "detail": "Per page must be between 1 and 5000",
                    "title": "CF-UnprocessableEntity",
                    "code": 10008,
                }
            ]
        },
        headers={"X-VCAP-Request-ID": "rid-1"},
    )
    client, _ = make_client()
    with pytest.raises(ApiError) as info:
        client.get_json("/v3/app_usage_events", [("per_page", "0")])
    err = info.value
    assert (err.status, err.title, err.code) == (422, "CF-UnprocessableEntity", 10008)
    assert err.exit_code == ExitCode.API
    assert "Per page must be between 1 and 5000" in err.message
    assert "rid-1" in err.message


@responses.activate
def test_v2_error_envelope():
    responses.get(
        f"{API}/v2/events",
        status=500,
        json={
            "error_code": "UnknownError",
            "description": "An unknown error occurred.",
            "code": 10001,
        },
    )
    client, sleeps = make_client()
    with pytest.raises(ApiError, match="UnknownError") as info:
        client.get_json("/v2/events")
    assert info.value.exit_code == ExitCode.API
    assert sleeps == []  # a 500 is not retried blindly
    assert len(responses.calls) == 1


@responses.activate
def test_v2_disabled_plain_text_404_is_clean():
    responses.get(
        f"{API}/v2/events", status=404, body="V2 endpoints disabled", content_type="text/html"
    )
    client, _ = make_client()
    with pytest.raises(V2DisabledError, match="v2 API switched off") as info:
        client.get_json("/v2/events")
    assert info.value.exit_code == ExitCode.API


@responses.activate
def test_html_error_page_from_proxy():
    responses.get(
        f"{API}/v3/audit_events",
        status=502,
        body="<html><body><h1>502 Bad Gateway</h1></body></html>",
        content_type="text/html",
    )
    client, sleeps = make_client(retries=1)
    with pytest.raises(ApiError, match="HTML error page") as info:
        client.get_json("/v3/audit_events")
    assert "gave up after 2 attempts" in info.value.message
    assert len(sleeps) == 1


@responses.activate
def test_404_and_403_exit_codes():
    responses.get(
        f"{API}/v3/app_usage_events/x",
        status=404,
        json={
            "errors": [
                {
                    "detail": "App usage event not found",
                    "title": "CF-ResourceNotFound",
                    "code": 10010,
                }
            ]
        },
    )
    responses.get(
        f"{API}/v3/app_usage_events/y",
        status=403,
        json={
            "errors": [
                {
                    "detail": "You are not authorized to perform the requested action",
                    "title": "CF-NotAuthorized",
                    "code": 10003,
                }
            ]
        },
    )
    client, _ = make_client()
    with pytest.raises(ApiError) as nf:
        client.get_json("/v3/app_usage_events/x")
    assert nf.value.exit_code == ExitCode.NOT_FOUND
    with pytest.raises(ApiError) as forbidden:
        client.get_json("/v3/app_usage_events/y")
    assert forbidden.value.exit_code == ExitCode.AUTH


@responses.activate
def test_429_honours_retry_after_then_succeeds():
    url = f"{API}/v3/app_usage_events"
    responses.get(
        url,
        status=429,
        body='{"errors":[{"detail":"Rate Limit Exceeded","title":"CF-RateLimitExceeded","code":10013}]}',
        content_type="text/plain; charset=utf-8",
        headers={"Retry-After": "7"},
    )
    responses.get(
        url,
        status=503,
        json={
            "errors": [
                {
                    "detail": "Database connection failure",
                    "title": "CF-ServiceUnavailable",
                    "code": 10015,
                }
            ]
        },
    )
    responses.get(url, json={"resources": [], "pagination": {"total_results": 0}})
    client, sleeps = make_client()
    assert client.get_json("/v3/app_usage_events")["resources"] == []
    assert sleeps[0] == 7.0
    assert 0 < sleeps[1] <= 1.0  # second attempt: backoff, capped, jittered
    assert len(responses.calls) == 3


def test_server_delay_prefers_retry_after_then_ratelimit_reset():
    assert server_delay({"Retry-After": "3"}, 1000.0) == 3.0
    assert server_delay({"X-RateLimit-Reset": "1042"}, 1000.0) == 42.0
    assert server_delay({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0) > 0
    assert server_delay({}, 0.0) is None


# What requests raises for a refused connection: the cause sits in the exception chain.
REFUSED = requests.exceptions.ConnectionError(ConnectionRefusedError(111, "Connection refused"))


@responses.activate
def test_refused_before_any_answer_fails_at_once():
    responses.get(f"{API}/v3/apps", body=REFUSED)
    client, sleeps = make_client(retries=5)
    with pytest.raises(NetworkError, match="connection refused") as info:
        client.get_json("/v3/apps")
    assert info.value.exit_code == ExitCode.NETWORK
    assert sleeps == [] and len(responses.calls) == 1  # a wrong URL is not waited on


@responses.activate
def test_retries_exhausted_on_connection_errors_after_contact():
    responses.get(f"{API}/v3/apps", json={"resources": []})
    responses.get(
        f"{API}/v3/apps", body=requests.exceptions.ConnectionError("Connection reset by peer")
    )
    client, sleeps = make_client(retries=2)
    client.get_json("/v3/apps")
    with pytest.raises(NetworkError, match="gave up after 3 attempts"):
        client.get_json("/v3/apps")
    assert len(sleeps) == 2


@responses.activate
def test_refused_after_contact_is_retried():
    ok = {"resources": [{"guid": "x"}]}
    responses.get(f"{API}/v3/apps", json=ok)
    responses.get(f"{API}/v3/apps", body=REFUSED)
    responses.get(f"{API}/v3/apps", json=ok)
    client, sleeps = make_client(retries=2)
    client.get_json("/v3/apps")
    assert client.get_json("/v3/apps") == ok  # CC restarting mid-export
    assert len(sleeps) == 1


@responses.activate
def test_timeout_is_network_error():
    responses.get(f"{API}/v3/apps", body=requests.exceptions.ReadTimeout("slow"))
    client, _ = make_client(retries=0)
    with pytest.raises(NetworkError, match="timed out"):
        client.get_json("/v3/apps")


@responses.activate
def test_invalid_auth_token_refreshes_once_and_retries():
    old = f"bearer {make_jwt()}"
    new = make_jwt()
    url = f"{API}/v3/app_usage_events"
    responses.get(
        url,
        status=401,
        json={
            "errors": [
                {"detail": "Invalid Auth Token", "title": "CF-InvalidAuthToken", "code": 1000}
            ]
        },
    )
    responses.get(url, json={"resources": []})
    responses.post(
        "https://login.example.com/oauth/token",
        json={"access_token": new, "token_type": "bearer", "refresh_token": "rt2"},
    )
    client, _ = make_client(token=old, refresh="rt1")
    client.get_json("/v3/app_usage_events")
    refresh_call = responses.calls[1].request
    assert refresh_call.headers["Authorization"] == "Basic Y2Y6"  # cf: with empty secret
    assert (
        "grant_type=refresh_token" in refresh_call.body and "refresh_token=rt1" in refresh_call.body
    )
    assert responses.calls[2].request.headers["Authorization"] == f"bearer {new}"


@responses.activate
def test_proactive_refresh_of_nearly_expired_token():
    responses.post(
        "https://login.example.com/oauth/token",
        json={"access_token": make_jwt(), "token_type": "bearer"},
    )
    responses.get(f"{API}/v3/apps", json={"resources": []})
    client, _ = make_client(token=f"bearer {make_jwt(exp_in=30)}", refresh="rt")
    client.get_json("/v3/apps")
    assert responses.calls[0].request.url.endswith("/oauth/token")
    assert client.tokens.refreshes == 1


@responses.activate
def test_client_credentials_grant_has_no_basic_auth():
    responses.post(
        "https://login.example.com/oauth/token",
        json={"access_token": make_jwt(), "token_type": "bearer"},
    )
    responses.get(f"{API}/v3/apps", json={"resources": []})
    creds = Credentials(
        auth_endpoint="https://login.example.com",
        client_id="ci",
        client_secret="s",
        grant_type="client_credentials",
        source="t",
    )
    client = CFClient(Settings(api=API, credentials=creds))
    client.get_json("/v3/apps")
    req = responses.calls[0].request
    assert "Authorization" not in req.headers
    assert "grant_type=client_credentials" in req.body and "client_id=ci" in req.body


@responses.activate
def test_dead_refresh_token_says_cf_login():
    responses.post(
        "https://login.example.com/oauth/token",
        status=401,
        json={"error": "invalid_token", "error_description": "expired"},
    )
    client, _ = make_client(token=f"bearer {make_jwt(exp_in=-5)}", refresh="dead")
    with pytest.raises(AuthError, match="cf login") as info:
        client.get_json("/v3/apps")
    assert info.value.exit_code == ExitCode.AUTH


def test_expired_token_without_refresh_fails_before_sending():
    client, _ = make_client(token=f"bearer {make_jwt(exp_in=-5)}")
    with responses.RequestsMock() as mock, pytest.raises(AuthError, match="expired"):
        client.get_json("/v3/apps")
    assert len(mock.calls) == 0


@responses.activate
def test_v3_links_on_another_host_are_followed_on_the_api_host_with_token():
    responses.get(
        f"{API}/v3/app_usage_events",
        match=[responses.matchers.query_param_matcher({"per_page": "1"})],
        json={
            "pagination": {
                "total_results": 2,
                "next": {"href": "https://evil.example.net/v3/app_usage_events?page=2&per_page=1"},
            },
            "resources": [{"guid": "a"}],
        },
    )
    responses.get(
        f"{API}/v3/app_usage_events",
        match=[responses.matchers.query_param_matcher({"page": "2", "per_page": "1"})],
        json={"pagination": {"total_results": 2, "next": None}, "resources": [{"guid": "b"}]},
    )
    client, _ = make_client()
    info = PageInfo()
    got = [
        r["guid"]
        for r in resources(v3_pages(client, "/v3/app_usage_events", [("per_page", "1")]), info)
    ]
    assert got == ["a", "b"]
    assert info.total_results == 2 and info.pages == 2
    assert all(c.request.url.startswith(API) for c in responses.calls)


@responses.activate
def test_redirect_to_another_host_is_refused_without_sending_token():
    responses.get(
        f"{API}/v3/apps", status=302, headers={"Location": "https://evil.example.net/steal"}
    )
    client, _ = make_client()
    with pytest.raises(ApiError, match="refusing to send the token"):
        client.get_json("/v3/apps")
    assert len(responses.calls) == 1


@responses.activate
def test_v2_relative_next_url():
    responses.get(
        f"{API}/v2/events",
        match=[responses.matchers.query_param_matcher({"q": "type:app.crash"})],
        json={
            "next_url": "/v2/events?order-direction=asc&page=2&q=type:app.crash&results-per-page=1",
            "resources": [{"metadata": {"guid": "1"}}],
            "total_results": 2,
        },
    )
    responses.get(
        f"{API}/v2/events",
        match=[
            responses.matchers.query_param_matcher(
                {
                    "order-direction": "asc",
                    "page": "2",
                    "q": "type:app.crash",
                    "results-per-page": "1",
                }
            )
        ],
        json={"next_url": None, "resources": [{"metadata": {"guid": "2"}}]},
    )
    client, _ = make_client()
    got = [
        r["metadata"]["guid"]
        for r in resources(v2_pages(client, "/v2/events", [("q", "type:app.crash")]))
    ]
    assert got == ["1", "2"]


@responses.activate
def test_non_json_success_body_is_clean_error():
    responses.get(f"{API}/v3/apps", body="<html>login</html>", content_type="text/html")
    client, _ = make_client()
    with pytest.raises(ApiError, match="expected JSON"):
        client.get_json("/v3/apps")


def test_a_refused_port_is_unreachable_by_type_not_message():
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = CFClient(
        Settings(api=f"http://127.0.0.1:{port}", credentials=Credentials(access_token="t")),
        sleep=lambda s: pytest.fail("a refused connection before any answer is not waited on"),
    )
    with pytest.raises(NetworkError, match="connection refused") as info:
        client.get_json("/v3/apps")
    assert info.value.unreachable


def test_an_unresolvable_host_is_unreachable():
    from cfevents.cc.client import network_error

    try:
        requests.get("http://cfevents-test.invalid/", timeout=5)
    except requests.RequestException as exc:
        error = network_error(exc, "cfevents-test.invalid", 5)
    assert error.unreachable and "DNS lookup failed" in error.message
    # the same words in a message do not make an error unreachable: only the exception type
    worded = network_error(requests.exceptions.ConnectionError("Connection refused"), "h", 5)
    assert not worded.unreachable


def test_retry_policy_backoff_is_capped_and_jittered():
    from cfevents.cc.retry import RetryPolicy

    low = RetryPolicy(jitter=lambda a, b: a)
    high = RetryPolicy(jitter=lambda a, b: b)
    assert [high.backoff(n) for n in (1, 2, 3, 7, 8, 20)] == [0.5, 1.0, 2.0, 30.0, 30.0, 30.0]
    assert [low.backoff(n) for n in (1, 2, 8)] == [0.25, 0.5, 15.0]
    assert 2.0 <= RetryPolicy().backoff(4) <= 4.0


def test_retry_policy_honours_retry_after_up_to_max_wait():
    from cfevents.cc.retry import RetryPolicy

    policy = RetryPolicy(jitter=lambda a, b: b, max_wait=600.0)
    assert policy.delay(1, {"Retry-After": "7"}) == 7.0
    assert policy.delay(1, {"Retry-After": "86400"}) == 600.0
    assert policy.delay(3, {}) == 2.0  # no ask: backoff
    assert policy.delay(3, {"Retry-After": "0"}) == 2.0  # "now" is not a reason to hammer
    assert policy.retries_status(503) and not policy.retries_status(500)
