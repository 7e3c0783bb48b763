"""Sandbox UAA (`POST /oauth/token`), root documents, request log, latency and the
`python -m cfevents.sandbox` entry point (reference §5, §6)."""

from __future__ import annotations

import base64
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
import requests

from cfevents.sandbox import Sandbox, SandboxConfig

END = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
CF_BASIC = "Basic " + base64.b64encode(b"cf:").decode()


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxConfig(seed=4, end=END, usage_events=120)).start() as sandbox:
        yield sandbox


def token_request(sb, form, authorization=CF_BASIC):
    headers = {"Authorization": authorization} if authorization else {}
    return requests.post(sb.url + "/oauth/token", data=form, headers=headers)


def test_refresh_grant_like_uaa(sb):
    refresh = sb.refresh_token()
    grants = sb.token_grants
    response = token_request(sb, {"grant_type": "refresh_token", "refresh_token": refresh})
    assert response.status_code == 200
    body = response.json()
    assert list(body) == [
        "access_token",
        "token_type",
        "refresh_token",
        "expires_in",
        "scope",
        "jti",
    ]
    assert body["token_type"] == "bearer" and body["refresh_token"] == refresh
    assert body["scope"] == "cloud_controller.admin"
    assert sb.token_grants == grants + 1
    usage = requests.get(
        sb.url + "/v3/app_usage_events", headers={"Authorization": f"bearer {body['access_token']}"}
    )
    assert usage.status_code == 200 and usage.json()["pagination"]["total_results"] == 120


@pytest.mark.parametrize(
    ("form", "authorization", "status", "error"),
    [
        (
            {"grant_type": "refresh_token", "refresh_token": "revoked"},
            CF_BASIC,
            401,
            "invalid_token",
        ),
        ({"grant_type": "refresh_token", "refresh_token": "RT"}, None, 401, "unauthorized"),
        (
            {"grant_type": "refresh_token", "refresh_token": "RT"},
            "Basic " + base64.b64encode(b"cf:x").decode(),
            401,
            "unauthorized",
        ),
        (
            {
                "grant_type": "client_credentials",
                "client_id": "cfevents-ci",
                "client_secret": "wrong",
            },
            None,
            401,
            "unauthorized",
        ),
        ({"grant_type": "magic"}, None, 400, "unsupported_grant_type"),
    ],
)
def test_token_errors(sb, form, authorization, status, error):
    grants = sb.token_grants
    response = token_request(sb, form, authorization)
    assert response.status_code == status
    assert response.json()["error"] == error and response.json()["error_description"]
    assert sb.token_grants == grants


def test_client_credentials(sb):
    form = {
        "grant_type": "client_credentials",
        "client_id": "cfevents-ci",
        "client_secret": "ci-secret",
    }
    body = token_request(sb, form, authorization=None).json()
    assert "refresh_token" not in body and body["scope"] == "cloud_controller.admin_read_only"
    headers = {"Authorization": f"bearer {body['access_token']}"}
    assert requests.get(sb.url + "/v2/app_usage_events", headers=headers).status_code == 200
    sb.add_client("auditor", "s3cret", ["cloud_controller.global_auditor"])
    basic = "Basic " + base64.b64encode(b"auditor:s3cret").decode()
    body = token_request(sb, {"grant_type": "client_credentials"}, authorization=basic).json()
    assert body["scope"] == "cloud_controller.global_auditor"


def test_tokens_expire_without_grace(sb):
    live = sb.token(["cloud_controller.admin"], ttl=60)
    assert requests.get(sb.url + "/v3/apps", headers={"Authorization": live}).status_code == 200
    for expired in (
        sb.token(["cloud_controller.admin"], ttl=0),
        sb.token(["cloud_controller.admin"], expired=True),
    ):
        response = requests.get(sb.url + "/v3/apps", headers={"Authorization": expired})
        assert response.status_code == 401 and response.json()["errors"][0]["code"] == 1000


def test_root_documents_need_no_auth(sb):
    links = requests.get(sb.url + "/").json()["links"]
    assert links["self"]["href"] == sb.url
    assert links["cloud_controller_v3"]["href"] == sb.url + "/v3"
    assert links["cloud_controller_v2"]["href"] == sb.url + "/v2"
    assert (
        links["login"]["href"] == links["uaa"]["href"] == sb.url
    )  # POST {login}/oauth/token works here
    v3 = requests.get(sb.url + "/v3").json()["links"]
    assert v3["app_usage_events"]["href"] == sb.url + "/v3/app_usage_events"
    info = requests.get(sb.url + "/v2/info").json()
    assert info["authorization_endpoint"] == sb.url and info["api_version"]


def test_request_log(sb):
    sb.clear_requests()
    requests.get(
        sb.url + "/v3/app_usage_events?per_page=2&guids=a,b",
        headers={"Authorization": sb.admin_token()},
    )
    requests.get(sb.url + "/v3/apps")
    first, second = sb.requests
    assert (first.method, first.path, first.query) == (
        "GET",
        "/v3/app_usage_events",
        "per_page=2&guids=a,b",
    )
    assert first.params == [("per_page", "2"), ("guids", "a,b")]
    assert first.authorization_present and first.status == 200
    assert first.host_header == sb.url.removeprefix("http://")
    assert not second.authorization_present and second.status == 401
    sb.clear_requests()
    assert sb.requests == []


def test_list_latency_is_simulated():
    config = SandboxConfig(seed=4, end=END, usage_events=50, latency_ms=150, latency_per_event_ms=2)
    with Sandbox(config).start() as slow, requests.Session() as session:
        session.headers["Authorization"] = slow.admin_token()
        started = time.perf_counter()
        session.get(slow.url + "/v3/app_usage_events", params={"per_page": 50})
        assert time.perf_counter() - started >= 0.15 + 0.1
        started = time.perf_counter()
        session.get(slow.url + "/")
        assert time.perf_counter() - started < 0.15


def test_module_entry_point_prints_exports_and_exits_quietly_on_ctrl_c():
    command = [
        sys.executable,
        "-m",
        "cfevents.sandbox",
        "--port",
        "0",
        "--usage-events",
        "10",
        "--end",
        "2026-03-01T12:00:00Z",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines = []
    while not lines or not lines[-1].startswith("export "):
        lines.append(process.stdout.readline().strip())
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=10)
    assert process.returncode == 0 and err == ""
    url = lines[0].split()[-1]
    export = lines[-1]
    assert export.startswith(f"export CF_API={url} CF_TOKEN='bearer ey") and export.endswith("'")
    assert any(line.endswith("-r") for line in lines)  # the refresh token
    assert "10 usage events" in lines[1]


def test_import_is_cheap_and_standalone():
    code = (
        "import sys, cfevents.sandbox as s\n"
        "assert 'cfevents.sandbox.data' not in sys.modules\n"
        "s.Sandbox\n"
        "heavy = {'requests', 'typer', 'rich', 'cfevents.cli'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
