"""Listings of audit events and crashes from v3 ``/v3/audit_events`` or v2 ``/v2/events``:
the checked query, the first page read before anything is handed out, read-ahead, names."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from cfevents.cc.paging import PageInfo
from cfevents.errors import UsageError, V2DisabledError
from cfevents.events.args import AuditArgs, CrashArgs
from cfevents.events.bounds import check_limit, check_per_page
from cfevents.events.filters import (
    AUDIT_V2_PATH,
    AUDIT_V3_PATH,
    audit_endpoint,
    audit_types,
    check_order,
    choose_source,
    one_guid,
    require_v2,
    scope_values,
    time_window,
    v2_off_message,
    values,
)
from cfevents.events.listing import (
    Listing,
    Truncation,
    oldest_to_newest,
    page_size,
    recent_first,
    split_commas,
)
from cfevents.events.query import TimeWindow
from cfevents.events.resolve import Resolver, with_names

if TYPE_CHECKING:
    from cfevents.cc.client import CFClient
    from cfevents.events.audit import EventQuery
    from cfevents.events.context import ContextCache
    from cfevents.events.crashfilter import CrashFilter
    from cfevents.shapes import AuditEvent, Crash, CrashSummary, Source


def audit_events(http: CFClient, args: AuditArgs) -> Listing[AuditEvent]:
    """The listing behind :meth:`cfevents.api.Client.audit_events` (its docstring says what it yields)."""
    from cfevents.events import audit

    limit = check_limit(args.get("limit"))
    resolver, query, src = event_query(
        http,
        args,
        types=audit_types(split_commas(values(args.get("types", ())), unique=True)),
        actees=split_commas(values(args.get("actees", ())), unique=True),
        q=args.get("q", ()),
        limit=limit,
    )
    direction, raw_q, recent = query.order, query.raw_q, is_recent(args.get("order"), query, limit)
    info = PageInfo()
    events = audit.settle_ties(
        read_events(http, query, src, info, bool(raw_q), ahead=limit is None), direction
    )
    if limit is not None:
        events = itertools.islice(events, limit)
    if recent:
        events = oldest_to_newest(events)
    if args.get("names", True):
        events = with_names(events, resolver)

    def truncation(shown: int) -> Truncation | None:
        total = info.total_results or 0
        if limit is None or shown < limit or total <= shown:
            return None
        return Truncation(shown, "matching events", total, end="newest" if recent else "first")

    events_out = cast("Iterator[AuditEvent]", events)
    return Listing(events_out, info, truncation=truncation, paged=not recent)


def audit_event(
    http: CFClient, guid: str, source: Source = "auto", names: bool = True
) -> AuditEvent:
    """The listing behind :meth:`cfevents.api.Client.audit_event` (its docstring says what it yields)."""
    from urllib.parse import quote

    from cfevents.events import audit

    src = choose_source(source)
    key = quote(one_guid(guid))
    if src == "v2":
        require_v2(http)
        try:
            event = audit.normalise_v2(http.get_json(f"{AUDIT_V2_PATH}/{key}"))
        except V2DisabledError:
            raise V2DisabledError(v2_off_message()) from None
    else:
        event = audit.normalise_v3(http.get_json(f"{AUDIT_V3_PATH}/{key}"))
    if names:
        event = next(with_names([event], Resolver(http)))
    return cast("AuditEvent", event)


def crashes(http: CFClient, args: CrashArgs) -> Listing[Crash]:
    """The listing behind :meth:`cfevents.api.Client.crashes` (its docstring says what it yields)."""
    from cfevents.events import audit

    limit = check_limit(args.get("limit"))
    keep = crash_filter_of(args)
    # a filtered listing may read far past its limit: full pages, read ahead
    sizing = None if keep else limit
    resolver, query, src = event_query(http, args, types=audit.CRASH_TYPES, limit=sizing)
    recent = is_recent(args.get("order"), query, limit)
    info = PageInfo()
    reading = read_events(http, query, src, info, ahead=sizing is None)
    records = keep.apply(audit.crash_records(reading, query.order))
    shown = itertools.islice(records, limit) if limit is not None else records
    if recent:
        shown = oldest_to_newest(shown)
    cache = context_cache(http, args, src)
    if cache is not None:
        from cfevents.events.context import with_context

        shown = with_context(shown, cache)
    if args.get("names", True):
        shown = with_names(shown, resolver)

    def truncation(count: int) -> Truncation | None:
        # peeking at the rest costs at most one more page, and only when every event CC
        # counted was already read
        if limit is None or count < limit:
            return None
        unread = (info.total_results or 0) > info.resources
        if not unread and next(records, None) is None:
            return None
        end = "newest" if query.order == "desc" else "oldest"
        counted = None if keep else info.total_results or None
        return Truncation(count, "crashes", end=end, counted=counted)

    return Listing(cast("Iterator[Crash]", shown), info, truncation=truncation, paged=not recent)


def crash_summary(http: CFClient, args: CrashArgs) -> Listing[CrashSummary]:
    """The listing behind :meth:`cfevents.api.Client.crash_summary` (its docstring says what it yields)."""
    from cfevents.events import audit

    limit = check_limit(args.get("limit"))
    resolver, query, src = event_query(http, args, types=audit.CRASH_TYPES, limit=None)
    info = PageInfo()
    records = audit.crash_records(read_events(http, query, src, info), query.order)
    apps: list[int] = []  # how many apps crashed, once every page is read

    def summary() -> Iterator[dict[str, Any]]:
        # the pages after the first are read at the first next(), so that an observer set on
        # the listing (a progress line) sees them
        rows = audit.summarise(crash_filter_of(args).apply(records))
        apps.append(len(rows))
        yield from rows if limit is None else rows[:limit]

    shown = summary()
    if args.get("names", True):
        shown = with_names(shown, resolver)

    def truncation(count: int) -> Truncation | None:
        total = apps[0] if apps else count
        return Truncation(count, "apps with crashes", total) if total > count else None

    summaries = cast("Iterator[CrashSummary]", shown)
    return Listing(summaries, info, truncation=truncation, paged=False)


def event_query(
    http: CFClient,
    args: CrashArgs,
    *,
    types: tuple[str, ...],
    limit: int | None,
    actees: list[str] | None = None,
    q: Sequence[str] = (),
) -> tuple[Resolver, EventQuery, str]:
    """Check the arguments of an audit-event listing; its resolver, query and source.

    Crash listings (``actees`` None) read two events per crash: a page of 2N+1 events
    usually completes N crashes.
    """
    from cfevents.events import audit
    from cfevents.timeparse import utcnow

    now = utcnow()
    window = time_window(now, args)
    order = args.get("order")
    direction = check_order(order if order is not None else "desc")
    raw_q = tuple(audit.parse_q(value, now) for value in q)
    src = choose_source(args.get("source", "auto"), raw_q=bool(raw_q))
    top, endpoint = audit_endpoint(src)
    per_page = args.get("per_page")
    check_per_page(per_page, top, endpoint)
    resolver = Resolver(http)
    scope = resolver.resolve_scope(*scope_values(args))
    targets = (actees or []) + sorted(scope.app_guids or ())
    query = audit.EventQuery(
        types=types,
        target_guids=tuple(dict.fromkeys(targets)),
        space_guids=tuple(sorted(scope.space_guids or ())),
        org_guids=tuple(sorted(scope.org_guids or ())),
        window=window,
        order=direction,
        per_page=page_size(limit, per_page, top, per_result=2 if actees is None else 1, ahead=1),
        raw_q=raw_q,
    )
    return resolver, query, src


def is_recent(order: str | None, query: EventQuery, limit: int | None) -> bool:
    """Whether a limited audit listing shows the most recent events, oldest to newest, like
    ``tail`` (:func:`cfevents.events.listing.recent_first`): no ``order``, no window, no raw
    ``q`` timestamp filter. It reads newest first (the query's default order) and gives the
    events it keeps back in reverse."""
    windowed = query.window != TimeWindow() or any("timestamp" in q for q in query.raw_q)
    return recent_first(limit, windowed=windowed, order_by=order, positioned=False)


def read_events(
    http: CFClient,
    query: EventQuery,
    source: str,
    info: PageInfo,
    raw_q: bool = False,
    *,
    ahead: bool = True,
) -> Iterator[dict[str, Any]]:
    """Normalised events from either API, each once, in time order.

    The first page is fetched here, before anything is handed out, so a refused request
    (v2 off, a 400) is one error and not a half-written document. With ``ahead`` (no limit:
    every page is needed) the next page downloads in a background thread while this one is
    written, as for usage exports; a limited listing sizes its first page to the limit and
    never asks for a page it may not need.
    """
    from cfevents.cc.paging import resources, v2_pages, v3_pages
    from cfevents.cc.readahead import read_ahead
    from cfevents.events import audit

    if source == "v2":
        require_v2(http, raw_q)
        pages = v2_pages(http, AUDIT_V2_PATH, audit.build_v2_events_params(query))
        normalise = audit.normalise_v2
    else:
        pages = v3_pages(http, AUDIT_V3_PATH, audit.build_v3_audit_params(query))
        normalise = audit.normalise_v3
    try:
        first = next(pages)
    except V2DisabledError:
        raise V2DisabledError(v2_off_message(raw_q)) from None
    rest = read_ahead(pages) if ahead else pages
    events = (normalise(r) for r in resources(itertools.chain([first], rest), info))
    return audit.unique(events)


def context_cache(http: CFClient, args: CrashArgs, source: str) -> ContextCache | None:
    """The cache that fetches ``context`` for crashes (None without ``context``): the
    app's change events (:data:`cfevents.events.context.CONTEXT_TYPES`) by target GUID."""
    from cfevents.events.context import CONTEXT_TYPES, ContextCache
    from cfevents.timeparse import format_cc

    before = context_period(args.get("context"))
    if before is None:
        return None

    def fetch(guid: str, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        query: AuditArgs = {
            "types": CONTEXT_TYPES,
            "actees": [guid],
            "since": format_cc(start),
            "until": format_cc(end),
            "order": "asc",
            "source": cast("Source", source),
            "names": False,
        }
        return cast("Iterator[dict[str, Any]]", audit_events(http, query))

    return ContextCache(fetch, before)


def context_period(value: str | timedelta | None) -> timedelta | None:
    """``context``: a duration (``15m``) from 1s to 1d, or None."""
    from cfevents.events.bounds import duration

    if value is None or value == "":
        return None
    period = duration(value, param="context")
    if not timedelta(seconds=1) <= period <= timedelta(days=1):
        raise UsageError(f"{value!r} is out of range (1s to 1d)", param="context")
    return period


def crash_filter_of(args: CrashArgs) -> CrashFilter:
    """The crash filters (reasons, exit statuses, OOM) of ``args``."""
    from cfevents.events.crashfilter import crash_filter

    return crash_filter(
        values(args.get("reasons", ())), args.get("exit_statuses", ()), args.get("oom", False)
    )
