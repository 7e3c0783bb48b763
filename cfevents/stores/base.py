"""What every store offers: export sessions that commit a page and its cursor together,
the opening snapshot, and reading events back in Cloud Controller's order."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from cfevents.errors import BadResponseError, StoreError, StoreLockedError, UsageError
from cfevents.output.unstorable import escape_surrogates, escape_text, unstorable
from cfevents.stores import schema
from cfevents.stores.columns import EventKind, flat_row, named_row_getter
from cfevents.version import __version__


@dataclass(frozen=True)
class StoredCursor:
    """Where the last export of a foundation and kind stopped (the last event it wrote)."""

    after_guid: str | None
    last_created_at: str | None
    updated_at: str


@dataclass(frozen=True)
class Coverage:
    """The span of stored events of one foundation and kind, in ``seq`` order."""

    events: int
    first_seq: int
    last_seq: int
    first_guid: str
    first_created_at: str
    last_created_at: str


@dataclass(frozen=True)
class SyncState:
    """How far the store holds every event of one foundation and kind.

    ``complete_until``: every event Cloud Controller created before this instant is stored
    (the CC time of the last export pass that read to the end, less its min-age);
    ``synced_at``: the CC time that pass started."""

    complete_until: str
    synced_at: str


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    guid: str
    created_at: str


@dataclass(frozen=True)
class Continuity:
    """What a report must know about a run of stored events: holes in ``seq`` (rows removed
    from the store) and reseeded events (a purge-and-reseed happened in Cloud Controller)."""

    gaps: list[tuple[int, int]]  # (last seq before the hole, first seq after it)
    reseeds: list[StoredEvent]

    @property
    def ok(self) -> bool:
        return not self.gaps and not self.reseeds


@dataclass(frozen=True)
class Snapshot:
    """The opening snapshot: resource lists (``apps``, ``processes``, ``tasks``) at one time."""

    taken_at: str
    parts: dict[str, Any]


_SCALARS = frozenset({str, int, float, bool, type(None)})  # what a flat column holds


def encode_rows(
    events: Sequence[dict[str, Any]],
    kind: EventKind,
    org_names: Mapping[str, str] | None = None,
    texts: Mapping[str, str] | None = None,
) -> list[tuple[str, tuple[Any, ...]]]:
    """(guid, flat row + raw JSON) for each event, in page order; one row per guid.

    ``texts``: each event's JSON text as Cloud Controller sent it, by guid (cut out of the page
    body: cfevents.stores.raw); an event without one is encoded (compact, UTF-8). ``org_names``
    fills the ``org_name`` column of events that carry no org name (CC's never do); the raw
    JSON stays the event as Cloud Controller sent it."""
    names: Mapping[str, str] = org_names if org_names and "org_name" in kind.column_names else {}
    if names and escape_text(joined := "".join(names.values())) != joined:  # the flat rule
        names = {guid: escape_text(name) for guid, name in names.items()}
    seen: set[str] = set()
    rows: list[tuple[str, tuple[Any, ...]]] = []
    to_row, scalar = named_row_getter(kind), _SCALARS.issuperset
    text_of = (texts or {}).get
    append = rows.append
    for event in events:
        row = to_row(event, names)
        guid = row[0]
        if guid in seen or type(guid) is not str or not guid or type(row[1]) is not str:
            if type(guid) is not str or not guid:
                raise BadResponseError(f"cannot store an event without a guid: {str(event)[:80]}")
            if type(row[1]) is not str:  # the key's created_at (CC always sends one)
                raise BadResponseError(
                    f"cannot store an event without a created_at: {str(event)[:80]}"
                )
            continue
        seen.add(guid)
        if not scalar(map(type, row)):  # not the documented shape: None for a nested value
            row = _named(flat_row(event, kind), kind, names)
        raw = text_of(guid)
        if raw is None:
            raw, row = _encoded(event, row)
        elif "\\u" in raw:  # maybe an escaped NUL or lone surrogate: the flat values' rule
            row = tuple(escape_text(v) if type(v) is str else v for v in row)
        append((guid, (*row, raw)))
    return rows


def _encoded(event: dict[str, Any], row: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """The event's compact JSON (what cfevents stored before it kept CC's text) and its row,
    a NUL or lone surrogate as its escape in both (the rule of output.unstorable)."""
    try:
        raw = _dumps(event)
    except TypeError:  # orjson refuses a lone surrogate
        raw = _stdlib_dumps()(event)
    if unstorable(raw):
        raw = escape_surrogates(raw)
        row = tuple(escape_text(v) if type(v) is str else v for v in row)
    return raw, row


def _named(row: tuple[Any, ...], kind: EventKind, names: Mapping[str, str]) -> tuple[Any, ...]:
    """``row`` with the org's name from ``names`` when the event names no org."""
    columns = kind.column_names
    if not names or "org_name" not in columns:
        return row
    guid_at, name_at = columns.index("org_guid"), columns.index("org_name")
    name = names.get(row[guid_at]) if row[name_at] is None else None
    if name is None:
        return row
    return (*row[:name_at], name, *row[name_at + 1 :])


