"""The listing arguments checked and parsed, once for the library and every command.

Time windows, org/space/app scopes, states, audit types, orders and sources: each check
raises a :class:`~cfevents.errors.UsageError` naming the Python parameter (the CLI names the
flag). The endpoints the listings read are named here too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from cfevents.errors import CfEventsError, UsageError, V2DisabledError
from cfevents.events.args import (
    Names,
    ScopeArgs,
    ServiceFilterArgs,
    TimeArgs,
    TimeValue,
    UsageFilterArgs,
)
from cfevents.events.listing import split_commas
from cfevents.events.query import V2_EVENTS_MAX_PER_PAGE, V3_MAX_PER_PAGE, TimeWindow

C = TypeVar("C", bound=str)

if TYPE_CHECKING:
    from cfevents.cc.client import CFClient
    from cfevents.events.resolve import Resolver, Scope

USAGE_PATH = "/v3/app_usage_events"


USAGE_V2_PATH = "/v2/app_usage_events"


SERVICE_USAGE_PATH = "/v3/service_usage_events"


SERVICE_INSTANCE_TYPES = ("managed_service_instance", "user_provided_service_instance")


AUDIT_V3_PATH = "/v3/audit_events"


AUDIT_V2_PATH = "/v2/events"


NON_GLOBAL_HINT = (
    "no usage events visible: Cloud Controller only shows app usage events to admin, "
    "admin_read_only and global_auditor users, and your token has none of those scopes"
)


@dataclass(frozen=True)
class UsageFilters:
    """UsageFilterArgs checked and parsed."""

    window: TimeWindow
    guids: tuple[str, ...]
    after_guid: str | None
    states: frozenset[str]
    scope_values: tuple[list[str], list[str], list[str]]  # org, space, app names or GUIDs
    extra: tuple[tuple[str, str], ...] = ()  # no server parameters beyond the window and GUIDs

    @classmethod
    def parse(cls, args: UsageFilterArgs) -> UsageFilters:
        from cfevents.timeparse import utcnow

        window = time_window(utcnow(), args, args.get("created_at", ()))
        after_guid = args.get("after_guid")
        if after_guid is not None and ("," in after_guid or not after_guid.strip()):
            raise UsageError("`after_guid` takes exactly one event GUID", param="after_guid")
        return cls(
            window=window,
            guids=tuple(split_commas(values(args.get("guids", ())))),
            after_guid=after_guid.strip() if after_guid else None,
            states=usage_states(split_commas(values(args.get("state", ())))),
            scope_values=scope_values(args),
        )

    @property
    def client_side(self) -> bool:
        """Whether events are filtered after fetching."""
        return bool(self.states or any(self.scope_values))

    def keep(self, resolver: Resolver) -> Callable[[dict[str, Any]], bool] | None:
        """The after-fetching filter (names resolved to GUIDs once), or None."""
        scope = resolver.resolve_scope(*self.scope_values)
        return usage_filter(scope, set(self.states)) if self.client_side else None


@dataclass(frozen=True)
class ServiceFilters:
    """ServiceFilterArgs checked and parsed; ``extra`` the type and offering parameters."""

    window: TimeWindow
    guids: tuple[str, ...]
    after_guid: str | None
    extra: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, args: ServiceFilterArgs) -> ServiceFilters:
        from cfevents.timeparse import utcnow

        window = time_window(utcnow(), args, args.get("created_at", ()))
        after_guid = args.get("after_guid")
        if after_guid is not None and ("," in after_guid or not after_guid.strip()):
            raise UsageError("`after_guid` takes exactly one event GUID", param="after_guid")
        types = split_commas(values(args.get("service_instance_types", ())))
        for kind in types:
            if kind not in SERVICE_INSTANCE_TYPES:
                raise UsageError(
                    "`service_instance_types` must be managed_service_instance or user_provided_service_instance "
                    f"(got {kind!r})",
                    param="service_instance_types",
                )
        offerings = split_commas(values(args.get("service_offering_guids", ())))
        extra = []
        if types:
            extra.append(("service_instance_types", ",".join(types)))
        if offerings:
            extra.append(("service_offering_guids", ",".join(offerings)))
        return cls(
            window=window,
            guids=tuple(split_commas(values(args.get("guids", ())))),
            after_guid=after_guid.strip() if after_guid else None,
            extra=tuple(extra),
        )

    @property
    def client_side(self) -> bool:
        """Never: the endpoint filters by everything it is given."""
        return False

    def keep(self, resolver: Resolver) -> Callable[[dict[str, Any]], bool] | None:
        """No filter after fetching."""
        return None


def time_window(now: datetime, args: TimeArgs, created_at: Sequence[TimeValue] = ()) -> TimeWindow:
    """The server-side window for the time arguments (errors name the CLI flag)."""
    since, until = args.get("since"), args.get("until")
    created_after, created_before = args.get("created_after"), args.get("created_before")
    if until is not None and created_before is not None:
        raise UsageError(
            "`until` and `created_before` are the same bound (created_ats[lt]); give one",
            param="until",
        )
    relational = [since, until, created_after, created_before]
    if created_at and any(v is not None for v in relational):
        raise UsageError(
            "(exact seconds) cannot be combined with `since`/`until`/`created_after`/"
            "`created_before`: Cloud Controller rejects that mix",
            param="created_at",
        )
    exact = [v for v in created_at if isinstance(v, datetime)]
    exact += [_parse("created_at", v, now) for v in split_commas(_texts(created_at))]
    gte = _time("since", since, now)
    gt = _time("created_after", created_after, now)
    lt = (
        _time("until", until, now)
        if until is not None
        else _time("created_before", created_before, now)
    )
    window = TimeWindow(gte=gte, gt=gt, lt=lt, equals=tuple(exact))
    lower = window.gte or window.gt
    if lower is not None and window.lt is not None and lower >= window.lt:
        raise UsageError("the time window is empty: the start is not before the end")
    return window


def _time(param: str, value: TimeValue | None, now: datetime) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return _parse(param, value, now)


def _parse(param: str, value: str, now: datetime) -> datetime:
    from cfevents.timeparse import TimeParseError, parse_time

    try:
        return parse_time(value, now)
    except TimeParseError as exc:
        raise UsageError(str(exc), param=param) from None


def _texts(values: Sequence[TimeValue]) -> list[str]:
    return [v for v in values if isinstance(v, str)]


def values(value: Names) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def scope_values(args: ScopeArgs) -> tuple[list[str], list[str], list[str]]:
    return (
        values(args.get("org", ())),
        values(args.get("space", ())),
        values(args.get("app", ())),
    )


def one_guid(guid: str) -> str:
    if not guid.strip() or "/" in guid:
        raise UsageError(f"not an event GUID: {guid!r}")
    return guid.strip()


# The states Cloud Controller writes on app usage events (state.current).
USAGE_STATES = (
    "STARTED",
    "STOPPED",
    "BUILDPACK_SET",
    "STAGING_STARTED",
    "STAGING_STOPPED",
    "TASK_STARTED",
    "TASK_STOPPED",
)


# Short audit event types: `--type crash` means both records CC writes for a crash.
AUDIT_SHORT_TYPES = {"crash": ("audit.app.process.crash", "app.crash")}


def usage_states(values: Sequence[str]) -> frozenset[str]:
    """``--state`` values upper-cased; one CC never emits is a usage error naming the valid ones
    (a typo would otherwise scan every event and match none)."""
    states = frozenset(v.strip().upper() for v in values)
    unknown = sorted(states - set(USAGE_STATES))
    if unknown:
        raise UsageError(
            f"unknown state {', '.join(unknown)}; CC emits {', '.join(USAGE_STATES)}",
            param="state",
        )
    return states


def audit_types(values: Sequence[str]) -> tuple[str, ...]:
    """``--type`` values with the short ones expanded (``crash``: both crash records); a short
    type that is not one of them is a usage error (CC's types all hold a dot)."""
    types: list[str] = []
    for value in values:
        if "." in value:
            expanded: tuple[str, ...] = (value,)
        elif value.lower() in AUDIT_SHORT_TYPES:
            expanded = AUDIT_SHORT_TYPES[value.lower()]
        else:
            raise UsageError(
                f"unknown type {value!r}; give a full CC type (audit.app.update, "
                f"app.crash, ...) or a short one: {', '.join(AUDIT_SHORT_TYPES)}"
            )
        types.extend(t for t in expanded if t not in types)
    return tuple(types)


def parse_cc_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def usage_filter(scope: Scope, states: set[str]) -> Callable[[dict[str, Any]], bool]:
    """Keep a usage event when it is in the org/space/app scope and in one of ``states``."""

    def keep(event: dict[str, Any]) -> bool:
        for guids, key in (
            (scope.org_guids, "organization"),
            (scope.space_guids, "space"),
            (scope.app_guids, "app"),
        ):
            if guids is not None and _inner(event, key, "guid") not in guids:
                return False
        return not states or str(_inner(event, "state", "current") or "").upper() in states

    return keep


def _inner(event: dict[str, Any], key: str, field: str) -> Any:
    value = event.get(key)
    return value.get(field) if isinstance(value, dict) else None


def check_order(order: str) -> str:
    from cfevents.events.audit import ORDERS

    value = order.strip().lower()
    if value not in ORDERS:
        raise UsageError(f"`order` must be desc or asc (got {order!r})", param="order")
    return value


def choose_source(source: str, *, raw_q: bool = False) -> str:
    """``v2`` or ``v3`` for ``source`` (auto is v3, or v2 when raw v2 ``q`` filters are given).

    Raises:
        UsageError: an unknown source, or ``q`` with ``source="v3"``.
    """
    from cfevents.events.audit import SOURCES

    value = source.strip().lower()
    if value not in SOURCES:
        raise UsageError(
            f"`source` must be one of {', '.join(SOURCES)} (got {source!r})", param="source"
        )
    if value == "v3" and raw_q:
        raise UsageError(
            "`q` filters are v2 syntax and need `source` v2; with v3 use `types`, `actees`, "
            "`org`/`space`/`app` and `since`/`until`",
            param="q",
        )
    if value == "auto":
        return "v2" if raw_q else "v3"
    return value


def audit_endpoint(source: str) -> tuple[int, str]:
    if source == "v2":
        return V2_EVENTS_MAX_PER_PAGE, f"v2 {AUDIT_V2_PATH}"
    return V3_MAX_PER_PAGE, f"v3 {AUDIT_V3_PATH}"


def v2_off_message(raw_q: bool = False) -> str:
    hint = (
        "--q filters need v2: use --type, --actee, --org/--space/--app and --since/--until instead"
        if raw_q
        else "use --source v3"
    )
    return f"this foundation has the v2 API switched off; {hint}"


def require_v2(client: CFClient, raw_q: bool = False) -> None:
    """Stop early (exit 5) when ``GET /`` says v2 is off; a failing ``GET /`` proves nothing.

    Raises:
        V2DisabledError: ``GET /`` has no ``links.cloud_controller_v2``.
    """
    try:
        available = client.v2_available()
    except CfEventsError:
        return  # the events request itself will tell (nginx's 'V2 endpoints disabled' 404)
    if not available:
        raise V2DisabledError(v2_off_message(raw_q))


def pick(value: str, choices: Sequence[C], *, param: str) -> C:
    """``value`` (any case, spaces around) as one of ``choices``, typed as they are: the
    command line's strings become the library's ``Literal`` values here, checked once."""
    text = value.strip().lower()
    for choice in choices:
        if choice == text:
            return choice
    listed = " or ".join(choices) if len(choices) == 2 else "one of " + ", ".join(choices)
    raise UsageError(f"`{param}` must be {listed} (got {value!r})", param=param)


def pick_optional(value: str | None, choices: Sequence[C], *, param: str) -> C | None:
    """:func:`pick` for an option that may be left out."""
    return None if value is None else pick(value, choices, param=param)
