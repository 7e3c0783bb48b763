"""Following a listing: the keyset cursor every ``--follow`` of audit events polls with (its
interval bounds are :func:`cfevents.events.bounds.check_interval`'s), and the two follows
behind ``Client.follow_crashes`` and ``Client.follow_events``.

``crashes --follow`` and ``events list --follow`` poll the same way: each poll lists events
from ``lag`` seconds before the newest one handed out (CC may commit an event a little after
its ``created_at``), oldest first, and skips what was already handed out by its GUIDs; the
GUIDs older than the re-read window are forgotten, so memory stays bounded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, Unpack, cast

from cfevents.errors import UsageError
from cfevents.events.args import AuditArgs, CrashArgs
from cfevents.events.bounds import check_interval
from cfevents.timeparse import format_cc, utcnow

if TYPE_CHECKING:
    from cfevents.cc.client import CFClient
    from cfevents.events.loops import LoopRule
    from cfevents.shapes import AuditEvent, Crash, CrashLoop

DEFAULT_LAG_S = 60.0


def _moment(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class KeysetCursor:
    """Where the next poll starts, and what was handed out since ``start - lag``."""

    def __init__(self, start: datetime, lag: float = DEFAULT_LAG_S) -> None:
        self.start = start if start.tzinfo else start.replace(tzinfo=UTC)
        self.cursor = self.start
        self.lag = timedelta(seconds=lag)
        self._seen: dict[Any, str] = {}  # guid -> created_at

    def since(self) -> str:
        """The next poll's ``since``: ``lag`` before the newest record handed out."""
        return format_cc(max(self.start, self.cursor - self.lag))

    def fresh(self, created_at: Any, guids: Iterable[Any]) -> bool:
        """Whether a record with these GUIDs is new (then it counts as handed out). A record
        seen before under any of its GUIDs is not, even when it gained one (a crash whose
        second event arrived a poll later)."""
        created = str(created_at or "")
        keys = [g for g in guids if g]
        new = not any(g in self._seen for g in keys)
        for g in keys:
            self._seen[g] = created
        if new:
            moment = _moment(created)
            if moment is not None and moment > self.cursor:
                self.cursor = moment
        return new

    def prune(self) -> None:
        """After a poll: forget the GUIDs the next poll cannot list again."""
        floor = format_cc(self.cursor - self.lag)
        for guid in [g for g, at in self._seen.items() if at < floor]:
            del self._seen[guid]


class Lister(Protocol):
    """What a follow needs of the client: its listings, and the HTTP client (crash context,
    the API's clock), used only when asked for."""

    @property
    def http(self) -> CFClient: ...

    def crashes(self, **args: Unpack[CrashArgs]) -> Iterable[Crash]: ...

    def audit_events(self, **args: Unpack[AuditArgs]) -> Iterable[AuditEvent]: ...

    def sleep(self, seconds: float) -> None: ...


def _waiter(
    client: Lister, stop: threading.Event | None
) -> tuple[threading.Event, Callable[[float], object]]:
    """The follow's ``stop`` and how it waits between polls: ``stop.wait`` (setting it ends
    the wait) when the caller gave one, else the client's ``sleep`` (the CLI's ends at a
    signal at once, even one that arrived just before the wait began)."""
    if stop is not None:
        return stop, stop.wait
    return threading.Event(), client.sleep


def _start(args: AuditArgs | CrashArgs, lag: float) -> KeysetCursor:
    """The follow's arguments checked, and its cursor at ``since`` (or now)."""
    from cfevents.events.filters import time_window

    if args.get("until") is not None or args.get("created_before") is not None:
        raise UsageError("has no end: drop `until`/`created_before`", param="follow")
    return KeysetCursor(time_window(utcnow(), args).gte or utcnow(), lag)


def _poll_query(args: AuditArgs | CrashArgs, *dropped: str) -> dict[str, Any]:
    """The listing's arguments of every poll: oldest first, no limit, no end (``since`` is
    set per poll)."""
    ends = ("until", "created_after", "created_before", *dropped)
    return {k: v for k, v in args.items() if k not in ends} | {"order": "asc", "limit": None}


def follow_crashes(
    client: Lister,
    args: CrashArgs,
    *,
    interval: str | float,
    stop: threading.Event | None,
    lag: float,
    loop: LoopRule | None,
) -> Iterator[Crash | CrashLoop]:
    """``Client.follow_crashes`` (its docstring says what it yields)."""
    from cfevents.events import audit_listing
    from cfevents.events.filters import choose_source
    from cfevents.events.loops import LoopDetector

    pause = check_interval(interval)  # the one bound every follow obeys
    keyset = _start(args, lag)
    detector = LoopDetector(loop) if loop is not None else None
    source = choose_source(args.get("source", "auto"))
    # the HTTP client only when context is asked for
    cache = audit_listing.context_cache(client.http, args, source) if args.get("context") else None
    stop, wait = _waiter(client, stop)
    query = cast("CrashArgs", _poll_query(args, "context"))
    while not stop.is_set():
        query["since"] = keyset.since()
        for crash in client.crashes(**query):
            guids = (crash.get("process_crash_guid"), crash.get("app_crash_guid"))
            if not keyset.fresh(crash.get("created_at"), guids):
                continue
            loops = detector.observe(dict(crash)) if detector is not None else []
            for record in [dict(crash), *loops]:
                yield cast("Crash | CrashLoop", cache.attach(record) if cache else record)
        for record in detector.settle(client.http.server_time) if detector else []:
            yield cast("CrashLoop", cache.attach(record) if cache else record)
        keyset.prune()
        wait(pause)


def follow_events(
    client: Lister,
    args: AuditArgs,
    *,
    interval: str | float,
    stop: threading.Event | None,
    lag: float,
) -> Iterator[AuditEvent]:
    """``Client.follow_events`` (its docstring says what it yields)."""
    pause = check_interval(interval)  # the one bound every follow obeys
    keyset = _start(args, lag)
    stop, wait = _waiter(client, stop)
    query = cast("AuditArgs", _poll_query(args))
    while not stop.is_set():
        query["since"] = keyset.since()
        for event in client.audit_events(**query):
            if keyset.fresh(event.get("created_at"), [event.get("guid")]):
                yield event
        keyset.prune()
        wait(pause)
