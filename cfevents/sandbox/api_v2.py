"""The v2 endpoints, as CC's Sinatra `ModelController`s answer them.

The order of checks matters because clients can observe it: common params
are converted in the controller's constructor (bad integers are 500s before
any auth check), then authentication, scope, `order-by`, the dataset filters
(`after_guid`, `q`), `results-per-page`, `order-direction`, and paging.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cfevents.sandbox.api_v3 import API_VERSION_V2
from cfevents.sandbox.audit import AuditEvent
from cfevents.sandbox.errors import ApiError, UnknownError
from cfevents.sandbox.params import (
    Params,
    Value,
    addressable_query,
    cgi_parse,
    parse_nested,
    ruby_integer,
    ruby_time_parse,
)
from cfevents.sandbox.tokens import BadToken, MissingToken, Principal
from cfevents.sandbox.wire import V2_JSON, Call, Reply, json_reply

EVENT_QUERY_KEYS = ("timestamp", "type", "actee", "space_guid", "organization_guid")
MAX_INLINE_DEPTH = 2
#: v2 widens `<=`, `>` and `:` by 0.99999 s (five nines), i.e. up to .999990 inclusive.
V2_WIDEN_US = 999_990
_OPERATOR = re.compile(r"(:|>=|<=|<|>| IN )")


@dataclass(slots=True)
class CommonParams:
    """`RestController::CommonParams#parse` plus the raw Sinatra params."""

    params: Params
    page: int = 1
    per_page: int | None = None
    inline_depth: int | None = None
    order_direction: str | None = None
    q: list[str] | None = None
    extra: dict[str, str | list[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, query: str) -> CommonParams:
        """Convert like CC's constructor does: `Integer()` failures are uncaught (500)."""
        params = parse_nested(query, strict=False)
        parsed = cls(params)
        try:
            parsed.inline_depth = _integer(params, "inline-relations-depth")
            parsed.page = _integer(params, "page") or 1
            parsed.per_page = _integer(params, "results-per-page")
            orphan = _integer(params, "orphan-relations")
        except (ValueError, TypeError) as exc:
            raise UnknownError(str(exc)) from exc
        # CC's `query_string.count('q=')` counts the *characters* q and =: in practice
        # every q is re-read with CGI.parse, which also splits on `;`.
        if params.get("q") is not None and sum(query.count(c) for c in "q=") > 1:
            parsed.q = cgi_parse(query, "q")
        direction = params.get("order-direction")
        parsed.order_direction = None if direction is None else _string(direction)
        if parsed.inline_depth is not None:
            parsed.extra["inline-relations-depth"] = str(parsed.inline_depth)
        if orphan is not None:
            parsed.extra["orphan-relations"] = str(orphan)
        for key in ("exclude-relations", "include-relations"):
            if params.get(key) is not None:
                parsed.extra[key] = _string(params[key]).split(",")
        return parsed

    def sinatra(self, key: str) -> str | None:
        """A plain Sinatra param (the last value of a repeated key); nested ones crash CC."""
        value = self.params.get(key)
        if value is not None and not isinstance(value, str):
            raise UnknownError(f"unexpected {type(value).__name__} for {key}")
        return value


def _integer(params: Params, key: str) -> int | None:
    value = params.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"can't convert {type(value).__name__} into Integer")
    return ruby_integer(value)


def _string(value: Value) -> str:
    return value if isinstance(value, str) else str(value)


# -- shared -------------------------------------------------------------------------


def _authenticate(call: Call) -> Principal:
    """`check_authentication`: CF-NotAuthenticated or CF-InvalidAuthToken."""
    return call.authenticate()


def _require(allowed: bool) -> None:
    """`validate_access`'s token check: CF-InsufficientScope."""
    if not allowed:
        raise ApiError("InsufficientScope")