def _stdlib_dumps() -> Callable[[Any], str]:
    return json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


_dumps: Callable[[Any], str]
try:  # the optional speed-up the client decodes with (cfevents[fast]); same text, 5x faster
    if os.environ.get("CFEVENTS_NO_ORJSON"):
        raise ImportError("orjson disabled by CFEVENTS_NO_ORJSON")
    import orjson  # type: ignore[import-not-found,unused-ignore]

    def _orjson_dumps(value: Any) -> str:
        return str(orjson.dumps(value).decode())

    _dumps = _orjson_dumps

except ImportError:  # pragma: no cover - depends on the environment
    _dumps = _stdlib_dumps()


@contextmanager
def finishing(session: ExportSession) -> Iterator[ExportSession]:
    """``session`` for an export's ``with``: finished however the export ends (what
    :meth:`ExportSession.finish` does on success, on a failure and on a signal)."""
    try:
        yield session
    except BaseException:
        session.finish(failed=True)
        raise
    session.finish(failed=False)


def wait_through_signals(done: threading.Event) -> None:
    """Wait until ``done`` is set, even through a signal (Ctrl-C, SIGTERM) that arrives
    meanwhile: its exception is raised once ``done`` is set, so no two threads use a store at
    once. (Not ``Thread.join``: interrupted, Python 3.11 marks a running thread as ended.)"""
    stopped: BaseException | None = None
    while not done.is_set():
        try:
            done.wait()
        except BaseException as exc:  # raised again below, once done
            stopped = exc
    if stopped is not None:
        raise stopped


