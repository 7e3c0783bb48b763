"""Every bound on a number or a duration, once, for the library and every command alike.

``interval`` (time between ``follow`` polls), ``min_age`` (how old an event must be before an
export or a report counts it), ``per_page`` (events per request) and ``limit`` (results shown).
Errors name the Python parameter (``per_page: ...``); the CLI names the flag.
"""

from __future__ import annotations

import math
from datetime import timedelta

from cfevents.errors import UsageError

MIN_INTERVAL_S = 5.0  # follow polls no more often than this: CC is shared
MAX_INTERVAL_S = 86400.0  # follow polls at least daily (and time.sleep cannot take 1e12 s)
MAX_MIN_AGE = timedelta(days=3650)  # ten years; longer would reach back before the year 1
MAX_LIMIT = 1_000_000_000  # more than any foundation keeps; beyond it, every result was meant


def duration(value: str | timedelta | float, *, param: str) -> timedelta:
    """A duration given as text (``"90s"``, ``"5m"``), a timedelta, or seconds."""
    from cfevents.timeparse import TimeParseError, parse_duration

    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise UsageError(f"{value!r} is not a duration", param=param)
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise UsageError(f"{value!r} is not a duration", param=param)
        return timedelta(seconds=value)
    try:
        return parse_duration(value)
    except TimeParseError as exc:
        raise UsageError(str(exc), param=param) from None


def check_interval(value: str | timedelta | float, *, param: str = "interval") -> float:
    """Seconds between polls: at least MIN_INTERVAL_S, at most a day."""
    seconds = duration(value, param=param).total_seconds()
    if not seconds <= MAX_INTERVAL_S:
        raise UsageError(f"{value!r} is out of range (at most 1d)", param=param)
    if seconds < MIN_INTERVAL_S:
        raise UsageError(
            f"{value!r} is too short (at least {MIN_INTERVAL_S:g}s: every poll costs the "
            "shared Cloud Controller a query)",
            param=param,
        )
    return seconds


def check_min_age(
    value: str | timedelta | float | None, *, param: str = "min_age"
) -> timedelta | None:
    """How old an event must be before it counts: 0 to ten years (None stays None)."""
    if value is None:
        return None
    age = duration(value, param=param)
    if age < timedelta(0) or age > MAX_MIN_AGE:
        raise UsageError(f"{value!r} is out of range (0 to {MAX_MIN_AGE.days}d)", param=param)
    return age


def check_per_page(
    per_page: int | None, top: int, endpoint: str, *, param: str = "per_page"
) -> None:
    """``per_page`` within ``1..top`` for ``endpoint`` (None: the caller picks)."""
    if per_page is None:
        return
    if isinstance(per_page, bool) or not isinstance(per_page, int) or not 1 <= per_page <= top:
        raise UsageError(
            f"`{param}` must be between 1 and {top} for {endpoint} (got {per_page!r})", param=param
        )


def check_limit(limit: int | None, *, param: str = "limit") -> int | None:
    """``limit`` within ``1..MAX_LIMIT`` (None: every result)."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise UsageError(
            f"{limit!r} is out of range (1 to {MAX_LIMIT:,}; or no limit at all)", param=param
        )
    return limit
