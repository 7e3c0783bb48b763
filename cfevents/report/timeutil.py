"""Whole-second UTC instants as integers, the unit of every figure the report computes."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from typing import Any

DAY = 86400


_last: list[Any] = ["", 0]  # consecutive events often share their second


def epoch(text: str) -> int:
    """``2024-05-01T01:00:00Z`` (CC's only format) or any RFC 3339 value -> epoch seconds."""
    if text == _last[0]:
        return int(_last[1])
    value = _epoch(text)
    _last[0], _last[1] = text, value
    return value


_days: dict[str, int] = {}


def _epoch(text: str) -> int:
    if len(text) == 20 and text[19] == "Z" and text[10] == "T":
        day = _days.get(text[:10])
        if day is None:
            if len(_days) > 4096:
                _days.clear()
            day = _days[text[:10]] = calendar.timegm(
                (int(text[0:4]), int(text[5:7]), int(text[8:10]), 0, 0, 0, 0, 0, 0)
            )
        return day + int(text[11:13]) * 3600 + int(text[14:16]) * 60 + int(text[17:19])
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def to_epoch(moment: datetime) -> int:
    """A timezone-aware datetime -> epoch seconds (fractions dropped)."""
    if moment.tzinfo is None:
        raise ValueError("report times must be timezone-aware (UTC)")
    return int(moment.timestamp())


def iso(seconds: int) -> str:
    """Epoch seconds -> ``YYYY-MM-DDThh:mm:ssZ``."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day_label(day: int) -> str:
    """A UTC day index (epoch seconds // 86400) -> ``YYYY-MM-DD``."""
    return datetime.fromtimestamp(day * DAY, UTC).strftime("%Y-%m-%d")


def next_month(moment: datetime) -> datetime:
    """The first instant of the calendar month after ``moment``'s (UTC)."""
    moment = moment.astimezone(UTC)
    return datetime(moment.year + (moment.month == 12), moment.month % 12 + 1, 1, tzinfo=UTC)
