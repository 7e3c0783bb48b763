"""``usage_report``: completeness checks, opening state, one streamed pass, rows and meta.

The data comes from an injected :class:`ReportSource`, so this module knows nothing of HTTP.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from cfevents.errors import CfEventsError, IncompleteDataError, UsageError
from cfevents.report.engine import GROUPINGS, Accountant, EngineResult, bound_clock
from cfevents.report.opening import Opening, Snapshot, read_state, state_to_json
from cfevents.report.rates import Rates
from cfevents.report.rows import build_rows, row_fields, totals
from cfevents.report.timeutil import epoch, iso, next_month, to_epoch
from cfevents.stores.columns import APP_USAGE
from cfevents.timeparse import TimeParseError, parse_time

DEFAULT_MIN_AGE = timedelta(minutes=5)
DEFAULT_MARGIN = timedelta(minutes=15)
OPENING_MODES = ("snapshot", "events", "none")
PROGRESS_EVERY = 5000  # events between progress calls (one v3 page)


def counted(
    events: Iterable[Mapping[str, Any]], progress: Callable[[int], None] | None
) -> Iterator[Mapping[str, Any]]:
    """``events``, calling ``progress(events_read)`` every PROGRESS_EVERY events and once at
    the end (a report's progress, as :func:`usage_report` reports it)."""
    read = 0
    for read, event in enumerate(events, 1):
        yield event
        if progress is not None and read % PROGRESS_EVERY == 0:
            progress(read)
    if progress is not None:
        progress(read)


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


MONTH = re.compile(r"(\d{4})-(\d{2})", flags=re.ASCII)


def month_window(text: str, now: datetime | None = None) -> Window:
    """``YYYY-MM`` (exactly: four digits, two digits), ``last`` or ``this`` (by ``now``,
    default the clock) -> that calendar month in UTC."""
    word = text.strip().lower()
    if word in ("last", "this"):
        today = (now or datetime.now(UTC)).astimezone(UTC)
        start = datetime(today.year, today.month, 1, tzinfo=UTC)
        if word == "last":
            start = (start - timedelta(days=1)).replace(day=1)
        return Window(start, next_month(start))
    match = MONTH.fullmatch(text)  # 2026-1, 26-01, 2026-001: not taken as a guess
    if match is None or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1:
        raise UsageError(
            f"`month` {text!r} is not a month: YYYY-MM (e.g. 2024-05), last or this", param="month"
        )
    start = datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)
    return Window(start, next_month(start))


def window_from_options(
    month: str | None, since: str | None, until: str | None, now: datetime
) -> Window:
    """``--month`` | ``--since [--until]``; neither: this month (the report is partial).
    ``since``/``until`` may be a month (``2026-06``: its first instant, UTC)."""
    since, until = _month_start(since), _month_start(until)
    if month is not None and (since is not None or until is not None):
        raise UsageError("use `month` or `since`/`until`, not both")
    if month is not None:
        return month_window(month, now)
    if since is None:
        if until is not None:
            raise UsageError("`until` needs `since`", param="until")
        return month_window("this", now)
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


KEEPS_RUNNING_AFTER = 32 * 86400  # an oldest event older than this: CC keeps old STARTs


