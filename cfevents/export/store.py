"""The export's other sink: a history store (``--out usage.db`` or ``postgresql://…``).

The store holds the cursor: each page's events and the cursor after them go into one
transaction (:meth:`cfevents.stores.ExportSession.write_page`; up to COMMIT_PAGES pages or
COMMIT_SECONDS share it), so there is no checkpoint file and no crash, kill or overlap can
lose or duplicate an event: a kill loses the pages not committed yet, which a rerun reads
again. The ``raw`` column gets each event's JSON text as Cloud Controller sent it, cut out of
the page body (:mod:`cfevents.stores.raw`). Opening takes the store's export
lock for (foundation, kind) — a second export fails at once with StoreLockedError (exit 8) —
and, on the first export into the store, records the opening snapshot (apps, processes,
running tasks, spaces, orgs) BEFORE the first event page is read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Sized
from contextlib import AbstractContextManager, ExitStack
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from cfevents.cc.paging import JsonGetter, Params, resources, v3_pages
from cfevents.stores import ExportSession, Store, kind_for_path, open_store
from cfevents.stores.raw import split_page
from cfevents.timeparse import format_cc, utcnow

if TYPE_CHECKING:
    from cfevents.cc.client import CFClient

SNAPSHOT_LISTS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("apps", "/v3/apps", ()),
    ("processes", "/v3/processes", ()),
    ("tasks", "/v3/tasks", (("states", "RUNNING"),)),
    ("spaces", "/v3/spaces", ()),
    ("organizations", "/v3/organizations", ()),  # names for reports from the store
)
SNAPSHOT_PER_PAGE = "5000"
# Pages share a transaction for up to this many pages or seconds, and only while the next page
# is already downloaded (a commit per page cost a sixth of a store export's time; waiting for
# the server, it is free). The cursor commits with its events, so a kill loses at most this
# much of the work done (a rerun reads it again, never twice).
COMMIT_PAGES = 20
COMMIT_SECONDS = 2.0
# ... and a batch waiting longer than this for the next page commits while it waits.
COMMIT_IDLE = 0.5


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
        self.session.commit_every(COMMIT_PAGES, COMMIT_SECONDS)
        self._texts: KeepsText | None = None
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

    def pages_client(self, client: JsonGetter) -> JsonGetter:
        """The client to read event pages with: a CFClient keeps each event's JSON text as
        Cloud Controller sent it, for the ``raw`` column (no encoding it again)."""
        from cfevents.cc.client import CFClient

        if isinstance(client, CFClient):
            self._texts = KeepsText(client, self.session.waiting)
            return self._texts
        return client

    def write(self, events: Sequence[dict[str, Any]]) -> int:
        """The page's events and the cursor after them, in the batch's transaction."""
        texts = self._texts.texts if self._texts is not None else None
        return self.session.write_page(events, org_names=self.org_names, texts=texts)

    def settle(self) -> tuple[str | None, str | None]:
        """Commit the pages written in full (when the store still can) and return the
        committed cursor: (after_guid, last_created_at), where a rerun resumes."""
        self.session.finish(failed=True)
        return self.session.durable

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


class KeepsText:
    """A CFClient reading a store export's event pages: each page decoded as the client does,
    and each event's JSON text as Cloud Controller sent it kept by guid (the latest page's:
    the engine writes a page before it reads the next) for the ``raw`` column.

    ``waiting(COMMIT_IDLE)`` wraps a wait for the network (the next page is not downloaded
    yet): if it lasts that long, the pages written so far are committed meanwhile, so a batch
    never waits uncommitted for a slow or stalled server (and a quick one keeps its batch)."""

    def __init__(
        self, client: CFClient, waiting: Callable[[float], AbstractContextManager[None]]
    ) -> None:
        self.client = client
        self.texts: dict[str, str] = {}
        self.waiting = waiting

    def get_json(self, target: str, params: Params | None = None) -> Any:
        # the server is still at work on the page: commit while it is (a helper thread);
        # its answer is in: commit only if reading it takes long (a slow body, retries)
        idle = 0.0 if self.client.would_wait(target, params) else COMMIT_IDLE
        with self.waiting(idle):
            return self.client.get_json(target, params, decode=self._decode)

    def _decode(self, data: bytes) -> Any:
        from cfevents.cc.client import decode_json

        self.texts = {}  # the page before goes before this one is cut up
        body, texts = split_page(data, decode_json)
        self.texts = texts or {}
        return body

    def read_ahead(
        self,
        target: str,
        params: Params | None = None,
        *,
        then: Callable[[bytes], tuple[str, Params] | None] | None = None,
    ) -> None:
        self.client.read_ahead(target, params, then=then)

    def cancel_read_ahead(self) -> None:
        self.client.cancel_read_ahead()
