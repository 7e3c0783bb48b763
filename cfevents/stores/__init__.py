"""History stores: usage events kept past Cloud Controller's 31-day retention.

``open_store(target)`` opens (and on first use creates) a SQLite file (``usage.db``,
``*.sqlite``, ``*.sqlite3`` or ``sqlite:///path``) or a PostgreSQL database
(``postgresql://…`` / ``postgres://…``, with the ``cfevents[postgres]`` extra). See
:class:`Store` for what it offers and :mod:`cfevents.stores.columns` for the flat columns.
"""

from __future__ import annotations

from pathlib import Path

from cfevents.errors import UsageError
from cfevents.stores.base import (
    Continuity,
    Coverage,
    ExportSession,
    Snapshot,
    Store,
    StoredCursor,
    StoredEvent,
    SyncState,
)
from cfevents.stores.columns import (
    APP_USAGE,
    KINDS,
    SERVICE_USAGE,
    EventKind,
    flatten,
    kind_for_path,
)

__all__ = [
    "APP_USAGE",
    "KINDS",
    "SERVICE_USAGE",
    "Continuity",
    "Coverage",
    "EventKind",
    "ExportSession",
    "Snapshot",
    "Store",
    "StoredCursor",
    "StoredEvent",
    "SyncState",
    "flatten",
    "is_store_target",
    "kind_for_path",
    "open_store",
    "store_path",
]

SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_store_target(target: str) -> bool:
    """True if ``target`` names a store rather than a file to write events into."""
    lowered = target.lower()
    return (
        lowered.startswith(POSTGRES_SCHEMES)
        or lowered.startswith("sqlite:///")
        or lowered.endswith(SQLITE_SUFFIXES)
    )


def open_store(target: str, *, readonly: bool = False) -> Store:
    """Open the store at ``target``, creating or migrating its schema on first use.

    ``readonly`` opens an input (a report's ``input``): it must be a store cfevents wrote, and
    nothing is created, migrated or changed in it. A SQLite file written to is checked as
    every output is (cfevents.files: no symlink, device or directory; its directory exists).

    Raises UsageError for a target that names no store, StoreError when it cannot be used.
    """
    lowered = target.lower()
    if lowered.startswith(POSTGRES_SCHEMES):
        from cfevents.stores.postgres import PostgresStore

        return PostgresStore(target, readonly=readonly)
    if lowered.startswith("sqlite:///"):
        path = target[len("sqlite:///") :]
        if not path:
            raise UsageError("sqlite:/// needs a path, e.g. sqlite:///usage.db")
        return _sqlite(Path(path), readonly)  # sqlite:////abs/path is absolute
    if lowered.endswith(SQLITE_SUFFIXES):
        return _sqlite(Path(target), readonly)
    raise UsageError(
        f"{target!r} is not a store: give a SQLite file ending in .db, .sqlite or .sqlite3, "
        "sqlite:///path, or postgresql://user@host/db"
    )


def store_path(target: str) -> Path | None:
    """The file of a SQLite store target (None: a PostgreSQL URL)."""
    lowered = target.lower()
    if lowered.startswith(POSTGRES_SCHEMES):
        return None
    if lowered.startswith("sqlite:///"):
        return Path(target[len("sqlite:///") :])
    return Path(target)


def _sqlite(path: Path, readonly: bool) -> Store:
    from cfevents.files import check_output
    from cfevents.stores.sqlite import SQLiteStore

    if not readonly:
        check_output(path, param="out", existing="append", expand_patterns=False)
    return SQLiteStore(path, readonly=readonly)