class RetainedBaselines:
    """Where the events of a foundation that keeps old STARTs of running processes end
    (cloud_controller_ng #4182/#5210): its cleanup leaves, before the cutoff, only STARTED rows
    (the START of each process that still runs) and the TASK_STARTED of each running task.
    Those are data — the state of what has run quietly since — not a gap; everything else is
    retained from the cutoff on, so the earliest event of any other state (a stop, a staging, a
    task's end) bounds the cutoff from above."""

    def __init__(self, oldest: int) -> None:
        self.oldest = oldest
        self.first_regular: int | None = None

    def see(self, event: Mapping[str, Any]) -> None:
        created = event.get("created_at")
        if created.__class__ is not str:
            return
        if (event.get("state") or {}).get("current") in ("STARTED", "TASK_STARTED"):
            return
        t = epoch(str(created))
        if self.first_regular is None or t < self.first_regular:
            self.first_regular = t

    def problem(self, needed: int, t0: int) -> str | None:
        """Why the window lacks events (None: every event from ``needed`` on is there)."""
        if self.first_regular is not None and self.first_regular <= needed:
            return None
        since = iso(self.first_regular) if self.first_regular is not None else "nowhere"
        return (
            f"the window starts at {iso(t0)} but Cloud Controller keeps only the old STARTs of "
            f"running processes and tasks before {since} (its cleanup removed the rest), so "
            "events it needs are gone"
        )


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
    progress: Callable[[int], None] | None = None,
    rates: Rates | None = None,
) -> Report:
    """Instance-, memory- and task-seconds per group over ``window`` (docs/accounting.md §2).

    ``progress(events_read)`` is called every PROGRESS_EVERY events while reading.
    ``rates``: prices (:mod:`cfevents.report.rates`); rows gain ``app_cost``, ``task_cost``,
    ``cost`` and ``currency``, the seconds split exactly where a price changes.

    ``opening``: "snapshot" (default), "events", "none", a state-file path, or a loaded
    :class:`Opening`. Raises :class:`IncompleteDataError` (exit 7) when events the window
    needs are gone, unless ``allow_incomplete`` (then rows are flagged ``incomplete``), and
    :class:`UsageError` for a bad grouping or an unusable state file.
    """
    if by not in GROUPINGS:
        raise UsageError(f"`by` must be one of {', '.join(GROUPINGS)}, not {by!r}", param="by")
    now = now or datetime.now(UTC)
    t0, t1 = to_epoch(window.start), to_epoch(window.end)
    end = effective_end(t0, t1, to_epoch(now - min_age))
    margin_s = int(margin.total_seconds())
    fetch_start = t0 - margin_s
    mode, loaded = _opening(opening, source, t0)
    gaps = _Gaps(allow_incomplete)
    oldest = source.oldest_event()  # completeness, before any arithmetic
    boundary = _check_oldest(source, oldest, mode, now, t0, margin_s, gaps)
    if mode == "file":
        _check_chain(loaded, source, gaps)
    snapshot, notes = _read_snapshot(source, mode)
    if mode == "snapshot" and snapshot is not None:
        loaded = snapshot.opening()
    if oldest is None and snapshot is not None:
        _check_events_visible(snapshot, gaps)
    if loaded is not None:
        loaded.foundation = source.foundation
    read_from = boundary.oldest if boundary is not None else fetch_start
    engine = Accountant(
        t0,
        end,
        mode=mode,
        opening=loaded,
        fetch_start=read_from,
        by=by,
        daily=daily,
        reseed_in_window="flag" if allow_incomplete else "fail",
        cuts=rates.cuts() if rates is not None else (),
    )
    stop_after = None if mode == "snapshot" else end + margin_s
    events = source.events_since(datetime.fromtimestamp(read_from, UTC))
    _feed(engine, events, margin_s, stop_after, boundary, progress)
    gone = boundary.problem(fetch_start, t0) if boundary is not None else None
    if gone is not None:
        gaps.add(gone, f"{gone}; use a later --since or --allow-incomplete")
    result = engine.finish()
    if result.counters["reseed_batches_in_window"]:
        first = engine.first_reseed_in_window
        gaps.problems.append(
            f"a purge-and-reseed at {iso(first or t0)} lies inside the window; "
            "usage before it is unknown"
        )
    return _build_report(
        source,
        result,
        _Span(t0, t1, end, fetch_start),
        snapshot=snapshot,
        mode=mode,
        now=now,
        notes=notes,
        gaps=gaps,
        by=by,
        daily=daily,
        rates=rates,
    )


@dataclass(frozen=True)
class _Span:
    """A report's times, epoch seconds: the window ``[t0, t1)``, E and the read's start."""

    t0: int
    t1: int
    end: int
    fetch_start: int


@dataclass
class _Gaps:
    """What the window lacks: each problem raises (exit 7), or with ``allow_incomplete`` is
    kept and flags the rows ``incomplete`` (docs/accounting.md §3)."""

    allow: bool
    problems: list[str] = field(default_factory=list)

    def add(self, problem: str, message: str) -> None:
        if not self.allow:
            raise IncompleteDataError(message)
        self.problems.append(problem)


def effective_end(t0: int, t1: int, horizon: int) -> int:
    """E = min(T1, now - min_age): events are final only up to the horizon."""
    end = min(t1, horizon)
    if end <= t0:
        raise UsageError(
            f"nothing to report yet: the window starts at {iso(t0)} and events are only "
            f"final up to {iso(horizon)} (now minus --min-age)"
        )
    return end


def _check_oldest(
    source: ReportSource,
    oldest: Mapping[str, Any] | None,
    mode: str,
    now: datetime,
    t0: int,
    margin_s: int,
    gaps: _Gaps,
) -> RetainedBaselines | None:
    """The oldest retained event must be older than what the window needs (the fetch start;
    ``t0`` after a state file). Returns where to look for the end of retained baselines
    (cloud_controller_ng #5210) when the events must show the opening."""
    if oldest is None or not isinstance(oldest.get("created_at"), str):
        return None
    oldest_t = epoch(str(oldest["created_at"]))
    boundary: RetainedBaselines | None = None
    if (
        mode == "events"
        and not getattr(source, "complete_from_oldest", False)
        and oldest_t < to_epoch(now) - KEEPS_RUNNING_AFTER
        and (oldest.get("state") or {}).get("current") in ("STARTED", "TASK_STARTED")
    ):  # #5210: CC keeps old STARTs of what runs: read them all, check where the rest end
        boundary = RetainedBaselines(oldest_t)
    needed = t0 if mode == "file" else t0 - margin_s
    if oldest_t > needed:
        what = (
            f"a purge-and-reseed at {iso(oldest_t)}"
            if APP_USAGE.is_reseeded(oldest)
            else f"the oldest usage event {_holds(source)} is from {iso(oldest_t)}"
        )
        problem = f"the window starts at {iso(t0)} but {what}, so events it needs are gone"
        if not gaps.allow:
            advice = getattr(source, "incomplete_advice", None)
            raise IncompleteDataError(
                f"{problem}: {advice(oldest_t, margin_s)}"
                if advice is not None
                else _incomplete_message(problem, t0, oldest_t, margin_s)
            )
        gaps.problems.append(problem)
    return boundary


