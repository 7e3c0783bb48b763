"""`cfevents services list|get|export` end to end against the sandbox, and the SQLite export."""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import sys
from pathlib import Path

import requests
from test_cli_export import ndjson_guids, run_cli, wait_for

from cfevents.export import checkpoint as ckpt
from cfevents.output.columns import SERVICE_USAGE_COLUMNS

PATH = "/v3/service_usage_events"


def sandbox_events(sb, **params):
    reply = requests.get(
        sb.url + PATH,
        params={"per_page": "5000", **params},
        headers={"Authorization": sb.admin_token()},
    )
    return reply.json()["resources"]


def test_list_every_format_and_parameter(cli, sandbox):
    events = sandbox_events(sandbox)
    result = cli("services", "list", "--all", "-o", "ndjson")
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["guid"] for line in result.stdout.splitlines()] == [
        e["guid"] for e in events
    ]
    result = cli(
        "services", "list", "--all", "-o", "csv", "--type", "user_provided_service_instance"
    )
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == SERVICE_USAGE_COLUMNS
    ups = sandbox_events(sandbox, service_instance_types="user_provided_service_instance")
    assert [r[0] for r in rows[1:]] == [e["guid"] for e in ups]
    assert all(r[7] == "" for r in rows[1:])  # no plan for user-provided instances
    offering = next(e["service_offering"]["guid"] for e in events if e["service_offering"])
    result = cli("services", "list", "--all", "-o", "json", "--offering-guid", offering)
    assert [e["guid"] for e in json.loads(result.stdout)] == [
        e["guid"] for e in events if (e["service_offering"] or {}).get("guid") == offering
    ]
    mid = events[len(events) // 2]["created_at"]
    result = cli("services", "list", "--all", "-o", "ndjson", "--since", mid, "--order", "desc")
    got = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(e["guid"] for e in got) == sorted(
        e["guid"] for e in events if e["created_at"] >= mid
    )
    assert [e["created_at"] for e in got] == sorted((e["created_at"] for e in got), reverse=True)
    result = cli("services", "list", "--after-guid", events[4]["guid"], "--limit", "3", "-o", "tsv")
    assert [line.split("\t")[0] for line in result.stdout.splitlines()[1:]] == [
        e["guid"] for e in events[5:8]
    ]
    result = cli("services", "list", "--page", "2", "--per-page", "5", "-o", "ndjson")
    assert [json.loads(line)["guid"] for line in result.stdout.splitlines()] == [
        e["guid"] for e in events[5:10]
    ]
    table = cli("services", "list", "--limit", "2")  # the two most recent, oldest first
    assert table.exit_code == 0 and events[-1]["service_instance"]["name"] in table.stdout


def test_get_and_bad_input(cli, sandbox):
    event = sandbox_events(sandbox)[7]
    result = cli("services", "get", event["guid"], "-o", "json")
    assert json.loads(result.stdout)["guid"] == event["guid"]
    assert cli("services", "get", "no-such-guid").exit_code != 0
    bad = cli("services", "list", "--after-guid", "no-such-guid")
    assert bad.exit_code == 5 and "knows no service usage event no-such-guid" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert cli("services", "list", "--type", "bogus").exit_code == 2
    assert cli("services", "list", "--per-page", "5001").exit_code == 2
    assert cli("services", "list", "--fields", "nope").exit_code == 2


def test_non_global_readers_see_nothing_and_are_told_why(cli, sandbox):
    result = cli("services", "list", "-o", "ndjson", token=sandbox.token(["cloud_controller.read"]))
    assert result.exit_code == 0 and result.stdout == ""
    assert "Cloud Controller only shows service usage events to admin" in result.stderr


def test_export_with_checkpoint_is_exact_across_kill_9(tmp_path):
    from cfevents.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(seed=5, end=None, latency_ms=40)).start() as sb:
        every = [e["guid"] for e in sandbox_events(sb)]
        out, cp = tmp_path / "s.ndjson", tmp_path / "c"
        args = ("services", "export", "--checkpoint", str(cp), "--out", str(out), "--per-page", "4")
        proc = run_cli(sb, tmp_path, *args, wait=False)
        wait_for(lambda: cp.exists() and ckpt.load(cp).events >= 20)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        assert 0 < ckpt.load(cp).events < len(every)
        code, _, err = run_cli(sb, tmp_path, *args)
        assert code == 0, err
        assert ndjson_guids(out) == every
        sb.service_action("create")  # just now: younger than the default 60s min-age
        code, _, err = run_cli(sb, tmp_path, *args)
        assert code == 0 and ndjson_guids(out) == every
        code, _, err = run_cli(sb, tmp_path, *args, "--min-age", "0s")
        assert ndjson_guids(out) == [e["guid"] for e in sandbox_events(sb)]


def test_export_into_sqlite_is_exact_across_kill_9(tmp_path):
    from cfevents.sandbox import Sandbox, SandboxConfig
    from cfevents.stores import SERVICE_USAGE, open_store

    writer = Path(__file__).parent / "service_store_writer.py"
    with Sandbox(SandboxConfig(seed=5, end=None)).start() as sb:
        every = sandbox_events(sb)
        target = str(tmp_path / "usage.db")
        cmd = [sys.executable, str(writer), sb.url, sb.admin_token(), target, "3"]
        proc = subprocess.Popen([*cmd, "0.05"], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        for _ in range(5):
            proc.stdout.readline()
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        with open_store(target) as store:
            partial = list(store.events(sb.url, SERVICE_USAGE))
        assert 0 < len(partial) < len(every)
        for _ in range(2):  # a rerun resumes; a second one adds nothing
            assert subprocess.run([*cmd, "0"], capture_output=True, timeout=60).returncode == 0
        with open_store(target) as store:
            stored = list(store.events(sb.url, SERVICE_USAGE))
            assert [e["guid"] for e in stored] == [e["guid"] for e in every]
            assert stored == every  # as Cloud Controller sent them


def test_library_export_writes_the_service_columns(sandbox, tmp_path):
    import cfevents

    client = cfevents.connect(sandbox.url, sandbox.admin_token())
    out = tmp_path / "s.csv"
    with client.service_usage_export(
        out=out, service_instance_types="managed_service_instance"
    ) as job:
        written = job.run()
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert tuple(rows[0]) == SERVICE_USAGE_COLUMNS
    managed = sandbox_events(sandbox, service_instance_types="managed_service_instance")
    assert written == len(managed) and [r[0] for r in rows[1:]] == [e["guid"] for e in managed]
