"""Cloud Controller's cleanups as sandbox options, and what each does to exports and reports.

- the 31-day prune (`Sandbox.cleanup`, CC's clock jobs: `cutoff_age_in_days`, newest row kept);
- the "keep the events of running apps" cleanup cloud_controller_ng #5210 proposes
  (`keep_running=True`);
- the purge-and-reseed (`Sandbox.purge_and_reseed`, the `destructively_purge_all_and_reseed`
  endpoints).

Expectations are computed from the events as they were before the cleanup and the simulation's
present (which processes and tasks run now), never from the cleanup's own code.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import Cli
from test_report_e2e import check_against_truth, iso, report

from cfevents.sandbox import Sandbox, SandboxConfig

END = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
CUTOFF = END - timedelta(days=31)


@pytest.fixture
def old_sandbox():
    """40 days of events, so the 31-day cleanup has something to delete."""
    sb = Sandbox(SandboxConfig(seed=23, end=END, days=40)).start()
    yield sb
    sb.stop()


def export(cli: Cli, tmp_path, name: str) -> list[dict]:
    out = tmp_path / name
    result = cli("usage", "export", "--out", str(out), "--min-age", "0s")
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


def running_now(sb) -> tuple[set[str], set[str]]:
    """(guids of the processes running now, guids of the tasks running now)."""
    f = sb.foundation
    processes = {p.guid for p in f.processes_now() if f.app_state(p.app.guid) == "STARTED"}
    return processes, {t.guid for t in f.tasks_now({"RUNNING"})}


def expected_baselines(before: list[dict], sb) -> set[str]:
    """#5210: the newest pre-cutoff row of a running process if it is a STARTED; running tasks'
    TASK_STARTED rows."""
    processes, tasks = running_now(sb)
    newest: dict[str, dict] = {}
    kept = set()
    for e in before:
        if e["created_at"] >= iso(CUTOFF):
            continue
        if e["task"]["guid"] is not None:
            if e["state"]["current"] == "TASK_STARTED" and e["task"]["guid"] in tasks:
                kept.add(e["guid"])
        elif e["process"]["guid"] in processes:
            newest[e["process"]["guid"]] = e
    return kept | {e["guid"] for e in newest.values() if e["state"]["current"] == "STARTED"}


def test_the_31_day_prune(old_sandbox, tmp_path):
    sb = old_sandbox
    cli = Cli(sb, tmp_path)
    before = export(cli, tmp_path, "before.ndjson")
    services_before = len(sb.foundation.services.events)
    assert before[0]["created_at"] < iso(CUTOFF - timedelta(days=5))
    sb.cleanup(now=END)
    after = export(cli, tmp_path, "after.ndjson")
    # exactly the rows created from the cutoff on remain (and the newest, which always stays)
    assert after == [e for e in before if e["created_at"] >= iso(CUTOFF) or e is before[-1]]
    services = sb.foundation.services.events
    assert 0 < len(services) < services_before
    assert all(e.created_us >= int(CUTOFF.timestamp()) * 10**6 for e in services[:-1])
    # a report reaching before the cutoff is refused; one inside retention is exact
    refused = cli("usage", "report", "--since", iso(CUTOFF - timedelta(days=2)), "-o", "json")
    assert refused.exit_code == 7
    inside = CUTOFF + timedelta(days=1)
    rows, _ = report(cli, inside, END, "--by", "process")
    check_against_truth(sb, rows, inside, END)


def test_the_keep_running_cleanup_of_5210(old_sandbox, tmp_path):
    sb = old_sandbox
    cli = Cli(sb, tmp_path)
    before = export(cli, tmp_path, "before.ndjson")
    services = sb.foundation.services
    live = {i.guid for i in services.live()}
    newest_service: dict[str, str] = {}
    for e in services.events:
        if e.created_us < int(CUTOFF.timestamp()) * 10**6:
            newest_service[services.instances[e.instance].guid] = e.guid
    sb.cleanup(now=END, keep_running=True)
    after = export(cli, tmp_path, "after.ndjson")
    old = [e for e in after if e["created_at"] < iso(CUTOFF)]
    baselines = expected_baselines(before, sb)
    assert baselines and {e["guid"] for e in old} == baselines
    assert after == [e for e in before if e["created_at"] >= iso(CUTOFF) or e["guid"] in baselines]
    assert {e["state"]["current"] for e in old} <= {"STARTED", "TASK_STARTED"}
    kept_services = {
        e.guid for e in services.events if e.created_us < int(CUTOFF.timestamp()) * 10**6
    }
    assert kept_services == {g for i, g in newest_service.items() if i in live}
    # the oldest event CC holds is now far older than the cutoff: an "oldest event" check alone
    # no longer sees that the events between it and the cutoff are gone
    assert after[0]["created_at"] < iso(CUTOFF - timedelta(days=1))
    # a window inside retention is still exact
    inside = CUTOFF + timedelta(days=1)
    rows, _ = report(cli, inside, END, "--by", "process")
    check_against_truth(sb, rows, inside, END)


def test_purge_and_reseed(old_sandbox, tmp_path):
    sb = old_sandbox
    cli = Cli(sb, tmp_path)
    processes, _ = running_now(sb)
    sb.purge_and_reseed()
    after = export(cli, tmp_path, "after.ndjson")
    # one STARTED per running process, its guid the process guid, no process type
    assert {e["guid"] for e in after} == processes
    assert all(e["guid"] == e["process"]["guid"] and e["process"]["type"] is None for e in after)
    assert {e["state"]["current"] for e in after} == {"STARTED"}
    refused = cli("usage", "report", "--since", iso(END - timedelta(days=1)), "-o", "json")
    assert refused.exit_code == 7
