"""The PostgreSQL store (psycopg 3, the optional extra ``cfevents[postgres]``).

An export holds a session-level advisory lock per (foundation, kind) for its whole run and fails
at once if another export has it; the server drops the lock when a client dies. Each page is
COPYed straight into the event table, numbered after the stored rows, in the same transaction
as the cursor; a page holding a stored guid (a restarted cursor) goes through a temporary table
and one ``INSERT ... SELECT`` that skips the stored guids instead.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from cfevents.errors import StoreError, StoreLockedError, redact, register_url_secrets
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
)
from cfevents.stores.columns import KINDS, EventKind
from cfevents.stores.failures import postgres_failure
from cfevents.version import __version__

if TYPE_CHECKING:
    import psycopg

INSTALL_HINT = "PostgreSQL stores need psycopg: pip install 'cfevents[postgres]'"
SCHEMA_LOCK = 0x6366657673636865  # pg_advisory_xact_lock key for schema creation/migration


def lock_key(*parts: str) -> int:
    """A stable signed 64-bit advisory lock key."""
    digest = hashlib.sha256("\0".join(("cfevents", *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _ts(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return iso(value.astimezone(UTC))
    return str(value)


class PostgresSession(ExportSession):
    store: PostgresStore

    def _locked_cursor(self) -> str | None:
        store, conn = self.store, self.store.conn
        try:
            with conn.cursor() as cur:
                cur.execute("BEGIN")
                cur.execute(
                    "SELECT after_guid FROM cfevents_cursors WHERE foundation = %s AND kind = %s "
                    "FOR UPDATE",
                    (self.foundation, self.kind.table),
                )
                found = cur.fetchone()
        except store.psycopg.Error as exc:
            store.rollback()
            raise postgres_failure(exc, store.display) from None
        except BaseException:
            store.rollback()
            raise
        return str(found[0]) if found and found[0] is not None else None

    def _write(
        self, rows: list[tuple[str, tuple[Any, ...]]], last_guid: str, last_created_at: str | None
    ) -> int:
        store, kind, foundation = self.store, self.kind, self.foundation
        try:
            with store.conn.cursor() as cur:
                cur.execute("SAVEPOINT cfevents_page")  # the page is all or nothing
                try:
                    inserted = store.insert_page(cur, foundation, kind, rows) if rows else 0
                    cur.execute(
                        "INSERT INTO cfevents_cursors (foundation, kind, after_guid, "
                        "last_created_at, updated_at) VALUES (%s, %s, %s, %s, now()) "
                        "ON CONFLICT (foundation, kind) DO UPDATE SET after_guid = "
                        "excluded.after_guid, last_created_at = excluded.last_created_at, "
                        "updated_at = excluded.updated_at",
                        (foundation, kind.table, last_guid, last_created_at),
                    )
                    cur.execute("RELEASE SAVEPOINT cfevents_page")
                except BaseException:
                    store.back_to("cfevents_page")
                    raise
        except store.psycopg.Error as exc:
            raise postgres_failure(exc, store.display) from None
        return inserted

    def _commit(self) -> bool:
        return self.store.commit()


F = TypeVar("F", bound=Callable[..., Any])


def mapped(method: F) -> F:
    """A store method whose psycopg errors become the StoreError they mean."""

    @functools.wraps(method)
    def wrapper(self: PostgresStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except self.psycopg.Error as exc:
            raise postgres_failure(exc, self.display) from None

    return cast(F, wrapper)


class PostgresStore(Store):
    dialect = "postgresql"

    def __init__(self, target: str, *, readonly: bool = False) -> None:
        try:
            import psycopg
        except ImportError:
            raise StoreError(INSTALL_HINT) from None
        self.psycopg = psycopg
        register_url_secrets(target)  # and PGPASSWORD: masked wherever a driver message quotes it
        self.display = redact(target)
        self._target = target  # kept for reading connections; never shown
        try:
            self.conn: psycopg.Connection[Any] = psycopg.connect(
                target, autocommit=True, connect_timeout=10, application_name="cfevents"
            )
        except psycopg.Error as exc:
            raise postgres_failure(exc, self.display) from None
        self._temp_tables: set[str] = set()
        try:
            # the lock keys name the schema too: two stores in one database never block
            row = self.conn.execute("SELECT current_schema()").fetchone()
            self.namespace = str(row[0]) if row else "public"
            self._check_tables(self._columns)
            if readonly:  # an input: read as it is, never created, migrated or changed
                self._check_store(self._stored_version())
            else:
                self._prepare()
        except psycopg.Error as exc:
            self.conn.close()
            raise postgres_failure(exc, self.display) from None
        except BaseException:
            self.conn.close()
            raise

    # -- schema --------------------------------------------------------------------------------

    def _stored_version(self) -> int | None:
        with self.conn.cursor() as cur:
            cur.execute("SELECT to_regclass('cfevents_schema') IS NOT NULL")
            row = cur.fetchone()
            if not row or not row[0]:
                return None
            cur.execute("SELECT max(version) FROM cfevents_schema")
            row = cur.fetchone()
            return int(row[0]) if row and row[0] is not None else None

    def _columns(self, table: str) -> set[str]:
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = %s",
                (table,),
            )
            return {str(row[0]) for row in cur.fetchall()}

    def _has_event_tables(self) -> bool:
        """False when this cfevents knows an event kind the store has no table for yet."""
        with self.conn.cursor() as cur:
            for kind in KINDS.values():
                cur.execute("SELECT to_regclass(%s) IS NOT NULL", (kind.table,))
                row = cur.fetchone()
                if not row or not row[0]:
                    return False
        return True

    def _prepare(self) -> None:
        found = self._stored_version()
        if found is not None:
            self._check_version(found)
            if found == schema.SCHEMA_VERSION and self._has_event_tables():
                return
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            found = self._stored_version()
            if found is not None:
                self._check_version(found)
                for version in range(found + 1, schema.SCHEMA_VERSION + 1):
                    for statement in schema.migration(version, "postgresql", self._columns):
                        cur.execute(statement.encode())
            for statement in schema.base_ddl("postgresql"):
                cur.execute(statement.encode())
            for kind in KINDS.values():  # columns a newer cfevents added to a kind
                for column in kind.columns:
                    cur.execute(
                        f"ALTER TABLE {kind.table} ADD COLUMN IF NOT EXISTS {column.name} "
                        f"{schema.column_type(column, 'postgresql')}".encode()
                    )
            if found != schema.SCHEMA_VERSION:
                cur.execute("DELETE FROM cfevents_schema")
                cur.execute(
                    "INSERT INTO cfevents_schema (version, written_by, updated_at) "
                    "VALUES (%s, %s, now())",
                    (schema.SCHEMA_VERSION, f"cfevents {__version__}"),
                )

    @mapped
    def schema_version(self) -> int:
        return self._stored_version() or 0

    # -- locks ---------------------------------------------------------------------------------

    @contextmanager
    def begin_export(self, foundation: str, kind: EventKind) -> Iterator[ExportSession]:
        key = lock_key(self.namespace, foundation, kind.table)
        try:
            with self.conn.cursor() as cur:
                cur.execute("SELECT pg_try_advisory_lock(%s)", (key,))
                row = cur.fetchone()
        except self.psycopg.Error as exc:
            raise postgres_failure(exc, self.display) from None
        if not row or not row[0]:
            raise StoreLockedError(
                f"another export holds the {kind.table} lock of {foundation} in {self.display}; "
                "let it finish first"
            )
        try:
            with finishing(PostgresSession(self, foundation, kind)) as session:
                yield session
        finally:
            if not self.conn.closed:
                # a broken connection has dropped the lock already; its error is the news
                with contextlib.suppress(self.psycopg.Error), self.conn.cursor() as cur:
                    cur.execute("SELECT pg_advisory_unlock(%s)", (key,))

    # -- writing -------------------------------------------------------------------------------

    def _in_transaction(self) -> bool:
        status = self.conn.info.transaction_status
        return status in (
            self.psycopg.pq.TransactionStatus.INTRANS,
            self.psycopg.pq.TransactionStatus.INERROR,
        )

    def commit(self) -> bool:
        """COMMIT the open transaction (False: there was none any more); a failure rolls back
        and becomes the StoreError it means."""
        if self.conn.closed or not self._in_transaction():
            return False
        failed = self.conn.info.transaction_status == self.psycopg.pq.TransactionStatus.INERROR
        try:
            if failed:  # a statement failed and nothing rolled back to a savepoint
                self.conn.execute("ROLLBACK")
                return False
            self.conn.execute("COMMIT")
        except self.psycopg.Error as exc:
            self.rollback()
            raise postgres_failure(exc, self.display) from None
        return True

    def rollback(self) -> None:
        if not self.conn.closed and self._in_transaction():
            with contextlib.suppress(self.psycopg.Error):  # the failure that got here is the news
                self.conn.execute("ROLLBACK")

    def back_to(self, savepoint: str) -> None:
        """Undo a failed page (its savepoint) and keep the pages before it in the transaction."""
        if self.conn.closed or not self._in_transaction():
            return
        try:
            self.conn.execute(f"ROLLBACK TO SAVEPOINT {savepoint}".encode())
            self.conn.execute(f"RELEASE SAVEPOINT {savepoint}".encode())
        except self.psycopg.Error:
            self.rollback()

    def insert_page(
        self,
        cur: psycopg.Cursor[Any],
        foundation: str,
        kind: EventKind,
        rows: list[tuple[str, tuple[Any, ...]]],
    ) -> int:
        """The page's rows not stored yet, numbered after the stored ones; the rows inserted.

        COPY straight into the event table: the page follows the stored cursor, so its
        events are new and the key (schema.EVENT_KEY) is never hit. When it is (a cursor
        restarted from an older event, an overlap), that COPY is undone and the page goes
        through a temporary table that skips the stored events."""
        cur.execute(
            f"SELECT coalesce(max(seq), 0) FROM {kind.table} WHERE foundation = %s".encode(),
            (foundation,),
        )
        row = cur.fetchone()
        base = int(row[0]) if row else 0
        names = ", ".join(kind.column_names)
        cur.execute(b"SAVEPOINT cfevents_copy")
        try:
            with cur.copy(
                f"COPY {kind.table} (foundation, seq, {names}, raw) FROM STDIN".encode()
            ) as copy:
                write = copy.write_row
                for seq, (_, values) in enumerate(rows, base + 1):
                    write((foundation, seq, *values))
        except self.psycopg.errors.UniqueViolation:
            cur.execute(b"ROLLBACK TO SAVEPOINT cfevents_copy")
            cur.execute(b"RELEASE SAVEPOINT cfevents_copy")
            return self._insert_missing(cur, foundation, kind, rows)
        cur.execute(b"RELEASE SAVEPOINT cfevents_copy")
        return len(rows)

    def _insert_missing(
        self,
        cur: psycopg.Cursor[Any],
        foundation: str,
        kind: EventKind,
        rows: list[tuple[str, tuple[Any, ...]]],
    ) -> int:
        """The rows not stored yet (schema.EVENT_KEY), through a temporary table, in page order."""
        temp = f"cfevents_page_{kind.table}"
        names = ", ".join(kind.column_names)
        if temp not in self._temp_tables:
            # text columns: the server casts them when moving rows into the event table
            columns = ", ".join(f"{name} text" for name in kind.column_names)
            cur.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {temp} (ord integer, {columns}, raw text) "
                "ON COMMIT DELETE ROWS".encode()
            )
            self._temp_tables.add(temp)
        cur.execute(f"DELETE FROM {temp}".encode())  # a batch of pages shares a transaction
        with cur.copy(f"COPY {temp} (ord, {names}, raw) FROM STDIN".encode()) as copy:
            for ord_, (_, row) in enumerate(rows):
                copy.write_row((ord_, *row))
        casts = ", ".join(
            f"p.{column.name}::{'bigint' if column.type == 'integer' else 'timestamptz' if column.type == 'timestamp' else 'text'}"
            for column in kind.columns
        )
        cur.execute(
            f"INSERT INTO {kind.table} (foundation, seq, {names}, raw) "
            f"SELECT %(f)s, (SELECT coalesce(max(seq), 0) FROM {kind.table} WHERE foundation = %(f)s)"
            f" + row_number() OVER (ORDER BY p.ord), {casts}, p.raw::json FROM {temp} p "
            f"WHERE NOT EXISTS (SELECT 1 FROM {kind.table} e WHERE e.foundation = %(f)s "
            "AND e.created_at = p.created_at::timestamptz AND e.guid = p.guid) ORDER BY p.ord "
            f"ON CONFLICT ({', '.join(schema.EVENT_KEY)}) DO NOTHING".encode(),
            {"f": foundation},
        )
        return max(cur.rowcount, 0)

    # -- cursor and snapshot -------------------------------------------------------------------

    @mapped
    def cursor(self, foundation: str, kind: EventKind) -> StoredCursor | None:
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT after_guid, last_created_at, updated_at FROM cfevents_cursors "
                "WHERE foundation = %s AND kind = %s",
                (foundation, kind.table),
            )
            row = cur.fetchone()
        return StoredCursor(row[0], _ts(row[1]), _ts(row[2]) or "") if row else None

    @mapped
    def mark_complete(
        self, foundation: str, kind: EventKind, complete_until: str, synced_at: str
    ) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:  # errors: @mapped
            cur.execute(
                "INSERT INTO cfevents_syncs (foundation, kind, complete_until, synced_at) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (foundation, kind) DO UPDATE SET "
                "complete_until = greatest(cfevents_syncs.complete_until, "
                "excluded.complete_until), "
                "synced_at = greatest(cfevents_syncs.synced_at, excluded.synced_at)",
                (foundation, kind.table, complete_until, synced_at),
            )

    @mapped
    def sync_state(self, foundation: str, kind: EventKind) -> SyncState | None:
        with self.conn.cursor() as cur:
            cur.execute("SELECT to_regclass('cfevents_syncs') IS NOT NULL")
            found = cur.fetchone()
            if not found or not found[0]:  # a store of schema 1, opened as an input
                return None
            cur.execute(
                "SELECT complete_until, synced_at FROM cfevents_syncs "
                "WHERE foundation = %s AND kind = %s",
                (foundation, kind.table),
            )
            row = cur.fetchone()
        return SyncState(_ts(row[0]) or "", _ts(row[1]) or "") if row else None

    @mapped
    def save_snapshot(
        self, foundation: str, taken_at: datetime | str, parts: dict[str, Any]
    ) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO cfevents_snapshots (foundation, taken_at, kind, raw) "
                "VALUES (%s, %s, %s, %s::json) ON CONFLICT DO NOTHING",
                [
                    (foundation, iso(taken_at), name, json.dumps(value, separators=(",", ":")))
                    for name, value in parts.items()
                ],
            )

    @mapped
    def snapshot(self, foundation: str) -> Snapshot | None:
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT taken_at, kind, raw::text FROM cfevents_snapshots WHERE foundation = %s "
                "AND taken_at = (SELECT min(taken_at) FROM cfevents_snapshots "
                "WHERE foundation = %s)",
                (foundation, foundation),
            )
            rows = cur.fetchall()
        if not rows:
            return None
        return Snapshot(_ts(rows[0][0]) or "", {kind: json.loads(raw) for _, kind, raw in rows})

    @mapped
    def snapshot_parts(self, foundation: str, kind: str) -> list[tuple[str, Any]]:
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT taken_at, raw::text FROM cfevents_snapshots WHERE foundation = %s "
                "AND kind = %s ORDER BY taken_at",
                (foundation, kind),
            )
            rows = cur.fetchall()
        return [(_ts(taken) or "", json.loads(raw)) for taken, raw in rows]

    # -- reading -------------------------------------------------------------------------------

    def events(
        self,
        foundation: str,
        kind: EventKind,
        *,
        from_seq: int | None = None,
        to_seq: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        loads = json.loads
        # A connection of its own (a page written meanwhile commits at once, not when the
        # reading ends) and a server-side cursor: rows arrive itersize at a time.
        bounds = (
            foundation,
            from_seq if from_seq is not None else 0,
            to_seq if to_seq is not None else 2**62,
        )
        try:
            conn = self.psycopg.connect(self._target, connect_timeout=10)
            with conn, conn.cursor(name=f"cfevents_read_{kind.table}") as cur:
                cur.itersize = 2000
                cur.execute(
                    f"SELECT raw::text FROM {kind.table} WHERE foundation = %s AND seq >= %s "
                    "AND seq <= %s ORDER BY seq".encode(),
                    bounds,
                )
                for (raw,) in cur:
                    yield loads(raw)
        except self.psycopg.Error as exc:
            raise postgres_failure(exc, self.display) from None

    @mapped
    def _first_seq_since(
        self, foundation: str, kind: EventKind, created_at: datetime
    ) -> int | None:
        with self.conn.cursor() as cur:
            cur.execute(
                f"SELECT min(seq) FROM {kind.table} WHERE foundation = %s AND created_at >= %s".encode(),
                (foundation, created_at),
            )
            row = cur.fetchone()
        return int(row[0]) if row and row[0] is not None else None

    @mapped
    def coverage(self, foundation: str, kind: EventKind) -> Coverage | None:
        with self.conn.cursor() as cur:
            cur.execute(
                f"SELECT count(*), min(seq), max(seq) FROM {kind.table} WHERE foundation = %s".encode(),
                (foundation,),
            )
            row = cur.fetchone()
            if not row or not row[0]:
                return None
            cur.execute(
                f"SELECT seq, guid, created_at FROM {kind.table} WHERE foundation = %s "
                "AND seq IN (%s, %s) ORDER BY seq".encode(),
                (foundation, row[1], row[2]),
            )
            ends = cur.fetchall()
        first, last = _ts(ends[0][2]) or "", _ts(ends[-1][2]) or ""
        return Coverage(int(row[0]), int(row[1]), int(row[2]), ends[0][1], first, last)

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
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT seq, next FROM (SELECT seq, lead(seq) OVER (ORDER BY seq) AS next "
                f"FROM {kind.table} WHERE foundation = %s AND seq BETWEEN %s AND %s) w "
                "WHERE next > seq + 1 ORDER BY seq".encode(),
                bounds,
            )
            gaps = cur.fetchall()
            cur.execute(
                f"SELECT seq, guid, created_at FROM {kind.table} WHERE foundation = %s "
                f"AND seq BETWEEN %s AND %s AND guid = {kind.reseed_column} ORDER BY seq".encode(),
                bounds,
            )
            reseeds = cur.fetchall()
        return Continuity(
            [(int(a), int(b)) for a, b in gaps],
            [StoredEvent(int(s), g, _ts(c) or "") for s, g, c in reseeds],
        )

    @mapped
    def foundations(self, kind: EventKind) -> list[str]:
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT DISTINCT foundation FROM {kind.table} ORDER BY 1".encode())
            return [row[0] for row in cur.fetchall()]

    def close(self) -> None:
        self.conn.close()
