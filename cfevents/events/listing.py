"""One paging vocabulary for every listing: the result iterator, page sizes, the ``--per-page``
check, the comma splitter, and the "showing N of M" facts (the CLI words them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from cfevents.cc.paging import PageInfo
from cfevents.events.bounds import check_per_page as check_per_page  # its home is bounds

T = TypeVar("T")


def split_commas(values: Iterable[str] | None, *, unique: bool = False) -> list[str]:
    """Repeatable values that may hold comma lists: ``["a,b", "c"]`` → ``["a", "b", "c"]``.

    ``\\,`` is a comma inside a value and ``\\\\`` a backslash (``--app 'web\\,v2'`` is the app
    named ``web,v2``); any other backslash is kept as it is. Blanks are dropped; with
    ``unique``, repeats too (first one kept).
    """
    parts: list[str] = []
    for value in values or ():
        current: list[str] = []
        chars = iter(value)
        for char in chars:
            if char == "\\":
                following = next(chars, "")
                current.append(following if following in (",", "\\") else char + following)
            elif char == ",":
                parts.append("".join(current).strip())
                current = []
            else:
                current.append(char)
        parts.append("".join(current).strip())
    parts = [p for p in parts if p]
    return list(dict.fromkeys(parts)) if unique else parts


def page_size(
    limit: int | None, per_page: int | None, top: int, *, per_result: int = 1, ahead: int = 0
) -> int:
    """``per_page``, else enough for ``limit`` results (``per_result`` events each) and
    ``ahead`` more to look ahead, else the endpoint's maximum ``top``."""
    if per_page is not None:
        return per_page
    if limit is None:
        return top
    return max(1, min(top, limit * per_result + ahead))


RECENT_ORDER = "-created_at"  # what a limited listing with no window asks CC for


def recent_first(
    limit: int | None, *, windowed: bool, order_by: str | None, positioned: bool
) -> bool:
    """Whether a listing shows the most recent events, like ``tail``: it is limited, and
    neither a time window, an order nor a starting point (``after_guid``, ``page``) says which
    events to show. Such a listing asks for newest first (RECENT_ORDER) and gives its results
    oldest to newest (:func:`oldest_to_newest`)."""
    return limit is not None and not windowed and order_by is None and not positioned


def oldest_to_newest(newest_first: Iterable[T]) -> Iterator[T]:
    """Results read newest first, given back oldest to newest (held in memory: at most the
    listing's limit)."""
    return iter(list(newest_first)[::-1])


@dataclass(frozen=True)
class Truncation:
    """More results match than a limited listing showed: the facts of a "showing N of M" note.

    ``total`` is how many match when the server said so. Without it, ``end`` says which end of
    the list was shown (``"first"``, ``"newest"``, ``"oldest"``) and ``counted`` what the
    server counted instead (crash events: usually two per crash).
    """

    shown: int
    noun: str
    total: int | None = None
    end: str = "first"
    counted: int | None = None


class Listing(Generic[T]):
    """The results of one list call: iterate it once; then ask what was left out.

    Pages are fetched as the iteration needs them; ``count`` is how many results were taken.
    ``paged``: each result comes from the page ``info`` is reading (a table writes the first
    page's rows, then each row, as pages arrive); False for results made from every page read
    first (a summary).
    """

    def __init__(
        self,
        items: Iterable[T],
        info: PageInfo | None = None,
        *,
        truncation: Callable[[int], Truncation | None] | None = None,
        empty_hint: Callable[[], str | None] | None = None,
        paged: bool = True,
    ) -> None:
        self._items = iter(items)
        self.info = info if info is not None else PageInfo()
        self.paged = paged
        self.count = 0
        self._truncation = truncation
        self._empty_hint = empty_hint

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        item = next(self._items)
        self.count += 1
        return item

    def observe(self, observer: Callable[[PageInfo], None]) -> None:
        """Call ``observer(info)`` each time a page is read and used up (before the next one
        is asked for): events read so far are ``info.resources``, pages ``info.pages``, the
        server's count ``info.total_results``. Set it before iterating; it runs in the
        iterating thread, once per page, so it costs nothing per event."""
        self.info.observer = observer

    @property
    def total_results(self) -> int | None:
        """What the server counted as matching (first page), when it said."""
        return self.info.total_results

    def truncation(self) -> Truncation | None:
        """After iterating: did the limit leave matching results out? (may read one page more)"""
        return self._truncation(self.count) if self._truncation is not None else None

    def empty_hint(self) -> str | None:
        """After iterating: why nothing may have been visible (e.g. the token lacks a scope)."""
        if self.count or self._empty_hint is None:
            return None
        return self._empty_hint()
