"""The SQLite store (standard library): one file, WAL journal, one transaction per page.

Locks: an export holds ``flock`` on ``<file>-cfevents.lock`` for its whole run (a second export
fails at once; the kernel drops the lock when a process dies, even by kill -9), and each page
is written in ``BEGIN IMMEDIATE`` with a busy timeout, after checking that the stored cursor is
still where this export left it. WAL with ``synchronous=NORMAL``: a power cut can lose the last
pages, but a page and its cursor are always lost or kept together. While an export runs, the
WAL is checkpointed by a :class:`Checkpointer` on its own connection and thread, not inside
the export's commits.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from cfevents.errors import StoreError, StoreLockedError, UsageError
from cfevents.files import check_input
from cfevents.stores import schema
from cfevents.stores.base import (
    Continuity,
    Coverage,
    ExportSession,
    Snapshot,
    Store,
    StoredCursor,
    StoredEvent,
    SyncState,
    finishing,
    iso,
    wait_through_signals,
)
from cfevents.stores.columns import KINDS, EventKind
from cfevents.stores.failures import sqlite_failure
from cfevents.version import __version__

BUSY_TIMEOUT = 30.0
PAGE_SIZE = 32768  # a new store file's page size
F = TypeVar("F", bound=Callable[..., Any])


def mapped(method: F) -> F:
    """A store method whose sqlite3 errors become the StoreError they mean."""

    @functools.wraps(method)
    def wrapper(self: SQLiteStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise sqlite_failure(exc, self.path) from None

    return cast(F, wrapper)


def _now() -> str:
    from cfevents.timeparse import format_cc, utcnow

    return format_cc(utcnow())


class Checkpointer:
    """Copies the WAL into the database file on its own connection and thread while an export
    writes, after each commit: the export never waits for the copy and its fsync (the writer's
    automatic checkpoint ran inside its COMMIT: about 0.3 s of wall time per 200,000 events on
    this project's bench machine, time the export then spent idle). A checkpoint that fails is
    left to the next one, and to the writer's close, which checkpoints what is left."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.wake = threading.Event()
        self.done = threading.Event()
        self.stopping = False
        threading.Thread(target=self._run, name="cfevents-checkpoint", daemon=True).start()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=0)
            try:
                while True:
                    self.wake.wait()
                    self.wake.clear()
                    if self.stopping:
                        return
                    # PASSIVE: what readers and the writer leave free, never waiting for them
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            finally:
                conn.close()
        except Exception:  # best effort: the writer checkpoints on close (or the next run)
            pass
        finally:
            self.done.set()

    def poke(self) -> None:
        """A commit happened: checkpoint it (at once, or after the checkpoint under way)."""
        self.wake.set()

    def stop(self) -> None:
        """Stop after the checkpoint under way (waited for, even through a signal)."""
        self.stopping = True
        self.wake.set()
        wait_through_signals(self.done)


