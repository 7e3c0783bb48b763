"""Parse the time values users type (``7d``, ``2024-05-01``, RFC 3339) into what CC accepts.

Cloud Controller only accepts ``YYYY-MM-DDThh:mm:ssZ`` (UTC, whole seconds); anything else is a
422/400. So every value is converted to UTC and its fractional seconds are dropped.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

CC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_RELATIVE = re.compile(r"^(?:\d+[smhdw])+$")
_RELATIVE_PART = re.compile(r"(\d+)([smhdw])")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:?\d{2})$"
)

TIME_HELP = (
    "RFC 3339 with Z or an offset (2024-05-01T12:00:00Z, 2024-05-01T14:00:00+02:00), "
    "a date (2024-05-01 = midnight UTC), an age (90s, 30m, 24h, 7d, 2w, 1h30m) or 'now'"
)


# The longest duration anyone can mean (about 10 000 years); longer is a typo, not a query.
MAX_DURATION = timedelta(days=3_660_000)


class TimeParseError(ValueError):
    """The value is not a time cfevents understands."""


def parse_duration(value: str) -> timedelta:
    """Parse ``90s``, ``30m``, ``24h``, ``7d``, ``2w`` or a sum such as ``1h30m``."""
    text = value.strip().lower()
    if not _RELATIVE.match(text):
        raise TimeParseError(f"{value!r} is not a duration (examples: 90s, 30m, 24h, 7d, 2w)")
    seconds = sum(int(n) * _UNITS[u] for n, u in _RELATIVE_PART.findall(text))
    if seconds > MAX_DURATION.total_seconds():
        raise TimeParseError(f"{value!r} is out of range (at most {MAX_DURATION.days}d)")
    return timedelta(seconds=seconds)


def parse_time(value: str, now: datetime) -> datetime:
    """Return the UTC instant ``value`` names, truncated to the whole second.

    ``now`` must be timezone-aware; relative ages are counted back from it.
    """
    text = value.strip()
    if not text:
        raise TimeParseError("empty time value")
    lowered = text.lower()
    if lowered == "now":
        moment = now
    elif _RELATIVE.match(lowered):
        try:
            moment = now - parse_duration(lowered)
        except OverflowError:
            raise TimeParseError(f"{value!r} reaches back before the year 1") from None
    elif _DATE.match(text):
        moment = _fromiso(text + "T00:00:00+00:00", value)
    elif _RFC3339.match(text):
        moment = _fromiso(text, value)
    elif re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$", text):
        raise TimeParseError(
            f"{value!r} has no time zone: add Z for UTC or an offset such as +02:00"
        )
    else:
        raise TimeParseError(f"cannot read {value!r} as a time; use {TIME_HELP}")
    try:
        return moment.astimezone(UTC).replace(microsecond=0)
    except OverflowError:
        raise TimeParseError(
            f"{value!r} is outside the years 1 to 9999 once converted to UTC"
        ) from None


def _fromiso(text: str, original: str) -> datetime:
    normalised = text.replace("t", "T").replace("z", "Z").replace(" ", "T", 1)
    try:
        parsed = datetime.fromisoformat(normalised)
    except ValueError as exc:
        raise TimeParseError(f"{original!r} is not a valid date/time ({exc})") from None
    if parsed.tzinfo is None:  # pragma: no cover - the patterns above always carry a zone
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def format_cc(moment: datetime) -> str:
    """Format a UTC instant the only way CC accepts: ``YYYY-MM-DDThh:mm:ssZ``.

    The year always has four digits (``0500-01-01T00:00:00Z``): ``strftime("%Y")`` does not
    pad years below 1000 on every platform.
    """
    utc = moment.astimezone(UTC)
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}Z"


def cc_epoch(text: Any) -> float | None:
    """A Cloud Controller timestamp as epoch seconds; None when it is missing or unreadable
    (server text is data: a bad ``created_at`` never raises)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("z", "Z")).timestamp()
    except ValueError:
        return None


def utcnow() -> datetime:
    """The current time, timezone-aware (one call per command invocation)."""
    return datetime.now(UTC)
