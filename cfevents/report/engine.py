"""The accounting engine: v3 app usage events in CC list order -> exact instance-seconds.

Pure (no I/O) and one pass: memory grows with the LIVE processes and tasks and the output
groups, never with the number of events. A process that stops (or a task that ends) is folded
into its group's accumulators and kept only as a small tuple (what later events can still need:
its last time, instances, memory, flags, days); a finished task only as its last time. The model is ``docs/accounting.md`` §2:

- key by ``process.guid`` (tasks by ``task.guid``, staging by ``app.guid``);
- the sequence is the list order; ``t_eff`` = running max of ``created_at`` per key;
- STARTED after STARTED closes one segment and opens the next; STOPPED closes;
- a segment ``[a, b)`` with ``n`` instances of ``m`` MB counts ``n·o`` instance-seconds and
  ``n·m·o`` MB-seconds, ``o`` its overlap with ``[T0, E)`` (per UTC day with ``daily``);
- peaks are evaluated after all events of one second (a deployment step is one batch).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cfevents.errors import IncompleteDataError
from cfevents.report.guidtable import GuidTable
from cfevents.report.opening import Attrs, Opening, ProcessOpening, TaskOpening
from cfevents.report.timeutil import DAY, epoch, iso

MODES = ("snapshot", "events", "none", "file")
GROUPINGS = ("org", "space", "app", "process")
RESEED_POLICIES = ("fail", "flag", "accept")

PROCESS_STATES = ("STARTED", "STOPPED", "BUILDPACK_SET")
RUNNING_TASK_STATES = ("RUNNING", "CANCELING")
MAX_GAP_RECORDS = 100
RETENTION = 31 * DAY  # CC's default cutoff_age_in_days for usage events
_EMPTY: Mapping[str, Any] = {}
TOTAL = "\x00total"  # the peak group of everything together (a totals row)


COUNTERS = (  # the report's meta.counters, in this order
    "events_read",
    "clock_skew_adjustments",
    "clock_skew_seconds",
    "clock_outliers",
    "buildpack_sets",
    "staging_builds",
    "staging_seconds",
    "unmatched_staging_starts",
    "staging_stops_without_start",
    "tasks_stopped_without_start",
    "reseeds",
    "reseed_batches",
    "reseed_batches_in_window",
    "ignored_events",
    "chain_gaps",
)


def _check_options(mode: str, by: str, reseed_in_window: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {GROUPINGS}")
    if reseed_in_window not in RESEED_POLICIES:
        raise ValueError(f"reseed_in_window must be one of {RESEED_POLICIES}")


@dataclass(slots=True)
class Acc:
    """Exact integer figures of one unit on one day (or the whole window)."""

    instance_seconds: int = 0
    memory_mb_seconds: int = 0
    running_seconds: int = 0
    starts: int = 0
    stops: int = 0
    scales: int = 0
    noop_updates: int = 0
    reseeds: int = 0
    task_runs: int = 0
    task_seconds: int = 0
    task_memory_mb_seconds: int = 0
    unknown_memory_instance_seconds: int = 0


@dataclass(slots=True)
class Unit:
    """What a row is built from: one process, or the tasks of one app (``kind`` "tasks")."""

    kind: str
    guid: str
    attrs: Attrs
    group: str | None
    flags: set[str] = field(default_factory=set)
    accs: dict[int | None, Acc] = field(default_factory=dict)
    seq: int = 0  # creation order of its key (a group's attributes come from its first key)
    # group units only: the flags of the keys that had figures on each day (None: no daily)
    day_flags: dict[int | None, set[str]] = field(default_factory=dict)
    # group units only: per row (day), the first key with figures: (seq, kind, guid, attrs)
    day_src: dict[int | None, tuple[int, str, str, Attrs]] = field(default_factory=dict)
    # with price changes (``cuts``): per (day, period) [instance-s, MB-s, task-s, task MB-s]
    parts: dict[tuple[int | None, int], list[int]] = field(default_factory=dict)

    def acc(self, day: int | None) -> Acc:
        found = self.accs.get(day)
        if found is None:
            found = self.accs[day] = Acc()
        return found


@dataclass(slots=True)
class _Proc:
    unit: Unit
    running: bool | None
    n: int | None
    m: int | None
    since: int
    last_t: int | None = None
    seen: bool = False  # had an event in the fetch
    tentative: bool = False  # opening from the snapshot, overridden by the first event
    closing: ProcessOpening | None = None  # captured at E (for --save-state)
    prior_flags: frozenset[str] = frozenset()  # flags already folded into its group
    prior_days: frozenset[int | None] = frozenset()  # days it already had figures on


# What a stopped process shares with many others (interned): n, m, flags, days with figures,
# group, captured at E (stopped there), attrs
_Profile = tuple[
    int | None,
    int | None,
    frozenset[str],
    frozenset[int | None],
    str | None,
    bool,
    Attrs,
]
# A stopped process, folded: (last_t, seq, profile); kept packed in a GuidTable as
# (last_t, seq, the profile's index in Accountant.profile_list)
_Dead = tuple[int | None, int, _Profile]
_NO_FLAGS: frozenset[str] = frozenset()
_NO_DAYS: frozenset[int | None] = frozenset()
_FIELDS: tuple[str, ...] = tuple(Acc.__slots__)
_STOPPED_AT_END = ProcessOpening(False, None, None, Attrs())  # a folded process stopped at E


@dataclass(slots=True)
class _Task:
    unit: Unit
    name: str | None
    m: int | None
    since: int | None  # None: open since before the fetch
    open: bool
    last_t: int | None = None
    tentative: bool = False
    captured: bool = False
    closing: TaskOpening | None = None
    last_stop: int | None = None


_Final = tuple[bool | None, int | None, int | None, int | None]


class FinalStates(Mapping[str, _Final]):
    """Every process's replayed state at the end of the read: (running, n, m, last time).

    A view over the live processes and the folded stopped ones (no copy of either)."""

    def __init__(
        self, live: dict[str, _Final], dead: GuidTable, profiles: Sequence[_Profile]
    ) -> None:
        self._live = live
        self._dead = dead
        self._profiles = profiles

    def __getitem__(self, guid: str) -> _Final:
        found = self._live.get(guid)
        if found is not None:
            return found
        last_t, _seq, index = self._dead[guid]
        assert index is not None
        profile = self._profiles[index]
        return (False, profile[0], profile[1], last_t)

    def __iter__(self) -> Iterator[str]:
        yield from self._live
        yield from self._dead

    def __len__(self) -> int:
        return len(self._live) + len(self._dead)


@dataclass
class EngineResult:
    """Everything the rows and the meta are built from."""

    units: list[Unit]  # one per output group, figures of all its keys summed
    counters: dict[str, int]
    gaps: list[dict[str, Any]]
    peaks: dict[tuple[str | None, int | None], int]
    closing: Opening
    final_processes: Mapping[str, _Final]
    open_tasks: set[str]
    unseen_started: list[str]  # processes the snapshot shows started that had no event
    names: dict[str, dict[Any, str]]
    flag_counts: dict[str, int] = field(default_factory=dict)  # keys (processes/apps) per flag


def _get(event: Mapping[str, Any], outer: str, inner: str) -> Any:
    obj = event.get(outer)
    try:
        return obj.get(inner)  # type: ignore[union-attr]
    except AttributeError:  # null or not an object
        return None


CLOCK_OUTLIER = "_cfevents_clock_outlier"  # a bounded event's key: its created_at as CC gave it


def bound_clock(events: Iterable[Mapping[str, Any]], margin: int) -> Iterator[Mapping[str, Any]]:
    """The events in order, each one stamped more than ``margin`` seconds after the event
    that follows it in CC's (id) order re-stamped at that successor's time: CC's order is
    time order to within a transaction, so such a stamp is wrong (a clock a day ahead), and
    clamping the process's later events to it would bill until the window's end. The copy
    carries the original stamp under :data:`CLOCK_OUTLIER`; the engine flags its row."""
    pending: Mapping[str, Any] | None = None
    pending_t = 0
    for event in events:
        created = event.get("created_at")
        if created.__class__ is str:
            t = epoch(created)
            if pending is not None and pending_t > t + margin:
                pending = {**pending, "created_at": created, CLOCK_OUTLIER: pending["created_at"]}
            if pending is not None:
                yield pending
            pending, pending_t = event, t
        else:
            if pending is not None:
                yield pending
            pending, pending_t = event, 0
    if pending is not None:
        yield pending


class Accountant:
    """Feed events in CC list order, then ``finish()``.

    ``t0``, ``t1``, ``end`` are epoch seconds; ``end`` is E = min(T1, horizon). ``fetch_start``
    is where the event read began (T0 − margin): an inferred opening runs from there.
    """

    def __init__(
        self,
        t0: int,
        end: int,
        *,
        mode: str = "snapshot",
        opening: Opening | None = None,
        fetch_start: int | None = None,
        by: str = "app",
        daily: bool = False,
        reseed_in_window: str = "fail",
        cuts: Sequence[int] = (),
    ) -> None:
        _check_options(mode, by, reseed_in_window)
        if end < t0:
            end = t0
        self.t0 = t0
        self.end = end
        self.mode = mode
        self.by = by
        self.daily = daily
        self.reseed_policy = reseed_in_window
        # price changes: figures are also split there (Unit.parts); period i is
        # [cuts[i-1], cuts[i])
        self.cuts = tuple(sorted(set(cuts)))
        self.fetch_start = fetch_start if fetch_start is not None else t0
        self.opening = opening or Opening(source=mode, tentative=False)
        self.units: dict[str, Unit] = {}  # live keys
        self.groups: dict[str | None, Unit] = {}  # output groups
        self.flag_counts: dict[str, int] = {}
        self.seq = 0
        self.attrs_cache: dict[tuple[Any, ...], Attrs] = {}
        self.procs: dict[str, _Proc] = {}
        # stopped processes, folded: (last_t, seq, index in profile_list); the profiles
        # are interned (many stopped processes share one)
        self.dead = GuidTable(3)
        self.profiles: dict[tuple[Any, ...], int] = {}
        self.profile_list: list[_Profile] = []
        self.frozen: dict[frozenset[Any], frozenset[Any]] = {}  # the profiles' flags and days
        self.tasks: dict[str, _Task] = {}
        self.ended_tasks = GuidTable(1)  # finished tasks, folded: (their last time,)
        self.ended_task_closing: dict[str, TaskOpening] = {}  # ran at E, ended after it
        self.staging: dict[str, list[int]] = {}
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.first_reseed_in_window: int | None = None
        self.gaps: list[dict[str, Any]] = []
        self.last_event_guid: str | None = None
        # peaks: current level per group, best level per (group, day)
        self.level: dict[str | None, int] = {}
        self.peaks: dict[tuple[str | None, int | None], int] = {}
        self.batch_t: int | None = None
        self.touched: set[str | None] = set()
        self.next_point = t0  # the next boundary point (T0, then each UTC midnight) to evaluate
        # the reseed batch being read
        self.reseed_t: int | None = None
        self.reseed_members: set[str] = set()
        self.reseed_happened = False
        self.space_names: dict[Any, str] = {}
        self.app_names: dict[Any, str] = {}
        self.names: dict[str, dict[Any, str]] = {"space": self.space_names, "app": self.app_names}
        self.events_read = 0
        self._apps_by_guid: dict[str, Attrs] | None = None  # for rows that name no app
        self._load_opening()

    # --- setup -----------------------------------------------------------------------------

    def _group_of(self, kind: str, guid: str, attrs: Attrs) -> str | None:
        if self.by == "org":
            return attrs.org_guid
        if self.by == "space":
            return attrs.space_guid
        if self.by == "app":
            return attrs.app_guid
        return guid if kind == "process" else f"tasks:{attrs.app_guid}"

    def _unit(self, kind: str, guid: str, attrs: Attrs, dead: _Dead | None = None) -> Unit:
        key = f"{kind}:{guid}"
        unit = self.units.get(key)
        if unit is None:
            if dead is not None:
                group, seq, flags = dead[2][4], dead[1], set(dead[2][2])
            else:
                group, seq, flags = self._group_of(kind, guid, attrs), self.seq, set()
                self.seq += 1
            unit = Unit(kind, guid, attrs, group, flags, seq=seq)
            self.units[key] = unit
        return unit

    def _fold(
        self, unit: Unit, prior_flags: frozenset[str], prior_days: frozenset[int | None]
    ) -> tuple[frozenset[str], frozenset[int | None]]:
        """Add a key's figures and flags to its group; returns its flags and days so far."""
        group = self.groups.get(unit.group)
        days = prior_days | frozenset(unit.accs) if unit.accs else prior_days
        used = bool(days) or (bool(unit.flags) and not self.daily)
        if group is None:
            group = Unit(unit.kind, unit.guid, unit.attrs, unit.group, seq=unit.seq if used else -1)
            self.groups[unit.group] = group
        elif used and (group.seq < 0 or unit.seq < group.seq):
            group.kind, group.guid, group.attrs, group.seq = (
                unit.kind,
                unit.guid,
                unit.attrs,
                unit.seq,
            )
        for day in unit.accs if self.daily else ((None,) if used else ()):
            src = group.day_src.get(day)
            if src is None or unit.seq < src[0]:
                group.day_src[day] = (unit.seq, unit.kind, unit.guid, unit.attrs)
        for flag in unit.flags:
            if flag not in prior_flags:
                self.flag_counts[flag] = self.flag_counts.get(flag, 0) + 1
        for day, acc in unit.accs.items():
            into = group.acc(day)
            for name in _FIELDS:
                setattr(into, name, getattr(into, name) + getattr(acc, name))
        for key, part in unit.parts.items():
            sums = group.parts.setdefault(key, [0, 0, 0, 0])
            for i, value in enumerate(part):
                sums[i] += value
        unit.parts = {}
        if unit.flags:
            group.flags |= unit.flags
            for day in days if self.daily else (None,):
                group.day_flags.setdefault(day, set()).update(unit.flags)
        unit.accs = {}
        return (frozenset(unit.flags) if unit.flags else _NO_FLAGS), days

    def _retire(self, guid: str, proc: _Proc) -> None:
        """A stopped process: fold it into its group, keep only what later events need."""
        unit = proc.unit
        flags, days = self._fold(unit, proc.prior_flags, proc.prior_days)
        del self.units[f"process:{guid}"]
        del self.procs[guid]
        flags = self.frozen.setdefault(flags, flags)  # most profiles share their sets
        days = self.frozen.setdefault(days, days)
        key = (proc.n, proc.m, flags, days, unit.group, proc.closing is not None, id(unit.attrs))
        index = self.profiles.get(key)
        if index is None:
            index = self.profiles[key] = len(self.profile_list)
            self.profile_list.append(
                (proc.n, proc.m, flags, days, unit.group, proc.closing is not None, unit.attrs)
            )
        self.dead[guid] = (proc.last_t, unit.seq, index)

    def _load_opening(self) -> None:
        op = self.opening
        if self.mode not in ("snapshot", "file"):
            return
        for guid, p in op.processes.items():
            unit = self._unit("process", guid, p.attrs)
            proc = _Proc(
                unit,
                p.running,
                p.instances,
                p.memory_mb,
                self.fetch_start if op.tentative or p.since is None else p.since,
                tentative=op.tentative,
            )
            if op.tentative:
                proc.since = self.fetch_start
            self.procs[guid] = proc
            self._level_add(unit.group, self._contrib(proc))
        for guid, t in op.tasks.items():
            unit = self._unit("tasks", t.attrs.app_guid or "", t.attrs)
            since = t.since if t.since is not None and not op.tentative else None
            self.tasks[guid] = _Task(unit, t.name, t.memory_mb, since, True, tentative=op.tentative)
        self._note_names_attrs([p.attrs for p in op.processes.values()])
        self._note_names_attrs([t.attrs for t in op.tasks.values()])

    def _note_names_attrs(self, attrs_list: Iterable[Attrs]) -> None:
        for a in attrs_list:
            if a.space_guid and a.space_name:
                self.space_names[a.space_guid] = a.space_name
            if a.app_guid and a.app_name:
                self.app_names[a.app_guid] = a.app_name

    # --- helpers ---------------------------------------------------------------------------

    def _in_window(self, t: int) -> bool:
        return self.t0 <= t < self.end

    def _flag(self, unit: Unit, flag: str, t: int | None = None) -> None:
        """Flag a unit, unless the cause lies at or after E (outside the report)."""
        if t is None or t < self.end:
            unit.flags.add(flag)

    @staticmethod
    def _contrib(proc: _Proc) -> int:
        return proc.n or 0 if proc.running else 0

    def _level_add(self, group: str | None, delta: int) -> None:
        if delta:
            for g in (group, TOTAL):
                self.level[g] = self.level.get(g, 0) + delta
                self.touched.add(g)

    def _day(self, t: int) -> int | None:
        return t // DAY if self.daily else None

    def _accrue(self, unit: Unit, a: int, b: int, n: int | None, m: int | None) -> None:
        """A closed process segment [a, b) -> the unit's figures, clipped to [T0, E)."""
        lo = max(a, self.t0)
        hi = min(b, self.end)
        while lo < hi:
            stop = min(hi, (lo // DAY + 1) * DAY) if self.daily else hi
            if self.cuts:
                stop = self._split(unit, lo, stop, n or 0, (n or 0) * (m or 0), 0)
            o = stop - lo
            acc = unit.acc(self._day(lo))
            acc.running_seconds += o
            if n is not None:
                acc.instance_seconds += n * o
                if m is not None:
                    acc.memory_mb_seconds += n * m * o
                else:
                    acc.unknown_memory_instance_seconds += n * o
            lo = stop

    def _accrue_task(self, unit: Unit, a: int, b: int, m: int | None) -> None:
        lo = max(a, self.t0)
        hi = min(b, self.end)
        while lo < hi:
            stop = min(hi, (lo // DAY + 1) * DAY) if self.daily else hi
            if self.cuts:
                stop = self._split(unit, lo, stop, 1, m or 0, 2)
            o = stop - lo
            acc = unit.acc(self._day(lo))
            acc.task_seconds += o
            if m is not None:
                acc.task_memory_mb_seconds += m * o
            lo = stop

    def _split(self, unit: Unit, lo: int, stop: int, rate: int, mb_rate: int, at: int) -> int:
        """With price changes: cut ``[lo, stop)`` at the next change and add its seconds
        (``rate`` per second, ``mb_rate`` MB per second) to the period's part; the new stop."""
        period = bisect.bisect_right(self.cuts, lo)
        if period < len(self.cuts):
            stop = min(stop, self.cuts[period])
        part = unit.parts.get((self._day(lo), period))
        if part is None:
            part = unit.parts[(self._day(lo), period)] = [0, 0, 0, 0]
        part[at] += rate * (stop - lo)
        part[at + 1] += mb_rate * (stop - lo)
        return stop

    def _count(self, unit: Unit, t: int, name: str) -> None:
        if self._in_window(t):
            acc = unit.acc(self._day(t))
            setattr(acc, name, getattr(acc, name) + 1)

    def _close(self, proc: _Proc, t: int) -> None:
        if proc.running:
            self._accrue(proc.unit, proc.since, t, proc.n, proc.m)

    def _set(self, proc: _Proc, running: bool | None, n: int | None, m: int | None) -> None:
        before = self._contrib(proc)
        proc.running, proc.n, proc.m = running, n, m
        self._level_add(proc.unit.group, self._contrib(proc) - before)

    # --- peaks -----------------------------------------------------------------------------

    def _evaluate(self, t: int, groups: Iterable[str | None]) -> None:
        day = self._day(t)
        for g in groups:
            level = self.level.get(g, 0)
            key = (g, day)
            if level > self.peaks.get(key, -1):
                self.peaks[key] = level

    def _advance(self, t: int) -> None:
        """Evaluate every boundary point (T0, each midnight) before ``t`` at the current level."""
        while self.next_point < t and self.next_point < self.end:
            self._evaluate(self.next_point, list(self.level))
            self.next_point = (self.next_point // DAY + 1) * DAY if self.daily else self.end

    def _flush_batch(self) -> None:
        bt = self.batch_t
        if bt is not None and self._in_window(bt) and self.touched:
            self._evaluate(bt, self.touched)
        self.touched = set()

    def _correct_past(self, group: str | None, delta: int, t: int) -> None:
        """An opening learnt at ``t`` held at every point already evaluated before ``t``."""
        if not delta or self.next_point <= self.t0:
            return
        last = min(t, self.end) - 1
        if last < self.t0:
            return
        days: list[int | None] = (
            list(range(self.t0 // DAY, last // DAY + 1)) if self.daily else [None]
        )
        for g in (group, TOTAL):
            for day in days:
                self.peaks[(g, day)] = self.peaks.get((g, day), 0) + delta

    # --- the stream ------------------------------------------------------------------------

    def feed_all(self, events: Iterable[Mapping[str, Any]]) -> None:
        for event in events:
            self.feed(event)

    def feed(self, event: Mapping[str, Any]) -> None:
        """Apply one event (in CC list order)."""
        self.events_read += 1
        guid = event.get("guid")
        if guid is not None:
            self.last_event_guid = guid
        created = event.get("created_at")
        if created.__class__ is not str:
            self.counters["ignored_events"] += 1
            return
        t_raw = epoch(created)
        state_obj = event.get("state") or _EMPTY
        state = state_obj.get("current")
        pguid = (event.get("process") or _EMPTY).get("guid")
        if pguid is not None and not _get(event, "app", "guid"):
            event = self._with_app(event, pguid)
        reseed = state == "STARTED" and pguid is not None and guid == pguid
        if self.reseed_t is not None and not (reseed and t_raw == self.reseed_t):
            self._end_reseed_batch()
        space = event.get("space") or _EMPTY
        name = space.get("name")
        if name:
            self.space_names[space.get("guid")] = name
        app = event.get("app") or _EMPTY
        name = app.get("name")
        if name:
            self.app_names[app.get("guid")] = name
        if pguid is not None and state in PROCESS_STATES:
            self._process_event(event, pguid, state, state_obj, t_raw, reseed)
            proc = self.procs.get(pguid)
            if proc is not None and proc.unit.attrs.app_guid is None and app.get("guid"):
                self._adopt_app(pguid, proc, event)  # its first event was an old row
            if CLOCK_OUTLIER in event:  # stamped far ahead of its successor: time bounded
                self._outlier(proc, event)
            self._maybe_retire(pguid)
        elif pguid is None and state in ("STARTED", "STOPPED") and app.get("guid"):
            # no process guid (old rows): key by app and type, flagged (docs/accounting.md §2.2)
            key = f"{app.get('guid')}:{_get(event, 'process', 'type') or 'web'}"
            self._process_event(event, key, state, state_obj, t_raw, False)
            self._flag(self.procs[key].unit, "no_process_guid")
            self._maybe_retire(key)
        elif state in ("TASK_STARTED", "TASK_STOPPED") and _get(event, "task", "guid"):
            task_guid = str(_get(event, "task", "guid"))
            self._task_event(event, task_guid, state, t_raw)
            if CLOCK_OUTLIER in event:
                self._outlier(self.tasks.get(task_guid), event)
        elif state in ("STAGING_STARTED", "STAGING_STOPPED"):
            self._staging_event(event, state, t_raw)
        elif state == "BUILDPACK_SET":
            if self._in_window(t_raw):
                self.counters["buildpack_sets"] += 1
        else:
            self.counters["ignored_events"] += 1

    def _adopt_app(self, guid: str, proc: _Proc, event: Mapping[str, Any]) -> None:
        """A process first seen on an old row without an app (older CCs wrote those) belongs
        to the app its later events name: its usage so far moves there, not to a null app."""
        unit = proc.unit
        attrs = self._attrs(event)
        group = self._group_of(unit.kind, guid, attrs)
        if group != unit.group:
            running = self._contrib(proc)
            self._level_add(unit.group, -running)
            self._level_add(group, running)
        unit.attrs, unit.group = attrs, group

    def _outlier(self, owner: _Proc | _Task | None, event: Mapping[str, Any]) -> None:
        """An event stamped more than the margin after the event that follows it in CC's order
        (bounded to that successor's time by :func:`bound_clock`): flag its row."""
        self.counters["clock_outliers"] += 1
        if owner is not None:
            self._flag(owner.unit, "clock_outlier")

    def _with_app(self, event: Mapping[str, Any], pguid: str) -> Mapping[str, Any]:
        """An older CC's row names no app (its `app` guid and name are null, written before
        v3 added them): the opening snapshot says whose process it is, or, as an app's first
        web process has the app's guid, which app has that guid."""
        if self._apps_by_guid is None:
            self._apps_by_guid = {
                p.attrs.app_guid: p.attrs
                for p in self.opening.processes.values()
                if p.attrs.app_guid
            }
        known = self.opening.processes.get(pguid)
        attrs = known.attrs if known is not None else self._apps_by_guid.get(pguid)
        if attrs is None or not attrs.app_guid:
            return event
        return {**event, "app": {"guid": attrs.app_guid, "name": attrs.app_name}}

    def _attrs(self, event: Mapping[str, Any], with_type: bool = True) -> Attrs:
        """The event's grouping attributes; equal ones are one shared (never mutated) object."""
        key = (
            _get(event, "organization", "guid"),
            _get(event, "space", "guid"),
            _get(event, "space", "name"),
            _get(event, "app", "guid"),
            _get(event, "app", "name"),
            _get(event, "process", "type") if with_type else None,
        )
        found = self.attrs_cache.get(key)
        if found is None:
            found = self.attrs_cache[key] = Attrs(*key)
        return found

    def _maybe_retire(self, guid: str) -> None:
        proc = self.procs.get(guid)
        if (
            proc is not None
            and proc.running is False
            and proc.seen
            and not proc.tentative
            and (proc.closing is None or not proc.closing.running)
            and self.reseed_t is None  # a reseed batch being read still needs every process
        ):
            self._retire(guid, proc)

    def _batch(self, t: int) -> None:
        if t != self.batch_t:
            self._flush_batch()
            self._advance(t)
            self.batch_t = t

    def _clamp(self, last_t: int | None, t_raw: int) -> int:
        if last_t is not None and last_t > t_raw:
            self.counters["clock_skew_adjustments"] += 1
            self.counters["clock_skew_seconds"] += last_t - t_raw
            return last_t
        return t_raw

    def _capture(self, proc: _Proc, guid: str) -> None:
        if proc.closing is None:
            proc.closing = ProcessOpening(
                bool(proc.running),
                proc.n,
                proc.m,
                proc.unit.attrs,
                since=proc.since if proc.running else None,
                source=self.opening.source if not proc.seen else "events",
            )

    # --- processes -------------------------------------------------------------------------

    def _process_event(
        self,
        event: Mapping[str, Any],
        guid: str,
        state: str,
        state_obj: Mapping[str, Any],
        t_raw: int,
        reseed: bool,
    ) -> None:
        proc = self.procs.get(guid)
        if proc is None:
            proc = self._new_proc(event, guid)
        t = self._clamp(proc.last_t, t_raw)
        proc.last_t = t
        if self.mode == "file" and t < self.t0:
            return  # already in the state file's opening
        if t != self.batch_t:
            self._batch(t)
        unit = proc.unit
        prev_state = state_obj.get("previous")
        count = event.get("instance_count") or _EMPTY
        memory = event.get("memory_in_mb_per_instance") or _EMPTY
        prev_n, cur_n = count.get("previous"), count.get("current")
        prev_m, cur_m = memory.get("previous"), memory.get("current")

        if reseed:
            self._reseed(proc, guid, t, cur_n, cur_m)
            return

        if not proc.seen and self.mode in ("snapshot", "events"):
            self._infer_opening(proc, t, prev_state, prev_n, prev_m)
        proc.seen = True
        if t >= self.end:
            self._capture(proc, guid)  # the state at E: after the opening is known

        if state == "BUILDPACK_SET":
            self._buildpack_set(proc, t, prev_state)
            return

        if state == "STARTED":
            n = cur_n if cur_n is not None else prev_n if prev_n is not None else proc.n
            m = cur_m
            if m is None:
                m = prev_m if prev_m is not None else proc.m
                if m is not None:
                    self._flag(unit, "memory_carried_forward", t)
            if proc.running is None:
                if prev_state == "STARTED":
                    self._flag(unit, "unknown_start", t)
                else:
                    self._count(unit, t, "starts")
                proc.since = t
                self._set(proc, True, n, m)
            elif proc.running:
                self._chain_check(proc, guid, t, prev_state, prev_n, prev_m)
                self._close(proc, t)
                self._count(unit, t, "scales" if (n, m) != (proc.n, proc.m) else "noop_updates")
                proc.since = t
                self._set(proc, True, n, m)
            else:
                self._count(unit, t, "starts")
                proc.since = t
                self._set(proc, True, n, m)
            if n is None:
                self._flag(unit, "unknown_instances", t)
            if m is None:
                self._flag(unit, "unknown_memory", t)
        else:
            self._stopped(proc, guid, t, prev_state, prev_n, prev_m)

    def _new_proc(self, event: Mapping[str, Any], guid: str) -> _Proc:
        """A process not live now: stopped earlier (its folded profile), or first seen."""
        packed = self.dead.pop(guid, None)
        dead: _Dead | None = None
        if packed is not None:
            last_t, seq, index = packed
            assert seq is not None and index is not None
            dead = (last_t, seq, self.profile_list[index])
        unit = self._unit("process", guid, self._attrs(event) if dead is None else dead[2][6], dead)
        if dead is not None:
            profile = dead[2]
            proc = _Proc(unit, False, profile[0], profile[1], self.fetch_start, dead[0], True)
            proc.prior_flags, proc.prior_days = profile[2], profile[3]
            if profile[5]:
                proc.closing = _STOPPED_AT_END
        else:
            proc = _Proc(unit, False, None, None, self.fetch_start)
            proc.running = None if self.mode == "none" else False
        self.procs[guid] = proc
        return proc

    def _buildpack_set(self, proc: _Proc, t: int, prev_state: Any) -> None:
        if self._in_window(t):
            self.counters["buildpack_sets"] += 1
        if proc.running is not None and (prev_state == "STARTED") != proc.running:
            self._flag(proc.unit, "state_mismatch", t)

    def _stopped(
        self, proc: _Proc, guid: str, t: int, prev_state: Any, prev_n: Any, prev_m: Any
    ) -> None:
        """STOPPED: the segment closes (docs/accounting.md §2.4)."""
        unit = proc.unit
        if proc.running is None:
            if prev_state == "STARTED":
                self._flag(unit, "unknown_start", t)
                self._count(unit, t, "stops")
            self._set(proc, False, proc.n, proc.m)
        elif proc.running:
            self._chain_check(proc, guid, t, prev_state, prev_n, prev_m)
            self._close(proc, t)
            self._count(unit, t, "stops")
            self._set(proc, False, proc.n, proc.m)
        else:
            self._flag(unit, "stop_while_stopped", t)

    def _infer_opening(
        self, proc: _Proc, t: int, prev_state: Any, prev_n: Any, prev_m: Any
    ) -> None:
        """The first event's ``previous`` fields are the state since the fetch start (docs/accounting.md §2.3)."""
        before = self._contrib(proc)
        if prev_state == "STARTED":
            proc.since = min(self.fetch_start, t)
            self._set(proc, True, prev_n, prev_m)
            if t > self.t0:
                self._flag(proc.unit, "inferred_start", t)
                if prev_n is None:
                    self._flag(proc.unit, "unknown_instances", t)
                if prev_m is None:
                    self._flag(proc.unit, "unknown_memory", t)
        else:
            self._set(proc, False, proc.n, proc.m)
        proc.tentative = False
        self._correct_past(proc.unit.group, self._contrib(proc) - before, t)

    def _chain_check(
        self, proc: _Proc, guid: str, t: int, prev_state: Any, prev_n: Any, prev_m: Any
    ) -> None:
        mismatch = (
            (prev_state is not None and prev_state != "STARTED")
            or (prev_n is not None and proc.n is not None and prev_n != proc.n)
            or (prev_m is not None and proc.m is not None and prev_m != proc.m)
        )
        if not mismatch or t < self.t0:
            return
        self._flag(proc.unit, "chain_gap", t)
        if len(self.gaps) < MAX_GAP_RECORDS and t <= self.end:
            lo, hi = max(proc.since, self.t0), min(t, self.end)
            known = proc.n or 0
            other = prev_n if isinstance(prev_n, int) else known
            self.gaps.append(
                {
                    "process_guid": guid,
                    "from": iso(lo),
                    "to": iso(hi),
                    "known_instances": proc.n,
                    "previous_instances": prev_n,
                    "known_memory_mb": proc.m,
                    "previous_memory_mb": prev_m,
                    "instance_seconds_delta_if_at_start": (other - known) * max(0, hi - lo),
                }
            )
        self.counters["chain_gaps"] += 1

    def _reseed(self, proc: _Proc, guid: str, t: int, cur_n: Any, cur_m: Any) -> None:
        """A reseed's STARTED row (docs/accounting.md §2.5)."""
        if t >= self.end:
            self._capture(proc, guid)
        if self.reseed_t != t:
            self.reseed_t = t
            self.reseed_members = set()
            self.counters["reseed_batches"] += 1
            if self._in_window(t):
                self.counters["reseed_batches_in_window"] += 1
                if self.first_reseed_in_window is None:
                    self.first_reseed_in_window = t
                if self.reseed_policy == "fail":
                    raise IncompleteDataError(
                        f"a purge-and-reseed of the usage events at {iso(t)} lies inside the "
                        "window: the events before it are gone; use --opening FILE, a later "
                        "--since, or --allow-incomplete"
                    )
        self.reseed_happened = True
        self.reseed_members.add(guid)
        unit = proc.unit
        if self._in_window(t):
            self.counters["reseeds"] += 1
            acc = unit.acc(self._day(t))
            acc.reseeds += 1
        if not proc.seen and not (self.mode == "file" and proc.running):
            # the reseed's previous values are fabricated: no opening can be inferred, so
            # the process counts from the reseed on
            if proc.tentative:
                self._correct_past(unit.group, -self._contrib(proc), t)
                self._set(proc, False, proc.n, proc.m)
            if t > self.t0:
                self._flag(unit, "unknown_start", t)
        proc.seen = True
        proc.tentative = False
        self._close(proc, t)
        n = cur_n if cur_n is not None else proc.n
        m = cur_m if cur_m is not None else proc.m
        proc.since = t
        self._set(proc, True, n, m)

    def _end_reseed_batch(self) -> None:
        """Processes still running but absent from the batch stopped earlier (docs/accounting.md §2.5)."""
        t = self.reseed_t
        if t is None:
            return
        self.reseed_t = None
        for guid, proc in self.procs.items():
            if guid in self.reseed_members or not proc.running:
                continue
            if self.mode == "file" and t < self.t0:
                continue
            if t >= self.end:
                self._capture(proc, guid)
            self._close(proc, t)
            self._flag(proc.unit, "closed_by_reseed", t)
            proc.seen = True
            proc.tentative = False
            self._set(proc, False, proc.n, proc.m)
        for task in self.tasks.values():
            if task.open:
                self._flag(task.unit, "stop_unobservable", t)
        self.reseed_members = set()

    # --- tasks -----------------------------------------------------------------------------

    def _task_event(self, event: Mapping[str, Any], guid: str, state: str, t_raw: int) -> None:
        """TASK_STARTED opens the task's run, TASK_STOPPED closes it (docs/accounting.md §2.6)."""
        task = self.tasks.get(guid)
        if task is None and guid in self.ended_tasks:
            self._ended_task_event(event, guid, state, t_raw)
            return
        mem = _get(event, "memory_in_mb_per_instance", "current")
        if task is None:
            attrs = self._attrs(event, with_type=False)
            unit = self._unit("tasks", attrs.app_guid or "", attrs)
            task = self.tasks[guid] = _Task(unit, _get(event, "task", "name"), mem, None, False)
        t = self._clamp(task.last_t, t_raw)
        task.last_t = t
        if self.mode == "file" and t < self.t0:
            return
        if task.tentative and state == "TASK_STARTED":
            # the snapshot listed it RUNNING, but it started here, inside the fetch
            task.tentative = False
            task.open = False
        if t >= self.end and not task.captured:
            self._capture_task(task)
        unit = task.unit
        if state == "TASK_STARTED":
            if task.open or task.since is not None or task.last_stop is not None:
                self._flag(unit, "duplicate_task_start", t)
            else:
                task.open = True
                task.since = t
                task.m = mem
                self._count(unit, t, "task_runs")
            return
        # TASK_STOPPED
        prev = _get(event, "state", "previous")
        m = mem if mem is not None else task.m
        if task.open:
            start = task.since if task.since is not None else self.fetch_start
            if task.since is None:
                self._flag(unit, "running_at_start", t)
            self._accrue_task(unit, start, t, m)
            task.open = False
            task.tentative = False
            task.last_stop = t
        elif task.last_stop is not None:
            self._flag(unit, "duplicate_task_stop", t)
        elif prev in RUNNING_TASK_STATES:
            self._flag(unit, "running_at_start", t)
            self._accrue_task(unit, self.fetch_start, t, m)
            task.last_stop = t
        else:
            if self._in_window(t):
                self.counters["tasks_stopped_without_start"] += 1
            task.last_stop = t
        # ended: keep only its last time (and its closing, if it ran at E)
        del self.tasks[guid]
        self.ended_tasks[guid] = (t,)
        if task.closing is not None:
            self._flag(unit, "open_at_end")
            self.ended_task_closing[guid] = task.closing

    def _ended_task_event(
        self, event: Mapping[str, Any], guid: str, state: str, t_raw: int
    ) -> None:
        """An event of a task that ended earlier: a duplicate."""
        t = self._clamp(self.ended_tasks[guid][0], t_raw)
        self.ended_tasks[guid] = (t,)
        if self.mode == "file" and t < self.t0:
            return
        attrs = self._attrs(event, with_type=False)
        unit = self._unit("tasks", attrs.app_guid or "", attrs)
        duplicate = "duplicate_task_start" if state == "TASK_STARTED" else "duplicate_task_stop"
        self._flag(unit, duplicate, t)

    def _capture_task(self, task: _Task) -> None:
        task.captured = True
        if task.open:
            task.closing = TaskOpening(task.m, task.unit.attrs, task.since, task.name)

    # --- staging ---------------------------------------------------------------------------

    def _staging_event(self, event: Mapping[str, Any], state: str, t: int) -> None:
        app = str(_get(event, "app", "guid") or "")
        queue = self.staging.setdefault(app, [])
        if state == "STAGING_STARTED":
            queue.append(t)
            return
        if queue:
            start = queue.pop(0)
            lo, hi = max(start, self.t0), min(t, self.end)
            if hi > lo:
                self.counters["staging_seconds"] += hi - lo
            if self._in_window(t):
                self.counters["staging_builds"] += 1
        elif self._in_window(t):
            self.counters["staging_stops_without_start"] += 1
        if not queue:
            del self.staging[app]

    # --- the end ---------------------------------------------------------------------------

    def finish(self) -> EngineResult:
        """Close open segments at E, evaluate the last peaks, capture the closing state."""
        self._end_reseed_batch()
        self._flush_batch()
        self._advance(self.end)
        end = self.end
        closing = Opening(
            source="file",
            tentative=False,
            as_of=end,
            foundation=self.opening.foundation,
            last_event_guid=self.last_event_guid,
        )
        final, unseen_started = self._finish_processes(closing)
        open_tasks = self._finish_tasks(closing)
        self._fold_live()
        groups = sorted(self.groups.values(), key=lambda g: g.seq if g.seq >= 0 else 1 << 62)
        self._final_counters(groups)
        return EngineResult(
            units=groups,
            counters=dict(self.counters),
            gaps=list(self.gaps),
            peaks=dict(self.peaks),
            closing=closing,
            final_processes=FinalStates(final, self.dead, self.profile_list),
            open_tasks=open_tasks,
            unseen_started=unseen_started,
            names=self.names,
            flag_counts=dict(self.flag_counts),
        )

    def _finish_processes(self, closing: Opening) -> tuple[dict[str, _Final], list[str]]:
        """Segments open at E accrue up to E; the processes running at E go into the closing
        state. Returns each process's final state and the started ones no event named."""
        end = self.end
        final: dict[str, _Final] = {}
        unseen_started: list[str] = []
        for guid, proc in self.procs.items():
            final[guid] = (proc.running, proc.n, proc.m, proc.last_t)
            if proc.closing is None:
                self._capture(proc, guid)
                # still in its segment at E: accrue up to E now
                if proc.running:
                    self._accrue(proc.unit, proc.since, end, proc.n, proc.m)
                    self._flag(proc.unit, "open_at_end")
            else:
                # its segment spanning E was closed later by an event; it was open at E
                if proc.closing.running and proc.closing.since is not None:
                    self._flag(proc.unit, "open_at_end")
            assert proc.closing is not None
            if proc.closing.running:
                closing.processes[guid] = proc.closing
            if not proc.seen and proc.running:
                unseen_started.append(guid)
        return final, unseen_started

    def _finish_tasks(self, closing: Opening) -> set[str]:
        """Tasks still running at E accrue up to E and go into the closing state; returns
        the ones still open."""
        end = self.end
        open_tasks: set[str] = set()
        for guid, task in self.tasks.items():
            if task.open:
                open_tasks.add(guid)
            if not task.captured:
                self._capture_task(task)
                if task.open:
                    start = task.since if task.since is not None else self.fetch_start
                    self._accrue_task(task.unit, start, end, task.m)
                    self._flag(task.unit, "open_at_end")
                    if task.since is None:
                        self._flag(task.unit, "running_at_start")
                    elif end - task.since > RETENTION:
                        # its TASK_STARTED row is pruned: CC will never write its stop (docs/accounting.md §1.2)
                        self._flag(task.unit, "stop_unobservable")
            elif task.closing is not None:
                self._flag(task.unit, "open_at_end")
            if task.closing is not None:
                closing.tasks[guid] = task.closing
        closing.tasks.update(self.ended_task_closing)
        return open_tasks

    def _fold_live(self) -> None:
        """Every key still live folds into its group."""
        for key, unit in list(self.units.items()):
            live = self.procs.get(key[len("process:") :]) if unit.kind == "process" else None
            if live is not None:
                self._fold(unit, live.prior_flags, live.prior_days)
            else:
                self._fold(unit, _NO_FLAGS, _NO_DAYS)

    def _final_counters(self, groups: list[Unit]) -> None:
        self.counters["events_read"] = self.events_read
        self.counters["unmatched_staging_starts"] = sum(
            1 for queue in self.staging.values() for start in queue if start < self.end
        )
        for name in ("noop_updates", "unknown_memory_instance_seconds"):
            self.counters[name] = sum(
                getattr(acc, name) for unit in groups for acc in unit.accs.values()
            )
