"""Crash loop detection (cfevents.events.loops), table-tested: start, repeat, resolved."""

from datetime import UTC, datetime, timedelta

import pytest

from cfevents.errors import UsageError
from cfevents.events.loops import LoopDetector, LoopRule, is_loop, parse_loop

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def crash(minute: float, app: str = "a", description: str = "Exited with status 137") -> dict:
    at = T0 + timedelta(minutes=minute)
    return {
        "created_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "app": {"guid": app, "name": f"app-{app}"},
        "space": {"guid": "s", "name": "prod"},
        "organization": {"guid": "o", "name": "acme"},
        "reason": "CRASHED",
        "exit_status": 137,
        "exit_description": description,
    }


def run(rule: LoopRule, minutes, until: float | None = None, app_of=lambda m: "a"):
    """Feed crashes at ``minutes``, advancing time to each crash (as polls would) and at the
    end to ``until``; returns (state, minute) of each record."""
    detector = LoopDetector(rule)
    out = []
    for m in minutes:
        out += detector.advance(T0 + timedelta(minutes=m))
        out += detector.observe(crash(m, app_of(m)))
    if until is not None:
        out += detector.advance(T0 + timedelta(minutes=until))
    return [(r["state"], (datetime.fromisoformat(r["at"]) - T0).total_seconds() / 60) for r in out]


RULE = LoopRule(3, timedelta(minutes=10), repeat=timedelta(minutes=30))


@pytest.mark.parametrize(
    ("minutes", "until", "expected"),
    [
        # two crashes: no loop, nothing
        ([0, 5], 100, []),
        # three within 10 minutes: one start at the third, resolved 10 quiet minutes after it
        ([0, 4, 8], 100, [("start", 8), ("resolved", 18)]),
        # three, but spread over more than 10 minutes: no loop
        ([0, 6, 12, 18, 24], 100, []),
        # exactly 10 minutes first to last counts
        ([0, 5, 10], 100, [("start", 10), ("resolved", 20)]),
        # a loop that goes on: reminders at most every 30 minutes, on a crash
        (
            [0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60, 64, 68, 72],
            200,
            [("start", 8), ("repeat", 40), ("repeat", 72), ("resolved", 82)],
        ),
        # not yet quiet long enough when time stops: no resolved
        ([0, 4, 8], 17, [("start", 8)]),
        # resolved, then a new loop later: a second start
        (
            [0, 2, 4, 50, 52, 54],
            100,
            [("start", 4), ("resolved", 14), ("start", 54), ("resolved", 64)],
        ),
    ],
)
def test_loop_rules(minutes, until, expected):
    assert run(RULE, minutes, until) == expected


def test_a_crash_after_the_quiet_period_resolves_first_then_counts_afresh():
    # no poll advanced time in between: the crash at 30 resolves the loop (at 14) itself
    detector = LoopDetector(RULE)
    states = []
    for m in (0, 2, 4, 30):
        states += [(r["state"], r["at"]) for r in detector.observe(crash(m))]
    assert states == [("start", "2030-01-01T00:04:00Z"), ("resolved", "2030-01-01T00:14:00Z")]


def test_apps_are_independent_and_a_single_crash_is_nothing():
    apps = {0: "a", 1: "b", 2: "a", 3: "a"}
    detector = LoopDetector(RULE)
    out = []
    for m, app in apps.items():
        out += detector.observe(crash(m, app))
    out += detector.advance(T0 + timedelta(hours=1))
    assert [(r["state"], r["app"]["guid"]) for r in out] == [("start", "a"), ("resolved", "a")]


def test_resolve_after_and_the_record_shape():
    rule = LoopRule(2, timedelta(minutes=5), resolve_after=timedelta(minutes=1))
    detector = LoopDetector(rule)
    detector.observe(crash(0))
    start = detector.observe(
        crash(1, description="APP/PROC/WEB: Exited with status 137 (out of memory)")
    )[0]
    assert is_loop(start) and not is_loop(crash(0))
    assert start == {
        "state": "start",
        "at": "2030-01-01T00:01:00Z",
        "organization": {"guid": "o", "name": "acme"},
        "space": {"guid": "s", "name": "prod"},
        "app": {"guid": "a", "name": "app-a"},
        "rule": "2/5m",
        "crashes": 2,
        "first_crash": "2030-01-01T00:00:00Z",
        "last_crash": "2030-01-01T00:01:00Z",
        "last_reason": "CRASHED",
        "last_exit_status": 137,
        "last_exit_description": "APP/PROC/WEB: Exited with status 137 (out of memory)",
    }
    resolved = detector.advance(T0 + timedelta(minutes=2))
    assert [(r["state"], r["at"], r["crashes"]) for r in resolved] == [
        ("resolved", "2030-01-01T00:02:00Z", 2)
    ]


def test_late_crash_out_of_order_still_counts():
    detector = LoopDetector(RULE)
    out = []
    for m in (0, 8, 4):  # the crash at 4 arrives last (committed late)
        out += detector.observe(crash(m))
    assert [r["state"] for r in out] == ["start"]
    assert out[0]["first_crash"] == "2030-01-01T00:00:00Z"
    assert out[0]["last_crash"] == "2030-01-01T00:08:00Z"


@pytest.mark.parametrize(
    ("text", "repeat", "quiet", "expected"),
    [
        ("5/10m", None, None, LoopRule(5, timedelta(minutes=10))),
        (
            " 3 / 1h ",
            "15m",
            "5m",
            LoopRule(3, timedelta(hours=1), timedelta(minutes=15), timedelta(minutes=5)),
        ),
    ],
)
def test_parse_loop(text, repeat, quiet, expected):
    assert parse_loop(text, repeat, quiet) == expected
    assert str(expected) in ("5/10m", "3/1h")


@pytest.mark.parametrize(
    ("text", "repeat", "quiet", "word"),
    [
        ("5", None, None, "N/PERIOD"),
        ("1/10m", None, None, "out of range"),
        ("5/10x", None, None, "^loop: "),
        ("5/30d", None, None, "out of range"),
        ("5/10m", "0s", None, "^repeat: "),
        ("5/10m", None, "soon", "^resolve_after: "),
    ],
)
def test_parse_loop_refuses(text, repeat, quiet, word):
    with pytest.raises(UsageError, match=word):
        parse_loop(text, repeat, quiet)
