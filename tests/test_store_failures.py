"""Every storage failure maps to its documented exit code (issue 24, item 3), end to end.

A store cfevents cannot use is exit 10 with one line naming the file or database and what to
do; a full disk or a file-size limit is exit 9 with "rerun to resume" (and the rerun is exact,
checked against the sandbox's own events); PostgreSQL unreachable is exit 6; a missing psycopg
is exit 10. Never exit 1, never "unexpected".
"""

from __future__ import annotations

import os
import resource
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_helpers import one_line_error

from cfevents.errors import ExitCode
from cfevents.sandbox import Sandbox, SandboxConfig
from cfevents.stores import APP_USAGE, open_store, schema

END = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def fixed_sandbox():
    sb = Sandbox(SandboxConfig(seed=11, end=END, days=10)).start()
    yield sb
    sb.stop()


@pytest.fixture
def fixed_cli(fixed_sandbox, tmp_path):
    from conftest import Cli

    return Cli(fixed_sandbox, tmp_path)


def truth_guids(sb: Sandbox) -> list[str]:
    store = sb.foundation.store
    return [store.guid(pos) for pos in range(len(store))]


def stored_guids(target: str, foundation: str) -> list[str]:
    with open_store(target) as store:
        return [str(event["guid"]) for event in store.events(foundation, APP_USAGE)]


def refused(result, code: int, *words: str) -> str:
    line = one_line_error(result)
    assert result.exit_code == code, result.output
    assert "unexpected" not in line
    for word in words:
        assert word in line, line
    return line


# -- SQLite files cfevents cannot use -------------------------------------------------------


def _text_file(path: Path) -> None:
    path.write_text("not a database, just text\n" * 100)


def _corrupt(path: Path) -> None:
    open_store(str(path)).close()
    data = bytearray(path.read_bytes())
    data[100:164] = b"\xff" * 64
    path.write_bytes(bytes(data))


def _newer(path: Path) -> None:
    open_store(str(path)).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE cfevents_schema SET version = ?", (schema.SCHEMA_VERSION + 1,))


