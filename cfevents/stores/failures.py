"""Every failure of a store's driver becomes one :class:`cfevents.errors.StoreError`, here.

The stores call :func:`sqlite_failure` or :func:`postgres_failure` on any driver exception, so
a full disk is exit 9 (with the engine's "rerun to resume"), an unreachable server exit 6, a
lock exit 8, and anything else a store cfevents cannot use (exit 10) with one line saying
what the file or database is and what to do. Nothing here imports psycopg: PostgreSQL errors
are told apart by their SQLSTATE and, for libpq's connection errors (which have none), by
their text.
"""

from __future__ import annotations

from pathlib import Path

from cfevents.errors import (
    StoreError,
    StoreIOError,
    StoreLockedError,
    StoreNetworkError,
    UsageError,
)

NEW_STORE = "give --out or --input a cfevents store or a new file"


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def sqlite_failure(exc: Exception, path: Path) -> StoreError:
    """The StoreError for a ``sqlite3`` exception on the store at ``path``."""
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    text = first_line(exc)
    if name.startswith(("SQLITE_FULL", "SQLITE_IOERR")) or "disk is full" in text:
        return StoreIOError(
            f"cannot write {path}: {text} (a full disk, a file-size limit or a failing device)"
        )
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StoreLockedError(f"{path} is locked by another writer ({text})")
    if name.startswith("SQLITE_NOTADB"):
        return StoreError(f"{path} is not a SQLite database ({text}): {NEW_STORE}")
    if name.startswith("SQLITE_CORRUPT"):
        return StoreError(
            f"{path} is a damaged SQLite database ({text}): restore it from a backup, or "
            "export into a new file"
        )
    if name.startswith(("SQLITE_READONLY", "SQLITE_PERM", "SQLITE_AUTH")):
        return StoreError(
            f"{path} is read-only ({text}): make it and its directory writable, or use another file"
        )
    if name.startswith("SQLITE_CANTOPEN"):
        return StoreError(_cannot_open(path, text))
    return StoreError(f"{path} cannot be used as a store ({text}): {NEW_STORE}")


def _cannot_open(path: Path, text: str) -> str:
    if path.is_dir():
        return f"{path} is a directory, not a SQLite file: {NEW_STORE}"
    if not path.parent.is_dir():
        return f"cannot create {path}: the directory {path.parent} does not exist"
    return f"cannot open {path} ({text}): check that it and its directory are readable and writable"


# libpq's connection failures carry no SQLSTATE: these words say the server was not reached.
_NETWORK_WORDS = (
    "connection refused",
    "could not translate host",
    "failed to resolve host",
    "name or service not known",
    "temporary failure in name resolution",
    "timeout expired",
    "timed out",
    "no route to host",
    "network is unreachable",
    "server closed the connection",
    "connection reset",
    "connection is lost",
    "consuming input failed",
    "ssl syscall error",
    "could not connect",
)


def postgres_failure(exc: Exception, display: str) -> StoreError | UsageError:
    """The StoreError for a psycopg exception on the database ``display`` (no password)."""
    state = str(getattr(exc, "sqlstate", None) or "")
    text = first_line(exc)
    lowered = str(exc).lower()
    kind = type(exc).__name__
    if state.startswith(("53", "58")):  # disk_full, out_of_memory, io_error, ...
        return StoreIOError(f"{display} could not store the page ({text})")
    if state in ("55P03", "40P01"):  # lock_not_available, deadlock_detected
        return StoreLockedError(f"{display} is locked by another writer ({text})")
    if state.startswith("28") or "authentication failed" in lowered or "pg_hba.conf" in lowered:
        return StoreError(
            f"{display} refused the login ({text}): check the user and password (the URL, "
            "PGPASSWORD or ~/.pgpass)"
        )
    if state == "3D000" or ("database" in lowered and "does not exist" in lowered):
        return StoreError(f"{display}: {text}: create the database first (createdb)")
    if state in ("25006", "42501"):  # read_only_sql_transaction, insufficient_privilege
        return StoreError(
            f"{display} does not let this user write ({text}): grant it CREATE and INSERT "
            "there, or use a primary (not a read replica)"
        )
    if state.startswith("08") or any(word in lowered for word in _NETWORK_WORDS):
        return StoreNetworkError(f"cannot reach {display}: {text}")
    if not state and (kind == "ProgrammingError" or "invalid" in lowered):  # a bad URL
        return UsageError(f"not a valid PostgreSQL URL {display}: {text}")
    if not state and kind == "OperationalError":
        return StoreNetworkError(f"cannot reach {display}: {text}")
    return StoreError(f"{display} cannot be used as a store ({text}): {NEW_STORE}")
