"""The typed keyword arguments of the listings (``Client.usage_events``, ``crashes``, ...).

Each key means what the command-line flag of the same name means; cfevents.events.filters
checks them (errors name the key).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from cfevents.shapes import Order, Source, UsageOrder

TimeValue = str | datetime

Names = str | Sequence[str]


class TimeArgs(TypedDict, total=False):
    """A time window: ``[since, until)``; ``created_after`` is exclusive (CC: from T+1s)."""

    since: TimeValue | None
    until: TimeValue | None
    created_after: TimeValue | None
    created_before: TimeValue | None


class ScopeArgs(TypedDict, total=False):
    """Orgs, spaces and apps by name or GUID (repeatable, or comma lists)."""

    org: Names
    space: Names
    app: Names


class GuidArgs(TypedDict, total=False):
    """What every usage kind's endpoint filters by besides the window: exact seconds, event
    GUIDs, and the event to start after (CC's id order)."""

    created_at: Sequence[TimeValue]  # whole seconds, ORed
    guids: Names
    after_guid: str | None


class UsageFilterArgs(TimeArgs, ScopeArgs, GuidArgs, total=False):
    """What app usage events can be filtered by (``org``, ``space``, ``app`` and ``state``
    after fetching: the endpoint cannot)."""

    state: Names
    names: bool  # fill in organization.name (default True; False saves the lookups)


class UsageEventArgs(UsageFilterArgs, total=False):
    """The arguments of :meth:`Client.usage_events`."""

    order: Order | None
    order_by: UsageOrder | None
    per_page: int | None
    page: int | None
    limit: int | None


class ServiceFilterArgs(TimeArgs, GuidArgs, total=False):
    """What ``GET /v3/service_usage_events`` filters by (all of it on the server)."""

    service_instance_types: Names  # managed_service_instance, user_provided_service_instance
    service_offering_guids: Names


class ServiceEventArgs(ServiceFilterArgs, total=False):
    """The arguments of :meth:`Client.service_usage_events`."""

    order: Order | None
    per_page: int | None
    page: int | None
    limit: int | None


class CrashFilterArgs(TypedDict, total=False):
    """Why it crashed: the crash filters of :meth:`Client.crashes` and the summaries/follows."""

    reasons: Names  # text in the reason or exit description (any of them)
    exit_statuses: Sequence[str | int]  # exit statuses (any of them), e.g. 137
    oom: bool  # only OOM kills: exit 137, or "out of memory"/"OOM"
    context: str | timedelta | None  # attach the app's changes in this period before each crash


class CrashArgs(TimeArgs, ScopeArgs, CrashFilterArgs, total=False):
    """The arguments of :meth:`Client.crashes` and :meth:`Client.crash_summary`."""

    # desc (newest first) or asc; None (the default): newest first, except that a limited
    # listing with no window shows its most recent events oldest to newest, like tail
    order: Order | None
    source: Source  # auto (v3), v3 or v2
    per_page: int | None
    limit: int | None
    names: bool  # fill in org and space names (default True)


class AuditArgs(CrashArgs, total=False):
    """The arguments of :meth:`Client.audit_events`."""

    types: Names  # e.g. audit.app.update, app.crash
    actees: Names  # target GUIDs
    q: Sequence[str]  # raw v2 q filters (they imply v2)
