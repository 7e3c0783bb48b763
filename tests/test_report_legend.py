"""Every row flag has a one-line meaning in --help and the README, and a table prints the
meaning of the flags it shows."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from conftest import END

from cfevents.report.flags import FLAG_MEANINGS, legend

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_the_readme_gives_every_flag_its_meaning():
    for flag, meaning in FLAG_MEANINGS.items():
        assert f"| `{flag}` | {meaning} |" in README, flag


@pytest.mark.parametrize("group", ["usage", "services"])
def test_help_lists_every_flag(cli, group):
    result = cli(group, "report", "--help", env={**cli.env(), "COLUMNS": "400"})
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for flag, meaning in FLAG_MEANINGS.items():
        assert f"{flag}: {' '.join(meaning.split())}" in text, flag


def test_a_table_with_flags_prints_their_legend(cli):
    since = (END - timedelta(days=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
    until = (END - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = cli("usage", "report", "--since", since, "--until", until, "--by", "app")
    assert result.exit_code == 0, result.stderr
    shown = {f for line in result.stdout.splitlines()[2:-1] for f in FLAG_MEANINGS if f in line}
    assert shown, "the window should carry some flag"
    for flag in shown:
        assert f"cfevents: flag {flag}: {FLAG_MEANINGS[flag]}" in result.stderr
    unshown = set(FLAG_MEANINGS) - shown
    assert not [f for f in unshown if f"flag {f}:" in result.stderr]
    csv = cli("usage", "report", "--since", since, "--until", until, "-o", "csv")
    assert "cfevents: flag " not in csv.stderr  # machine formats: no legend


def test_legend_reads_lists_and_joined_strings():
    rows = [{"flags": ["open_at_end"]}, {"flags": "unknown_plan,open_at_end"}, {"flags": []}]
    assert [line.split(":")[0] for line in legend(rows)] == ["open_at_end", "unknown_plan"]