class SQLiteSession(ExportSession):
    store: SQLiteStore
    checkpointer: Checkpointer | None = None

    def _locked_cursor(self) -> str | None:
        store = self.store
        conn = store.begin()
        try:
            found = conn.execute(
                "SELECT after_guid FROM cfevents_cursors WHERE foundation = ? AND kind = ?",
                (self.foundation, self.kind.table),
            ).fetchone()
        except sqlite3.Error as exc:
            store.rollback()
            raise sqlite_failure(exc, store.path) from None
        except BaseException:
            store.rollback()
            raise
        return str(found[0]) if found and found[0] is not None else None

    def _write(
        self, rows: list[tuple[str, tuple[Any, ...]]], last_guid: str, last_created_at: str | None
    ) -> int:
        store, conn = self.store, self.store.conn
        try:
            conn.execute("SAVEPOINT cfevents_page")  # the page is all or nothing
            try:
                inserted = self._insert(conn, rows)
                conn.execute(
                    "INSERT INTO cfevents_cursors (foundation, kind, after_guid, last_created_at, "
                    "updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (foundation, kind) DO UPDATE "
                    "SET after_guid = excluded.after_guid, last_created_at = "
                    "excluded.last_created_at, updated_at = excluded.updated_at",
                    (self.foundation, self.kind.table, last_guid, last_created_at, _now()),
                )
                conn.execute("RELEASE cfevents_page")
            except BaseException:
                if conn.in_transaction:  # SQLite may have rolled it all back itself
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK TO cfevents_page")
                        conn.execute("RELEASE cfevents_page")
                raise
        except sqlite3.Error as exc:
            raise sqlite_failure(exc, store.path) from None
        return inserted

    def _insert(self, conn: sqlite3.Connection, rows: list[tuple[str, tuple[Any, ...]]]) -> int:
        store, kind, foundation = self.store, self.kind, self.foundation
        (base,) = conn.execute(
            f"SELECT coalesce(max(seq), 0) FROM {kind.table} WHERE foundation = ?",
            (foundation,),
        ).fetchone()
        insert = store.insert_sql(kind)
        before = conn.total_changes
        # one parameter tuple at a time (a generator): no second copy of the page's rows
        conn.executemany(
            insert, ((foundation, seq, *row) for seq, (_, row) in enumerate(rows, base + 1))
        )
        inserted = conn.total_changes - before
        if inserted != len(rows):
            # Some were stored already (a restarted cursor): keep seq without holes.
            conn.execute(
                f"DELETE FROM {kind.table} WHERE foundation = ? AND seq > ?", (foundation, base)
            )
            # the key as stored: row[0] and row[1] are the guid and created_at columns
            fresh = store.missing(conn, foundation, kind, [(row[1], row[0]) for _, row in rows])
            new = [row for _, row in rows if (row[1], row[0]) in fresh]
            conn.executemany(insert, [(foundation, base + i, *row) for i, row in enumerate(new, 1)])
            inserted = len(new)
        return inserted

    def _commit(self) -> bool:
        kept = self.store.commit()
        if kept and self.checkpointer is not None:
            self.checkpointer.poke()
        return kept


