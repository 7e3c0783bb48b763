"""The sandbox: a simulated Cloud Controller (and UAA) served over HTTP/1.1.

`Sandbox` owns the generated `Foundation`, the token authority and a
`ThreadingHTTPServer`; requests are routed to the v2/v3 handlers, whose
`ApiError`s become CC's v2 or v3 error envelopes.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
import re
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from cfevents.sandbox import api_v2, api_v3
from cfevents.sandbox.audit import Crash
from cfevents.sandbox.data import Foundation
from cfevents.sandbox.errors import ApiError, UnknownError, encode, status_of, v2_body, v3_body
from cfevents.sandbox.faults import GOROUTER_502, FaultConfig, FaultInjector
from cfevents.sandbox.limits import RateLimits
from cfevents.sandbox.services import ServiceUsage
from cfevents.sandbox.store import iso_second, to_us
from cfevents.sandbox.tokens import BadToken, MissingToken, OAuthError, Principal, TokenAuthority
from cfevents.sandbox.truth import ProcessUsage, TaskUsage
from cfevents.sandbox.wire import V2_JSON, Call, Reply, json_reply

if TYPE_CHECKING:
    from cfevents.sandbox.live import LiveFoundation

Handler = Callable[..., Reply]
#: The live foundation's test hook (see cfevents.sandbox.live).
LIVE_ADVANCE = "/sandbox/live/advance"
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    (method, re.compile(pattern), handler)
    for method, pattern, handler in (
        ("GET", r"/", api_v3.root),
        ("GET", r"/v3", api_v3.v3_root),
        ("GET", r"/v3/app_usage_events", api_v3.list_usage_events),
        (
            "POST",
            r"/v3/app_usage_events/actions/destructively_purge_all_and_reseed",
            api_v3.purge_usage_events,
        ),
        ("GET", r"/v3/app_usage_events/([^/]+)", api_v3.get_usage_event),
        ("GET", r"/v3/service_usage_events", api_v3.list_service_usage_events),
        (
            "POST",
            r"/v3/service_usage_events/actions/destructively_purge_all_and_reseed",
            api_v3.purge_service_usage_events,
        ),
        ("GET", r"/v3/service_usage_events/([^/]+)", api_v3.get_service_usage_event),
        ("GET", r"/v3/service_instances", api_v3.list_service_instances),
        ("GET", r"/v3/service_instances/([^/]+)", api_v3.get_service_instance),
        ("GET", r"/v3/audit_events", api_v3.list_audit_events),
        ("GET", r"/v3/audit_events/([^/]+)", api_v3.get_audit_event),
        ("GET", r"/v3/organizations", api_v3.list_organizations),
        ("GET", r"/v3/organizations/([^/]+)", api_v3.get_organization),
        ("GET", r"/v3/spaces", api_v3.list_spaces),
        ("GET", r"/v3/spaces/([^/]+)", api_v3.get_space),
        ("GET", r"/v3/apps", api_v3.list_apps),
        ("GET", r"/v3/apps/([^/]+)", api_v3.get_app),
        ("GET", r"/v3/processes", api_v3.list_processes),
        ("GET", r"/v3/processes/([^/]+)", api_v3.get_process),
        ("GET", r"/v3/tasks", api_v3.list_tasks),
        ("GET", r"/v3/tasks/([^/]+)", api_v3.get_task),
        ("GET", r"/v2/info", api_v2.info),
        ("GET", r"/v2/app_usage_events", api_v2.list_usage_events),
        (
            "POST",
            r"/v2/app_usage_events/destructively_purge_all_and_reseed_started_apps",
            api_v2.purge_usage_events,
        ),
        ("GET", r"/v2/app_usage_events/([^/]+)", api_v2.get_usage_event),
        ("GET", r"/v2/events", api_v2.list_events),
        ("GET", r"/v2/events/([^/]+)", api_v2.get_event),
    )
]
#: nginx's `location ~ /v2(?!/info)` when v2 is disabled (an unanchored regex).
V2_BLOCKED = re.compile(r"/v2(?!/info)")
NGINX_429 = (
    b"<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n"
    b"<center><h1>429 Too Many Requests</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """How to build and serve a sandbox. `end=None` means now, floored to the second."""

    seed: int = 1
    end: datetime | None = None
    days: int = 30
    usage_events: int | None = None
    v2_enabled: bool = True
    external_url: str | None = None
    latency_ms: float = 0.0
    latency_per_event_ms: float = 0.0
    token_ttl: int = 3600
    #: Extra ms per row an OFFSET skips: deep pages cost more, as on a real CC database.
    latency_per_skipped_row_ms: float = 0.0
    #: CC's general rate limit per user (and per IP unauthenticated) per hour; None = off.
    rate_limit: int | None = None
    #: Seeded failures (502/503/429/dropped/slow answers, expiring tokens); off by default.
    faults: FaultConfig = field(default_factory=FaultConfig)
    #: One app crashing every few minutes through the last hour (the --demo foundation's).
    recent_crash_loop: bool = False
    #: Usage events of the first N days as older CCs wrote them: no parent app (v3 `app`
    #: guid and name null, v2 `parent_app_guid`/`parent_app_name` null).
    appless_usage_days: int = 0
    #: Audit events by a client-credentials actor (actor_name and actor_username `''`).
    client_actor_events: bool = False


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request the sandbox answered, for tests to inspect."""

    method: str
    path: str
    query: str
    params: list[tuple[str, str]]
    authorization_present: bool
    host_header: str
    status: int


