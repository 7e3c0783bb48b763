"""The store schema, its version and the migrations between versions (both SQL dialects).

``SCHEMA_VERSION`` is the version this cfevents writes. A store records its version in
``cfevents_schema``; opening an older store runs ``MIGRATIONS[v]`` for every ``v`` above the
store's version, in one transaction; opening a newer store is refused. Event tables are created
for every kind in :data:`cfevents.stores.columns.KINDS` with ``IF NOT EXISTS``, so a new kind
(``service_usage_events``) needs a new :class:`EventKind`, not a migration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from cfevents.stores.columns import KINDS, Column, EventKind

Dialect = Literal["sqlite", "postgresql"]

SCHEMA_VERSION = 3

# version -> statements that bring a store at version - 1 up to version (both dialects).
MIGRATIONS: dict[int, list[str]] = {
    # cfevents_syncs (how far each foundation and kind is complete) is made by base_ddl, and
    # the org_name columns by the stores' check for columns a kind gained
    2: [],
}

# An event is stored once per key. CC's events are immutable, so the same event read twice
# has the same created_at and guid; CC reuses a process's (or service instance's) guid as the
# event guid of each purge-and-reseed, and those are events of their own (a later created_at).
# created_at before guid: CC sends events in created_at order, so the key's index grows at its
# end like the seq index, where (foundation, guid) took a random page per row (a store export
# spent a third of its time there: docs/performance.md).
EVENT_KEY = ("foundation", "created_at", "guid")

_TYPES: dict[Dialect, dict[str, str]] = {
    "sqlite": {"text": "TEXT", "integer": "INTEGER", "timestamp": "TEXT", "raw": "TEXT"},
    "postgresql": {
        "text": "text",
        "integer": "bigint",
        "timestamp": "timestamptz",
        "raw": "json",
    },
}


def column_type(column: Column, dialect: Dialect) -> str:
    """A flat column's SQL type in ``dialect``."""
    return _TYPES[dialect][column.type]


# The columns that tell a cfevents table from another application's table of the same name.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "cfevents_schema": ("version",),
    "cfevents_cursors": ("foundation", "kind", "after_guid"),
    "cfevents_snapshots": ("foundation", "taken_at", "kind", "raw"),
    **{kind.table: ("foundation", "seq", "guid", "raw") for kind in KINDS.values()},
}


def event_table_ddl(kind: EventKind, dialect: Dialect) -> list[str]:
    types = _TYPES[dialect]
    columns = [
        "foundation TEXT NOT NULL",
        f"seq {types['integer']} NOT NULL",
        *(
            f"{column.name} {types[column.type]}" + (" NOT NULL" if column.name == "guid" else "")
            for column in kind.columns
        ),
        f"raw {types['raw']} NOT NULL",
        f"PRIMARY KEY ({', '.join(EVENT_KEY)})",
    ]
    body = ",\n  ".join(columns)
    return [
        f"CREATE TABLE IF NOT EXISTS {kind.table} (\n  {body}\n)",
        f"CREATE UNIQUE INDEX IF NOT EXISTS {kind.table}_seq ON {kind.table} (foundation, seq)",
    ]


def _rekey(kind: EventKind, dialect: Dialect, have: set[str]) -> list[str]:
    """Version 3: the event table keyed by :data:`EVENT_KEY` (it was ``(foundation, guid)``).

    SQLite cannot change a table's key in place: the table is copied into a new one in seq
    order (the columns both have; a column the kind gained since is added empty), and its seq
    index is made again by :func:`base_ddl`."""
    key = ", ".join(EVENT_KEY)
    if dialect == "postgresql":
        return [
            f"ALTER TABLE {kind.table} DROP CONSTRAINT IF EXISTS {kind.table}_pkey, "
            f"ADD CONSTRAINT {kind.table}_pkey PRIMARY KEY ({key})"
        ]
    old = f"cfevents_rekey_{kind.table}"
    wanted = ("foundation", "seq", *kind.column_names, "raw")
    names = ", ".join(name for name in wanted if name in have)
    return [
        f"ALTER TABLE {kind.table} RENAME TO {old}",
        event_table_ddl(kind, dialect)[0],
        f"INSERT INTO {kind.table} ({names}) SELECT {names} FROM {old} ORDER BY foundation, seq",
        f"DROP TABLE {old}",
    ]


# version -> the statements that bring one kind's existing event table up to that version
TABLE_MIGRATIONS: dict[int, Callable[[EventKind, Dialect, set[str]], list[str]]] = {3: _rekey}


def migration(version: int, dialect: Dialect, columns: Callable[[str], set[str]]) -> list[str]:
    """The statements that bring a store at ``version - 1`` up to ``version``; ``columns``
    gives an existing table's columns (empty: no such table, made later by base_ddl)."""
    statements = list(MIGRATIONS.get(version, []))
    per_table = TABLE_MIGRATIONS.get(version)
    if per_table is not None:
        for kind in KINDS.values():
            have = columns(kind.table)
            if have:
                statements += per_table(kind, dialect, have)
    return statements


def base_ddl(dialect: Dialect) -> list[str]:
    """Every table of the current schema (idempotent)."""
    ts = _TYPES[dialect]["timestamp"]
    raw = _TYPES[dialect]["raw"]
    statements = [
        "CREATE TABLE IF NOT EXISTS cfevents_schema (\n"
        "  version INTEGER NOT NULL,\n  written_by TEXT NOT NULL,\n"
        f"  updated_at {ts} NOT NULL\n)",
        "CREATE TABLE IF NOT EXISTS cfevents_cursors (\n"
        "  foundation TEXT NOT NULL,\n  kind TEXT NOT NULL,\n  after_guid TEXT,\n"
        f"  last_created_at {ts},\n  updated_at {ts} NOT NULL,\n"
        "  PRIMARY KEY (foundation, kind)\n)",
        "CREATE TABLE IF NOT EXISTS cfevents_snapshots (\n"
        f"  foundation TEXT NOT NULL,\n  taken_at {ts} NOT NULL,\n  kind TEXT NOT NULL,\n"
        f"  raw {raw} NOT NULL,\n  PRIMARY KEY (foundation, taken_at, kind)\n)",
        # every event created before complete_until is stored (the last full sync's CC time
        # less its min-age); synced_at: when that sync read Cloud Controller
        "CREATE TABLE IF NOT EXISTS cfevents_syncs (\n"
        "  foundation TEXT NOT NULL,\n  kind TEXT NOT NULL,\n"
        f"  complete_until {ts} NOT NULL,\n  synced_at {ts} NOT NULL,\n"
        "  PRIMARY KEY (foundation, kind)\n)",
    ]
    for kind in KINDS.values():
        statements += event_table_ddl(kind, dialect)
    return statements
