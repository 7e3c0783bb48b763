"""One undecodable or unstorable name never blocks an export (issue 24, item 2).

An app whose name holds a lone surrogate and a NUL (CC sends them as ``\\ud800`` and
``\\u0000``): every sink takes it by the rule of ``cfevents.output.unstorable`` and the export
goes on. JSON sinks keep the value exactly (read back, it is CC's name); flat text shows the
JSON escape. Checked against the sandbox's own events, for list output, CSV/NDJSON files,
SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from cfevents.output.unstorable import escape_text
from cfevents.sandbox import Sandbox, SandboxConfig
from cfevents.stores import APP_USAGE, open_store

END = datetime(2026, 3, 1, tzinfo=UTC)
BAD = "pay\ud800ments\x00api"
SHOWN = "pay\\ud800ments\\u0000api"  # the rule for flat text where NUL cannot go
SHOWN_KEEP_NUL = "pay\\ud800ments\x00api"  # files and SQLite hold NUL


@pytest.fixture(scope="module")
def bad_sandbox():
    sb = Sandbox(SandboxConfig(seed=11, end=END, days=3)).start()
    store = sb.foundation.store
    index = store.app[0]  # the app of the first event
    store.apps[index] = replace(store.apps[index], name=BAD)
    store._json_fragments = None  # the pre-encoded JSON pieces carry the new name
    yield sb
    sb.stop()


@pytest.fixture
def bad_cli(bad_sandbox, tmp_path):
    from conftest import Cli

    return Cli(bad_sandbox, tmp_path)


def truth(sb: Sandbox) -> list[str]:
    store = sb.foundation.store
    return [store.guid(pos) for pos in range(len(store))]


def bad_guids(sb: Sandbox) -> set[str]:
    store = sb.foundation.store
    return {store.guid(p) for p in range(len(store)) if store.apps[store.app[p]].name == BAD}


def test_escape_text_is_the_json_escape():
    assert escape_text(BAD) == SHOWN
    assert json.loads(f'"{escape_text(BAD)}"') == BAD  # reversible for a name without " or \\
    assert escape_text("naïve ✓") == "naïve ✓"


@pytest.mark.parametrize("fmt", ["csv", "json", "ndjson", "tsv", "table"])
def test_usage_list_prints_the_name_and_goes_on(bad_cli, bad_sandbox, fmt):
    result = bad_cli("usage", "list", "--all", "-o", fmt)
    assert result.exit_code == 0, result.output
    assert "unexpected" not in result.stderr
    if fmt == "ndjson":
        names = [json.loads(line)["app"]["name"] for line in result.stdout.splitlines()]
        assert BAD in names and len(names) == len(truth(bad_sandbox))
    elif fmt == "json":
        assert BAD in [event["app"]["name"] for event in json.loads(result.stdout)]
    else:
        assert "pay\\ud800ments" in result.stdout


def test_file_exports_keep_the_name_and_every_event(bad_cli, bad_sandbox, tmp_path):
    ndjson, flat = tmp_path / "u.ndjson", tmp_path / "u.csv"
    for out in (ndjson, flat):
        ckpt = tmp_path / f"{out.name}.ckpt"
        result = bad_cli("usage", "export", "--out", str(out), "--checkpoint", str(ckpt))
        assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in ndjson.read_text(encoding="utf-8").splitlines()]
    assert [e["guid"] for e in events] == truth(bad_sandbox)
    assert {e["guid"] for e in events if e["app"]["name"] == BAD} == bad_guids(bad_sandbox)
    rows = list(csv.DictReader(io.StringIO(flat.read_text(encoding="utf-8"))))
    assert [row["guid"] for row in rows] == truth(bad_sandbox)
    assert {r["guid"] for r in rows if r["app.name"] == SHOWN_KEEP_NUL} == bad_guids(bad_sandbox)


def test_sqlite_and_postgres_stores_take_the_name(bad_cli, bad_sandbox, tmp_path, pg_url):
    db = str(tmp_path / "usage.db")
    for target in (db, pg_url):
        result = bad_cli("usage", "export", "--out", target, "--per-page", "500")
        assert result.exit_code == 0, result.output
        with open_store(target) as store:
            events = list(store.events(bad_sandbox.url, APP_USAGE))
            assert [e["guid"] for e in events] == truth(bad_sandbox)  # raw read back exactly
            stored_bad = {e["guid"] for e in events if e["app"]["name"] == BAD}
            assert stored_bad == bad_guids(bad_sandbox)
            assert store.coverage(bad_sandbox.url, APP_USAGE).events == len(events)
        again = bad_cli("usage", "report", "--input", target, "--month", "2026-02", "-o", "csv")
        assert again.exit_code in (0, 7), again.output  # the report reads the raw events
        assert "unexpected" not in again.stderr
    with sqlite3.connect(db) as conn:
        names = {row[0] for row in conn.execute("SELECT DISTINCT app_name FROM app_usage_events")}
    assert SHOWN in names
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        names = {row[0] for row in conn.execute("SELECT DISTINCT app_name FROM app_usage_events")}
    assert SHOWN in names
