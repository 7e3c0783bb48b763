"""Reports from history: a :class:`~cfevents.report.api.ReportSource` over a store or a file.

``history_source(target)`` reads a store written by ``usage export --out usage.db`` (or
``postgresql://…``) or an NDJSON file written by ``usage export -o ndjson``, instead of the API:

- events come in the stored order (the store's ``seq``; a file's line order), which is Cloud
  Controller's order — never re-sorted by ``created_at``;
- the opening snapshot is the one the store's first export recorded (a file has none: use
  ``opening="events"`` or a state file);
- ``oldest_event`` is the first stored event, so the report's completeness rules judge the
  store's coverage as they judge CC's retention; a hole in ``seq`` (rows deleted from the
  store) that touches the events a window needs raises IncompleteDataError (exit 7) unless
  the source was made with ``allow_incomplete`` (then it is listed in ``problems``); a reseed
  inside the window is caught by the report engine as for live data;
- ``horizon`` is the newest stored ``created_at``: pass ``now=source.horizon + min_age`` (or
  use :func:`history_report`) so the report ends where the history does.

    from cfevents.report import usage_report, month_window
    from cfevents.report.history import history_report, history_source

    with history_source("usage.db") as source:
        report = history_report(source, month_window("2026-05"))
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from cfevents.errors import IncompleteDataError, UsageError
from cfevents.report.api import DEFAULT_MARGIN, DEFAULT_MIN_AGE, Report, Window, usage_report
from cfevents.report.opening import Snapshot
from cfevents.report.timeutil import epoch, iso, next_month, to_epoch
from cfevents.stores import APP_USAGE, EventKind, Store, is_store_target, open_store

NDJSON_SUFFIXES = (".ndjson", ".jsonl")


class HistorySource:
    """What every history source shares: a context manager with a horizon and problems."""

    complete_from_oldest = True  # every event after the first stored one is stored
    horizon: datetime | None  # the newest stored created_at (None: nothing stored)
    problems: list[str]  # completeness problems let through by allow_incomplete
    holder: str  # where the events are, for messages ("the store usage.db")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release what the source holds (a store connection)."""


