"""Every report's JSON carries ``flags`` in one shape: a list of strings (issue 22)."""

from __future__ import annotations

import json

import pytest


@pytest.mark.parametrize("group", ["usage", "services"])
def test_flags_are_a_list_in_every_report_json(cli, group):
    result = cli(
        group,
        "report",
        "--since",
        "2025-12-31T00:00:00Z",
        "--until",
        "2026-01-31T00:00:00Z",
        "--allow-incomplete",
        "--min-age",
        "0s",
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows
    assert all(isinstance(r["flags"], list) for r in rows)
    assert all(all(isinstance(f, str) for f in r["flags"]) for r in rows)
    assert any("incomplete" in r["flags"] for r in rows)  # a flag is there to be seen


def test_a_table_joins_the_flag_list(cli):
    result = cli(
        "services",
        "report",
        "--since",
        "2025-12-31T00:00:00Z",
        "--until",
        "2026-01-31T00:00:00Z",
        "--allow-incomplete",
        "-o",
        "table",
    )
    assert result.exit_code == 0, result.stderr
    assert "incomplete" in result.stdout and '["' not in result.stdout
