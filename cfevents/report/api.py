"""``usage_report``: completeness checks, opening state, one streamed pass, rows and meta.

The data comes from an injected :class:`ReportSource`, so this module knows nothing of HTTP.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from cfevents.errors import CfEventsError, IncompleteDataError, UsageError
from cfevents.report.engine import GROUPINGS, Accountant, is_reseed
from cfevents.report.opening import Opening, Snapshot, read_state, state_to_json
from cfevents.report.rates import Rates
from cfevents.report.rows import build_rows, row_fields, totals
from cfevents.report.timeutil import epoch, iso, to_epoch
from cfevents.timeparse import TimeParseError, parse_time

DEFAULT_MIN_AGE = timedelta(minutes=5)
DEFAULT_MARGIN = timedelta(minutes=15)
OPENING_MODES = ("snapshot", "events", "none")


class ReportSource(Protocol):
    """Where a report reads from (the CLI adapts the CC client to this)."""

    @property
    def foundation(self) -> str:
        """The API URL, written into and checked against state files."""
        ...

    def snapshot(self) -> Snapshot:
        """``/v3/apps``, ``/v3/processes``, ``/v3/tasks?states=RUNNING``, ``/v3/spaces``."""
        ...

    def oldest_event(self) -> Mapping[str, Any] | None:
        """The oldest app usage event CC still returns (``per_page=1``, default order)."""
        ...

    def events_since(self, start: datetime) -> Iterable[Mapping[str, Any]]:
        """Every app usage event with ``created_at >= start``, in CC list (id) order."""
        ...

    def org_names(self, guids: Collection[str]) -> Mapping[str, str]:
        """Org guid -> name (``/v3/organizations?guids=...``); missing guids are fine."""
        ...


def _holds(source: ReportSource) -> str:
    """Who holds the events, for a message: CC prunes them, a store or a file just has them."""
    holder = getattr(source, "holder", None)
    return f"in {holder}" if isinstance(holder, str) else "Cloud Controller still has"


@dataclass(frozen=True)
class Window:
    """``[start, end)``, UTC, whole seconds."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window times must be timezone-aware")
        if self.end <= self.start:
            raise UsageError(
                f"the window is empty: {iso(to_epoch(self.start))} is not before "
                f"{iso(to_epoch(self.end))}"
            )


def month_window(text: str) -> Window:
    """``YYYY-MM`` (exactly: four digits, two digits) -> that calendar month in UTC."""
    try:
        if not re.fullmatch(r"\d{4}-\d{2}", text.strip(), flags=re.ASCII):
            raise ValueError(text)  # 2026-1, 26-01, 2026-001: not taken as a guess
        year, month = (int(part) for part in text.strip().split("-"))
        start = datetime(year, month, 1, tzinfo=UTC)
    except ValueError:
        raise UsageError(f"--month {text!r} is not a month (YYYY-MM, e.g. 2024-05)") from None
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return Window(start, end)


def window_from_options(
    month: str | None, since: str | None, until: str | None, now: datetime
) -> Window:
    """``--month`` | ``--since [--until]``; neither: this month (the report is partial).
    ``since``/``until`` may be a month (``2026-06``: its first instant, UTC)."""
    since, until = _month_start(since), _month_start(until)
    if month is not None and (since is not None or until is not None):
        raise UsageError("use --month or --since/--until, not both")
    if month is not None:
        return month_window(month)
    if since is None:
        if until is not None:
            raise UsageError("--until needs --since")
        return month_window(now.astimezone(UTC).strftime("%Y-%m"))
    try:
        start = parse_time(since, now)
        end = parse_time(until, now) if until is not None else now.astimezone(UTC)
    except TimeParseError as exc:
        raise UsageError(str(exc)) from None
    return Window(start, end.replace(microsecond=0))


def _month_start(text: str | None) -> str | None:
    """``YYYY-MM`` -> ``YYYY-MM-01`` (a date: midnight UTC); anything else unchanged."""
    if text is not None and re.fullmatch(r"\d{4}-\d{2}", text.strip()):
        return f"{text.strip()}-01"
    return text


@dataclass
class Report:
    """A finished report: ``rows`` (flat dicts, keys ``fields``), ``totals``, ``meta``."""

    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    meta: dict[str, Any]
    closing_state: dict[str, Any]
    fields: list[str]
    warnings: list[str] = field(default_factory=list)


def _foundation_key(url: str | None) -> str:
    return (url or "").rstrip("/").lower()