class StoreSource(HistorySource):
    """A foundation's usage events, opening snapshot and coverage in a store."""

    def __init__(
        self,
        store: Store,
        foundation: str | None = None,
        *,
        kind: EventKind = APP_USAGE,
        allow_incomplete: bool = False,
    ) -> None:
        self.store = store
        self.kind = kind
        self.allow_incomplete = allow_incomplete
        self.holder = f"the store {store.display}"
        self.problems = []
        self._foundation = foundation or _only_foundation(store, kind)
        coverage = store.coverage(self._foundation, kind)
        if coverage is None:
            raise UsageError(f"{store.display} holds no {kind.table} of {self._foundation}")
        self.coverage = coverage
        self.sync = store.sync_state(self._foundation, kind)
        # complete up to the last sync's CC time less its min-age (a 0.2 store: its last event)
        newest = self.sync.complete_until if self.sync else coverage.last_created_at
        self.horizon = datetime.fromtimestamp(epoch(newest), tz=UTC)
        stored = store.snapshot(self._foundation)
        self.snapshot_taken_at = (
            datetime.fromtimestamp(epoch(stored.taken_at), tz=UTC) if stored else None
        )

    @property
    def foundation(self) -> str:
        return self._foundation

    def snapshot(self) -> Snapshot:
        stored = self.store.snapshot(self._foundation)
        if stored is None:
            raise IncompleteDataError(
                f"{self.store.display} has no opening snapshot of {self._foundation} (it is "
                "recorded by the first usage export into the store): use --opening events or "
                "--opening FILE"
            )
        parts = stored.parts
        return Snapshot(
            apps=parts.get("apps", []),
            processes=parts.get("processes", []),
            tasks=parts.get("tasks", []),
            spaces=parts.get("spaces", []),
        )

    def oldest_event(self) -> Mapping[str, Any] | None:
        return self.store.first_event(self._foundation, self.kind)

    def incomplete_advice(self, oldest: int, margin: int) -> str:
        """From when this store can report: the first whole month after its oldest event."""
        from cfevents.report.coverage import first_whole_month

        month = first_whole_month(oldest, timedelta(seconds=margin))
        end = next_month(month)
        return (
            f"it holds every event from {iso(oldest)} on, so the first whole month it can report "
            f"is {month:%Y-%m} (--month {month:%Y-%m} works once a sync has run after "
            f"{iso(to_epoch(end))} plus its min-age); or --allow-incomplete"
        )

    def lacks_end(self, end: datetime) -> str:
        """Why the store cannot count to ``end`` (it was not synced past it)."""
        if self.sync is None:
            return (
                f"{self.store.display} records no completed sync of {self._foundation} (a store "
                "written by cfevents 0.2): run the sync (cfevents history sync) once to record "
                f"how far it is complete; its newest event is from {self.coverage.last_created_at}"
            )
        return (
            f"{self.store.display} holds every event of {self._foundation} only up to "
            f"{self.sync.complete_until} (last sync {self.sync.synced_at}) and the window ends "
            f"at {iso(to_epoch(end))}: run the sync (cfevents history sync) first"
        )

    def events_since(self, start: datetime) -> Iterator[Mapping[str, Any]]:
        """Stored events from ``start`` on, in seq order.

        The opening snapshot is the state at the time it was taken: a window after it replays
        from the snapshot's time, so a process that changed between the snapshot and the
        window is not taken at its snapshot state."""
        if self.snapshot_taken_at is not None and self.snapshot_taken_at < start:
            start = self.snapshot_taken_at
        self._check_gaps(to_epoch(start))
        cutoff = to_epoch(start)
        first = self.store.first_seq_since(self._foundation, self.kind, start)
        if first is None:
            return
        last, inside = "", False
        for event in self.store.events(self._foundation, self.kind, from_seq=first):
            created = event.get("created_at")
            if isinstance(created, str):
                if created != last:
                    last = created
                    inside = epoch(created) >= cutoff
                if inside:
                    yield event

    def _check_gaps(self, start: int) -> None:
        """Holes in seq after ``start``: the store lost events the report needs."""
        continuity = self.store.continuity(self._foundation, self.kind)
        for before, after in continuity.gaps:
            after_event = next(
                iter(self.store.events(self._foundation, self.kind, from_seq=after, to_seq=after))
            )
            after_t = epoch(str(after_event.get("created_at")))
            if after_t < start:
                continue
            problem = (
                f"{self.store.display} is missing the events stored between seq {before} and "
                f"{after} (before {iso(after_t)}): rows were deleted from the store"
            )
            if not self.allow_incomplete:
                raise IncompleteDataError(f"{problem}; use --allow-incomplete to report anyway")
            self.problems.append(problem)

    def org_names(self, guids: Collection[str]) -> Mapping[str, str]:
        """The names the syncs recorded (the opening snapshot's, then new and renamed orgs;
        events carry no org names): an org no sync saw was deleted before the first."""
        known = self.store.names(self._foundation)
        return {guid: known[guid] for guid in guids if guid in known}

    def close(self) -> None:
        self.store.close()


