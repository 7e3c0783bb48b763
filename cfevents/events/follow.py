"""Following a listing, pure: the keyset cursor every ``--follow`` of audit events polls with
(its interval bounds are :func:`cfevents.events.bounds.check_interval`'s).

``crashes --follow`` and ``events list --follow`` poll the same way: each poll lists events
from ``lag`` seconds before the newest one handed out (CC may commit an event a little after
its ``created_at``), oldest first, and skips what was already handed out by its GUIDs; the
GUIDs older than the re-read window are forgotten, so memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from cfevents.timeparse import format_cc

DEFAULT_LAG_S = 60.0


def _moment(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class KeysetCursor:
    """Where the next poll starts, and what was handed out since ``start - lag``."""

    def __init__(self, start: datetime, lag: float = DEFAULT_LAG_S) -> None:
        self.start = start if start.tzinfo else start.replace(tzinfo=UTC)
        self.cursor = self.start
        self.lag = timedelta(seconds=lag)
        self._seen: dict[Any, str] = {}  # guid -> created_at

    def since(self) -> str:
        """The next poll's ``since``: ``lag`` before the newest record handed out."""
        return format_cc(max(self.start, self.cursor - self.lag))

    def fresh(self, created_at: Any, guids: Iterable[Any]) -> bool:
        """Whether a record with these GUIDs is new (then it counts as handed out). A record
        seen before under any of its GUIDs is not, even when it gained one (a crash whose
        second event arrived a poll later)."""
        created = str(created_at or "")
        keys = [g for g in guids if g]
        new = not any(g in self._seen for g in keys)
        for g in keys:
            self._seen[g] = created
        if new:
            moment = _moment(created)
            if moment is not None and moment > self.cursor:
                self.cursor = moment
        return new

    def prune(self) -> None:
        """After a poll: forget the GUIDs the next poll cannot list again."""
        floor = format_cc(self.cursor - self.lag)
        for guid in [g for g, at in self._seen.items() if at < floor]:
            del self._seen[guid]