def _incomplete_message(problem: str, t0: int, oldest: int, margin: int) -> str:
    later = -(-(oldest + margin) // 60) * 60  # rounded up to the minute
    return (
        f"{problem}: use --opening FILE (a state file saved at {iso(t0)}), "
        f"a later --since ({iso(later)} or after), or --allow-incomplete"
    )


def usage_report(
    source: ReportSource,
    window: Window,
    *,
    by: str = "app",
    daily: bool = False,
    opening: str | os.PathLike[str] | Opening = "snapshot",
    min_age: timedelta = DEFAULT_MIN_AGE,
    now: datetime | None = None,
    allow_incomplete: bool = False,
    margin: timedelta = DEFAULT_MARGIN,
    rates: Rates | None = None,
) -> Report:
    """Instance-, memory- and task-seconds per group over ``window`` (reference §3).

    ``rates``: prices (:mod:`cfevents.report.rates`); rows gain ``app_cost``, ``task_cost``,
    ``cost`` and ``currency``, the seconds split exactly where a price changes.

    ``opening``: "snapshot" (default), "events", "none", a state-file path, or a loaded
    :class:`Opening`. Raises :class:`IncompleteDataError` (exit 7) when events the window
    needs are gone, unless ``allow_incomplete`` (then rows are flagged ``incomplete``), and
    :class:`UsageError` for a bad grouping or an unusable state file.
    """
    if by not in GROUPINGS:
        raise UsageError(f"--by must be one of {', '.join(GROUPINGS)}, not {by!r}")
    now = now or datetime.now(UTC)
    t0, t1 = to_epoch(window.start), to_epoch(window.end)
    horizon = to_epoch(now - min_age)
    end = min(t1, horizon)
    if end <= t0:
        raise UsageError(
            f"nothing to report yet: the window starts at {iso(t0)} and events are only "
            f"final up to {iso(horizon)} (now minus --min-age)"
        )
    margin_s = int(margin.total_seconds())
    fetch_start = t0 - margin_s

    mode, loaded = _opening(opening, source, t0)
    incomplete: list[str] = []

    # completeness, before any arithmetic
    oldest = source.oldest_event()
    if oldest is not None and isinstance(oldest.get("created_at"), str):
        oldest_t = epoch(str(oldest["created_at"]))
        needed = t0 if mode == "file" else fetch_start
        if oldest_t > needed:
            what = (
                f"a purge-and-reseed at {iso(oldest_t)}"
                if is_reseed(oldest)
                else f"the oldest usage event {_holds(source)} is from {iso(oldest_t)}"
            )
            problem = f"the window starts at {iso(t0)} but {what}, so events it needs are gone"
            if not allow_incomplete:
                raise IncompleteDataError(_incomplete_message(problem, t0, oldest_t, margin_s))
            incomplete.append(problem)

    chain = _broken_chain(loaded, source) if mode == "file" else None
    if chain is not None:
        if not allow_incomplete:
            raise IncompleteDataError(f"{chain}: use --allow-incomplete to report anyway")
        incomplete.append(chain)

    snapshot: Snapshot | None = None
    notes: list[str] = []
    if mode == "snapshot":
        snapshot = source.snapshot()  # BEFORE the events (§3.3 step 1)
        loaded = snapshot.opening()
    elif mode == "events":
        try:  # only to say how much the events cannot see
            snapshot = source.snapshot()
        except CfEventsError as exc:
            notes.append(f"could not count the started instances the events miss: {exc}")
    if oldest is None and snapshot is not None:
        started = [n for _, n in snapshot.started() if n > 0]
        if started:  # CC keeps a usage event for every started process (a reseed writes one)
            problem = (
                f"Cloud Controller shows no app usage events at all, yet {len(started)} "
                "process(es) are started: usage events need an admin, admin_read_only or "
                "global_auditor token"
            )
            if not allow_incomplete:
                raise IncompleteDataError(f"{problem}; or use --allow-incomplete")
            incomplete.append(problem)
    if loaded is not None:
        loaded.foundation = source.foundation

    engine = Accountant(
        t0,
        end,
        mode=mode,
        opening=loaded,
        fetch_start=fetch_start,
        by=by,
        daily=daily,
        reseed_in_window="flag" if allow_incomplete else "fail",
        cuts=rates.cuts() if rates is not None else (),
    )
    stop_after = None if mode == "snapshot" else end + margin_s
    events = iter(source.events_since(datetime.fromtimestamp(fetch_start, UTC)))
    try:
        for event in events:
            if stop_after is not None:
                created = event.get("created_at")
                if isinstance(created, str) and epoch(created) > stop_after:
                    break  # beyond E + margin: nothing later can change [T0, E)
            engine.feed(event)
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()  # stop a reader's background page download now, not at GC
    result = engine.finish()
    if result.counters["reseed_batches_in_window"]:
        first = engine.first_reseed_in_window
        incomplete.append(
            f"a purge-and-reseed at {iso(first or t0)} lies inside the window; "
            "usage before it is unknown"
        )

    warnings: list[str] = list(notes)
    if incomplete:
        warnings.extend(f"incomplete: {text}" for text in incomplete)
    unseen_count = 0
    if mode == "events" and snapshot is not None:
        seen = set(result.final_processes)
        unseen = [(g, n) for g, n in snapshot.started() if g not in seen and n > 0]
        unseen_count = len(unseen)
        if unseen:
            warnings.append(
                f"{len(unseen)} started process(es) / {sum(n for _, n in unseen)} instance(s) "
                "had no events in the window and are not counted (use --opening snapshot)"
            )
    mismatches = _self_check(result, snapshot, now) if mode == "snapshot" and snapshot else []
    if mismatches:
        warnings.append(
            f"self-check: {len(mismatches)} process(es) replayed to a state the snapshot "
            "does not show (lost events, a purge, or changes during the read)"
        )

    org_guids = {s[3].org_guid for u in result.units for s in u.day_src.values() if s[3].org_guid}
    org_names = dict(source.org_names(sorted(org_guids))) if org_guids else {}
    rows = build_rows(
        result,
        by=by,
        daily=daily,
        t0=t0,
        end=end,
        org_names=org_names,
        extra_flags=("incomplete",) if incomplete else (),
        rates=rates,
    )
    flag_counts = Counter(result.flag_counts)
    closing = state_to_json(result.closing)
    meta: dict[str, Any] = {
        "window": {"start": iso(t0), "end": iso(t1)},
        "effective_end": iso(end),
        "as_of": iso(end),
        "partial": end < t1,
        "by": by,
        "daily": daily,
        "opening_source": mode,
        "events_read": result.counters["events_read"],
        "fetch_start": iso(fetch_start),
        "flags": dict(sorted(flag_counts.items())),
        "counters": result.counters,
        "chain_gaps": result.gaps,
        "self_check_mismatches": mismatches,
        "unseen_started_processes": unseen_count,
        "incomplete": incomplete,
        "foundation": source.foundation,
    }
    if rates is not None:
        meta["rates"] = rates_meta(rates)
    return Report(
        rows=rows,
        totals=totals(rows, result, t0=t0, end=end),
        meta=meta,
        closing_state=closing,
        fields=row_fields(by, daily, rates is not None),
        warnings=warnings,
    )


def _broken_chain(loaded: Opening | None, source: ReportSource) -> str | None:
    """A state file continues after its ``last_event_guid``: when Cloud Controller no longer
    knows that event (pruned, purged), the chain cannot be proven whole (None: it can, or the
    source cannot tell)."""
    guid = loaded.last_event_guid if loaded is not None else None
    knows = getattr(source, "knows_event", None)
    if not guid or knows is None or knows(guid):
        return None
    return (
        f"the state file continues after event {guid}, which Cloud Controller no longer has "
        "(pruned or purged), so the chain from it cannot be proven whole"
    )


def rates_meta(rates: Rates) -> dict[str, Any]:
    """What a report's meta says of its prices: the file, the currency, the rounding."""
    return {
        "file": rates.source,
        "currency": rates.currency,
        "rounding": "each cost cell to 0.01 half-even; TOTAL = sum of rows",
        "price_changes": [iso(c) for c in sorted({*rates.cuts(), *rates.service_cuts()})],
    }


def _opening(
    opening: str | os.PathLike[str] | Opening, source: ReportSource, t0: int
) -> tuple[str, Opening | None]:
    if isinstance(opening, Opening):
        loaded = opening
    elif isinstance(opening, str) and opening in OPENING_MODES:
        return opening, None
    else:
        loaded = read_state(opening)
    if loaded.as_of != t0:
        shown = iso(loaded.as_of) if loaded.as_of is not None else "nothing"
        raise UsageError(
            f"the state file is as of {shown} but the window starts at {iso(t0)}: "
            f"use --since {shown} or the state file saved at {iso(t0)}"
        )
    if loaded.foundation and _foundation_key(loaded.foundation) != _foundation_key(
        source.foundation
    ):
        raise UsageError(f"the state file is from {loaded.foundation}, not {source.foundation}")
    return "file", loaded


def _self_check(result: Any, snapshot: Snapshot, taken_at: datetime) -> list[dict[str, Any]]:
    """Replaying to the end of the read must agree with the snapshot (§3.12)."""
    expected = dict(snapshot.opening().processes.items())
    changed_after = to_epoch(taken_at) - 60  # events this young may post-date the snapshot
    out: list[dict[str, Any]] = []
    for guid, (running, n, m, last_t) in sorted(result.final_processes.items()):
        if last_t is not None and last_t >= changed_after:
            continue
        snap = expected.get(guid)
        want = (snap.running, snap.instances, snap.memory_mb) if snap else (False, None, None)
        got_running = bool(running)
        if got_running != want[0] or (got_running and (n, m) != (want[1], want[2])):
            out.append(
                {
                    "process_guid": guid,
                    "replayed": {"running": running, "instances": n, "memory_mb": m},
                    "snapshot": (
                        {"running": want[0], "instances": want[1], "memory_mb": want[2]}
                        if snap
                        else None
                    ),
                }
            )
    return out
