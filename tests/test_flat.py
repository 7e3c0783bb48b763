"""``--flat``: csv/tsv/ndjson exports and listings with the stores' snake_case columns.

The flat file and the database hold the same values under the same names: one mapping
(cfevents.stores.columns), checked here against a real store written from the same sandbox.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest
from cli_helpers import one_line_error

from cfevents.errors import ExitCode
from cfevents.stores import APP_USAGE

NAMES = list(APP_USAGE.column_names)


def stored_rows(cli, tmp_path) -> list[dict[str, str]]:
    """The sandbox's events as the SQLite store holds them, as CSV would show them."""
    target = tmp_path / "usage.db"
    assert cli("usage", "export", "--out", str(target)).exit_code == 0
    with sqlite3.connect(target) as conn:
        cursor = conn.execute(f"select {', '.join(NAMES)} from app_usage_events order by seq")
        return [
            {k: "" if v is None else str(v) for k, v in zip(NAMES, row, strict=True)}
            for row in cursor
        ]


def test_flat_csv_export_has_the_store_columns_and_values(cli, tmp_path):
    result = cli("usage", "export", "-o", "csv", "--flat")
    assert result.exit_code == 0, result.output
    reader = csv.DictReader(io.StringIO(result.stdout))
    assert reader.fieldnames == NAMES
    rows = list(reader)
    assert "org_guid" in rows[0] and rows[0]["state_current"]
    assert rows == stored_rows(cli, tmp_path)


def test_flat_ndjson_export_and_tsv_file(cli, tmp_path):
    result = cli("usage", "export", "-o", "ndjson", "--flat")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(list(line) == NAMES for line in lines)
    out = tmp_path / "usage.tsv"
    assert cli("usage", "export", "--out", str(out), "--flat").exit_code == 0
    header, first, *_ = out.read_text().splitlines()
    assert header.split("\t") == NAMES
    assert first.split("\t")[0] == lines[0]["guid"]


def test_flat_listing_with_fields(cli):
    result = cli("usage", "list", "-o", "csv", "--flat", "--limit", "3")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == ",".join(NAMES)
    assert len(result.stdout.splitlines()) == 4
    picked = cli(
        "usage", "list", "-o", "tsv", "--flat", "--fields", "guid,org_guid", "--limit", "2"
    )
    assert picked.exit_code == 0, picked.output
    assert picked.stdout.splitlines()[0] == "guid\torg_guid"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["usage", "list", "--flat"], "--flat: applies to --output csv"),
        (["usage", "list", "--flat", "-o", "csv", "--fields", "state.current"], "--fields"),
        (["usage", "export", "--flat", "-o", "table"], "--flat: applies"),
    ],
)
def test_flat_refuses_what_it_cannot_write(cli, args, needle):
    result = cli(*args)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert needle in one_line_error(result)


def test_flat_into_a_store_is_a_usage_error(cli, tmp_path):
    result = cli("usage", "export", "--out", str(tmp_path / "usage.db"), "--flat")
    assert result.exit_code == ExitCode.USAGE
    assert "--flat" in one_line_error(result)


def test_library_flat_export(sandbox):
    import cfevents

    with cfevents.connect(api=sandbox.url, token=sandbox.admin_token()) as cf:
        with cf.usage_export(flat=True) as job:
            first = next(iter(job))  # iterating gives the events as CC sent them
            assert "state" in first
        buffer = io.StringIO()
        with cf.usage_export(flat=True, format="ndjson") as job:
            job.run(stdout=buffer)
    assert list(json.loads(buffer.getvalue().splitlines()[0])) == NAMES