class SQLiteStore(Store):
    dialect = "sqlite"

    def __init__(
        self, path: Path, *, busy_timeout: float = BUSY_TIMEOUT, readonly: bool = False
    ) -> None:
        self.path = path
        self.display = str(path)
        self.busy_timeout = busy_timeout
        self.lock_path = Path(f"{path}-cfevents.lock")
        self.conn = self._connect(readonly)
        try:
            self._check_tables(self._columns)
            if readonly:  # an input: read as it is, never created, migrated or changed
                self._check_store(self._stored_version(self.conn))
                return
            # A new file gets pages of 32 KiB (SQLite's default is 4 KiB): an event's row is
            # about 1.3 KiB. Inserting 100k events took 1.63 s at 4 KiB and 1.42 at 16 KiB
            # (schema 2's key); with schema 3's, 200k take 1.9 s at 16 KiB, 1.7 at 32, 1.75
            # at 64 (the rows alone, /tmp experiments like bench/store_load.py).
            # An existing store keeps its page size: the pragma does nothing once the file
            # has its first table.
            self.conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")
            # A 1 MiB page cache (SQLite's default is 2 MiB): the key's index and the table
            # grow at their ends, so inserting 200k events takes the same time with 1, 2 or
            # 4 MiB (64 MiB doubled an export's peak memory for nothing); the OS caches the file
            self.conn.execute("PRAGMA cache_size = -1000")
            self._prepare()
        except sqlite3.Error as exc:
            self.conn.close()
            notadb = str(getattr(exc, "sqlite_errorname", "")).startswith("SQLITE_NOTADB")
            if readonly and notadb:
                raise UsageError(
                    f"{path} is not a cfevents store ({exc}); it was left unchanged",
                    param="input",
                ) from None
            raise sqlite_failure(exc, path) from None
        except BaseException:
            self.conn.close()
            raise

    def _connect(self, readonly: bool) -> sqlite3.Connection:
        """A connection; read-only (``mode=ro``) for an input, which must exist already."""
        from urllib.parse import quote

        target: str | Path = self.path
        if readonly:
            check_input(self.path, param="input")
            target = f"file:{quote(str(self.path.absolute()))}?mode=ro"
        try:
            return sqlite3.connect(
                target,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
                uri=readonly,
            )
        except sqlite3.Error as exc:
            raise sqlite_failure(exc, self.path) from None

    # -- schema --------------------------------------------------------------------------------

    def _stored_version(self, conn: sqlite3.Connection) -> int | None:
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'cfevents_schema'"
        ).fetchone()
        if not exists:
            return None
        row = conn.execute("SELECT max(version) FROM cfevents_schema").fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def _columns(self, table: str) -> set[str]:
        return {str(row[1]) for row in self.conn.execute(f"PRAGMA table_info({table})")}

    def _has_event_tables(self) -> bool:
        """False when this cfevents knows an event kind the store has no table for yet."""
        tables = {row[0] for row in self.conn.execute("SELECT name FROM sqlite_master")}
        return all(kind.table in tables for kind in KINDS.values())

    def _prepare(self) -> None:
        found = self._stored_version(self.conn)
        if found is not None:
            self._check_version(found)
            if found == schema.SCHEMA_VERSION and self._has_event_tables():
                return
        with self.transaction() as conn:
            found = self._stored_version(conn)  # another process may have done it meanwhile
            if found is not None:
                self._check_version(found)
                for version in range(found + 1, schema.SCHEMA_VERSION + 1):
                    for statement in schema.migration(version, "sqlite", self._columns):
                        conn.execute(statement)
            for statement in schema.base_ddl("sqlite"):
                conn.execute(statement)
            for kind in KINDS.values():  # columns a newer cfevents added to a kind
                have = {row[1] for row in conn.execute(f"PRAGMA table_info({kind.table})")}
                for column in kind.columns:
                    if column.name not in have:
                        conn.execute(
                            f"ALTER TABLE {kind.table} ADD COLUMN {column.name} "
                            f"{schema.column_type(column, 'sqlite')}"
                        )
            if found != schema.SCHEMA_VERSION:
                conn.execute("DELETE FROM cfevents_schema")
                conn.execute(
                    "INSERT INTO cfevents_schema (version, written_by, updated_at) VALUES (?, ?, ?)",
                    (schema.SCHEMA_VERSION, f"cfevents {__version__}", _now()),
                )

    @mapped
    def schema_version(self) -> int:
        return self._stored_version(self.conn) or 0

    # -- transactions and locks ----------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; any failure rolls back (if SQLite has not already: a
        full disk ends the transaction itself) and becomes the StoreError it means."""
        conn = self.begin()
        try:
            yield conn
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self.rollback()
            raise sqlite_failure(exc, self.path) from None
        except BaseException:
            self.rollback()
            raise

    def begin(self) -> sqlite3.Connection:
        """BEGIN IMMEDIATE (the write lock, waiting up to the busy timeout)."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreLockedError(
                    f"{self.path} is locked by another writer (waited {self.busy_timeout:g}s)"
                ) from None
            raise sqlite_failure(exc, self.path) from None
        return self.conn

    def commit(self) -> bool:
        """COMMIT the open transaction (False: SQLite had ended it itself after a failure);
        a failure rolls back and becomes the StoreError it means."""
        if not self.conn.in_transaction:
            return False
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self.rollback()
            raise sqlite_failure(exc, self.path) from None
        except BaseException:
            self.rollback()
            raise
        return True

    def rollback(self) -> None:
        if self.conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the failure that got here is the news
                self.conn.execute("ROLLBACK")

    @contextmanager
    def begin_export(self, foundation: str, kind: EventKind) -> Iterator[ExportSession]:
        try:
            handle = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(
                f"cannot create the lock file {self.lock_path}: {exc.strerror}: the store's "
                "directory must be writable"
            ) from None
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreLockedError(
                    f"another export holds {self.path} (lock file {self.lock_path}); "
                    "let it finish, or run exports into one SQLite file one after another"
                ) from None
            session = SQLiteSession(self, foundation, kind)
            self._checkpoint_aside(session)
            try:
                with finishing(session):
                    yield session
            finally:
                self._checkpoint_inline(session)
        finally:
            os.close(handle)  # releases the flock

    def _checkpoint_aside(self, session: SQLiteSession) -> None:
        """The export's checkpoints run on a Checkpointer; the writer's automatic ones stop."""
        try:
            self.conn.execute("PRAGMA wal_autocheckpoint = 0")
        except sqlite3.Error as exc:
            raise sqlite_failure(exc, self.path) from None
        session.checkpointer = Checkpointer(self.path)

    def _checkpoint_inline(self, session: SQLiteSession) -> None:
        """The export ended: its Checkpointer stops, the writer checkpoints itself again."""
        checkpointer, session.checkpointer = session.checkpointer, None
        if checkpointer is not None:
            checkpointer.stop()
        with contextlib.suppress(sqlite3.Error):  # SQLite's default: 1000 pages
            self.conn.execute("PRAGMA wal_autocheckpoint = 1000")

    # -- writing helpers -----------------------------------------------------------------------

    def insert_sql(self, kind: EventKind) -> str:
        names = ", ".join(("foundation", "seq", *kind.column_names, "raw"))
        marks = ", ".join("?" * (len(kind.columns) + 3))
        return (
            f"INSERT INTO {kind.table} ({names}) VALUES ({marks}) "
            f"ON CONFLICT ({', '.join(schema.EVENT_KEY)}) DO NOTHING"
        )

    def missing(
        self,
        conn: sqlite3.Connection,
        foundation: str,
        kind: EventKind,
        keys: list[tuple[str, str]],
    ) -> set[tuple[str, str]]:
        """The (created_at, guid) keys not stored yet (schema.EVENT_KEY)."""
        stored: set[tuple[str, str]] = set()
        for start in range(0, len(keys), 400):
            chunk = keys[start : start + 400]
            stamps, guids = sorted({at for at, _ in chunk}), [guid for _, guid in chunk]
            stored.update(
                (str(at), str(guid))
                for at, guid in conn.execute(
                    f"SELECT created_at, guid FROM {kind.table} WHERE foundation = ? AND "
                    f"created_at IN ({', '.join('?' * len(stamps))}) "
                    f"AND guid IN ({', '.join('?' * len(guids))})",
                    (foundation, *stamps, *guids),
                )
            )
        return set(keys) - stored

    # -- cursor and snapshot -------------------------------------------------------------------

    @mapped
    def cursor(self, foundation: str, kind: EventKind) -> StoredCursor | None:
        row = self.conn.execute(
            "SELECT after_guid, last_created_at, updated_at FROM cfevents_cursors "
            "WHERE foundation = ? AND kind = ?",
            (foundation, kind.table),
        ).fetchone()
        return StoredCursor(row[0], row[1], row[2]) if row else None

    @mapped
    def mark_complete(
        self, foundation: str, kind: EventKind, complete_until: str, synced_at: str
    ) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO cfevents_syncs (foundation, kind, complete_until, synced_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (foundation, kind) DO UPDATE SET "
                "complete_until = max(complete_until, excluded.complete_until), "
                "synced_at = max(synced_at, excluded.synced_at)",
                (foundation, kind.table, complete_until, synced_at),
            )

    @mapped
    def sync_state(self, foundation: str, kind: EventKind) -> SyncState | None:
        exists = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'cfevents_syncs'"
        ).fetchone()
        if not exists:  # a store of schema 1, opened as an input (never migrated)
            return None
        row = self.conn.execute(
            "SELECT complete_until, synced_at FROM cfevents_syncs "
            "WHERE foundation = ? AND kind = ?",
            (foundation, kind.table),
        ).fetchone()
        return SyncState(row[0], row[1]) if row else None

    def save_snapshot(
        self, foundation: str, taken_at: datetime | str, parts: dict[str, Any]
    ) -> None:
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO cfevents_snapshots (foundation, taken_at, kind, raw) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [
                    (foundation, iso(taken_at), name, json.dumps(value, separators=(",", ":")))
                    for name, value in parts.items()
                ],
            )

    @mapped
    def snapshot(self, foundation: str) -> Snapshot | None:
        rows = self.conn.execute(
            "SELECT taken_at, kind, raw FROM cfevents_snapshots WHERE foundation = ? AND "
            "taken_at = (SELECT min(taken_at) FROM cfevents_snapshots WHERE foundation = ?)",
            (foundation, foundation),
        ).fetchall()
        if not rows:
            return None
        return Snapshot(rows[0][0], {kind: json.loads(raw) for _, kind, raw in rows})

    @mapped
    def snapshot_parts(self, foundation: str, kind: str) -> list[tuple[str, Any]]:
        rows = self.conn.execute(
            "SELECT taken_at, raw FROM cfevents_snapshots WHERE foundation = ? AND kind = ? "
            "ORDER BY taken_at",
            (foundation, kind),
        ).fetchall()
        return [(taken, json.loads(raw)) for taken, raw in rows]

    # -- reading -------------------------------------------------------------------------------

    def events(
        self,
        foundation: str,
        kind: EventKind,
        *,
        from_seq: int | None = None,
        to_seq: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        bounds = (
            foundation,
            from_seq if from_seq is not None else 0,
            to_seq if to_seq is not None else 2**62,
        )
        loads = json.loads
        try:
            cursor = self.conn.execute(
                f"SELECT raw FROM {kind.table} WHERE foundation = ? AND seq >= ? AND seq <= ? "
                "ORDER BY seq",
                bounds,
            )
            try:
                for (raw,) in cursor:
                    yield loads(raw)
            finally:
                cursor.close()
        except sqlite3.Error as exc:
            raise sqlite_failure(exc, self.path) from None

    @mapped
    def _first_seq_since(
        self, foundation: str, kind: EventKind, created_at: datetime
    ) -> int | None:
        (seq,) = self.conn.execute(
            f"SELECT min(seq) FROM {kind.table} WHERE foundation = ? AND created_at >= ?",
            (foundation, iso(created_at)),  # CC's one format: text order is time order
        ).fetchone()
        return int(seq) if seq is not None else None

    @mapped
    def coverage(self, foundation: str, kind: EventKind) -> Coverage | None:
        row = self.conn.execute(
            f"SELECT count(*), min(seq), max(seq) FROM {kind.table} WHERE foundation = ?",
            (foundation,),
        ).fetchone()
        if not row[0]:
            return None
        first = self.conn.execute(
            f"SELECT guid, created_at FROM {kind.table} WHERE foundation = ? AND seq = ?",
            (foundation, row[1]),
        ).fetchone()
        last = self.conn.execute(
            f"SELECT created_at FROM {kind.table} WHERE foundation = ? AND seq = ?",
            (foundation, row[2]),
        ).fetchone()
        return Coverage(row[0], row[1], row[2], first[0], first[1], last[0])

    @mapped
    def continuity(
        self,
        foundation: str,
        kind: EventKind,
        *,
        from_seq: int | None = None,
        to_seq: int | None = None,
    ) -> Continuity:
        bounds = (
            foundation,
            from_seq if from_seq is not None else 0,
            to_seq if to_seq is not None else 2**62,
        )
        gaps = self.conn.execute(
            "SELECT seq, next FROM (SELECT seq, lead(seq) OVER (ORDER BY seq) AS next "
            f"FROM {kind.table} WHERE foundation = ? AND seq BETWEEN ? AND ?) "
            "WHERE next > seq + 1 ORDER BY seq",
            bounds,
        ).fetchall()
        reseeds = self.conn.execute(
            f"SELECT seq, guid, created_at FROM {kind.table} WHERE foundation = ? AND "
            f"seq BETWEEN ? AND ? AND guid = {kind.reseed_column} ORDER BY seq",
            bounds,
        ).fetchall()
        return Continuity(
            [(int(a), int(b)) for a, b in gaps], [StoredEvent(*row) for row in reseeds]
        )

    @mapped
    def foundations(self, kind: EventKind) -> list[str]:
        return [
            row[0]
            for row in self.conn.execute(
                f"SELECT DISTINCT foundation FROM {kind.table} ORDER BY foundation"
            )
        ]

    def close(self) -> None:
        self.conn.close()