def iso(moment: datetime | str) -> str:
    if isinstance(moment, str):
        return moment
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class ExportSession(ABC):
    """One export into a store for one foundation and event kind, holding the store's lock.

    ``after_guid`` is where to resume (None: from the beginning). Each :meth:`write_page`
    inserts the page's new events and moves the cursor to its last event, atomically. By
    default every page is its own transaction; after :meth:`commit_every` several pages share
    one (committed every ``pages`` pages or ``seconds`` seconds, by :meth:`commit`, before
    :meth:`mark_complete` and when the session ends). The cursor is always in the transaction
    of the events before it, so a crash or kill loses the pages not committed yet and nothing
    else, and a rerun reads them again from the committed cursor: never a duplicate.
    """

    def __init__(self, store: Store, foundation: str, kind: EventKind) -> None:
        self.store = store
        self.foundation = foundation
        self.kind = kind
        cursor = store.cursor(foundation, kind)
        self.after_guid = cursor.after_guid if cursor else None
        self.last_created_at = cursor.last_created_at if cursor else None
        self.durable = (self.after_guid, self.last_created_at)  # the committed cursor
        self.written = 0  # events inserted by this session (duplicates are not counted)
        self.pages = 0
        self.batch_pages, self.batch_seconds = 1, 0.0
        self.pending = 0  # pages written since the last commit
        self._open = False  # a transaction is open (from the first page after a commit)
        self._batch_started = 0.0

    def commit_every(self, pages: int, seconds: float) -> None:
        """Share a transaction among up to ``pages`` pages written within ``seconds``."""
        self.batch_pages, self.batch_seconds = max(1, pages), seconds

    @property
    def needs_snapshot(self) -> bool:
        """True until the foundation has an opening snapshot in this store."""
        return self.store.snapshot(self.foundation) is None

    def save_snapshot(self, taken_at: datetime | str, parts: dict[str, Any]) -> None:
        self.commit()
        self.store.save_snapshot(self.foundation, taken_at, parts)

    def write_page(
        self,
        events: Sequence[dict[str, Any]],
        last_guid: str | None = None,
        org_names: Mapping[str, str] | None = None,
        texts: Mapping[str, str] | None = None,
    ) -> int:
        """Insert the page's events (those not stored yet, in page order) and move the cursor
        to ``last_guid`` (default: the last event's guid), atomically. Returns rows inserted.
        ``org_names`` and ``texts`` (the events' JSON as CC sent it): see :func:`encode_rows`."""
        if last_guid is None:
            if not events:
                return 0
            last_guid = str(events[-1]["guid"])
        last_created_at = str(events[-1].get("created_at")) if events else self.last_created_at
        rows = encode_rows(events, self.kind, org_names, texts)
        if not self._open:
            self._begin()  # checks the stored cursor is still where this export left it
            self._open, self._batch_started = True, time.monotonic()
        inserted = self._write(rows, last_guid, last_created_at)
        self.after_guid, self.last_created_at = last_guid, last_created_at
        self.written += inserted
        self.pages += 1
        self.pending += 1
        if (
            self.pending >= self.batch_pages
            or time.monotonic() - self._batch_started >= self.batch_seconds
        ):
            self.commit()
        return inserted

    def commit(self) -> None:
        """Commit the pages written since the last commit, with the cursor after them."""
        if not self._open:
            return
        try:
            kept = self._commit()
        except BaseException:
            kept = False
            raise
        finally:
            self._open, self.pending = False, 0
            if not kept:  # those pages are not stored: the cursor is the committed one
                self.after_guid, self.last_created_at = self.durable
        if not kept:  # the store ended the transaction itself (a failure raised already)
            return
        self.durable = (self.after_guid, self.last_created_at)

    @contextmanager
    def waiting(self, idle: float) -> Iterator[None]:
        """The export waits (for the network) and leaves the session alone meanwhile: if the
        wait lasts ``idle`` seconds, the open batch is committed then, in a helper thread, so
        a batch never sits uncommitted while the server is slow or stalled, and a short wait
        does not cut a batch. A failure of that commit is raised when the wait ends (unless
        the wait itself failed: that is the news)."""
        if not self._open:
            yield
            return
        failed: list[BaseException] = []
        cancel, done = threading.Event(), threading.Event()

        def commit() -> None:
            try:
                if not cancel.wait(idle):
                    self.commit()
            except BaseException as exc:  # raised in the export's thread when the wait ends
                failed.append(exc)
            finally:
                done.set()

        threading.Thread(target=commit, name="cfevents-commit", daemon=True).start()
        try:
            yield
        finally:
            cancel.set()
            wait_through_signals(done)  # a commit under way ends before the session is used
        if failed:
            raise failed[0]

    def finish(self, failed: bool) -> None:
        """The session ends: commit the pages written in full. When the export failed or was
        stopped, that is still done (every page is atomic), but a failure to commit then
        rolls back quietly: the error that stopped the export is the news."""
        if not failed:
            self.commit()
            return
        with contextlib.suppress(Exception):  # rolled back; the stopping error propagates
            self.commit()

    def mark_complete(self, complete_until: datetime | str, synced_at: datetime | str) -> None:
        """Every event created before ``complete_until`` is stored (never moves back)."""
        self.commit()
        self.store.mark_complete(self.foundation, self.kind, iso(complete_until), iso(synced_at))

    def _stolen(self, found: str | None) -> StoreError:
        return StoreLockedError(
            f"{self.store.display}: the {self.kind.table} cursor of {self.foundation} moved to "
            f"{found} while this export held it at {self.after_guid}; nothing of this page was "
            "written"
        )

    def _begin(self) -> None:
        """Open a transaction and check the stored cursor is ``after_guid``."""
        found = self._locked_cursor()
        if found != self.after_guid:
            self.store.rollback()
            raise self._stolen(found)

    @abstractmethod
    def _locked_cursor(self) -> str | None:
        """Open a transaction holding this kind's cursor (the write lock) and read it; on a
        failure the transaction is rolled back and the failure raised as a StoreError."""

    @abstractmethod
    def _write(
        self, rows: list[tuple[str, tuple[Any, ...]]], last_guid: str, last_created_at: str | None
    ) -> int:
        """The page's rows and the cursor, in the open transaction; all or nothing."""

    @abstractmethod
    def _commit(self) -> bool:
        """Commit the open transaction (False: there was none any more); on a failure, roll
        back and raise the StoreError it means."""


