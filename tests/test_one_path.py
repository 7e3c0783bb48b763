"""Issue 18: one path per job. Each drift 0.2.0 had between event kinds (or between the library
and the commands) is checked here for every kind: the rule lives once and applies to all."""

from __future__ import annotations

import os
import sqlite3
import stat
from dataclasses import replace
from datetime import datetime

import pytest
from cli_helpers import one_line_error

import cfevents
from cfevents import files
from cfevents.errors import UsageError
from cfevents.events.kinds import EXPORT_KINDS
from cfevents.events.kinds import KINDS as EVENT_KINDS

# Every guarantee below runs for every kind the description list (cfevents/events/kinds.py)
# holds: a new kind is tested the moment it is described.
KINDS = [kind.command for kind in EXPORT_KINDS]  # the event kinds with an export
LISTED = [kind.lists for kind in EVENT_KINDS]  # every kind's listing command
FOLLOWED = [
    (kind.command, "export", "--follow")
    if kind.follow == "checkpoint"
    else (*kind.lists, "--follow")
    for kind in EVENT_KINDS
]


@pytest.fixture
def cf_env(cli, monkeypatch, tmp_path):
    """The library's environment pointing at the sandbox (as test_api.py's)."""
    for key, value in cli.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    return cli


def requests_to_events(sandbox):
    return [
        r for r in sandbox.requests if r.path.startswith(("/v3/app_usage", "/v3/service_usage"))
    ]


# -- export --out: the same rules for every kind ----------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_export_never_overwrites_a_non_empty_out_without_force(cli, tmp_path, kind):
    target = tmp_path / "events.csv"
    target.write_text("precious\n")
    refused = cli(kind, "export", "--out", str(target))
    assert refused.exit_code == 2
    assert "--force" in one_line_error(refused) and "--out" in refused.stderr
    assert target.read_text() == "precious\n"
    assert not requests_to_events(cli.sandbox)  # refused before any request
    forced = cli(kind, "export", "--out", str(target), "--force", "--until", "2026-01-01")
    assert forced.exit_code == 0, forced.stderr
    assert target.read_text().startswith("guid,")


