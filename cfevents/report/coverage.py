"""What a history store covers, per foundation and kind, and from when it can report a month.

A store holds every event of a foundation and kind from its first stored event on (the oldest
Cloud Controller still had when collecting began) up to ``complete_until`` (the last sync's CC
time less its min-age, :class:`cfevents.stores.SyncState`). A calendar month is reportable from
the store when its start, less the report's margin, is at or after the first stored event and
the store is complete past its end: :func:`first_whole_month` says which month that is first,
:func:`store_status` says it for every foundation and kind in a store (``cfevents history
status``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cfevents.errors import UsageError
from cfevents.report.api import DEFAULT_MARGIN
from cfevents.report.timeutil import epoch, iso, next_month
from cfevents.stores import KINDS, Store


def first_whole_month(first_event: int, margin: timedelta = DEFAULT_MARGIN) -> datetime:
    """The first calendar month whose events (from its start less ``margin``) all lie at or
    after ``first_event`` (epoch seconds)."""
    first = datetime.fromtimestamp(first_event + int(margin.total_seconds()), tz=UTC)
    month = datetime(first.year, first.month, 1, tzinfo=UTC)
    return month if month >= first else next_month(month)


@dataclass(frozen=True)
class KindStatus:
    """One foundation's events of one kind in a store."""

    foundation: str
    kind: str  # the table: app_usage_events, service_usage_events
    rows: int
    first_event: str | None  # created_at of the first stored event
    last_event: str | None
    complete_until: str | None  # every event before it is stored (None: no sync recorded)
    last_sync: str | None
    gaps: int  # holes in seq (rows deleted from the store)
    reseeds: int  # events written by a purge-and-reseed
    first_month: str | None  # the first whole month a report can take from the store
    reportable_from: str | None  # that month's end: a sync after it (plus min-age) completes it

    @property
    def months(self) -> list[str]:
        """The whole months the store can report now (first_month up to complete_until)."""
        if self.first_month is None or self.complete_until is None:
            return []
        month = datetime.strptime(self.first_month, "%Y-%m").replace(tzinfo=UTC)
        done = datetime.fromtimestamp(epoch(self.complete_until), tz=UTC)
        found = []
        while next_month(month) <= done:
            found.append(f"{month:%Y-%m}")
            month = next_month(month)
        return found


def kind_status(store: Store, foundation: str, kind_name: str) -> KindStatus:
    kind = KINDS[kind_name]
    coverage = store.coverage(foundation, kind)
    sync = store.sync_state(foundation, kind)
    first_month = reportable = None
    gaps = reseeds = 0
    if coverage is not None:
        month = first_whole_month(epoch(coverage.first_created_at))
        first_month, reportable = f"{month:%Y-%m}", iso(int(next_month(month).timestamp()))
        continuity = store.continuity(foundation, kind)
        gaps, reseeds = len(continuity.gaps), len(continuity.reseeds)
    return KindStatus(
        foundation=foundation,
        kind=kind.table,
        rows=coverage.events if coverage else 0,
        first_event=coverage.first_created_at if coverage else None,
        last_event=coverage.last_created_at if coverage else None,
        complete_until=sync.complete_until if sync else None,
        last_sync=sync.synced_at if sync else None,
        gaps=gaps,
        reseeds=reseeds,
        first_month=first_month,
        reportable_from=reportable,
    )


def store_status(store: Store, foundation: str | None = None) -> list[KindStatus]:
    """Every foundation (or ``foundation``) and kind the store holds, in name order."""
    found = sorted({f for kind in KINDS.values() for f in store.foundations(kind)})
    if foundation is not None:
        found = [f for f in found if f == foundation] or [foundation]
    return [kind_status(store, f, name) for f in found for name in KINDS]


def history_status(target: str, foundation: str | None = None) -> list[KindStatus]:
    """``Client.history_status``: :func:`store_status` of the store at ``target``, opened
    read-only; a store that does not exist is refused, not made."""
    from cfevents.stores import open_store, store_path

    path = store_path(target)
    if path is not None and not path.exists():
        raise UsageError(f"{target} does not exist: cfevents history init {target} makes it")
    with open_store(target, readonly=True) as opened:
        return store_status(opened, foundation)
