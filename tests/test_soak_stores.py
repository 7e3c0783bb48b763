"""Soak for stores (issue 24, item 6): kill -9 an export into SQLite and PostgreSQL at seeded
points under injected faults, fill the disk once (a file-size limit for SQLite, the server's
disk_full for PostgreSQL), rerun to completion, and compare the store with the sandbox's own
events: every event exactly once, in Cloud Controller's order, a gap-free seq.

Event-driven: each kill waits for the store to hold a seeded number of new rows (polled, with
a generous deadline), never for the clock. Bounded to seconds per store.
"""

from __future__ import annotations

import os
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime

from cfevents.errors import ExitCode
from cfevents.sandbox import Sandbox, SandboxConfig
from cfevents.sandbox.faults import FaultConfig
from cfevents.stores import APP_USAGE, open_store

END = datetime(2026, 3, 1, tzinfo=UTC)
N, PER_PAGE = 1500, 100
DEADLINE_S = 60.0  # for one wait: a machine 5x slower passes the same way


def stored_count(target: str) -> int:
    """Rows in the store now (0 before the first run created the table)."""
    query = "SELECT count(*) FROM app_usage_events"
    try:
        if target.startswith("postgresql"):
            import psycopg

            with psycopg.connect(target, autocommit=True) as conn:
                row = conn.execute(query).fetchone()
        else:
            with sqlite3.connect(f"file:{target}?mode=ro", uri=True) as conn:
                row = conn.execute(query).fetchone()
    except Exception:  # not created yet (or the file is being created)
        return 0
    return int(row[0]) if row else 0


def stored_guids(target: str, foundation: str) -> list[str]:
    with open_store(target) as store:
        return [str(e["guid"]) for e in store.events(foundation, APP_USAGE)]


def truth(sb: Sandbox) -> list[str]:
    store = sb.foundation.store
    return [store.guid(pos) for pos in range(len(store))]


def export(sb: Sandbox, target: str, home, *, fsize: int | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "CF_API": sb.url, "CF_TOKEN": sb.admin_token(), "CF_HOME": str(home)}
    env.update({"CFEVENTS_OUTPUT": "", "CF_CLIENT_ID": "", "NO_COLOR": "1"})

    def limit() -> None:
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    cmd = [sys.executable, "-m", "cfevents", "--retries", "10", "usage", "export"]
    cmd += ["--out", target, "--per-page", str(PER_PAGE), "--min-age", "0s"]
    return subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limit,
    )


def kill_after_rows(proc: subprocess.Popen[str], target: str, rows: int) -> bool:
    """SIGKILL ``proc`` once the store holds ``rows`` rows (True), or False if it ended first."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if stored_count(target) >= rows:
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=DEADLINE_S)
            return True
        time.sleep(0.01)  # polling interval only; the condition is the rows
    raise AssertionError(f"no {rows} rows in {DEADLINE_S}s")


def assert_prefix(target: str, sb: Sandbox) -> int:
    got = stored_guids(target, sb.url)
    assert got == truth(sb)[: len(got)], "the store is not a prefix of CC's events"
    return len(got)


def fill_the_disk(sb: Sandbox, target: str, home) -> None:
    """One run stops on a full disk: exit 9 and 'rerun to resume', the pages before it kept."""
    before = stored_count(target)
    if target.startswith("postgresql"):
        import psycopg

        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute(
                "CREATE OR REPLACE FUNCTION soak_full() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN IF (SELECT count(*) FROM app_usage_events) >= {before + 2 * PER_PAGE} "
                "THEN RAISE EXCEPTION 'No space left on device' USING ERRCODE = 'disk_full'; "
                "END IF; RETURN NEW; END $$"
            )
            conn.execute(
                "CREATE TRIGGER soak_full BEFORE INSERT ON app_usage_events "
                "FOR EACH ROW EXECUTE FUNCTION soak_full()"
            )
        proc = export(sb, target, home)
    else:
        wal = target + "-wal"
        proc = export(
            sb, target, home, fsize=40_000 + (os.path.getsize(wal) if os.path.exists(wal) else 0)
        )
    _, err = proc.communicate(timeout=DEADLINE_S * 2)
    if target.startswith("postgresql"):
        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute("DROP TRIGGER soak_full ON app_usage_events")
    assert proc.returncode == ExitCode.IO, err
    assert "rerun to resume" in err and "unexpected" not in err


def test_kill_9_into_a_store_under_faults_and_a_full_disk_is_exact(store_target, tmp_path):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    kinds = ("502", "503", "429", "drop")
    faults = FaultConfig(rate=0.2, seed=seed % 1000, kinds=kinds, retry_after=0)
    config = SandboxConfig(seed=29, end=END, days=5, usage_events=N, faults=faults, latency_ms=20)
    with Sandbox(config).start() as sb:
        kills = 0
        for _ in range(3):
            have = stored_count(store_target)
            if have >= N - 2 * PER_PAGE:
                break
            proc = export(sb, store_target, tmp_path)
            if kill_after_rows(proc, store_target, have + rng.randint(1, 3) * PER_PAGE):
                kills += 1
            assert_prefix(store_target, sb)
        fill_the_disk(sb, store_target, tmp_path)
        assert_prefix(store_target, sb)
        final = export(sb, store_target, tmp_path)
        _, err = final.communicate(timeout=DEADLINE_S * 2)
        assert final.returncode == 0, f"{err} (seed {seed})"
        assert stored_guids(store_target, sb.url) == truth(sb), f"seed {seed}"
        with open_store(store_target) as store:
            coverage = store.coverage(sb.url, APP_USAGE)
            assert coverage is not None and (coverage.first_seq, coverage.last_seq) == (1, N)
            assert store.continuity(sb.url, APP_USAGE).ok
        assert kills >= 2, f"kills {kills} (seed {seed})"
        assert sum(sb.faults.injected.values()) > 0