def _collection(
    call: Call,
    path: str,
    common: CommonParams,
    rows: Sequence[Any],
    render: Callable[[Any], dict[str, Any]],
    url_params: dict[str, str | list[str]],
    max_per_page: int,
) -> Reply:
    """`PaginatedCollectionRenderer#render_json` over an already filtered, ordered list."""
    per_page = common.per_page if common.per_page is not None else 50
    if per_page > max_per_page:
        raise ApiError("BadQueryParameter", f"results_per_page must be <= {max_per_page}")
    if common.inline_depth is not None and common.inline_depth > MAX_INLINE_DEPTH:
        raise ApiError("BadQueryParameter", f"inline_relations_depth must be <= {MAX_INLINE_DEPTH}")
    direction = common.order_direction or "asc"
    if direction not in ("asc", "desc"):
        raise ApiError(
            "BadQueryParameter", f"order_direction must be 'asc' or 'desc' but was '{direction}'"
        )
    page = common.page
    if page < 1 or per_page < 1:
        raise UnknownError("Sequel: offsets and limits must be positive")
    if direction == "desc":
        rows = rows[::-1]
    pages = max(1, -(-len(rows) // per_page))
    chunk = rows[(page - 1) * per_page : page * per_page]

    def url(number: int) -> str:
        query = {
            "page": str(number),
            "results-per-page": str(per_page),
            "order-direction": direction,
        }
        return f"{path}?{addressable_query(query | common.extra | url_params)}"

    body = {
        "total_results": len(rows),
        "total_pages": pages,
        "prev_url": url(page - 1) if page > 1 else None,
        "next_url": url(page + 1) if page < pages else None,
        "resources": [render(r) for r in chunk],
    }
    reply = json_reply(body, content_type=V2_JSON, listed=len(chunk))
    reply.skipped = (page - 1) * per_page
    return reply


def _q_url_param(common: CommonParams) -> dict[str, str | list[str]]:
    return {"q": common.q} if common.q else {}


# -- /v2/info -----------------------------------------------------------------------


def info(call: Call) -> Reply:
    """`GET /v2/info`: answered even with v2 disabled, then saying so."""
    body: dict[str, Any] = {
        "name": "cfevents-sandbox",
        "build": "",
        "support": "https://github.com/cloudfoundry",
        "version": 0,
        "description": "Simulated Cloud Controller for cfevents",
        "authorization_endpoint": call.base_url,
        "token_endpoint": call.base_url,
        "min_cli_version": None,
        "min_recommended_cli_version": None,
        "app_ssh_endpoint": None,
        "app_ssh_host_key_fingerprint": None,
        "app_ssh_oauth_client": "ssh-proxy",
        "doppler_logging_endpoint": None,
        "api_version": API_VERSION_V2,
        "osbapi_version": "2.15",
    }
    with contextlib.suppress(MissingToken, BadToken):
        body["user"] = call.tokens.authenticate(call.headers.get("Authorization")).user_id
    if not call.v2_enabled:
        body["support"] = "CF API v2 is disabled"
        body["api_version"] = ""
    return json_reply(body, content_type=V2_JSON)


# -- /v2/app_usage_events -----------------------------------------------------------


def list_usage_events(call: Call) -> Reply:
    """`GET /v2/app_usage_events`: admin/admin_read_only only; no sortable or queryable keys."""
    common = CommonParams.parse(call.query)
    principal = _authenticate(call)
    _require(principal.admin or "cloud_controller.admin_read_only" in principal.scopes)
    if "order-by" in common.params:
        raise ApiError("OrderByParameterInvalid", _order_by(common))
    foundation = call.foundation
    with foundation.lock:
        store = foundation.store
        start = 0
        after = common.sinatra("after_guid")
        if after is not None:
            position = store.find(after)
            if position is None:
                raise ApiError("BadQueryParameter", after)
            start = position + 1
        _segments(common.q or [], allowed=())
        rows = range(start, len(store))
        preserved: dict[str, str | list[str]] = {"after_guid": after} if after is not None else {}
        return _collection(
            call,
            "/v2/app_usage_events",
            common,
            rows,
            store.present_v2,
            preserved | _q_url_param(common),
            10_000,
        )


def get_usage_event(call: Call, guid: str) -> Reply:
    """`GET /v2/app_usage_events/:guid`: global_auditor may read single events."""
    principal = _authenticate(call)
    foundation = call.foundation
    with foundation.lock:
        position = foundation.store.find(guid)
        if position is None:
            raise ApiError("EventNotFound", guid)
        _require(principal.can_read)
        if not principal.global_reader:
            raise ApiError("NotAuthorized")
        return json_reply(foundation.store.present_v2(position), content_type=V2_JSON)


def purge_usage_events(call: Call) -> Reply:
    """`POST /v2/app_usage_events/destructively_purge_all_and_reseed_started_apps`: 204."""
    principal = _authenticate(call)
    _require(principal.admin)
    call.foundation.purge_and_reseed(time.time_ns() // 1000)
    return Reply(204, b"", V2_JSON)


# -- /v2/events ---------------------------------------------------------------------


def list_events(call: Call) -> Reply:
    """`GET /v2/events`: the `q` grammar, always ordered by (timestamp, id)."""
    common = CommonParams.parse(call.query)
    principal = _authenticate(call)
    _require(principal.can_read)
    if "order-by" in common.params and (order_by := _order_by(common)) not in ("timestamp", "id"):
        raise ApiError("OrderByParameterInvalid", order_by)
    predicates = [_predicate(*segment) for segment in _segments(common.q or [], EVENT_QUERY_KEYS)]
    visible = call.foundation.audit_events if principal.global_reader else []
    rows = [e for e in visible if all(p(e) for p in predicates)]
    rows.sort(key=lambda e: (e.timestamp_us, e.id))
    url_params: dict[str, str | list[str]] = {"order-by": ["timestamp", "id"]}
    url_params |= _q_url_param(common)
    return _collection(call, "/v2/events", common, rows, AuditEvent.present_v2, url_params, 100)


def get_event(call: Call, guid: str) -> Reply:
    """`GET /v2/events/:guid`."""
    principal = _authenticate(call)
    found = next((e for e in call.foundation.audit_events if e.guid == guid), None)
    if found is None:
        raise ApiError("EventNotFound", guid)
    _require(principal.can_read)
    if not principal.global_reader:
        raise ApiError("NotAuthorized")
    return json_reply(found.present_v2(), content_type=V2_JSON)


def _order_by(common: CommonParams) -> str:
    """The `order-by` value; `nil.to_sym` (a bare `order-by`) is an uncaught 500."""
    value = common.sinatra("order-by")
    if value is None:
        raise UnknownError("undefined method 'to_sym' for nil")
    return value


def _segments(
    queries: list[str], allowed: tuple[str, ...]
) -> list[tuple[str, str | None, str | None]]:
    """`Query#parse`: `;` separates clauses (`;;` is a literal `;`); split once on the operator.

    Raises CF-BadQueryParameter naming the key when it is not queryable.
    """
    segments: list[tuple[str, str | None, str | None]] = []
    for q in queries:
        for clause in q.replace(";;", "\0").split(";"):
            clause = clause.replace("\0", ";")
            parts = _OPERATOR.split(clause, maxsplit=1)
            key = parts[0]
            if key not in allowed:
                raise ApiError("BadQueryParameter", key)
            if len(parts) == 1:
                segments.append((key, None, None))
            else:
                segments.append((key, "=" if parts[1] == ":" else parts[1], parts[2]))
    return segments


def _predicate(key: str, operator: str | None, value: str | None) -> Callable[[AuditEvent], bool]:
    """`Query#query_filter` for one clause, as a test on an event."""
    if operator is None or value is None:
        raise UnknownError("SQL syntax error")  # "timestamp  ?" reaches the database
    values = value.split(",") if operator == " IN " else [value]
    while operator == " IN " and values and values[-1] == "":
        values.pop()  # Ruby's String#split drops trailing empty fields
    if key == "timestamp":
        return _timestamp_predicate(operator, values)
    column = "actee" if key == "actee" else key
    return _string_predicate(column, operator, values)


def _timestamp_predicate(operator: str, values: list[str]) -> Callable[[AuditEvent], bool]:
    try:
        stamps = [ruby_time_parse(v) for v in values if v]
    except ValueError as exc:
        raise UnknownError(str(exc)) from exc
    if not stamps:
        return lambda e: False  # "timestamp IS NULL"
    t = stamps[0]
    tests: dict[str, Callable[[int], bool]] = {
        "<": lambda ts: ts < t,
        ">=": lambda ts: ts >= t,
        "<=": lambda ts: ts <= t + V2_WIDEN_US,
        ">": lambda ts: ts > t + V2_WIDEN_US,
        "=": lambda ts: t <= ts <= t + V2_WIDEN_US,
        " IN ": lambda ts: any(s <= ts <= s + V2_WIDEN_US for s in stamps),
    }
    test = tests[operator]
    return lambda e: test(e.timestamp_us)


def _string_predicate(
    column: str, operator: str, values: list[str]
) -> Callable[[AuditEvent], bool]:
    first = values[0] if values else ""
    tests: dict[str, Callable[[str], bool]] = {
        "=": lambda v: v == first,
        " IN ": lambda v: v in values,
        "<": lambda v: v < first,
        ">": lambda v: v > first,
        "<=": lambda v: v <= first,
        ">=": lambda v: v >= first,
    }
    test = tests[operator]
    return lambda e: test(getattr(e, column))
