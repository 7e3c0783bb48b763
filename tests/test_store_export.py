"""``usage export --out usage.db|postgresql://…`` end to end over real HTTP, for both stores.

Every test compares the store with the sandbox's own events (its id order), not with what
cfevents read: twice gives every event once, appended events arrive, kill -9 at random points
and overlapping runs leave the store exact.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from cli_helpers import one_line_error

from cfevents.errors import ExitCode
from cfevents.sandbox import Sandbox, SandboxConfig
from cfevents.stores import APP_USAGE, open_store

END = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def own_sandbox():
    """A sandbox this test may change (append, prune), with a fixed end in the past."""
    sb = Sandbox(SandboxConfig(seed=11, end=END, days=10, latency_ms=2)).start()
    yield sb
    sb.stop()


@pytest.fixture
def own_cli(own_sandbox, tmp_path):
    from conftest import Cli

    return Cli(own_sandbox, tmp_path)


def sandbox_guids(sb: Sandbox) -> list[str]:
    store = sb.foundation.store
    return [store.guid(pos) for pos in range(len(store))]


def stored_guids(target: str, foundation: str) -> list[str]:
    with open_store(target) as store:
        return [str(event["guid"]) for event in store.events(foundation, APP_USAGE)]


def assert_exact(target: str, sb: Sandbox) -> None:
    with open_store(target) as store:
        guids = [str(e["guid"]) for e in store.events(sb.url, APP_USAGE)]
        assert guids == sandbox_guids(sb)
        coverage = store.coverage(sb.url, APP_USAGE)
        assert coverage is not None
        assert (coverage.first_seq, coverage.last_seq, coverage.events) == (
            1,
            len(guids),
            len(guids),
        )
        assert store.continuity(sb.url, APP_USAGE).ok
        assert store.cursor(sb.url, APP_USAGE).after_guid == guids[-1]  # type: ignore[union-attr]


def test_export_twice_stores_every_event_once(own_cli, own_sandbox, store_target):
    first = own_cli("usage", "export", "--out", store_target, "--per-page", "700")
    assert first.exit_code == 0, first.output
    assert "recorded the opening snapshot" in first.stderr
    assert_exact(store_target, own_sandbox)
    again = own_cli("usage", "export", "--out", store_target)
    assert again.exit_code == 0, again.output
    assert "stored 0 new events" in again.stderr
    assert_exact(store_target, own_sandbox)
    with open_store(store_target) as store:
        snap = store.snapshot(own_sandbox.url)
        assert snap is not None and len(snap.parts["apps"]) > 0 and "processes" in snap.parts


def test_events_appended_between_runs_arrive(own_cli, own_sandbox, store_target):
    assert own_cli("usage", "export", "--out", store_target).exit_code == 0
    before = len(stored_guids(store_target, own_sandbox.url))
    own_sandbox.append_usage_events(37, at=END + timedelta(minutes=5))
    result = own_cli("usage", "export", "--out", store_target)
    assert result.exit_code == 0, result.output
    assert "stored 37 new events" in result.stderr
    assert len(stored_guids(store_target, own_sandbox.url)) == before + 37
    assert_exact(store_target, own_sandbox)


def test_min_age_leaves_young_events_for_the_next_run(fresh_cli, fresh_sandbox, tmp_path):
    target = str(tmp_path / "usage.sqlite")
    fresh_sandbox.append_usage_events(5)  # created now: younger than the default 60s
    assert fresh_cli("usage", "export", "--out", target).exit_code == 0
    assert len(stored_guids(target, fresh_sandbox.url)) == len(sandbox_guids(fresh_sandbox)) - 5
    assert fresh_cli("usage", "export", "--out", target, "--min-age", "0s").exit_code == 0
    assert stored_guids(target, fresh_sandbox.url) == sandbox_guids(fresh_sandbox)


def test_sql_needs_no_quoting(own_cli, own_sandbox, tmp_path):
    target = tmp_path / "usage.db"
    assert own_cli("usage", "export", "--out", str(target)).exit_code == 0
    with sqlite3.connect(target) as conn:
        counts = dict(conn.execute("select org_guid, count(*) from app_usage_events group by 1"))
    expected: dict[str, int] = {}
    store = own_sandbox.foundation.store
    for pos in range(len(store)):
        org = store.present_v3(pos, own_sandbox.url)["organization"]["guid"]
        expected[org] = expected.get(org, 0) + 1
    assert counts == expected


def test_library_exports_into_a_store(own_sandbox, tmp_path):
    import cfevents

    target = tmp_path / "usage.db"
    with cfevents.connect(api=own_sandbox.url, token=own_sandbox.admin_token()) as cf:
        with cf.usage_export(out=str(target)) as job:
            assert job.run() == len(sandbox_guids(own_sandbox))
        with cf.usage_export(out=target) as job:  # a Path works too
            assert job.run() == 0
    assert_exact(str(target), own_sandbox)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--checkpoint", "x.ckpt"], "--checkpoint"),
        (["--org", "org-1"], "--org"),
        (["--space", "s"], "--space"),
        (["--app", "a"], "--app"),
        (["--state", "STARTED"], "--state"),
        (["-o", "csv"], "--output"),
    ],
)
def test_a_store_refuses_what_would_make_it_incomplete(cli, tmp_path, args, needle):
    result = cli("usage", "export", "--out", str(tmp_path / "usage.db"), *args)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert needle in one_line_error(result)
    assert not (tmp_path / "usage.db").exists() or not stored_guids(
        str(tmp_path / "usage.db"), cli.sandbox.url
    )


def test_after_guid_when_the_store_has_a_cursor_is_a_usage_error(own_cli, own_sandbox, tmp_path):
    target = str(tmp_path / "usage.db")
    guids = sandbox_guids(own_sandbox)
    first = own_cli("usage", "export", "--out", target, "--after-guid", guids[9])
    assert first.exit_code == 0, first.output
    assert stored_guids(target, own_sandbox.url) == guids[10:]
    again = own_cli("usage", "export", "--out", target, "--after-guid", guids[0])
    assert again.exit_code == ExitCode.USAGE
    assert "already holds a cursor" in one_line_error(again)


def test_a_second_concurrent_export_fails_at_once_with_exit_8(own_cli, own_sandbox, store_target):
    with open_store(store_target) as store, store.begin_export(own_sandbox.url, APP_USAGE):
        start = time.monotonic()
        result = own_cli("usage", "export", "--out", store_target)
        assert time.monotonic() - start < 10
    assert result.exit_code == ExitCode.LOCKED == 8, result.output
    assert "another export" in one_line_error(result)
    assert own_cli("usage", "export", "--out", store_target).exit_code == 0
    assert_exact(store_target, own_sandbox)


# -- kill -9 and overlap, with real processes ---------------------------------------------------


def start_export(sb: Sandbox, target: str, tmp_path, per_page: int = 100) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "CF_API": sb.url,
        "CF_TOKEN": sb.admin_token(),
        "CF_HOME": str(tmp_path),
        "CF_CLIENT_ID": "",
    }
    command = [sys.executable, "-m", "cfevents", "usage", "export", "--out", target]
    return subprocess.Popen(
        [*command, "--per-page", str(per_page), "--no-progress"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def slow_sandbox():
    """Pages that take a while (60 pages of 50, ~40 ms each), so kills land mid-export."""
    config = SandboxConfig(seed=11, end=END, days=10, usage_events=3000, latency_ms=40)
    sb = Sandbox(config).start()
    yield sb
    sb.stop()


def wait_for_more(sb: Sandbox, target: str, than: int, timeout: float = 60) -> int:
    """Poll the store until it holds more than ``than`` events (the export is writing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            count = len(stored_guids(target, sb.url))
        except Exception:  # the writer may still be creating the schema
            count = 0
        if count > than:
            return count
        time.sleep(0.02)
    raise AssertionError(f"the export wrote nothing past {than} events in {timeout}s")


def test_kill_9_at_random_points_then_rerun_is_exact(slow_sandbox, store_target, tmp_path):
    rng = random.Random(12)
    total = len(sandbox_guids(slow_sandbox))
    counts = [0]
    for _ in range(4):
        proc = start_export(slow_sandbox, store_target, tmp_path, per_page=50)
        wait_for_more(slow_sandbox, store_target, counts[-1])
        time.sleep(rng.uniform(0, 0.3))  # between pages or inside a page's transaction
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        counts.append(len(stored_guids(store_target, slow_sandbox.url)))
    assert counts == sorted(counts) and 0 < counts[-1] < total, counts  # killed mid-export
    final = start_export(slow_sandbox, store_target, tmp_path)
    _, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    assert_exact(store_target, slow_sandbox)


def wait_until(predicate, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_overlapping_runs_leave_the_store_exact(slow_sandbox, store_target, tmp_path):
    slow_sandbox.hold_lists_after(1)  # the first run's second page waits for the test
    first = start_export(slow_sandbox, store_target, tmp_path, per_page=25)
    wait_for_more(slow_sandbox, store_target, 0, timeout=120)
    wait_until(lambda: slow_sandbox.held() == 1)  # certainly mid-export, holding its lock
    second = start_export(slow_sandbox, store_target, tmp_path, per_page=50)
    _, err2 = second.communicate(timeout=120)
    slow_sandbox.release_lists()
    _, err1 = first.communicate(timeout=120)
    assert first.returncode == 0, err1
    assert second.returncode == ExitCode.LOCKED, err2  # failed at once, wrote nothing
    assert len(err2.strip().splitlines()) == 1 and "another export" in err2
    assert_exact(store_target, slow_sandbox)


def test_two_runs_started_together_leave_the_store_exact(slow_sandbox, store_target, tmp_path):
    runs = [start_export(slow_sandbox, store_target, tmp_path) for _ in range(2)]
    results = [(run.communicate(timeout=120)[1], run.returncode) for run in runs]
    assert sorted(code for _, code in results) in ([0, 0], [0, ExitCode.LOCKED]), results
    assert_exact(store_target, slow_sandbox)


def test_demo_export_twice_gives_every_event_once(tmp_path):
    """The issue's first try: `cfevents --demo usage export --out usage.db`, twice."""
    from typer.testing import CliRunner

    from cfevents.cli import app

    target = str(tmp_path / "usage.db")
    env = {"CF_HOME": str(tmp_path), "CFEVENTS_OUTPUT": "", "CF_API": "", "CF_TOKEN": ""}
    first = CliRunner().invoke(app, ["--demo", "usage", "export", "--out", target], env=env)
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(app, ["--demo", "usage", "export", "--out", target], env=env)
    assert again.exit_code == 0, again.output
    assert "stored 0 new events" in again.stderr
    with open_store(target) as store:
        assert store.foundations(APP_USAGE) == ["demo:sandbox"]  # one name across runs
        guids = [str(e["guid"]) for e in store.events("demo:sandbox", APP_USAGE)]
    assert len(guids) == len(set(guids)) > 1000


def test_library_run_on_a_locked_store_says_only_that(own_sandbox, tmp_path):
    import cfevents
    from cfevents.errors import StoreLockedError

    target = str(tmp_path / "usage.db")
    with cfevents.connect(api=own_sandbox.url, token=own_sandbox.admin_token()) as cf:
        job = cf.usage_export(out=target)
        with (
            open_store(target) as store,
            store.begin_export(own_sandbox.url, APP_USAGE),
            pytest.raises(StoreLockedError) as locked,
        ):
            job.run()
    assert "another export" in locked.value.message
    assert "stopped after" not in locked.value.message