class PendingTransaction:
    """Usage events written by a transaction that has not committed yet."""

    def __init__(self, foundation: Foundation, rows: list[tuple[int, ...]]) -> None:
        self._foundation = foundation
        self._rows = rows
        self.ids = [row[0] for row in rows]

    def commit(self) -> None:
        """Make the events visible, in their id places (behind later events)."""
        self._foundation.commit(self._rows)
        self._rows = []


class Sandbox:
    """A simulated Cloud Controller: generate data on construction, serve on `start()`."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        end = self.config.end or datetime.now(UTC).replace(microsecond=0)
        self.foundation = Foundation.generate(
            self.config.seed,
            end,
            self.config.days,
            self.config.usage_events,
            recent_crash_loop=self.config.recent_crash_loop,
            appless_days=self.config.appless_usage_days,
            client_actor=self.config.client_actor_events,
        )
        self.tokens = TokenAuthority(self.config.token_ttl)
        self.v2_enabled = self.config.v2_enabled
        self.limits = RateLimits()
        self.limits.configure(self.config.rate_limit)
        self._nginx_throttled = 0
        self.faults = FaultInjector(self.config.faults)
        self._requests: list[RequestRecord] = []
        self._requests_lock = threading.Lock()
        self._request_ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._clock: datetime | None = None
        #: The live foundation driving this sandbox (`--live`), for its advance endpoint.
        self.live: LiveFoundation | None = None
        self._hold_path: str | None = None  # tests: hold_lists_after()
        self._hold_budget = 0
        self._hold_where: Callable[[dict[str, str]], bool] | None = None
        self._held = 0
        self._released = threading.Event()

    # -- lifecycle -------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Sandbox:
        """Serve in a daemon thread; returns self."""
        server = _QuietServer((host, port), _RequestHandler)
        server.daemon_threads = True
        server.sandbox = self  # type: ignore[attr-defined]
        self._server = server
        self.foundation.base_url = self.base_url
        self.tokens.issuer = f"{self.base_url}/oauth/token"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Where the sandbox listens, e.g. `http://127.0.0.1:PORT` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def base_url(self) -> str:
        """The URL CC advertises in links: `external_url` (a proxy) or `url`."""
        return (self.config.external_url or self.url).rstrip("/")

    # -- tokens ----------------------------------------------------------------

    def admin_token(self, ttl: int | None = None) -> str:
        """`bearer <jwt>` with scope cloud_controller.admin."""
        return self.token(["cloud_controller.admin"], ttl=ttl, user_name="sandbox-admin")

    def token(
        self,
        scopes: Sequence[str],
        ttl: int | None = None,
        user_name: str = "sandbox-user",
        expired: bool = False,
    ) -> str:
        """`bearer <jwt>` with these scopes; `expired=True` gives one that expired a minute ago."""
        return "bearer " + self.tokens.mint(
            tuple(scopes), ttl=ttl, user_name=user_name, expired=expired
        )

    def refresh_token(self, scopes: Sequence[str] = ("cloud_controller.admin",)) -> str:
        """An opaque refresh token the sandbox UAA accepts from the `cf` client."""
        return self.tokens.issue_refresh_token(tuple(scopes))

    def add_client(self, client_id: str, secret: str, scopes: Sequence[str]) -> None:
        """Register an OAuth client for the client_credentials grant."""
        self.tokens.add_client(client_id, secret, tuple(scopes))

    @property
    def token_grants(self) -> int:
        """How many tokens `POST /oauth/token` has granted."""
        return self.tokens.grants

    # -- requests log ----------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the requests answered so far."""
        with self._requests_lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the requests answered so far."""
        with self._requests_lock:
            self._requests.clear()

    # -- data mutations --------------------------------------------------------

    def append_usage_events(self, n: int, at: datetime | None = None) -> None:
        """Live events arriving: `n` new rows created at `at` (default now)."""
        self.foundation.append_usage_events(n, to_us(at) if at else time.time_ns() // 1000)

    def set_clock(self, at: datetime | None) -> None:
        """Stop the API's clock (its HTTP ``Date`` header) at ``at``; None follows real time."""
        self._clock = at

    def clock_time(self) -> float:
        """The API's clock, as a POSIX time: the set clock, else real time."""
        return self._clock.timestamp() if self._clock is not None else time.time()

    def append_crash(
        self, app_guid: str, at: datetime | None = None, exit_description: str | None = None
    ) -> Crash:
        """Diego reports a crash of the app's first process at `at` (default: the API's clock):
        CC writes its two audit events. Returns the crash (the truth)."""
        when = to_us(at if at is not None else datetime.fromtimestamp(self.clock_time(), UTC))
        seed = when ^ len(self.foundation.audit_events)  # a new draw for each crash
        return self.foundation.crash(app_guid, when, seed, exit_description)

    def perform(self, action: str, app_guid: str, at: datetime | None = None) -> int:
        """Make one app do one action now (see `Foundation.perform`); returns rows written."""
        return self.foundation.perform(
            action, app_guid, to_us(at) if at else time.time_ns() // 1000
        )

    def usage_truth(self, start: datetime, end: datetime) -> dict[str, ProcessUsage]:
        """Per process guid, what really ran in [start, end): from the simulation, not its events."""
        return self.foundation.usage_truth(start, end)

    def task_truth(self, start: datetime, end: datetime) -> dict[str, TaskUsage]:
        """Per task guid, the tasks that ran in [start, end) and their seconds in it."""
        return self.foundation.task_truth(start, end)

    def service_truth(self, start: datetime, end: datetime) -> dict[str, ServiceUsage]:
        """Per service instance guid, its true seconds per plan in [start, end)."""
        return self.foundation.service_truth(start, end)

    def service_action(
        self, action: str, guid: str | None = None, at: datetime | None = None
    ) -> None:
        """A service instance action now (or `at`): create, update_plan, rename, update_parameters, delete."""
        self.foundation.service_action(action, to_us(at) if at else time.time_ns() // 1000, guid)

    def purge_and_reseed_services(self) -> None:
        """What `POST /v3/service_usage_events/actions/destructively_purge_all_and_reseed` does."""
        self.foundation.purge_and_reseed_services(time.time_ns() // 1000)

    def purge_and_reseed(self) -> None:
        """What `POST /v3/app_usage_events/actions/destructively_purge_all_and_reseed` does."""
        self.foundation.purge_and_reseed(time.time_ns() // 1000)

    def prune_usage_events_before(self, cutoff: datetime, *, keep_running: bool = False) -> None:
        """Retention cleanup: delete rows created before `cutoff`, never the newest row.

        `keep_running=True` is the cleanup cloud_controller_ng #5210 proposes: the newest
        STARTED row of every process that runs now and the TASK_STARTED of every running
        task survive, however old (`Foundation.running_baselines`).
        """
        self.foundation.prune_usage_events_before(to_us(cutoff), keep_running=keep_running)

    def prune_service_usage_events_before(
        self, cutoff: datetime, *, keep_running: bool = False
    ) -> None:
        """The service usage events cleanup; `keep_running` keeps existing instances' newest event."""
        self.foundation.prune_service_usage_events_before(to_us(cutoff), keep_running=keep_running)

    def cleanup(
        self, now: datetime | None = None, days: int = 31, *, keep_running: bool = False
    ) -> None:
        """CC's daily clock jobs (`cutoff_age_in_days`, default 31) for both usage event tables."""
        now_us = to_us(now) if now else time.time_ns() // 1000
        self.foundation.cleanup(now_us, days, keep_running=keep_running)

    def set_v2_enabled(self, flag: bool) -> None:
        """Switch v2 on or off (as `cc.temporary_enable_v2` plus nginx do)."""
        self.v2_enabled = flag

    def begin_transaction(self, n: int, at: datetime | None = None) -> PendingTransaction:
        """`n` events whose ids are taken now but which stay invisible until `.commit()`.

        Events appended meanwhile get higher ids and are visible at once, so a
        client that advanced its `after_guid` cursor past them never sees these:
        the reason to keep a lag behind "now".
        """
        at_us = to_us(at) if at else time.time_ns() // 1000
        return PendingTransaction(self.foundation, self.foundation.open_transaction(n, at_us))

    # -- throttling ------------------------------------------------------------

    def set_rate_limit(
        self, limit: int | None, unauthenticated: int | None = None, interval: int = 3600
    ) -> None:
        """CC's general rate limiter (admins exempt); `None` turns it off."""
        self.limits.configure(limit, unauthenticated, interval)

    def set_v2_rate_limit(
        self, limit: int | None, admin_limit: int | None = None, interval: int = 3600
    ) -> None:
        """CC's v2 rate limiter for `/v2/*`; `None` turns it off."""
        self.limits.configure_v2(limit, admin_limit, interval)

    def throttle_next(self, n: int) -> None:
        """Answer the next `n` requests with nginx's own 429: an HTML body, no CF headers."""
        with self._requests_lock:
            self._nginx_throttled = n

    # -- dispatch --------------------------------------------------------------

    def dispatch(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes = b"",
        client_ip: str = "127.0.0.1",
        fault: str | None = None,
    ) -> Reply:
        """Answer one request (path plus query string) without HTTP; records it.

        ``fault`` is an injected failure drawn by the HTTP layer (see cfevents.sandbox.faults).
        """
        path, _, query = target.partition("?")
        headers = {name.title(): value for name, value in headers.items()}
        reply = self._injected(fault, path, headers) or self._answer(
            method, path, query, headers, body, client_ip
        )
        reply.headers["X-VCAP-Request-ID"] = self._request_id()
        record = RequestRecord(
            method=method,
            path=path,
            query=query,
            params=parse_qsl(query, keep_blank_values=True),
            authorization_present="Authorization" in headers,
            host_header=headers.get("Host", ""),
            status=reply.status,
        )
        with self._requests_lock:
            self._requests.append(record)
        return reply

    def _answer(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        client_ip: str,
    ) -> Reply:
        """nginx first (v2 switch, its own throttling), then UAA or CC behind its rate limiters."""
        if not self.v2_enabled and V2_BLOCKED.search(path):
            return Reply(404, b"V2 endpoints disabled", "text/html")
        if self._take_nginx_throttle():
            return Reply(429, NGINX_429, "text/html")
        if path == "/oauth/token" and method == "POST":
            return self._oauth_token(headers, body)
        return self._rate_limited(method, path, query, headers, body, client_ip)

    def _injected(self, fault: str | None, path: str, headers: Mapping[str, str]) -> Reply | None:
        """The reply for an injected 502/503/429 or an expired token, else None."""
        is_v2 = path.startswith("/v2")
        if fault == "502":
            reply = Reply(502, GOROUTER_502, "text/plain; charset=utf-8")
            reply.headers["X-Cf-Routererror"] = "endpoint_failure"
            return reply
        if fault == "503":
            return _error_reply(
                ApiError("ServiceUnavailable", "Database connection failure"), is_v2
            )
        if fault == "429":
            body, limit_headers = self.faults.rate_limit_body()
            reply = Reply(429, body, "text/plain; charset=utf-8")
            reply.headers |= limit_headers
            return reply
        if self.faults.token_expired(path, headers.get("Authorization")):
            return _error_reply(ApiError("InvalidAuthToken"), is_v2)
        return None

    def _take_nginx_throttle(self) -> bool:
        with self._requests_lock:
            if self._nginx_throttled <= 0:
                return False
            self._nginx_throttled -= 1
            return True

    def _rate_limited(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        client_ip: str,
    ) -> Reply:
        """CC's rate limiter middlewares around the API; Basic-auth requests are never counted."""
        authorization = headers.get("Authorization") or ""
        if not self.limits.enabled or authorization.lower().startswith("basic "):
            return self._api(method, path, query, headers, body)
        try:
            principal: Principal | None = self.tokens.authenticate(authorization)
        except (MissingToken, BadToken):
            principal = None
        full_path = f"{path}?{query}" if query else path
        verdict = self.limits.check(path, full_path, principal, client_ip)
        if verdict.refusal is None:
            reply = self._api(method, path, query, headers, body)
        elif principal is None and authorization.upper().startswith("BEARER"):
            # SecurityContextSetter: over the limit with a bad token reads as the bad token
            reply = _error_reply(ApiError("InvalidAuthToken"), path.startswith("/v2"))
            reply.content_type = "application/json"
        else:
            reply = Reply(429, verdict.refusal, "text/plain; charset=utf-8")
        reply.headers |= verdict.headers
        return reply

    def _api(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        """Route to a CC handler; its errors become v2 or v3 envelopes by path."""
        if path == "/healthz" and method == "GET":
            return Reply(200, b"OK", "text/plain; charset=utf-8")
        if path == LIVE_ADVANCE and method == "POST":
            return self._advance(query, headers)
        is_v2 = path.startswith("/v2")
        call = Call(
            method,
            path,
            query,
            headers,
            body,
            self.foundation,
            self.tokens,
            self.base_url,
            self.v2_enabled,
        )
        try:
            handler, args = _route(method, path)
            return handler(call, *args)
        except (ApiError, UnknownError) as error:
            return _error_reply(error, is_v2)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            return _error_reply(UnknownError(), is_v2)

    def _advance(self, query: str, headers: Mapping[str, str]) -> Reply:
        """`POST /sandbox/live/advance?hours=N` (admin): N hours of activity now (a test hook)."""
        try:
            principal = self.tokens.authenticate(headers.get("Authorization"))
        except (MissingToken, BadToken):
            return _error_reply(ApiError("NotAuthenticated"), False)
        if not principal.admin:
            return _error_reply(ApiError("NotAuthorized"), False)
        if self.live is None:
            return _error_reply(ApiError("NotFound"), False)
        try:
            hours = float(dict(parse_qsl(query)).get("hours", "1"))
        except ValueError:
            hours = -1.0
        if not 0 < hours <= 24 * 31:
            return _error_reply(ApiError("BadQueryParameter", "hours must be in (0, 744]"), False)
        changes = self.live.advance(hours)
        return json_reply({"changes": changes, "until": iso_second(self.live.last_us)})

    def _oauth_token(self, headers: Mapping[str, str], body: bytes) -> Reply:
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        try:
            grant = self.tokens.grant(form, _basic_auth(headers.get("Authorization")))
        except OAuthError as error:
            return json_reply(error.body, error.status, "application/json;charset=UTF-8")
        reply = json_reply(grant, content_type="application/json;charset=UTF-8")
        reply.headers["Cache-Control"] = "no-store"
        return reply

    def _request_id(self) -> str:
        n = next(self._request_ids)
        return f"{self.foundation.uuid('request', n)}::{self.foundation.uuid('vcap-request', n)}"

    # -- holding answers (for tests that must act while an export is certainly mid-run) --------

    def hold_lists_after(
        self,
        answers: int,
        path: str = "/v3/app_usage_events",
        where: Callable[[dict[str, str]], bool] | None = None,
    ) -> None:
        """Answer ``answers`` more list requests to ``path``, then hold every later one until
        ``release_lists()``: a test can act while a client is mid-export, however slow the
        machine, by waiting for ``held()`` instead of for the clock. With ``where``, only the
        requests whose query parameters it accepts count and are held."""
        with self._requests_lock:
            self._hold_path, self._hold_budget = path, answers
            self._hold_where = where
            self._released.clear()

    def release_lists(self) -> None:
        with self._requests_lock:
            self._hold_path = None
            self._released.set()

    def held(self) -> int:
        """How many requests are being held right now."""
        with self._requests_lock:
            return self._held

    def hold_if_asked(self, path: str) -> None:
        with self._requests_lock:
            parts = urlsplit(path)
            if self._hold_path is None or parts.path != self._hold_path:
                return
            if self._hold_where is not None and not self._hold_where(dict(parse_qsl(parts.query))):
                return
            if self._hold_budget > 0:
                self._hold_budget -= 1
                return
            self._held += 1
        self._released.wait(300)
        with self._requests_lock:
            self._held -= 1

    def sleep_for(self, reply: Reply) -> None:
        """Simulated latency of list responses: latency_ms + per-event ms × resources
        (+ per-skipped-row ms × OFFSET)."""
        if reply.listed >= 0:
            config = self.config
            delay = config.latency_ms + config.latency_per_event_ms * reply.listed
            delay += config.latency_per_skipped_row_ms * reply.skipped
            if delay > 0:
                time.sleep(delay / 1000)


def _route(method: str, path: str) -> tuple[Handler, tuple[str, ...]]:
    """The handler for a request; unknown routes raise CF-NotFound."""
    if path != "/" and not path.startswith("/v2"):
        path = path.rstrip("/")  # Rails ignores a trailing slash; Sinatra does not
    for route_method, pattern, handler in ROUTES:
        match = pattern.fullmatch(path)
        if match and route_method == method:
            return handler, tuple(unquote(g) for g in match.groups())
    raise ApiError("NotFound")


def _error_reply(error: ApiError | UnknownError, is_v2: bool) -> Reply:
    if is_v2:
        return Reply(status_of(error), encode(v2_body(error)) + b"\n", V2_JSON)
    return json_reply(v3_body(error), status_of(error))


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    """(client id, secret) from an HTTP Basic `Authorization` header, else None."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-answer (a killed export, ``| head``) is not a server error."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with Content-Length on every response, so connections stay alive."""

    protocol_version = "HTTP/1.1"
    server_version = "cfevents-sandbox"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _handle(self) -> None:
        sandbox: Sandbox = self.server.sandbox  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        fault = sandbox.faults.draw(self.command, self.path.partition("?")[0])
        if fault == "drop":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault == "slow":
            sandbox.faults.slow()
        reply = sandbox.dispatch(
            self.command,
            self.path,
            dict(self.headers.items()),
            body,
            self.client_address[0],
            fault=fault,
        )
        sandbox.hold_if_asked(self.path)
        sandbox.sleep_for(reply)
        headers = {
            "Server": self.version_string(),
            "Date": self.date_time_string(sandbox.clock_time()),
            "Content-Type": reply.content_type,
            "Content-Length": str(len(reply.body)),
            "X-Content-Type-Options": "nosniff",
        } | reply.headers
        reason = self.responses.get(reply.status, ("",))[0]
        lines = [f"{self.protocol_version} {reply.status} {reason}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        # One write for head and body: two small segments would wait on delayed ACKs.
        self.wfile.write("\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + reply.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet; `Sandbox.requests` records every request."""
