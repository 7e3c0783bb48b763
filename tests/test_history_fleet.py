"""Several foundations, one store (issue 19, item 5): two collectors feed one PostgreSQL
database at the same time; per-foundation reports equal each sandbox's own truth, and
``--by foundation`` puts them side by side (its rows sum to the fleet's totals)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from conftest import Cli

from cfevents.sandbox import Sandbox, SandboxConfig

END = datetime(2026, 3, 1, tzinfo=UTC)
SINCE, UNTIL = "2026-02-23T00:00:00Z", "2026-02-28T00:00:00Z"


@pytest.fixture
def two_sandboxes():
    pair = [Sandbox(SandboxConfig(seed=seed, end=END, days=10)).start() for seed in (41, 43)]
    yield pair
    for sb in pair:
        sb.stop()


def collector(sb: Sandbox, store: str, home: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "CF_API": sb.url,
        "CF_TOKEN": sb.admin_token(),
        "CF_HOME": home,
        "CF_CLIENT_ID": "",
    }
    env.pop("CFEVENTS_STORE", None)
    return subprocess.Popen(
        [sys.executable, "-m", "cfevents", "--quiet", "history", "sync", store],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_collectors_feed_one_postgresql(two_sandboxes, pg_url, tmp_path):
    runs = [collector(sb, pg_url, str(tmp_path)) for sb in two_sandboxes]  # at the same time
    for run in runs:
        _, err = run.communicate(timeout=180)
        assert run.returncode == 0, err
    cli = Cli(two_sandboxes[0], tmp_path)
    window = ["--input", pg_url, "--since", SINCE, "--until", UNTIL, "-o", "json"]
    totals = {}
    for sb in two_sandboxes:
        result = cli("usage", "report", *window, "--foundation", sb.url, "--by", "process")
        assert result.exit_code == 0, result.stderr
        rows = json.loads(result.stdout)
        truth = sb.usage_truth(datetime.fromisoformat(SINCE), datetime.fromisoformat(UNTIL))
        want = {g: u.instance_seconds for g, u in truth.items() if u.instance_seconds}
        got = {r["process_guid"]: r["instance_seconds"] for r in rows if r["instance_seconds"]}
        assert got == want and want
        totals[sb.url] = sum(r["instance_seconds"] for r in rows)
    fleet = cli("usage", "report", *window, "--by", "foundation")
    assert fleet.exit_code == 0, fleet.stderr
    by_foundation = {r["foundation"]: r["instance_seconds"] for r in json.loads(fleet.stdout)}
    assert by_foundation == totals
    by_org = cli("usage", "report", *window, "--by", "foundation,org")
    assert by_org.exit_code == 0, by_org.stderr
    org_rows = json.loads(by_org.stdout)
    assert {r["foundation"] for r in org_rows} == set(totals)
    for url, seconds in totals.items():
        assert sum(r["instance_seconds"] for r in org_rows if r["foundation"] == url) == seconds
    table = cli("usage", "report", *window[:-2], "--by", "foundation")
    assert table.exit_code == 0 and "TOTAL" in table.stdout
    assert two_sandboxes[0].url in table.stdout and two_sandboxes[1].url in table.stdout
