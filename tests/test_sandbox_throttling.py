"""Sandbox pitfalls beyond the happy path: CC and nginx 429s (reference §6.4), rows that
commit after higher ids (§8), and the cost of deep OFFSET pages (pitfall 16)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from cfevents.sandbox import Sandbox, SandboxConfig

END = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
PATH = "/v3/app_usage_events"


@pytest.fixture
def sb():
    with Sandbox(SandboxConfig(seed=12, end=END, usage_events=300)).start() as sandbox:
        yield sandbox


def test_cc_rate_limit_429(sb):
    sb.set_rate_limit(3, unauthenticated=1)
    user = {"Authorization": sb.token(["cloud_controller.read"])}
    with requests.Session() as session:
        first = session.get(sb.url + PATH, headers=user)
        assert first.status_code == 200
        assert first.headers["X-RateLimit-Limit"] == "3"
        assert first.headers["X-RateLimit-Remaining"] == "1"  # a coarse estimate
        assert int(first.headers["X-RateLimit-Reset"]) > time.time()
        assert "Retry-After" not in first.headers
        session.get(sb.url + PATH, headers=user)
        session.get(sb.url + PATH, headers=user)
        refused = session.get(sb.url + PATH, headers=user)
        assert refused.status_code == 429
        assert (
            refused.headers["Content-Type"] == "text/plain; charset=utf-8"
        )  # yet the body is JSON
        assert 0 < int(refused.headers["Retry-After"]) <= 3600
        assert refused.json() == {
            "errors": [
                {"detail": "Rate Limit Exceeded", "title": "CF-RateLimitExceeded", "code": 10013}
            ]
        }
        v2 = session.get(sb.url + "/v2/events", headers=user)
        assert v2.json() == {
            "description": "Rate Limit Exceeded",
            "error_code": "CF-RateLimitExceeded",
            "code": 10013,
        }
        # root documents are never limited; admins are exempt and get no headers
        assert session.get(sb.url + "/v3", headers=user).status_code == 200
        admin = session.get(sb.url + PATH, headers={"Authorization": sb.admin_token()})
        assert admin.status_code == 200 and "X-RateLimit-Limit" not in admin.headers


def test_unauthenticated_and_bad_token_callers_are_limited_by_ip(sb):
    sb.set_rate_limit(100, unauthenticated=1)
    assert requests.get(sb.url + PATH).status_code == 401
    refused = requests.get(sb.url + PATH)
    assert refused.status_code == 429
    assert refused.json()["errors"][0]["code"] == 10014
    assert "Please log in" in refused.json()["errors"][0]["detail"]
    # over the limit with an invalid token: the answer is the bad token
    bad = requests.get(sb.url + PATH, headers={"Authorization": "bearer expired.token.here"})
    assert bad.status_code == 401 and bad.json()["errors"][0]["title"] == "CF-InvalidAuthToken"
    assert "Retry-After" in bad.headers


def test_v2_rate_limit(sb):
    sb.set_v2_rate_limit(1, admin_limit=2)
    admin = {"Authorization": sb.admin_token()}
    first = requests.get(sb.url + "/v2/events", headers=admin)
    assert first.headers["X-RateLimit-Limit-V2-API"] == "2"
    requests.get(sb.url + "/v2/events", headers=admin)
    refused = requests.get(sb.url + "/v2/events", headers=admin)
    assert refused.status_code == 429
    assert (
        refused.json()["error_code"] == "CF-RateLimitV2APIExceeded"
        and refused.json()["code"] == 10018
    )
    assert requests.get(sb.url + "/v2/info").status_code == 200
    assert requests.get(sb.url + PATH, headers=admin).status_code == 200
    exempt = {
        "Authorization": sb.token(
            ["cloud_controller.admin", "cloud_controller.v2_api_rate_limit_exempt"]
        )
    }
    assert requests.get(sb.url + "/v2/events", headers=exempt).status_code == 200


def test_nginx_429_has_html_and_no_cf_headers(sb):
    sb.throttle_next(2)
    headers = {"Authorization": sb.admin_token()}
    for _ in range(2):
        response = requests.get(sb.url + PATH, headers=headers)
        assert response.status_code == 429
        assert response.headers["Content-Type"] == "text/html"
        assert response.text.startswith("<html>") and "nginx" in response.text
        assert not any(
            h.lower().startswith(("x-ratelimit", "retry-after")) for h in response.headers
        )
    assert requests.get(sb.url + PATH, headers=headers).status_code == 200


def test_a_slow_transaction_commits_behind_later_ids(sb):
    session = requests.Session()
    session.headers["Authorization"] = sb.admin_token()
    before = [e["guid"] for e in sb.foundation.usage_events_v3()]
    started = datetime.now(UTC) - timedelta(seconds=30)
    pending = sb.begin_transaction(3, at=started)
    sb.append_usage_events(2)
    seen = session.get(sb.url + PATH, params={"after_guid": before[-1]}).json()["resources"]
    assert len(seen) == 2  # the lower ids are not visible yet
    cursor = seen[-1]["guid"]
    pending.commit()
    assert (
        session.get(sb.url + PATH, params={"after_guid": cursor}).json()["resources"] == []
    )  # lost for this cursor
    everything = [e for e in sb.foundation.usage_events_v3() if e["guid"] not in before]
    assert [e["guid"] for e in everything][3:] == [e["guid"] for e in seen]
    assert all(e["created_at"] == started.strftime("%Y-%m-%dT%H:%M:%SZ") for e in everything[:3])
    assert everything[0]["created_at"] < seen[0]["created_at"]
    assert pending.ids == sorted(pending.ids) and pending.ids[-1] < sb.foundation.usage_event_id(
        len(before) + 3
    )
    session.close()


def test_deep_offset_pages_can_cost_more():
    config = SandboxConfig(seed=12, end=END, usage_events=3000, latency_per_skipped_row_ms=0.1)
    with Sandbox(config).start() as slow, requests.Session() as session:
        session.headers["Authorization"] = slow.admin_token()
        started = time.perf_counter()
        session.get(slow.url + PATH, params={"per_page": 10})
        shallow = time.perf_counter() - started
        started = time.perf_counter()
        session.get(slow.url + PATH, params={"per_page": 10, "page": 300})
        deep = time.perf_counter() - started
        assert deep >= 0.29 > shallow
