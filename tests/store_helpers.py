"""Sandbox-shaped usage events for the store tests and the store writer subprocess."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

FOUNDATION = "https://api.sandbox.example"


def sandbox_events(n: int, seed: int = 3) -> list[dict[str, Any]]:
    """``n`` v3 app usage events as the sandbox Cloud Controller renders them, in id order."""
    from cfevents.sandbox.data import Foundation

    foundation = Foundation.generate(
        seed=seed, end=datetime(2026, 1, 31, tzinfo=UTC), days=2, usage_events=n
    )
    return list(foundation.usage_events_v3(FOUNDATION))


def execute_sql(target: str, sql: str) -> None:
    """Run ``sql`` on a store target outside cfevents (a SQLite file or a PostgreSQL URL)."""
    if target.startswith("postgresql"):
        import psycopg

        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute(sql.encode())
    else:
        import sqlite3

        with sqlite3.connect(target) as conn:
            conn.executescript(sql)
