"""The export's other sink: a history store (``--out usage.db`` or ``postgresql://…``).

The store holds the cursor: each page's events and the cursor after them commit in one
transaction (:meth:`cfevents.stores.ExportSession.write_page`), so there is no checkpoint file
and no crash, kill or overlap can lose or duplicate an event. Opening takes the store's export
lock for (foundation, kind) — a second export fails at once with StoreLockedError (exit 8) —
and, on the first export into the store, records the opening snapshot (apps, processes,
running tasks, spaces, orgs) BEFORE the first event page is read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Sized
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

from cfevents.cc.paging import JsonGetter, resources, v3_pages
from cfevents.stores import ExportSession, Store, kind_for_path, open_store
from cfevents.timeparse import format_cc, utcnow

SNAPSHOT_LISTS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("apps", "/v3/apps", ()),
    ("processes", "/v3/processes", ()),
    ("tasks", "/v3/tasks", (("states", "RUNNING"),)),
    ("spaces", "/v3/spaces", ()),
    ("organizations", "/v3/organizations", ()),  # names for reports from the store
)
SNAPSHOT_PER_PAGE = "5000"


def read_snapshot(client: JsonGetter) -> dict[str, Any]:
    """Every app, process, RUNNING task, space and org, as Cloud Controller lists them."""
    return {
        name: list(resources(v3_pages(client, path, [*params, ("per_page", SNAPSHOT_PER_PAGE)])))
        for name, path, params in SNAPSHOT_LISTS
    }


class StoreSink:
    """An open store, its export lock and session for one foundation and the plan's path."""

    def __init__(self, target: str, foundation: str, path: str) -> None:
        self.target = target
        self._stack = ExitStack()
        try:
            self.store: Store = self._stack.enter_context(open_store(target))
            self.session: ExportSession = self._stack.enter_context(
                self.store.begin_export(foundation, kind_for_path(path))
            )
        except BaseException:
            self._stack.close()
            raise
        self.resumed = self.session.after_guid is not None  # the store already had a cursor
        self.org_names: dict[str, str] = {}  # the org_name column (filled by ensure_snapshot)

    @property
    def after_guid(self) -> str | None:
        return self.session.after_guid

    @property
    def last_created_at(self) -> str | None:
        return self.session.last_created_at

    def ensure_snapshot(
        self,
        client: JsonGetter,
        note: Callable[[str], None],
        api_time: Callable[[datetime], datetime] | None = None,
    ) -> None:
        """The first export into the store records the opening snapshot, before any event,
        stamped with the time its reading began by the API's clock (``api_time`` maps ours to
        it once a response told the difference): the clock that stamps the events."""
        if not self.session.needs_snapshot:
            self.record_names(client, api_time)
            self.org_names = self.store.names(self.session.foundation)
            return
        started = utcnow()
        parts = read_snapshot(client)
        taken_at = format_cc(api_time(started) if api_time is not None else started)
        self.session.save_snapshot(taken_at, parts)
        note(
            f"recorded the opening snapshot of {self.session.foundation} at {taken_at} "
            f"({_count(parts['apps'], 'app')}, {_count(parts['processes'], 'process')}, "
            f"{_count(parts['tasks'], 'running task')}) in {self.store.display}"
        )
        self.org_names = self.store.names(self.session.foundation)

    def record_names(
        self, client: JsonGetter, api_time: Callable[[datetime], datetime] | None = None
    ) -> None:
        """Orgs created or renamed since the store last saw them (reports label rows with
        them; an org no sync ever saw was deleted before it): only the changes are saved."""
        if self.session.kind.name != "app_usage":
            return
        known = self.store.names(self.session.foundation)
        orgs = [
            {"guid": org.get("guid"), "name": org.get("name")}
            for org in resources(v3_pages(client, "/v3/organizations", [("per_page", "5000")]))
            if org.get("guid") and known.get(str(org.get("guid"))) != org.get("name")
        ]
        if orgs:
            now = utcnow()
            taken = api_time(now) if api_time is not None else now
            saved = self.store.snapshot_parts(self.session.foundation, "organizations")
            if saved:  # after the last one, even within its second (one row per second)
                last = datetime.strptime(saved[-1][0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                taken = max(taken, last + timedelta(seconds=1))
            self.session.save_snapshot(format_cc(taken), {"organizations": orgs})

    def write(self, events: Sequence[dict[str, Any]]) -> int:
        """The page's events and the cursor after them, in one transaction."""
        return self.session.write_page(events, org_names=self.org_names)

    def mark_complete(self, complete_until: datetime, synced_at: datetime) -> None:
        """The export read every page: every event created before ``complete_until`` is in
        the store (recorded per foundation and kind; reports count up to it)."""
        self.session.mark_complete(format_cc(complete_until), format_cc(synced_at))

    def close(self) -> None:
        self._stack.close()


def _count(items: Sized, noun: str) -> str:
    """``1 app``, ``2 apps``, ``1 process``, ``3 processes``."""
    n = len(items)
    plural = noun + ("es" if noun.endswith("s") else "s")
    return f"{n} {noun if n == 1 else plural}"
