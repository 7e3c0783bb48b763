"""Pure query builders: a typed query in, the exact query parameters CC expects out.

Builders return lists of ``(key, value)`` tuples in a stable order and let ``requests`` do the
URL encoding. They never talk to the network, so they are tested table-driven.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from cfevents.cc.paging import Params
from cfevents.timeparse import format_cc

V3_MAX_PER_PAGE = 5000
V2_EVENTS_MAX_PER_PAGE = 100

USAGE_ORDERS = ("created_at", "+created_at", "-created_at")


@dataclass(frozen=True)
class TimeWindow:
    """Server-side ``created_ats`` bounds. ``[gte, lt)`` windows partition time exactly."""

    gte: datetime | None = None  # --since
    gt: datetime | None = None  # --created-after (CC widens it: > T means >= T+1s)
    lt: datetime | None = None  # --until / --created-before
    equals: tuple[datetime, ...] = ()  # --created-at (OR of one-second windows)


def created_ats_params(window: TimeWindow, key: str = "created_ats") -> Params:
    """``created_ats[gte]=…`` style parameters for a v3 list endpoint."""
    params: Params = []
    if window.equals:
        params.append((key, ",".join(format_cc(t) for t in window.equals)))
    for op, moment in (("gt", window.gt), ("gte", window.gte), ("lt", window.lt)):
        if moment is not None:
            params.append((f"{key}[{op}]", format_cc(moment)))
    return params


@dataclass(frozen=True)
class UsageQuery:
    """Everything ``GET /v3/app_usage_events`` can filter, order and page by."""

    window: TimeWindow = field(default_factory=TimeWindow)
    guids: tuple[str, ...] = ()
    after_guid: str | None = None
    order_by: str | None = None
    per_page: int | None = None
    page: int | None = None


def build_usage_params(query: UsageQuery) -> Params:
    """Query parameters for ``GET /v3/app_usage_events``."""
    params: Params = []
    if query.after_guid:
        params.append(("after_guid", query.after_guid))
    params.extend(created_ats_params(query.window))
    if query.guids:
        params.append(("guids", ",".join(query.guids)))
    if query.order_by:
        params.append(("order_by", query.order_by))
    if query.page is not None:
        params.append(("page", str(query.page)))
    if query.per_page is not None:
        params.append(("per_page", str(query.per_page)))
    return params