class Store(ABC):
    """A SQLite file or PostgreSQL database holding usage events, cursors and snapshots."""

    dialect: str
    display: str  # the target, without a password

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def rollback(self) -> None:
        """End an open transaction without its changes (quietly: the failure that got here is
        the news)."""

    @abstractmethod
    def schema_version(self) -> int: ...

    @abstractmethod
    def begin_export(
        self, foundation: str, kind: EventKind
    ) -> AbstractContextManager[ExportSession]:
        """Take the export lock for (foundation, kind) or raise StoreLockedError at once."""

    @abstractmethod
    def cursor(self, foundation: str, kind: EventKind) -> StoredCursor | None: ...

    @abstractmethod
    def mark_complete(
        self, foundation: str, kind: EventKind, complete_until: str, synced_at: str
    ) -> None:
        """Record a finished sync (``complete_until`` only moves forward)."""

    @abstractmethod
    def sync_state(self, foundation: str, kind: EventKind) -> SyncState | None:
        """How far the store is complete (None: no sync recorded, e.g. a cfevents 0.2 store)."""

    @abstractmethod
    def save_snapshot(
        self, foundation: str, taken_at: datetime | str, parts: dict[str, Any]
    ) -> None: ...

    @abstractmethod
    def snapshot(self, foundation: str) -> Snapshot | None:
        """The foundation's opening snapshot (the earliest one saved), or None."""

    @abstractmethod
    def snapshot_parts(self, foundation: str, kind: str) -> list[tuple[str, Any]]:
        """Every saved list called ``kind`` (e.g. ``organizations``) with its time, oldest
        first: the opening snapshot's, then what later syncs added."""

    def names(self, foundation: str, kind: str = "organizations") -> dict[str, str]:
        """guid -> name of every resource of ``kind`` any sync saw (the latest name wins)."""
        found: dict[str, str] = {}
        for _taken, part in self.snapshot_parts(foundation, kind):
            for item in part if isinstance(part, list) else []:
                if isinstance(item, dict) and item.get("guid") and item.get("name") is not None:
                    found[str(item["guid"])] = str(item["name"])
        return found

    @abstractmethod
    def events(
        self,
        foundation: str,
        kind: EventKind,
        *,
        from_seq: int | None = None,
        to_seq: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Stored events as Cloud Controller sent them, in ``seq`` order, streamed."""

    @abstractmethod
    def coverage(self, foundation: str, kind: EventKind) -> Coverage | None: ...

    @abstractmethod
    def continuity(
        self,
        foundation: str,
        kind: EventKind,
        *,
        from_seq: int | None = None,
        to_seq: int | None = None,
    ) -> Continuity: ...

    @abstractmethod
    def foundations(self, kind: EventKind) -> list[str]: ...

    def first_event(self, foundation: str, kind: EventKind) -> dict[str, Any] | None:
        return next(iter(self._first(foundation, kind)), None)

    def first_seq_since(self, foundation: str, kind: EventKind, created_at: datetime) -> int | None:
        """The lowest ``seq`` of an event created at or after ``created_at`` (None: no such
        event). Events before it in ``seq`` order were all created earlier, so a reader that
        wants the events since ``created_at`` in ``seq`` order starts there."""
        return self._first_seq_since(foundation, kind, created_at)

    @abstractmethod
    def _first_seq_since(
        self, foundation: str, kind: EventKind, created_at: datetime
    ) -> int | None: ...

    def _first(self, foundation: str, kind: EventKind) -> Iterator[dict[str, Any]]:
        coverage = self.coverage(foundation, kind)
        if coverage is None:
            return iter(())
        return self.events(foundation, kind, from_seq=coverage.first_seq, to_seq=coverage.first_seq)

    def _check_tables(self, columns: Callable[[str], set[str]]) -> None:
        """Refuse tables of the store's names that cfevents did not create (an app's own
        ``app_usage_events``): ``columns(table)`` is the set of a table's columns, empty when
        there is no such table."""
        for table, needed in schema.REQUIRED_COLUMNS.items():
            found = columns(table)
            missing = [name for name in needed if found and name not in found]
            if missing:
                raise StoreError(
                    f"{self.display} has a table {table} that cfevents did not create (it has no "
                    f"column {', '.join(missing)}): use another file or database, or rename "
                    "that table"
                )

    def _check_store(self, found: int | None) -> None:
        """An input store: one cfevents wrote (a cfevents_schema table) that this cfevents
        can read; nothing is created or migrated in it."""
        if found is None:
            raise UsageError(
                f"{self.display} is not a cfevents store (no cfevents_schema table); name a "
                "store written by usage export --out (it was left unchanged)",
                param="input",
            )
        self._check_version(found)

    def _check_version(self, found: int) -> None:
        if found > schema.SCHEMA_VERSION:
            raise StoreError(
                f"{self.display} has store schema version {found}, written by a newer cfevents; "
                f"this cfevents {__version__} knows up to version {schema.SCHEMA_VERSION}: upgrade "
                "cfevents"
            )
