"""Keyset paging in Cloud Controller's id order, shared by listings, exports and reports.

Bulk reads page by keyset (``after_guid=<last guid>&page=1&per_page=5000`` with the same
filters) instead of OFFSET links: every OFFSET page costs CC a COUNT and a deeper scan, and
OFFSET pages shift while the retention job deletes old rows. The next page is requested
while this one is used (``CFClient.read_ahead``), its guid guessed from the raw body.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from cfevents.cc.paging import JsonGetter, LoopGuard, Params, ReadsAhead, check_page
from cfevents.errors import ApiError, BadResponseError, LostCursorError

# CC's 422 for an unknown cursor: "... a valid app usage event guid." (or service usage event)
LOST_CURSOR_DETAIL = "After guid filter must be a valid"


def unknown_after_guid(
    guid: str | None, exc: LostCursorError, noun: str = "app usage event"
) -> LostCursorError:
    """A GUID the user typed is unknown: say so, without blaming pruning (it may be a typo)."""
    api_error = exc.__context__  # keyset_pages raised it while handling CC's 422
    detail = api_error.message if isinstance(api_error, ApiError) else exc.message
    return LostCursorError(
        f"--after-guid: Cloud Controller knows no {noun} {guid}; check the GUID "
        f"(or the event is gone): {detail}"
    )


def keyset_pages(
    client: JsonGetter,
    path: str,
    params: Params,
    after_guid: str | None,
    per_page: int,
    *,
    max_pages: int | None = None,
    read_ahead: bool = True,
    guess_next: bool = True,
) -> Iterator[dict[str, Any]]:
    """Pages in id order: each request is ``after_guid=<last guid>&page=1&per_page=N``.

    When the client can read ahead (CFClient), the next page downloads while the caller handles
    this one; memory stays at one decoded page plus one raw body, however long the export. No
    page past ``max_pages`` is requested. With ``guess_next`` the next download starts as soon
    as this page's raw body arrives (its cursor read off the body, before decoding: less latency
    between requests); without it, once the page is decoded and its raw body let go, so the next
    body never coexists with this page's raw body (a consumer slower than the network, like the
    usage report, loses no time: the download still overlaps its work on the page).
    Raises :class:`LostCursorError` when CC no longer knows the cursor (422).
    """
    base = [(k, v) for k, v in params if k not in ("after_guid", "page", "per_page", "order_by")]
    ahead = client if read_ahead and isinstance(client, ReadsAhead) else None
    fetched = 0

    def page_params(cursor: str | None) -> Params:
        query = list(base)
        if cursor:
            query.append(("after_guid", cursor))
        return [*query, ("page", "1"), ("per_page", str(per_page))]

    def guess_request(raw: bytes) -> tuple[str, Params] | None:
        last_guid = guess_last_guid(raw, path)
        return (path, page_params(last_guid)) if last_guid else None

    guess = guess_request if guess_next else None

    cursor = after_guid
    request = page_params(cursor)
    guard = LoopGuard(path, memory=2 * per_page)
    if ahead is not None and max_pages != 1:  # so the guess for page 2 starts with page 1
        ahead.read_ahead(path, request, then=guess)
    try:
        while True:
            try:
                body = client.get_json(path, request)
            except ApiError as exc:
                if exc.status == 422 and LOST_CURSOR_DETAIL in exc.detail and cursor:
                    raise LostCursorError(
                        f"Cloud Controller no longer knows the cursor {cursor} (usage events are "
                        "pruned after 31 days by default, and a purge-and-reseed forgets them "
                        f"all): {exc.message}"
                    ) from None
                raise
            fetched += 1
            body = check_page(body, path)
            items = body["resources"]
            pagination = body.get("pagination")
            nxt = pagination.get("next") if isinstance(pagination, dict) else None
            last = len(items) < per_page or not nxt or fetched == max_pages
            body = guard.fresh(body)  # drops repeats; a page of nothing new is an error
            if not last:
                if str(items[-1]["guid"]) == cursor:
                    raise BadResponseError(
                        f"the API's keyset cursor does not advance (the page after {cursor} "
                        f"ends with {cursor} again); stopped paging [GET {path}]"
                    )
                cursor = str(items[-1]["guid"])
                request = page_params(cursor)
                if ahead is not None:  # confirms a guessed request, or starts the right one
                    more = max_pages is None or fetched + 1 < max_pages
                    ahead.read_ahead(path, request, then=guess if more else None)
            del items
            yield body
            del body  # the caller is done with it: let it go before the next one is decoded
            if last:
                return
    finally:
        if ahead is not None:
            ahead.cancel_read_ahead()


_NEXT_IS_NULL = re.compile(rb'"next"\s*:\s*null')


def guess_last_guid(raw: bytes, path: str) -> str | None:
    """The guid of a raw v3 page's last resource, read off its ``links.self.href``.

    CC renders ``{"pagination": {...}, "resources": [..., {..., "links": {"self": {"href":
    ".../<path>/<guid>"}}}]}``: the last self link ends the body. None when the page has no
    next page or does not look like that. Only a guess, to start the next request before the
    page is decoded: keyset_pages checks it against the decoded page.
    """
    head = raw[:4096]
    if b'"pagination"' not in head or _NEXT_IS_NULL.search(head):
        return None
    match = _tail_link(path).search(raw, max(0, len(raw) - 1024))
    return match.group(1).decode("ascii") if match else None


@functools.cache
def _tail_link(path: str) -> re.Pattern[bytes]:
    return re.compile(
        re.escape(path.rstrip("/").encode())
        + rb'/([0-9A-Za-z-]{1,64})"\s*\}\s*\}\s*\}\s*\]\s*\}\s*\Z'
    )


def blame_after_guid(
    pages: Iterator[dict[str, Any]], after_guid: str | None, noun: str = "app usage event"
) -> Iterator[dict[str, Any]]:
    """Keyset pages; an unknown cursor is the caller's ``after_guid`` (a typo), not pruning."""
    first = True
    try:
        for page in pages:
            first = False
            yield page
    except LostCursorError as exc:
        if not first or after_guid is None:  # a cursor of ours, lost while paging
            raise
        raise unknown_after_guid(after_guid, exc, noun) from None
