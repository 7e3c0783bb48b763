"""Crash loops, pure: N crashes of one app within a period, as start / repeat / resolved records.

The model is Kubernetes' ``CrashLoopBackOff`` (a state, not a stream of restarts) with
Alertmanager's notifications: one record when an app starts looping, a reminder at most every
``repeat`` while it goes on crashing, and one record once it has been quiet for
``resolve_after``. :class:`LoopDetector` is fed crash records (:func:`LoopDetector.observe`)
and told how far time has moved (:func:`LoopDetector.advance`); time only ever comes from the
crashes' ``created_at`` and from the caller (the API's clock), never from the local clock, so
the same crashes give the same records however often they are polled.

Rules (README "Crash loops"):

- an app **starts** looping when, counting the crash just seen, ``count`` of its crashes are
  at most ``period`` apart (first to last); the start record's time is that crash's;
- while it loops, a crash at least ``repeat`` after the last start or reminder is a **repeat**
  (a reminder needs a crash: an app that stops crashing is not reminded about);
- a looping app with no crash for ``resolve_after`` (default: the period) is **resolved**; the
  record's time is its last crash plus ``resolve_after``, whenever the poll noticed it;
- each record carries the loop's crash count so far, its first and last crash and the last
  crash's reason, exit status and exit description (the *why*).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cfevents.errors import UsageError
from cfevents.timeparse import TimeParseError, cc_epoch, format_cc, parse_duration

Event = dict[str, Any]

LOOP_STATES = ("start", "repeat", "resolved")
DEFAULT_REPEAT = timedelta(hours=1)
MAX_COUNT = 10_000
MAX_PERIOD = timedelta(days=7)
# CC stamps created_at when its transaction starts: a crash can show up a little after it.
SETTLE_S = 5.0
_LOOP = re.compile(r"^\s*(\d+)\s*/\s*(\S+)\s*$")


@dataclass(frozen=True)
class LoopRule:
    """When an app is looping: ``count`` crashes within ``period``; how often to remind
    (``repeat``) and how long a quiet spell resolves it (``resolve_after``, default the period)."""

    count: int
    period: timedelta
    repeat: timedelta = DEFAULT_REPEAT
    resolve_after: timedelta | None = None

    @property
    def quiet(self) -> timedelta:
        return self.resolve_after if self.resolve_after is not None else self.period

    def __str__(self) -> str:
        return f"{self.count}/{_duration_text(self.period)}"


def _duration_text(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _duration(param: str, text: str, low: timedelta, high: timedelta) -> timedelta:
    try:
        span = parse_duration(text)
    except TimeParseError as exc:
        raise UsageError(str(exc), param=param) from None
    if not low <= span <= high:
        raise UsageError(
            f"{text!r} is out of range ({_duration_text(low)} to {_duration_text(high)})",
            param=param,
        )
    return span


def parse_loop(text: str, repeat: str | None = None, resolve_after: str | None = None) -> LoopRule:
    """``--loop N/PERIOD`` (e.g. ``5/10m``), ``--repeat`` and ``--resolve-after`` as a rule.

    Raises:
        UsageError: not ``N/PERIOD``, N outside 2..10000, or a duration out of range.
    """
    match = _LOOP.match(text)
    if match is None:
        raise UsageError(
            f"{text!r} is not N/PERIOD (e.g. 5/10m: 5 crashes within 10m)", param="loop"
        )
    count = int(match.group(1))
    if not 2 <= count <= MAX_COUNT:
        raise UsageError(f"{count} crashes is out of range (2 to {MAX_COUNT})", param="loop")
    period = _duration("loop", match.group(2), timedelta(seconds=1), MAX_PERIOD)
    rule = LoopRule(count, period)
    if repeat is not None:
        rule = LoopRule(
            count, period, _duration("repeat", repeat, timedelta(seconds=1), MAX_PERIOD)
        )
    if resolve_after is not None:
        quiet = _duration("resolve_after", resolve_after, timedelta(seconds=1), MAX_PERIOD)
        rule = LoopRule(rule.count, rule.period, rule.repeat, quiet)
    return rule


def _stamp(epoch: float) -> str:
    return format_cc(datetime.fromtimestamp(epoch, UTC))


@dataclass
class _App:
    """One app's recent crashes and loop state."""

    times: list[float] = field(default_factory=list)  # crash times within the period, sorted
    last: float = float("-inf")  # the newest crash
    crash: Event = field(default_factory=dict)  # the newest crash record
    looping: bool = False
    first: float = 0.0  # the loop's first crash
    notified: float = 0.0  # the last start or repeat
    crashes: int = 0  # crashes in this loop so far


