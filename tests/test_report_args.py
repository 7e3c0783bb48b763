"""The reports' argument errors name the Python parameter; the command line names the flag
(issue 18: one message, two spellings, mapped once in cli/flags.py)."""

from __future__ import annotations

import pytest

from cfevents.api import Client
from cfevents.cli.flags import cli_message
from cfevents.errors import UsageError


class NoRequests:
    """An HTTP client a bad argument must never reach."""

    api = "https://api.example.com"

    def get_json(self, target, params=None):
        raise AssertionError(f"a bad argument must fail before any request ({target})")


def no_api() -> Client:
    return Client(NoRequests())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("method", "args", "param", "cli"),
    [
        ("usage_report", {"by": "team"}, "by", "--by must be one of org, space, app, process"),
        ("usage_report", {"month": "2026-13"}, "month", "--month '2026-13' is not a month"),
        ("usage_report", {"until": "2026-05-01"}, "until", "--until needs --since"),
        ("usage_report", {"month": "2026-05", "since": "2026-04"}, None, "use --month or"),
        ("usage_report", {"pivot": "week"}, "pivot", "--pivot must be month, not 'week'"),
        ("usage_report", {"compare": True}, "compare", "--compare needs --month"),
        (
            "usage_report",
            {"pivot": "month", "daily": True},
            "daily",
            "--daily cannot go with --pivot month or --compare",
        ),
        (
            "usage_report",
            {"pivot": "month", "save_state": "s.json"},
            "save_state",
            "--save-state cannot go with --pivot month",
        ),
        (
            "usage_report",
            {"pivot": "month", "opening": "s.json"},
            "opening",
            "--opening FILE cannot go with",
        ),
        ("usage_report", {"pivot": "month", "value": "x"}, "value", "--value must be one of"),
        (
            "usage_report",
            {"pivot": "month", "value": "cost"},
            "value",
            "--value cost needs --rates",
        ),
        ("service_report", {"by": "team"}, "by", "--by must be one of org, space, offering"),
        ("chargeback", {"per": "team"}, "per", "--per must be one of org, space"),
        ("chargeback", {}, None, "a chargeback statement needs prices: --rates FILE"),
    ],
)
def test_report_argument_errors_name_the_python_parameter(method, args, param, cli):
    with pytest.raises(UsageError) as raised:
        getattr(no_api(), method)(**args)
    error = raised.value
    assert error.param == param
    assert "--" not in error.message, error.message  # the library names no flag
    if param is not None:
        assert error.message.startswith(f"`{param}`"), error.message
    assert cli_message(error).startswith(cli), cli_message(error)
