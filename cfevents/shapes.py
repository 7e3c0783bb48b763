"""The shapes the library yields, as ``TypedDict``s, and the closed vocabularies as ``Literal``s.

Every nested Cloud Controller value may be ``None``; the dicts are the decoded JSON (usage
events) or the normalised records cfevents builds (audit events, crashes, crash summaries).
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict, get_args

OutputFormat = Literal["table", "json", "ndjson", "csv", "tsv"]
ExportFormat = Literal["json", "ndjson", "csv", "tsv"]
UsageOrder = Literal["created_at", "+created_at", "-created_at"]
Order = Literal["desc", "asc"]
Source = Literal["auto", "v3", "v2"]
LostCursor = Literal["fail", "restart"]
OnRotated = Literal["fail", "new-file"]  # usage export: --out rotated or truncated
# The same vocabularies as values, for checking a string and getting the Literal back
# (cfevents.events.filters.pick).
USAGE_ORDERS: tuple[UsageOrder, ...] = get_args(UsageOrder)
ORDERS: tuple[Order, ...] = get_args(Order)
SOURCES: tuple[Source, ...] = get_args(Source)
LOST_CURSOR_CHOICES: tuple[LostCursor, ...] = get_args(LostCursor)
ON_ROTATED_CHOICES: tuple[OnRotated, ...] = get_args(OnRotated)

# Diego's crash metadata a Crash record carries (any may be missing: exit_status almost always
# is, Diego's tps watcher never sets it).
CRASH_DATA_KEYS: tuple[str, ...] = (
    "cell_id",
    "reason",
    "exit_status",
    "exit_description",
    "crash_count",
    "crash_timestamp",
    "version",
)


class GuidName(TypedDict):
    guid: str | None
    name: str | None


class Guid(TypedDict):
    guid: str | None


class CurrentPrevious(TypedDict):
    current: Any
    previous: Any


class Process(TypedDict):
    guid: str | None
    type: str | None


class UsageEvent(TypedDict, total=False):
    """A v3 app usage event (``GET /v3/app_usage_events``), as Cloud Controller sends it."""

    guid: str
    created_at: str
    updated_at: str
    state: CurrentPrevious
    app: GuidName
    process: Process
    space: GuidName
    organization: Guid
    buildpack: GuidName
    task: GuidName
    memory_in_mb_per_instance: CurrentPrevious
    instance_count: CurrentPrevious
    links: dict[str, Any]


class ServiceInstanceRef(TypedDict):
    guid: str
    name: str | None
    type: str  # managed_service_instance | user_provided_service_instance


class ServiceUsageEvent(TypedDict, total=False):
    """A v3 service usage event (``GET /v3/service_usage_events``); plan, offering and
    broker are null for user-provided instances."""

    guid: str
    created_at: str
    updated_at: str
    state: str  # CREATED | UPDATED | DELETED
    space: GuidName
    organization: Guid
    service_instance: ServiceInstanceRef
    service_plan: GuidName | None
    service_offering: GuidName | None
    service_broker: GuidName | None
    links: dict[str, Any]


class Actor(TypedDict):
    guid: str | None
    type: str | None
    name: str | None


class AuditEvent(TypedDict):
    """An audit event from either API in one shape (v3's); names filled in when asked."""

    guid: str | None
    created_at: str | None
    type: str | None
    actor: Actor
    target: Actor
    data: dict[str, Any]
    space: GuidName
    organization: GuidName


class Instance(TypedDict):
    guid: str | None
    index: int | None


class Crash(TypedDict):
    """One app crash (Cloud Controller writes two events per crash; this is one record)."""

    created_at: str | None
    organization: GuidName
    space: GuidName
    app: GuidName
    process: Process
    instance: Instance
    cell_id: str | None
    reason: str | None
    exit_status: int | None
    exit_description: str | None
    crash_count: int | None
    crash_timestamp: int | None
    version: str | None
    process_crash_guid: str | None
    app_crash_guid: str | None


class CrashLoop(TypedDict):
    """A crash loop record (cfevents.events.loops): an app started looping, is still looping
    (a reminder) or was resolved (quiet long enough)."""

    state: Literal["start", "repeat", "resolved"]
    at: str
    organization: GuidName
    space: GuidName
    app: GuidName
    rule: str  # N/PERIOD, e.g. 5/10m
    crashes: int  # crashes in this loop so far
    first_crash: str
    last_crash: str
    last_reason: str | None
    last_exit_status: int | str | None
    last_exit_description: str | None


class CrashSummary(TypedDict):
    """One row per app: how often it crashed in the window, first and last crash."""

    organization: GuidName
    space: GuidName
    app: GuidName
    crashes: int
    first: str | None
    last: str | None
    per_hour: float | None  # crashes per hour between the first and last crash
    last_exit_description: str | None
    last_reason: str | None
