"""Pagination as plain generators.

- :func:`v3_pages` follows ``pagination.next.href`` (absolute; the client re-roots it on the
  API origin). Parameters are sent only with the first request: the link carries them.
- :func:`v2_pages` follows the relative ``next_url``.
- :func:`resources` flattens pages into resources and records totals in a :class:`PageInfo`.

Bound the output with ``itertools.islice`` and no page past the limit is ever requested.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

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


def v3_pages(client: JsonGetter, path: str, params: Params) -> Iterator[dict[str, Any]]:
    """Every page of a v3 list, following ``pagination.next.href``."""
    body = client.get_json(path, params)
    while True:
        yield body
        pagination = body.get("pagination") or {}
        nxt = pagination.get("next")
        href = nxt.get("href") if isinstance(nxt, dict) else None
        if not href or not body.get("resources"):
            return
        body = client.get_json(href)


def v2_pages(client: JsonGetter, path: str, params: Params) -> Iterator[dict[str, Any]]:
    """Every page of a v2 list, following the relative ``next_url``."""
    body = client.get_json(path, params)
    while True:
        yield body
        nxt = body.get("next_url")
        if not nxt or not body.get("resources"):
            return
        body = client.get_json(nxt)


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
        for item in items:
            if info is not None:
                info.resources += 1
            yield item
        del page, items  # not kept alive while the next page downloads


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) else None
