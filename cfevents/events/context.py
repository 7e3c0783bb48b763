"""What changed just before a crash: the app's own audit events in the preceding period.

``crashes --context 15m`` attaches to each crash (and each loop record) a ``context`` list: the
deploys, restages, scales, starts and stops, environment and droplet changes of the same app
from 15 minutes before it up to it (the same second included: CC's times are whole seconds).

Fetching is per app and cached (:class:`ContextCache`): one query covers an app's span of
crashes in a batch (:func:`with_context` looks ``batch`` records ahead), and a later crash
only asks for the part of its window not fetched yet, so a loop of 30 crashes is a handful of
queries, not 30. The fetch function is the caller's (``Client.audit_events`` in practice);
nothing here talks to the network.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

Event = dict[str, Any]
#: (app guid, start inclusive, end exclusive) -> that app's change events, oldest first
Fetch = Callable[[str, datetime, datetime], Iterable[Event]]

# CC's audit event types that change an app (AppEventRepository): what an operator asks about
# when it starts crashing. Reads (environment_variables.show, ssh) are left out.
CONTEXT_TYPES: tuple[str, ...] = (
    "audit.app.apply_manifest",
    "audit.app.build.create",
    "audit.app.create",
    "audit.app.deployment.cancel",
    "audit.app.deployment.create",
    "audit.app.droplet.create",
    "audit.app.droplet.mapped",
    "audit.app.package.upload",
    "audit.app.process.scale",
    "audit.app.process.update",
    "audit.app.restage",
    "audit.app.restart",
    "audit.app.start",
    "audit.app.stop",
    "audit.app.update",
)
SECOND = timedelta(seconds=1)


def _moment(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def brief(event: Event) -> Event:
    """The part of an audit event a context entry keeps: when, what, who, and its data."""
    actor = event.get("actor") or {}
    return {
        "created_at": event.get("created_at"),
        "type": event.get("type"),
        "actor": actor.get("name"),
        "guid": event.get("guid"),
        "data": event.get("data"),
    }


@dataclass
class _Span:
    start: datetime
    end: datetime
    times: list[datetime] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    guids: set[Any] = field(default_factory=set)

    def add(self, events: Iterable[Event]) -> None:
        for event in events:
            moment = _moment(event.get("created_at"))
            if moment is None or event.get("guid") in self.guids:
                continue
            self.guids.add(event.get("guid"))
            at = bisect.bisect_right(self.times, moment)
            self.times.insert(at, moment)
            self.events.insert(at, brief(event))


class ContextCache:
    """Per app GUID, one fetched span of its change events, grown as crashes need more."""

    def __init__(self, fetch: Fetch, before: timedelta) -> None:
        self.fetch = fetch
        self.before = before
        self.queries = 0
        self._spans: dict[str, _Span] = {}

    def cover(self, app_guid: str, start: datetime, end: datetime) -> None:
        """Make sure [start, end) of the app's events is fetched (only what is missing)."""
        span = self._spans.get(app_guid)
        if span is None or end < span.start or start > span.end:  # disjoint: start afresh
            span = self._spans[app_guid] = _Span(start, start)
        for lo, hi in ((start, min(end, span.start)), (max(start, span.end), end)):
            if lo < hi:
                self.queries += 1
                span.add(self.fetch(app_guid, lo, hi))
        span.start, span.end = min(span.start, start), max(span.end, end)

    def context(self, app_guid: str, start: datetime, until: datetime) -> list[Event]:
        """The app's change events from ``start`` to ``until`` (its whole second included)."""
        end = until + SECOND
        self.cover(app_guid, start, end)
        span = self._spans[app_guid]
        lo, hi = bisect.bisect_left(span.times, start), bisect.bisect_left(span.times, end)
        return [dict(e) for e in span.events[lo:hi]]

    def window(self, record: Event) -> tuple[str, datetime, datetime] | None:
        """The app and [start, until] a record's context covers: ``before`` its crash (for a
        loop record, before its first crash up to its last)."""
        guid = (record.get("app") or {}).get("guid")
        first = _moment(record.get("first_crash") or record.get("created_at"))
        last = _moment(record.get("last_crash") or record.get("created_at"))
        if not guid or first is None or last is None:
            return None
        return str(guid), first - self.before, last

    def attach(self, record: Event) -> Event:
        """The record with its ``context`` list (empty when its app or time is unknown)."""
        window = self.window(record)
        return {**record, "context": self.context(*window) if window is not None else []}


def with_context(
    records: Iterable[Event], cache: ContextCache, batch: int = 500
) -> Iterator[Event]:
    """Each record with its ``context``, looking up to ``batch`` records ahead so that one query
    per app covers the batch's span of that app's crashes."""
    pending: list[Event] = []
    for record in records:
        pending.append(record)
        if len(pending) >= batch:
            yield from _flush(pending, cache)
            pending = []
    yield from _flush(pending, cache)


def _flush(pending: list[Event], cache: ContextCache) -> Iterator[Event]:
    spans: dict[str, tuple[datetime, datetime]] = {}
    for record in pending:
        window = cache.window(record)
        if window is not None:
            guid, start, until = window
            lo, hi = spans.get(guid, (start, until))
            spans[guid] = (min(lo, start), max(hi, until))
    for guid, (start, until) in spans.items():
        cache.cover(guid, start, until + SECOND)
    for record in pending:
        yield cache.attach(record)