def _unrelated(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE app_usage_events (id INTEGER PRIMARY KEY, what TEXT)")


@pytest.mark.parametrize(
    ("make", "words", "codes"),
    [
        (_text_file, ("not a",), (ExitCode.STORE, ExitCode.USAGE)),
        (_corrupt, ("is a damaged SQLite database", "backup"), (ExitCode.STORE, ExitCode.STORE)),
        (Path.mkdir, ("is a directory",), (ExitCode.USAGE, ExitCode.USAGE)),
        (_newer, ("written by a newer cfevents", "upgrade"), (ExitCode.STORE, ExitCode.STORE)),
        (
            _unrelated,
            ("app_usage_events that cfevents did not create", "no column foundation"),
            (ExitCode.STORE, ExitCode.STORE),
        ),
    ],
    ids=["text", "corrupt", "directory", "newer", "unrelated-table"],
)
def test_an_unusable_sqlite_store_is_one_line_and_its_exit(fixed_cli, tmp_path, make, words, codes):
    """exit 10 for a file cfevents cannot use as a store; exit 2 where the path itself is a
    bad value (a directory, or an --input that is no store at all: cfevents.files)."""
    path = tmp_path / "usage.db"
    make(path)
    for args, code in zip(
        (
            ["usage", "export", "--out", str(path)],
            ["usage", "report", "--input", str(path), "--month", "2026-02"],
        ),
        codes,
        strict=True,
    ):
        refused(fixed_cli(*args), code, str(path), *words)


def test_a_store_in_a_missing_directory_says_so(fixed_cli, tmp_path):
    path = tmp_path / "nowhere" / "usage.db"
    refused(fixed_cli("usage", "export", "--out", str(path)), ExitCode.USAGE, "does not exist")


NO_OVERRIDE = "-dac_override,-dac_read_search,-fowner"


@pytest.mark.skipif(shutil.which("setpriv") is None and os.geteuid() == 0, reason="needs setpriv")
def test_a_read_only_sqlite_store_is_exit_10(fixed_sandbox, tmp_path):
    """Read-only for the user running cfevents (root writes anything: it runs without the
    capabilities that override file modes)."""
    path = tmp_path / "usage.db"
    open_store(str(path)).close()
    path.chmod(0o444)
    run_as = (
        ["setpriv", "--bounding-set", NO_OVERRIDE, "--inh-caps", NO_OVERRIDE]
        if os.geteuid() == 0
        else []
    )
    env = dict(
        os.environ, CF_API=fixed_sandbox.url, CF_TOKEN=fixed_sandbox.admin_token(),
        CF_HOME=str(tmp_path),
    )  # fmt: skip
    done = subprocess.run(
        [*run_as, sys.executable, "-m", "cfevents", "usage", "export", "--out", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == ExitCode.STORE, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0], done.stderr
    assert "read-only" in lines[0] or "writable" in lines[0]


# -- a full disk or a file-size limit --------------------------------------------------------


def _export_with_fsize_limit(sb: Sandbox, home: Path, target: str, limit: int | None):
    def set_limit() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = dict(
        os.environ, CF_API=sb.url, CF_TOKEN=sb.admin_token(), CF_HOME=str(home), NO_COLOR="1"
    )
    return subprocess.run(
        [sys.executable, "-m", "cfevents", "usage", "export", "--out", target, "--per-page", "200"],
        env=env,
        preexec_fn=set_limit,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("limit", [20_000, 150_000, 400_000])
def test_a_file_size_limit_on_a_sqlite_store_is_exit_9_and_the_rerun_is_exact(
    fixed_sandbox, tmp_path, limit
):
    target = str(tmp_path / "usage.db")
    stopped = _export_with_fsize_limit(fixed_sandbox, tmp_path, target, limit)
    assert stopped.returncode == ExitCode.IO, stopped.stderr
    error = [line for line in stopped.stderr.splitlines() if "error" in line]
    assert len(error) == 1 and "rerun to resume" in error[0] and "unexpected" not in error[0]
    assert "cannot rollback" not in stopped.stderr
    again = _export_with_fsize_limit(fixed_sandbox, tmp_path, target, None)
    assert again.returncode == 0, again.stderr
    assert stored_guids(target, fixed_sandbox.url) == truth_guids(fixed_sandbox)


def test_a_full_postgres_disk_is_exit_9_and_the_rerun_is_exact(fixed_cli, fixed_sandbox, pg_url):
    """The server's disk_full (SQLSTATE 53100), raised by the server itself from a trigger
    once 300 events are stored: the client cannot fill a server's disk in a test."""
    import psycopg

    open_store(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION full_disk() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF (SELECT count(*) FROM app_usage_events) >= 300 THEN RAISE EXCEPTION "
            "'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; "
            "END IF; RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER full_disk BEFORE INSERT ON app_usage_events "
            "FOR EACH ROW EXECUTE FUNCTION full_disk()"
        )
    stopped = fixed_cli("--quiet", "usage", "export", "--out", pg_url, "--per-page", "200")
    refused(stopped, ExitCode.IO, "No space left on device", "rerun to resume")
    assert len(stored_guids(pg_url, fixed_sandbox.url)) == 200  # the first page, with its cursor
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP TRIGGER full_disk ON app_usage_events")
    again = fixed_cli("usage", "export", "--out", pg_url, "--per-page", "200")
    assert again.exit_code == 0, again.output
    assert stored_guids(pg_url, fixed_sandbox.url) == truth_guids(fixed_sandbox)


# -- PostgreSQL databases cfevents cannot use or reach -------------------------------------


def test_postgres_unreachable_or_unknown_host_is_exit_6(fixed_cli):
    from pg_server import free_port

    for url in (
        f"postgresql://me@127.0.0.1:{free_port()}/db",
        "postgresql://me@no-such-host.invalid/db",
    ):
        refused(fixed_cli("usage", "export", "--out", url), ExitCode.NETWORK, "cannot reach")
        report = fixed_cli("usage", "report", "--input", url, "--month", "2026-02")
        refused(report, ExitCode.NETWORK, "cannot reach")


def test_a_newer_or_unrelated_or_read_only_postgres_store_is_exit_10(fixed_cli, pg_server):
    import psycopg

    newer, unrelated, read_only = (pg_server.create_database() for _ in range(3))
    open_store(newer).close()
    with psycopg.connect(newer, autocommit=True) as conn:
        conn.execute(f"UPDATE cfevents_schema SET version = {schema.SCHEMA_VERSION + 1}".encode())
    with psycopg.connect(unrelated, autocommit=True) as conn:
        conn.execute("CREATE TABLE app_usage_events (id serial PRIMARY KEY, what text)")
    read_only += "%20-cdefault_transaction_read_only%3Don"
    for url, words in (
        (newer, ("written by a newer cfevents",)),
        (unrelated, ("did not create", "no column foundation")),
        (read_only, ("does not let this user write",)),
    ):
        refused(fixed_cli("usage", "export", "--out", url), ExitCode.STORE, *words)


def test_a_missing_psycopg_is_one_line_and_exit_10(fixed_cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg raises ImportError
    result = fixed_cli("usage", "export", "--out", "postgresql://me@127.0.0.1/db")
    refused(result, ExitCode.STORE, "pip install 'cfevents[postgres]'")