def app_key(crash: Event) -> Any:
    """An app's identity: its GUID, else its name within its space."""
    app = crash.get("app") or {}
    space = crash.get("space") or {}
    return app.get("guid") or ("name", app.get("name"), space.get("guid"))


class LoopDetector:
    """Crash loops per app (see the module docstring); memory grows with apps seen lately."""

    def __init__(self, rule: LoopRule) -> None:
        self.rule = rule
        self._apps: dict[Any, _App] = {}

    def observe(self, crash: Event) -> list[Event]:
        """Feed one crash; the loop records it causes (a resolution of an earlier loop of the
        same app first, when it had been quiet long enough before this crash)."""
        when = cc_epoch(crash.get("created_at"))
        if when is None:
            return []
        key = app_key(crash)
        app = self._apps.setdefault(key, _App())
        out = self._resolve(key, app, when)
        app = self._apps.setdefault(key, app)  # a long-quiet app was forgotten: start afresh
        period = self.rule.period.total_seconds()
        bisect.insort(app.times, when)
        if when >= app.last:
            app.last, app.crash = when, crash
        newest = app.times[-1]
        del app.times[: bisect.bisect_left(app.times, newest - period)]
        if app.looping:
            app.crashes += 1
            if when - app.notified >= self.rule.repeat.total_seconds():
                app.notified = when
                out.append(self._record("repeat", app, when))
        elif len(app.times) >= self.rule.count:
            app.looping, app.first, app.notified = True, app.times[0], when
            app.crashes = len(app.times)
            out.append(self._record("start", app, when))
        return out

    def advance(self, now: datetime | float) -> list[Event]:
        """Time has reached ``now`` (the API's clock, with every crash up to it seen): the
        resolutions due, oldest first. Apps quiet for longer than the period are forgotten."""
        moment = now.timestamp() if isinstance(now, datetime) else now
        out: list[Event] = []
        for key, app in sorted(self._apps.items(), key=lambda kv: kv[1].last):
            out += self._resolve(key, app, moment)
        return out

    def settle(self, server_time: float | None) -> list[Event]:
        """After a poll: the resolutions due by the API's clock (``server_time``, POSIX
        seconds; None when the API sent no ``Date``), less :data:`SETTLE_S` for crashes CC
        commits a little after their ``created_at``."""
        return [] if server_time is None else self.advance(server_time - SETTLE_S)

    def _resolve(self, key: Any, app: _App, now: float) -> list[Event]:
        quiet = self.rule.quiet.total_seconds()
        out: list[Event] = []
        if app.looping and now - app.last >= quiet:
            out.append(self._record("resolved", app, app.last + quiet))
            app.looping = False
            app.times.clear()
        if not app.looping and now - app.last > max(quiet, self.rule.period.total_seconds()):
            del self._apps[key]
        return out

    def _record(self, state: str, app: _App, at: float) -> Event:
        crash = app.crash
        return {
            "state": state,
            "at": _stamp(at),
            "organization": dict(crash.get("organization") or {}),
            "space": dict(crash.get("space") or {}),
            "app": dict(crash.get("app") or {}),
            "rule": str(self.rule),
            "crashes": app.crashes,
            "first_crash": _stamp(app.first),
            "last_crash": _stamp(app.last),
            "last_reason": crash.get("reason"),
            "last_exit_status": crash.get("exit_status"),
            "last_exit_description": crash.get("exit_description"),
        }


def is_loop(record: Event) -> bool:
    """Whether a record of ``follow_crashes`` is a loop record (else it is a crash)."""
    return record.get("state") in LOOP_STATES and "rule" in record
