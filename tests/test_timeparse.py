from datetime import UTC, datetime, timedelta

import pytest

from cfevents.timeparse import TimeParseError, format_cc, parse_duration, parse_time

NOW = datetime(2024, 5, 10, 12, 30, 45, 678901, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", "2024-05-10T12:30:45Z"),
        ("NOW", "2024-05-10T12:30:45Z"),
        ("90s", "2024-05-10T12:29:15Z"),
        ("30m", "2024-05-10T12:00:45Z"),
        ("24h", "2024-05-09T12:30:45Z"),
        ("7d", "2024-05-03T12:30:45Z"),
        ("2w", "2024-04-26T12:30:45Z"),
        ("1h30m", "2024-05-10T11:00:45Z"),
        ("2024-05-01", "2024-05-01T00:00:00Z"),
        ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z"),
        ("2024-05-01t10:00:00z", "2024-05-01T10:00:00Z"),
        ("2024-05-01 10:00:00Z", "2024-05-01T10:00:00Z"),
        ("2024-05-01T10:00:00.999999Z", "2024-05-01T10:00:00Z"),
        ("2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00Z"),
        ("2024-05-01T00:30:00-04:00", "2024-05-01T04:30:00Z"),
        ("2024-05-01T12:00:00.5+0200", "2024-05-01T10:00:00Z"),
        ("2024-12-31T23:59:59.9-01:00", "2025-01-01T00:59:59Z"),
    ],
)
def test_parse_time_sends_only_whole_second_utc_z(text, expected):
    assert format_cc(parse_time(text, NOW)) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("yesterday", "cannot read"),
        ("", "empty"),
        ("7x", "cannot read"),
        ("2024-05-01T10:00:00", "no time zone"),
        ("2024-05-01 10:00", "no time zone"),
        ("2024-13-01", "not a valid date"),
        ("2024-02-30T00:00:00Z", "not a valid date"),
        ("1716300000", "cannot read"),
        ("-7d", "cannot read"),
    ],
)
def test_parse_time_rejects_with_reason(text, fragment):
    with pytest.raises(TimeParseError, match=fragment):
        parse_time(text, NOW)


def test_parse_duration():
    assert parse_duration("1w2d3h4m5s") == timedelta(days=9, hours=3, minutes=4, seconds=5)
    with pytest.raises(TimeParseError):
        parse_duration("soon")


def test_format_cc_converts_to_utc():
    from datetime import timezone

    tz = timezone(timedelta(hours=5))
    assert format_cc(datetime(2024, 1, 1, 5, 0, 0, tzinfo=tz)) == "2024-01-01T00:00:00Z"
