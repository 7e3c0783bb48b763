"""Listings of usage events (app and service): paging strategy, client-side filters, limits,
org names, and the "showing N of M" facts, over any CFClient."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from cfevents.errors import UsageError
from cfevents.events.args import ServiceEventArgs, TimeArgs, UsageEventArgs
from cfevents.events.bounds import check_limit, check_per_page
from cfevents.events.filters import NON_GLOBAL_HINT, USAGE_PATH, check_order, time_window
from cfevents.events.keyset import blame_after_guid
from cfevents.events.listing import (
    RECENT_ORDER,
    Listing,
    Truncation,
    oldest_to_newest,
    page_size,
    recent_first,
)
from cfevents.events.query import (
    USAGE_ORDERS,
    V3_MAX_PER_PAGE,
    TimeWindow,
    UsageQuery,
    build_usage_params,
)
from cfevents.events.resolve import Resolver, org_namer, page_org_names

if TYPE_CHECKING:
    from cfevents.cc.client import CFClient
    from cfevents.events.kinds import EventKind


def kind_events(
    http: CFClient, kind: EventKind, args: UsageEventArgs | ServiceEventArgs
) -> Listing[dict[str, Any]]:
    """The listing of a usage kind (``Client.usage_events``, ``Client.service_usage_events``:
    their docstrings say what it yields): its filters parsed by the kind, checked bounds,
    keyset paging in id order (or CC's ordered pages), client-side filters, the limit."""
    from cfevents.cc.paging import PageInfo, resources

    assert kind.parse is not None, kind.name
    filters = kind.parse(args)
    per_page, limit = args.get("per_page"), check_limit(args.get("limit"))
    check_per_page(per_page, V3_MAX_PER_PAGE, f"v3 {kind.path}")
    order_by = _usage_order_by(args)
    client_filtered = filters.client_side
    size = page_size(None if client_filtered else limit, per_page, V3_MAX_PER_PAGE)
    recent = _recent(limit, filters.window, order_by, filters.after_guid, args.get("page"))
    query = UsageQuery(
        window=filters.window,
        guids=filters.guids,
        after_guid=filters.after_guid,
        order_by=RECENT_ORDER if recent else order_by,
        per_page=size,
        page=args.get("page"),
    )
    keep = filters.keep(Resolver(http))
    info = PageInfo()
    pages = usage_pages(http, query, limit, client_filtered, kind, filters.extra)
    namer = None
    if kind.org_names and cast("dict[str, Any]", args).get("names", True):
        namer = Resolver(http)
        pages = page_org_names(pages, namer)
    events: Iterator[dict[str, Any]] = resources(pages, info)
    if keep is not None:
        events = filter(keep, events)
    if limit is not None:
        events = itertools.islice(events, limit)
    if recent:
        events = oldest_to_newest(events)
    if namer is not None:
        events = map(org_namer(namer), events)
    return _listing(events, info, http, limit, recent, kind.label, client_filtered)


def _recent(
    limit: int | None,
    window: TimeWindow,
    order_by: str | None,
    after_guid: str | None,
    page: int | None,
) -> bool:
    """Whether a limited listing shows the newest events (events.listing.recent_first)."""
    positioned = after_guid is not None or page is not None
    return recent_first(
        limit, windowed=window != TimeWindow(), order_by=order_by, positioned=positioned
    )


def _usage_order_by(args: UsageEventArgs | ServiceEventArgs) -> str | None:
    """CC's ``order_by`` for ``order`` or ``order_by`` (one of them), checked."""
    order_by = cast("UsageEventArgs", args).get("order_by")
    if (order := args.get("order")) is not None:
        if order_by is not None:
            raise UsageError("`order` and `order_by` say the same thing: give one", param="order")
        order_by = "created_at" if check_order(order) == "asc" else "-created_at"
    if order_by is not None and order_by not in USAGE_ORDERS:
        raise UsageError(
            f"`order_by` must be created_at or -created_at (got {order_by!r})", param="order_by"
        )
    return order_by


def usage_pages(
    http: CFClient,
    query: UsageQuery,
    limit: int | None,
    client_filtered: bool,
    kind: EventKind,
    extra: Sequence[tuple[str, str]] = (),
) -> Iterator[dict[str, Any]]:
    """The paging strategy: one page, keyset in id order, or ``next`` links (ordered)."""
    from cfevents.cc.paging import v3_pages
    from cfevents.cc.readahead import read_ahead
    from cfevents.events.keyset import keyset_pages

    size, path = query.per_page or V3_MAX_PER_PAGE, kind.path
    params = [*build_usage_params(query), *extra]
    # never a page past the limit; with several pages, fetch the next while using this one
    max_pages = -(-limit // size) if limit is not None and not client_filtered else None
    several = limit is None or (limit > size and not client_filtered)
    if query.page is not None:
        return itertools.islice(v3_pages(http, path, params), 1)
    if query.order_by is None:  # CC's id order: page by keyset, not OFFSET links
        return blame_after_guid(
            keyset_pages(
                http,
                path,
                params,
                query.after_guid,
                size,
                max_pages=max_pages,
                read_ahead=several,
            ),
            query.after_guid,
            kind.noun,
        )
    pages = v3_pages(http, path, params)
    if max_pages is not None:
        pages = itertools.islice(pages, max_pages)
    return read_ahead(pages) if several else pages


def usage_coverage(http: CFClient, args: TimeArgs, kind: EventKind) -> str | None:
    """The check behind :meth:`cfevents.api.Client.coverage` (its docstring says what it
    yields), against ``kind``'s endpoint."""
    from cfevents.timeparse import format_cc, utcnow

    now = utcnow()
    window = time_window(now, args)
    start = window.gte or window.gt
    if start is None:
        return None
    body = http.get_json(kind.path, [("order_by", "created_at"), ("per_page", "1")])
    resources = body.get("resources") if isinstance(body, dict) else None
    if not resources or not isinstance(resources[0], dict):
        return None
    oldest_text = str(resources[0].get("created_at") or "")
    try:
        oldest = datetime.fromisoformat(oldest_text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if oldest <= start:
        return None
    until = window.lt
    gone = (
        f"the window starts {format_cc(start)} but Cloud Controller holds no {kind.label} events "
        f"before {format_cc(oldest)} (it prunes old ones)"
    )
    if isinstance(until, datetime) and until <= oldest:  # never "covers only B to A"
        return f"{gone}: the whole window, up to {format_cc(until)}, is gone"
    end = format_cc(until) if isinstance(until, datetime) else "now"
    return f"{gone}: this covers only {format_cc(oldest)} to {end}"


def report_events(http: CFClient, start: datetime) -> Iterator[dict[str, Any]]:
    """Every usage event from ``start`` on, in id order: the export's keyset pages with
    read-ahead (one streamed pass; closing this stops the background download)."""
    from cfevents.events.keyset import keyset_pages
    from cfevents.timeparse import format_cc

    params = [("created_ats[gte]", format_cc(start))]
    # no guessed download: page N and its raw body are gone before page N+1's body arrives
    pages = keyset_pages(http, USAGE_PATH, params, None, V3_MAX_PER_PAGE, guess_next=False)
    try:
        for page in pages:
            yield from page.get("resources") or []
            del page  # let page N go before page N+1 is decoded
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()


def _listing(
    events: Iterator[dict[str, Any]],
    info: Any,
    http: Any,
    limit: int | None,
    recent: bool,
    noun: str,
    client_filtered: bool,
) -> Listing[dict[str, Any]]:
    """A usage listing (any kind) with its truncation note and its empty-result hint."""

    def truncation(shown: int) -> Truncation | None:
        if limit is None or shown < limit:
            return None
        end = "newest" if recent else "first"
        if client_filtered:
            return Truncation(shown, "matching events", end=end)
        total = info.total_results
        return (
            Truncation(shown, "matching events", total, end=end) if (total or 0) > shown else None
        )

    def empty_hint() -> str | None:
        return _non_global_hint(http, info, noun)

    return Listing(events, info, truncation=truncation, empty_hint=empty_hint, paged=not recent)


def _non_global_hint(http: Any, info: Any, noun: str) -> str | None:
    """Why an empty listing may be empty: a token without a global read scope sees only the
    events of its own spaces (said once, for the ``noun`` listed)."""
    from cfevents.cc.auth import GLOBAL_READ_SCOPES

    if info.total_results != 0:
        return None
    scopes = http.tokens.scopes()
    if scopes is None or scopes & GLOBAL_READ_SCOPES:
        return None
    return NON_GLOBAL_HINT.replace("app usage", noun)
