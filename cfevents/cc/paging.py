"""Pagination as plain generators.

- :func:`v3_pages` follows ``pagination.next.href`` (absolute; the client re-roots it on the
  API origin). Parameters are sent only with the first request: the link carries them.
- :func:`v2_pages` follows the relative ``next_url``.
- :func:`resources` flattens pages into resources and records totals in a :class:`PageInfo`.

Bound the output with ``itertools.islice`` and no page past the limit is ever requested.
"""

from __future__ import annotations

import operator
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from cfevents.errors import BadResponseError

# Query parameters as (key, value) pairs in a stable order; requests does the URL encoding.
Params = list[tuple[str, str]]


class JsonGetter(Protocol):
    def get_json(self, target: str, params: Params | None = None) -> Any: ...


@runtime_checkable
class ReadsAhead(Protocol):
    """A client that can download a request in the background (``CFClient.read_ahead``)."""

    def read_ahead(
        self,
        target: str,
        params: Params | None = None,
        *,
        then: Callable[[bytes], tuple[str, Params] | None] | None = None,
    ) -> None: ...

    def cancel_read_ahead(self) -> None: ...


@dataclass
class PageInfo:
    """What the server said about the listing (filled in as pages arrive)."""

    total_results: int | None = None
    pages: int = 0
    resources: int = 0
    page_end: int = 0  # ``resources`` once the current page is used up (tables flush there)
    #: called with this PageInfo each time a page's resources are used up, before the next
    #: page is asked for (which may take a while): a progress display's hook, in the reading
    #: thread (cfevents.events.listing.Listing.observe)
    observer: Callable[[PageInfo], None] | None = field(default=None, repr=False, compare=False)


def check_page(body: Any, target: str) -> dict[str, Any]:
    """``body`` if it is a list page (an object whose ``resources`` is a list of objects, each
    with a guid, v3 ``guid`` or v2 ``metadata.guid``); else :class:`BadResponseError` (exit 5)
    naming what is wrong. A CC ``errors`` envelope sent with status 200 is an error too."""
    where = f"[GET {target.split('?')[0]}]"
    if not isinstance(body, dict):
        kind = "an array" if isinstance(body, list) else type(body).__name__
        raise BadResponseError(f"the API answered 200 with {kind}, not a list page {where}")
    errors = body.get("errors")
    if isinstance(errors, list) and errors and "resources" not in body:
        first = errors[0] if isinstance(errors[0], dict) else {}
        detail = first.get("detail") or first.get("title") or "no detail"
        raise BadResponseError(f"the API answered 200 with an error: {detail} {where}")
    items = body.get("resources")
    if not isinstance(items, list):
        shown = "missing" if items is None else f"a {type(items).__name__}"
        raise BadResponseError(
            f"the API answered 200 but 'resources' is {shown}, not a list {where}"
        )
    if _all_v3_guids(items):
        return body
    for item in items:
        if not isinstance(item, dict) or not isinstance(guid_of(item), str):
            raise BadResponseError(f"the API answered 200 with an item that has no guid {where}")
    return body


def guid_of(item: dict[str, Any]) -> Any:
    """The GUID of a v3 resource, or of a v2 one (``metadata.guid``)."""
    guid = item.get("guid")
    if guid is None and isinstance(item.get("metadata"), dict):
        guid = item["metadata"].get("guid")
    return guid


_GUID = operator.itemgetter("guid")
_STR_ONLY = frozenset({str})
_DICT_ONLY = frozenset({dict})


def _all_v3_guids(items: list[Any]) -> bool:
    """Whether every item is a dict with a string ``guid`` (one pass in C: the common case)."""
    try:
        dicts = set(map(type, items)) <= _DICT_ONLY
        return dicts and set(map(type, map(_GUID, items))) <= _STR_ONLY
    except KeyError:
        return False


class LoopGuard:
    """Stops paging that does not advance: the same next link twice, or a page whose every
    GUID was on an earlier page (kept: the last ``memory`` GUIDs). Drops single repeats."""

    def __init__(self, target: str, memory: int = 20_000) -> None:
        self.target = target.split("?")[0]
        self.memory = memory
        self.links: set[str] = set()
        self.pages: deque[set[str]] = deque()  # the GUIDs of the latest pages, oldest first
        self.kept = 0  # GUIDs in ``pages``

    def follow(self, link: str) -> None:
        if link in self.links:
            raise BadResponseError(
                f"the API's next link does not advance (it repeats {link}); stopped paging "
                f"[GET {self.target}]"
            )
        self.links.add(link)

    def fresh(self, body: dict[str, Any]) -> dict[str, Any]:
        """The page without items already seen; an error if it held nothing new.

        Paid once per page: the page's GUIDs are one set, checked against the sets of the
        pages before it (at least the last ``memory`` GUIDs), item by item only when one
        repeats."""
        items: list[dict[str, Any]] = body["resources"]
        if _all_v3_guids(items):
            guids: list[str] = list(map(_GUID, items))
        else:
            guids = [str(guid_of(item)) for item in items]
        page = set(guids)
        if all(page.isdisjoint(seen) for seen in self.pages):
            self._remember(page)
            return body
        kept, new = [], set()
        for item, guid in zip(items, guids, strict=True):
            if not any(guid in seen for seen in self.pages):
                new.add(guid)
                kept.append(item)
        if items and not kept:
            raise BadResponseError(
                f"the API sent a page of {len(items)} events all seen on earlier pages; "
                f"stopped paging [GET {self.target}]"
            )
        self._remember(new)
        return {**body, "resources": kept}

    def _remember(self, page: set[str]) -> None:
        self.pages.append(page)
        self.kept += len(page)
        while self.kept - len(self.pages[0]) >= self.memory:
            self.kept -= len(self.pages.popleft())


def v3_pages(client: JsonGetter, path: str, params: Params) -> Iterator[dict[str, Any]]:
    """Every page of a v3 list, following ``pagination.next.href`` (shapes checked, repeats
    dropped, a link that does not advance stopped)."""
    guard = LoopGuard(path)
    body = guard.fresh(check_page(client.get_json(path, params), path))
    while True:
        yield body
        pagination = body.get("pagination") or {}
        nxt = pagination.get("next") if isinstance(pagination, dict) else None
        href = nxt.get("href") if isinstance(nxt, dict) else None
        if not href or not body.get("resources"):
            return
        guard.follow(str(href))
        body = guard.fresh(check_page(client.get_json(href), path))


def v2_pages(client: JsonGetter, path: str, params: Params) -> Iterator[dict[str, Any]]:
    """Every page of a v2 list, following the relative ``next_url``."""
    guard = LoopGuard(path)
    body = guard.fresh(check_page(client.get_json(path, params), path))
    while True:
        yield body
        nxt = body.get("next_url")
        if not nxt or not body.get("resources"):
            return
        guard.follow(str(nxt))
        body = guard.fresh(check_page(client.get_json(nxt), path))


def resources(
    pages: Iterable[dict[str, Any]], info: PageInfo | None = None
) -> Iterator[dict[str, Any]]:
    """The resources of each page in order; totals go to ``info``."""
    for page in pages:
        if info is not None:
            if info.pages == 0:
                pagination = page.get("pagination")
                meta = pagination if isinstance(pagination, dict) else page
                info.total_results = _int_or_none(meta.get("total_results"))
            info.pages += 1
        items = page.get("resources") or []
        if info is not None:
            info.page_end = info.resources + len(items)
        for item in items:
            if info is not None:
                info.resources += 1
            yield item
        del page, items  # not kept alive while the next page downloads
        if info is not None and info.observer is not None:
            info.observer(info)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) else None