class NdjsonSource(HistorySource):
    """Events from an NDJSON file written by ``usage export -o ndjson`` (file order = CC's)."""

    def __init__(self, path: Path, foundation: str | None = None) -> None:
        self.path = path
        self.holder = str(path)
        self.problems = []
        self._foundation = foundation or str(path)
        first: dict[str, Any] | None = None
        newest = ""
        self._org_names: dict[str, str] = {}  # an export writes organization.name
        for event in self._read():
            if first is None:
                first = event
            created = event.get("created_at")
            if isinstance(created, str) and created > newest:
                newest = created
            org = event.get("organization")
            if isinstance(org, dict) and org.get("guid") and org.get("name") is not None:
                self._org_names[str(org["guid"])] = str(org["name"])
        if first is None:
            raise UsageError(f"{path} holds no usage events")
        if "state_current" in first:
            raise UsageError(
                f"{path} was written with --flat; a report needs the events as Cloud "
                "Controller sent them (export without --flat)"
            )
        self._first = first
        self.horizon = datetime.fromtimestamp(epoch(newest), tz=UTC) if newest else None

    @property
    def foundation(self) -> str:
        return self._foundation

    def _read(self) -> Iterator[dict[str, Any]]:
        try:
            handle = self.path.open(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--input: cannot read {self.path}: {exc.strerror}") from None
        with handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    raise UsageError(
                        f"--input: {self.path} line {number} is not JSON (an NDJSON export "
                        "written by usage export -o ndjson is needed)"
                    ) from None
                if not isinstance(event, dict):
                    raise UsageError(f"--input: {self.path} line {number} is not an event")
                yield event

    def snapshot(self) -> Snapshot:
        raise UsageError(
            f"{self.path} has no opening snapshot (a file holds events only): use --opening "
            "events, --opening FILE, or export into a store (--out usage.db)"
        )

    def oldest_event(self) -> Mapping[str, Any] | None:
        return self._first

    def events_since(self, start: datetime) -> Iterator[Mapping[str, Any]]:
        cutoff = to_epoch(start)
        for event in self._read():
            created = event.get("created_at")
            if isinstance(created, str) and epoch(created) >= cutoff:
                yield event

    def org_names(self, guids: Collection[str]) -> Mapping[str, str]:
        """The names the export wrote into the events (none for an org already deleted)."""
        return {guid: self._org_names[guid] for guid in guids if guid in self._org_names}


def history_source(
    target: str | Path, *, foundation: str | None = None, allow_incomplete: bool = False
) -> StoreSource | NdjsonSource:
    """A report source over a store (``usage.db``, ``postgresql://…``) or an NDJSON export.

    ``foundation`` picks one of several foundations in a store (default: the only one).
    Raises UsageError for a target that is neither, StoreError when the store cannot be read.
    """
    text = str(target)
    if is_store_target(text):
        store = open_store(text, readonly=True)
        try:
            return StoreSource(store, foundation, allow_incomplete=allow_incomplete)
        except BaseException:
            store.close()
            raise
    if text.lower().endswith(NDJSON_SUFFIXES) or Path(text).is_file():
        return NdjsonSource(Path(text), foundation)
    raise UsageError(
        f"{text!r} is neither a store (usage.db, *.sqlite, sqlite:///PATH, "
        "postgresql://…) nor an NDJSON file written by usage export",
        param="input",
    )


def history_report(
    source: StoreSource | NdjsonSource,
    window: Window,
    *,
    min_age: timedelta = DEFAULT_MIN_AGE,
    margin: timedelta = DEFAULT_MARGIN,
    **kwargs: Any,
) -> Report:
    """``usage_report`` over history, ending at the history's horizon (its newest event)."""
    if source.horizon is None:
        raise UsageError("the history holds no events")
    clock = kwargs.pop("clock", None) or datetime.now(UTC)
    if isinstance(source, StoreSource) and source.horizon < window.end <= clock - min_age:
        problem = source.lacks_end(window.end)  # the window is over; the store is behind
        if not kwargs.get("allow_incomplete"):
            raise IncompleteDataError(f"{problem}; or --allow-incomplete to count to its end")
        source.problems.append(problem)
    report = usage_report(
        source,
        window,
        min_age=min_age,
        margin=margin,
        now=kwargs.pop("now", None) or source.horizon + min_age,
        **kwargs,
    )
    if isinstance(source, StoreSource):
        report.meta["history"] = {
            "store": source.store.display,
            "complete_until": source.sync.complete_until if source.sync else None,
            "last_sync": source.sync.synced_at if source.sync else None,
        }
    if source.problems:
        report.meta["incomplete"] = [*report.meta.get("incomplete", []), *source.problems]
        report.warnings.extend(f"incomplete: {problem}" for problem in source.problems)
    return report


def _only_foundation(store: Store, kind: EventKind) -> str:
    found = store.foundations(kind)
    if len(found) == 1:
        return found[0]
    if not found:
        raise UsageError(f"{store.display} holds no {kind.table} yet: run usage export into it")
    raise UsageError(
        f"{store.display} holds several foundations ({', '.join(found)}): name one "
        "(history_source(..., foundation=API_URL))"
    )