@pytest.mark.parametrize("kind", KINDS)
def test_export_out_expands_strftime_patterns(cli, tmp_path, kind):
    result = cli(kind, "export", "--out", str(tmp_path / "ev-%Y-%m.csv"), "--until", "2026-01-01")
    assert result.exit_code == 0, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == [f"ev-{datetime.now():%Y-%m}.csv"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("what", ["symlink", "directory", "fifo"])
def test_export_refuses_links_directories_and_fifos(cli, tmp_path, kind, what):
    real = tmp_path / "real.csv"
    real.write_text("")
    target = tmp_path / "target.csv"
    if what == "symlink":
        target.symlink_to(real)
    elif what == "directory":
        target.mkdir()
    else:
        os.mkfifo(target)
    result = cli(kind, "export", "--out", str(target), "--force")
    assert result.exit_code == 2
    assert "--out" in one_line_error(result) and "regular file" in result.stderr
    assert real.read_text() == ""
    assert not requests_to_events(cli.sandbox)


@pytest.mark.parametrize("kind", KINDS)
def test_export_writes_through_dev_null_and_leaves_the_device(cli, kind):
    result = cli(kind, "export", "--out", "/dev/null", "-o", "csv", "--until", "2026-01-01")
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


# -- bounds: once, for the library and every command -------------------------------------------


@pytest.mark.parametrize("args", FOLLOWED, ids=" ".join)
def test_follow_interval_has_one_lower_bound(cli, args):
    result = cli(*args, "--interval", "1s")
    assert result.exit_code == 2
    line = one_line_error(result)
    assert line.startswith("cfevents: error: --interval: ") and "at least 5s" in line
    assert not [r for r in cli.sandbox.requests if "events" in r.path]


def test_follow_crashes_in_the_library_obeys_the_same_bound(cf_env):
    cf = cfevents.connect()
    with pytest.raises(UsageError, match=r"^interval: .*at least 5s"):
        next(cf.follow_crashes(interval=1))


@pytest.mark.parametrize(
    "args", LISTED + [(kind, "export") for kind in KINDS], ids=lambda a: "-".join(a)
)
def test_per_page_zero_is_one_message_everywhere(cli, args):
    result = cli(*args, "--per-page", "0")
    assert result.exit_code == 2
    line = one_line_error(result)
    assert line.startswith("cfevents: error: --per-page must be between 1 and "), line
    assert "Input should be" not in line


@pytest.mark.parametrize("kind", [kind.name for kind in EXPORT_KINDS])
def test_library_errors_name_the_python_parameter(cf_env, kind):
    cf = cfevents.connect()
    with pytest.raises(UsageError) as bad:
        cf.export(kind, min_age="x")
    assert str(bad.value).startswith("min_age: ") and "--" not in str(bad.value)
    assert bad.value.param == "min_age"
    with pytest.raises(UsageError, match=r"^`per_page` must be between 1 and 5000"):
        cf.export(kind, per_page=0)
    with pytest.raises(UsageError, match=r"^`per_page` must be between 1 and 5000"):
        cf.events(kind, per_page=0)


def test_the_typed_methods_are_the_kinds_export_and_listing(cf_env):
    """usage_export/service_usage_export (and the listings) are Client.export/events of their
    kind: the same plan, the same events."""
    cf = cfevents.connect()
    for kind, typed in (("app_usage", cf.usage_export), ("service_usage", cf.service_usage_export)):
        typed_plan, plan = typed(until="2026-01-02").plan, cf.export(kind, until="2026-01-02").plan
        # the callables (org names, filters) are new ones for each call; the rest is equal
        assert replace(typed_plan, enrich=None) == replace(plan, enrich=None)
    for kind, listing in (("usage", cf.usage_events), ("services", cf.service_usage_events)):
        assert list(listing(until="2026-01-05")) == list(cf.events(kind, until="2026-01-05"))
    with pytest.raises(UsageError, match=r"^kind: must be one of app_usage, service_usage"):
        cf.export("crashes")


@pytest.mark.parametrize("kind", EVENT_KINDS, ids=lambda k: k.name)
def test_each_kind_description_resolves(kind):
    """What a description names in layers below it exists: its column sets, its store kind
    (same endpoint), its report, its commands."""
    import typer

    from cfevents.api import Client
    from cfevents.cli import app
    from cfevents.output.columns import COLUMN_SETS
    from cfevents.stores.columns import kind_named

    assert kind.columns in COLUMN_SETS and kind.one_columns in COLUMN_SETS
    if kind.store is not None:
        assert kind_named(kind.store).path == kind.path
    if kind.report is not None:
        assert callable(getattr(Client, kind.report))
    command = typer.main.get_command(app)
    for word in kind.lists:
        command = command.commands[word]
    assert command.name == kind.lists[-1]


# -- report --save-state ------------------------------------------------------------------------


@pytest.mark.parametrize("what", ["symlink", "missing-directory", "non-empty"])
def test_save_state_is_checked_before_the_report_runs(cli, tmp_path, what):
    real = tmp_path / "real.json"
    real.write_text("{}")
    target = tmp_path / "state.json"
    if what == "symlink":
        target.symlink_to(real)
    elif what == "missing-directory":
        target = tmp_path / "no" / "state.json"
    else:
        target.write_text("precious")
    result = cli("usage", "report", "--save-state", str(target))
    assert result.exit_code == 2
    assert one_line_error(result).startswith("cfevents: error: --save-state: ")
    assert real.read_text() == "{}"
    assert target.is_symlink() if what == "symlink" else True
    assert what != "non-empty" or target.read_text() == "precious"
    assert not [r for r in cli.sandbox.requests if r.path.startswith("/v3/")]  # no work done


def test_whole_file_outputs_write_through_dev_null_never_replacing_it():
    target = files.check_output("/dev/null", param="save_state")
    assert target.passthrough
    files.atomic_write(target, "{}\n")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("old")
    target = files.check_output(path, param="save_state", force=True)
    with pytest.raises(RuntimeError), files.atomic_output(target) as handle:
        handle.write("half")
        raise RuntimeError("boom")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary file left
    files.atomic_write(target, "new")
    assert path.read_text() == "new"


# -- incremental CSV/TSV: one column set per file ----------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_incremental_export_refuses_another_column_set(cli, tmp_path, kind, fmt):
    out, checkpoint = tmp_path / f"events.{fmt}", tmp_path / "events.ckpt"
    base = [kind, "export", "--out", str(out), "--checkpoint", str(checkpoint)]
    first = cli(*base, "--fields", "guid,created_at", "--since", "2026-01-30")
    assert first.exit_code == 0, first.stderr
    before = out.read_bytes()
    again = cli(*base)  # the default columns now
    assert again.exit_code == 2
    line = again.stderr.strip().splitlines()[-1]  # after the "resuming after" note
    assert line.startswith("cfevents: error: --out: ")
    assert "guid, created_at;" in line  # the file's set
    assert "this export writes guid, created_at, " in line  # and this export's
    assert out.read_bytes() == before


def test_incremental_export_refuses_flat_after_nested(cli, tmp_path):
    out, checkpoint = tmp_path / "usage.csv", tmp_path / "usage.ckpt"
    base = ["usage", "export", "--out", str(out), "--checkpoint", str(checkpoint)]
    assert cli(*base, "--since", "2026-01-30").exit_code == 0
    before = out.read_bytes()
    flat = cli(*base, "--flat")
    assert flat.exit_code == 2 and "state_current" in flat.stderr.strip().splitlines()[-1]
    assert out.read_bytes() == before


# -- report --input: read-only ------------------------------------------------------------------


def test_input_typo_creates_nothing(cli, tmp_path):
    typo = tmp_path / "typo.db"
    result = cli("usage", "report", "--input", str(typo))
    assert result.exit_code == 2 and "--input" in one_line_error(result)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("what", ["empty", "foreign", "text"])
def test_input_that_is_not_a_store_is_left_unchanged(cli, tmp_path, what):
    target = tmp_path / "history.db"
    if what == "empty":
        target.write_bytes(b"")
    elif what == "foreign":
        with sqlite3.connect(target) as conn:
            conn.execute("CREATE TABLE notes (text)")
        conn.close()
    else:
        target.write_text("not a database\n")
    before = target.read_bytes()
    result = cli("usage", "report", "--input", str(target))
    assert result.exit_code == 2
    assert "is not a cfevents store" in one_line_error(result)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.db"]


# -- every export option, for every kind (the options are one declaration: cli/export.py) ------


@pytest.mark.parametrize("kind", KINDS)
def test_export_parallel_writes_the_serial_bytes_for_every_kind(cli, kind):
    args = (kind, "export", "-o", "ndjson", "--per-page", "20", "--until", "2026-01-31")
    serial = cli(*args)
    assert serial.exit_code == 0, serial.stderr
    assert serial.stdout_bytes.count(b"\n") > 40  # several pages: a range worth splitting
    fast = cli(*args, "--parallel", "4")
    assert fast.exit_code == 0, fast.stderr
    assert fast.stdout_bytes == serial.stdout_bytes


@pytest.mark.parametrize("kind", EXPORT_KINDS, ids=lambda k: k.command)
def test_export_flat_writes_the_kinds_store_columns(cli, kind):
    from cfevents.stores.columns import kind_named

    result = cli(kind.command, "export", "-o", "csv", "--flat", "--until", "2026-01-31")
    assert result.exit_code == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split(",") == list(kind_named(kind.store).column_names)
    assert rows


@pytest.mark.parametrize("kind", KINDS)
def test_export_out_rotated_away_fails_or_starts_a_new_file(cli, tmp_path, kind):
    out, checkpoint = tmp_path / "events.csv", tmp_path / "events.ckpt"
    args = (kind, "export", "--out", str(out), "--checkpoint", str(checkpoint), "--min-age", "0s")
    assert cli(*args, "--until", "2026-01-31").exit_code == 0
    out.rename(tmp_path / "events.csv.1")
    refused = cli(*args)
    assert refused.exit_code == 9, refused.stderr
    assert "--on-rotated new-file" in refused.stderr
    carried = cli(*args, "--on-rotated", "new-file")
    assert carried.exit_code == 0, carried.stderr
    assert out.read_text().startswith("guid,")  # a new file, with its header row


def test_history_sync_fills_the_table_of_every_kind_with_a_store(cli, tmp_path):
    """history sync exports every kind whose description names a store kind: a new kind
    with a table is synced without a change to history sync."""
    from cfevents.stores.columns import kind_named

    store = tmp_path / "history.db"
    synced = cli("history", "sync", str(store), "--min-age", "0s")
    assert synced.exit_code == 0, synced.stderr
    stored = [kind for kind in EXPORT_KINDS if kind.store is not None]
    assert len(stored) >= 2
    with sqlite3.connect(store) as conn:
        for kind in stored:
            table = kind_named(kind.store).table
            (rows,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            assert rows > 0, table
    conn.close()