def _read_snapshot(source: ReportSource, mode: str) -> tuple[Snapshot | None, list[str]]:
    """The snapshot, read BEFORE the events (docs/accounting.md §2.3); with ``events`` only to
    say how much the events cannot see (then a failure is a note)."""
    if mode == "snapshot":
        return source.snapshot(), []
    if mode == "events":
        try:
            return source.snapshot(), []
        except CfEventsError as exc:
            return None, [f"could not count the started instances the events miss: {exc}"]
    return None, []


def _check_events_visible(snapshot: Snapshot, gaps: _Gaps) -> None:
    """No event at all, yet processes run: the token cannot see usage events."""
    started = [n for _, n in snapshot.started() if n > 0]
    if started:  # CC keeps a usage event for every started process (a reseed writes one)
        problem = (
            f"Cloud Controller shows no app usage events at all, yet {len(started)} "
            "process(es) are started: usage events need an admin, admin_read_only or "
            "global_auditor token"
        )
        gaps.add(problem, f"{problem}; or use --allow-incomplete")


def _feed(
    engine: Accountant,
    source_events: Iterable[Mapping[str, Any]],
    margin_s: int,
    stop_after: int | None,
    boundary: RetainedBaselines | None,
    progress: Callable[[int], None] | None,
) -> None:
    """The one streamed pass: every event through the engine, up to ``stop_after``."""
    events = iter(source_events)
    read = 0
    try:
        for read, event in enumerate(bound_clock(events, margin_s), 1):
            if stop_after is not None:
                created = event.get("created_at")
                if isinstance(created, str) and epoch(created) > stop_after:
                    break  # beyond E + margin: nothing later can change [T0, E)
            engine.feed(event)
            if boundary is not None:
                boundary.see(event)
            if progress is not None and read % PROGRESS_EVERY == 0:
                progress(read)
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()  # stop a reader's background page download now, not at GC
    if progress is not None:
        progress(read)


def _build_report(
    source: ReportSource,
    result: EngineResult,
    span: _Span,
    *,
    snapshot: Snapshot | None,
    mode: str,
    now: datetime,
    notes: list[str],
    gaps: _Gaps,
    by: str,
    daily: bool,
    rates: Rates | None,
) -> Report:
    """Rows, totals, meta and warnings of a finished pass."""
    incomplete = gaps.problems
    warnings: list[str] = [*notes, *(f"incomplete: {text}" for text in incomplete)]
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
    t0, end = span.t0, span.end
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
    meta = _meta(source, result, span, mode, by, daily, mismatches, unseen_count, incomplete)
    if rates is not None:
        meta["rates"] = rates_meta(rates)
    return Report(
        rows=rows,
        totals=totals(rows, result, t0=t0, end=end),
        meta=meta,
        closing_state=state_to_json(result.closing),
        fields=row_fields(by, daily, rates is not None),
        warnings=warnings,
    )


def _meta(
    source: ReportSource,
    result: EngineResult,
    span: _Span,
    mode: str,
    by: str,
    daily: bool,
    mismatches: list[dict[str, Any]],
    unseen_count: int,
    incomplete: list[str],
) -> dict[str, Any]:
    return {
        "window": {"start": iso(span.t0), "end": iso(span.t1)},
        "effective_end": iso(span.end),
        "as_of": iso(span.end),
        "partial": span.end < span.t1,
        "by": by,
        "daily": daily,
        "opening_source": mode,
        "events_read": result.counters["events_read"],
        "fetch_start": iso(span.fetch_start),
        "flags": dict(sorted(Counter(result.flag_counts).items())),
        "counters": result.counters,
        "chain_gaps": result.gaps,
        "self_check_mismatches": mismatches,
        "unseen_started_processes": unseen_count,
        "incomplete": incomplete,
        "foundation": source.foundation,
    }


def _check_chain(loaded: Opening | None, source: ReportSource, gaps: _Gaps) -> None:
    chain = _broken_chain(loaded, source)
    if chain is not None:
        gaps.add(chain, f"{chain}: use --allow-incomplete to report anyway")


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
    """Replaying to the end of the read must agree with the snapshot (docs/accounting.md §2.11)."""
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
