"""The typed keyword arguments of the reports (``Client.usage_report``, ``service_report``,
``chargeback``) and their checks, all made before any request.

Each key means what the command-line flag of the same name means.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, TypedDict

from cfevents.errors import UsageError
from cfevents.events.bounds import check_min_age

if TYPE_CHECKING:
    from collections.abc import Callable

    from cfevents.report.api import Window
    from cfevents.report.opening import Opening
    from cfevents.report.rates import Rates

TimeValue = str | datetime  # as cfevents.events.args.TimeValue
Grouping = Literal["org", "space", "app", "process"]


class ReportArgs(TypedDict, total=False):
    """The arguments of :meth:`cfevents.api.Client.usage_report`."""

    month: str | None  # YYYY-MM (UTC); or since/until; neither: this month so far
    since: TimeValue | None
    until: TimeValue | None
    by: Grouping  # org, space, app (default) or process; foundation[,org...] with a store
    daily: bool  # one row per group and UTC day
    opening: str | os.PathLike[str] | Opening  # snapshot (default), events, none, a state file
    save_state: str | os.PathLike[str] | None  # write the closing state here (for --opening)
    force: bool  # replace a non-empty save_state file
    min_age: str | timedelta  # count only up to now minus this (default 5m)
    allow_incomplete: bool  # report (flagged) when events the window needs are gone
    now: datetime | None  # the clock (tests)
    input: str | os.PathLike[str] | None  # a store or NDJSON export to read instead of the API
    foundation: str | None  # with input: which foundation of a store holding several
    progress: Callable[[int], None] | None  # called with the events read, every 5000
    rates: str | os.PathLike[str] | Rates | None  # prices: a rates TOML file (report/rates.py)
    pivot: str | None  # "month": one column per calendar month of the window
    compare: bool  # with month: the previous month's figure, the delta and the percent
    value: str | None  # the figure of pivot/compare: cost (with rates) or gb_hours by default


class StatementArgs(ReportArgs, total=False):
    """The arguments of :meth:`cfevents.api.Client.chargeback` (``by`` and ``daily`` are not
    used)."""

    per: str  # org (default) or space: one total per org or per space


class ServiceReportArgs(TypedDict, total=False):
    """The arguments of :meth:`cfevents.api.Client.service_report`."""

    month: str | None  # YYYY-MM (UTC); or since/until; neither: this month so far
    since: TimeValue | None
    until: TimeValue | None
    by: str  # org, space, offering, plan (default) or instance
    include_user_provided: bool  # user-provided instances too (no plan, usually not billed)
    min_age: str | timedelta  # count only up to now minus this (default 5m)
    allow_incomplete: bool  # report (flagged) when events the window needs are gone
    now: datetime | None  # the clock (tests)
    rates: str | os.PathLike[str] | Rates | None  # prices: a rates TOML file (report/rates.py)
    progress: Callable[[int], None] | None  # called with the events read, every 5000


def report_window(args: ReportArgs | ServiceReportArgs) -> tuple[datetime, Window, timedelta]:
    """The clock, the window (``month`` or ``[since, until)``, default this month so far) and
    ``min_age`` of a report, checked before any request."""
    from cfevents.report.api import DEFAULT_MIN_AGE, window_from_options
    from cfevents.timeparse import format_cc, utcnow

    now = args.get("now") or utcnow()
    since, until = args.get("since"), args.get("until")
    window = window_from_options(
        args.get("month"),
        format_cc(since) if isinstance(since, datetime) else since,
        format_cc(until) if isinstance(until, datetime) else until,
        now,
    )
    age = check_min_age(args.get("min_age", DEFAULT_MIN_AGE))
    assert age is not None
    return now, window, age


def check_months(args: ReportArgs, pivot: str | None, compare: bool) -> None:
    """``pivot`` and ``compare`` run one report per month: what cannot go with that."""
    if pivot is not None and pivot != "month":
        raise UsageError(f"`pivot` must be month, not {pivot!r}", param="pivot")
    if pivot is not None and compare:
        raise UsageError("use `pivot` month or `compare`, not both")
    if compare and args.get("month") is None:
        raise UsageError(
            "`compare` needs `month` (the month compared with the one before)", param="compare"
        )
    if args.get("daily"):
        raise UsageError("`daily` cannot go with `pivot` month or `compare`", param="daily")
    if args.get("save_state") is not None:
        raise UsageError(
            "`save_state` cannot go with `pivot` month or `compare`", param="save_state"
        )
    if args.get("opening", "snapshot") not in ("snapshot", "events", "none"):
        raise UsageError(
            "`opening` FILE cannot go with `pivot` month or `compare`", param="opening"
        )
