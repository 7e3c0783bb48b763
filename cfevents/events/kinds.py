"""Every event kind cfevents reads, described once.

An :class:`EventKind` says where a kind's events come from (its endpoints), how its filters
are parsed (and which of them narrow the events, so a complete copy refuses them), its column
sets, its history-store kind, its report and how it is followed. The listings
(``cfevents.events.usage``), exports (``cfevents.export.plan.export_source``: file, store,
parallel, ``--follow``), the ``Client`` methods and the commands are built from these
descriptions, so a rule written for one kind holds for every kind, and a new kind is one more
description (tests/test_one_path.py runs each guarantee over :data:`KINDS`).

The description names what lives in layers ``events`` may not import by key: ``columns`` is a
key of ``cfevents.output.columns.COLUMN_SETS``, ``store`` a kind of
``cfevents.stores.columns.KINDS`` (tests/test_one_path.py checks both resolve).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from cfevents.events.filters import (
    AUDIT_V2_PATH,
    AUDIT_V3_PATH,
    SERVICE_USAGE_PATH,
    USAGE_PATH,
    ServiceFilters,
    UsageFilters,
)

if TYPE_CHECKING:
    from cfevents.events.query import TimeWindow
    from cfevents.events.resolve import Resolver

Follow = Literal["checkpoint", "keyset"]


class KindFilters(Protocol):
    """A kind's filter arguments, checked and parsed: the server's window, GUIDs, cursor and
    extra parameters, and the filter applied after fetching (when the endpoint cannot)."""

    @property
    def window(self) -> TimeWindow: ...

    @property
    def guids(self) -> tuple[str, ...]: ...

    @property
    def after_guid(self) -> str | None: ...

    @property
    def extra(self) -> tuple[tuple[str, str], ...]: ...

    @property
    def client_side(self) -> bool: ...

    def keep(self, resolver: Resolver) -> Callable[[dict[str, Any]], bool] | None: ...


@dataclass(frozen=True)
class EventKind:
    """One kind of event, as every listing, export and command uses it."""

    name: str  # app_usage, service_usage, audit, crashes
    command: str  # its command (group): usage, services, events, crashes
    lists: tuple[str, ...]  # the command words that list it: ("usage", "list"), ("crashes",)
    noun: str  # one event, for messages: "app usage event"
    path: str  # the v3 list endpoint; GET path/:guid is one event
    columns: str  # its column set (cfevents.output.columns.COLUMN_SETS key)
    one_columns: str  # the column set of one event (`get`)
    parse: Callable[[Any], KindFilters] | None = None  # its filter arguments parsed (exports)
    narrowing: tuple[str, ...] = ()  # filter parameters that drop events (a store refuses them)
    org_names: bool = False  # the listing fills in organization.name (CC sends only the GUID)
    store: str | None = None  # its history-store kind (cfevents.stores.columns.KINDS)
    report: str | None = None  # the report over it: the Client method (usage_report, ...)
    follow: Follow = "keyset"  # export --follow with a checkpoint, or the listing's keyset follow
    v2_path: str | None = None  # the v2 endpoint, when cfevents reads one

    @property
    def exports(self) -> bool:
        """Whether it has an export (``<command> export``: file, store, parallel, follow)."""
        return self.parse is not None

    @property
    def label(self) -> str:
        """The noun without "event": "app usage" (for "no app usage events visible")."""
        return self.noun.removesuffix(" event")


APP_USAGE = EventKind(
    name="app_usage",
    command="usage",
    lists=("usage", "list"),
    noun="app usage event",
    path=USAGE_PATH,
    columns="usage",
    one_columns="usage-one",
    parse=UsageFilters.parse,
    narrowing=("org", "space", "app", "state", "guids", "created_at"),
    org_names=True,
    store="app_usage",
    report="usage_report",
    follow="checkpoint",
    v2_path="/v2/app_usage_events",
)

SERVICE_USAGE = EventKind(
    name="service_usage",
    command="services",
    lists=("services", "list"),
    noun="service usage event",
    path=SERVICE_USAGE_PATH,
    columns="services",
    one_columns="services-one",
    parse=ServiceFilters.parse,
    narrowing=("guids", "created_at", "service_instance_types", "service_offering_guids"),
    store="service_usage",
    report="service_report",
    follow="checkpoint",
)

AUDIT = EventKind(
    name="audit",
    command="events",
    lists=("events", "list"),
    noun="audit event",
    path=AUDIT_V3_PATH,
    columns="events",
    one_columns="event",
    v2_path=AUDIT_V2_PATH,
)

CRASHES = EventKind(
    name="crashes",
    command="crashes",
    lists=("crashes",),
    noun="crash",
    path=AUDIT_V3_PATH,
    columns="crashes",
    one_columns="crashes",
    v2_path=AUDIT_V2_PATH,
)

KINDS: tuple[EventKind, ...] = (APP_USAGE, SERVICE_USAGE, AUDIT, CRASHES)
EXPORT_KINDS: tuple[EventKind, ...] = tuple(kind for kind in KINDS if kind.exports)


def kind_named(name: str) -> EventKind:
    """The kind called ``name`` (``app_usage``) or listed by the command ``name`` (``usage``)."""
    for kind in KINDS:
        if name in (kind.name, kind.command):
            return kind
    raise KeyError(name)


def export_kind(kind: str | EventKind) -> EventKind:
    """The kind with an export that ``kind`` names (a usage error naming ``kind`` otherwise)."""
    from cfevents.errors import UsageError

    try:
        found = kind_named(kind) if isinstance(kind, str) else kind
    except KeyError:
        found = None
    if found is None or found not in EXPORT_KINDS:
        names = ", ".join(k.name for k in EXPORT_KINDS)
        raise UsageError(f"must be one of {names} (got {kind!r})", param="kind")
    return found
