"""`cfevents usage export`: exactly-once incremental exports, kills, lost cursors, follow."""

import csv
import io
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_helpers import QUICK_POLL_CFEVENTS, wait_for

from cfevents.export import checkpoint as ckpt


def sandbox_guids(sb):
    return [e["guid"] for e in sb.foundation.usage_events_v3()]


def csv_guids(path: Path):
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][0] == "guid"
    assert all(r[0] != "guid" for r in rows[1:]), "header written more than once"
    return [r[0] for r in rows[1:]]


def ndjson_guids(path: Path):
    return [json.loads(line)["guid"] for line in path.read_text().splitlines()]


def run_cli(sb, home, *args, wait=True, quick_polls=False, **popen):
    env = {
        **os.environ,
        "CF_API": sb.url,
        "CF_TOKEN": sb.admin_token(),
        "CF_HOME": str(home),
        "CFEVENTS_OUTPUT": "",
    }
    cmd = [*(QUICK_POLL_CFEVENTS if quick_polls else [sys.executable, "-m", "cfevents"]), *args]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
    )
    if wait:
        out, err = proc.communicate(timeout=120)
        return proc.returncode, out, err
    return proc


def test_export_to_file_every_event_once(cli, tmp_path):
    out = tmp_path / "all.csv"
    result = cli("usage", "export", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert csv_guids(out) == sandbox_guids(cli.sandbox)
    assert result.stdout == ""
    assert "exported" in result.stderr


def test_export_format_from_extension_and_stdout(cli, tmp_path):
    out = tmp_path / "all.ndjson"
    cli("usage", "export", "--out", str(out), "--until", "2026-01-10")
    assert ndjson_guids(out)
    result = cli("-q", "usage", "export", "--until", "2026-01-10", "-o", "tsv")
    assert result.stdout.splitlines()[0].startswith("guid\tcreated_at")
    assert result.stderr == ""


def test_incremental_checkpoint_appends_new_events_once(fresh_cli, tmp_path):
    sb = fresh_cli.sandbox
    out, cp = tmp_path / "usage.csv", tmp_path / "usage.ckpt"
    args = ("usage", "export", "--checkpoint", str(cp), "--out", str(out))
    first = fresh_cli(*args)
    assert first.exit_code == 0, first.output
    assert csv_guids(out) == sandbox_guids(sb)
    saved = ckpt.load(cp)
    assert saved.after_guid == sandbox_guids(sb)[-1]
    assert saved.output.bytes == out.stat().st_size

    sb.append_usage_events(25, at=datetime.now(UTC) - timedelta(minutes=5))
    second = fresh_cli(*args)
    assert second.exit_code == 0, second.output
    assert csv_guids(out) == sandbox_guids(sb)
    assert "exported 25 events" in second.stderr
    # nothing new: nothing written, checkpoint unchanged
    size = out.stat().st_size
    assert fresh_cli(*args).exit_code == 0
    assert out.stat().st_size == size


def test_min_age_holds_back_young_events(fresh_cli, tmp_path):
    sb = fresh_cli.sandbox
    out, cp = tmp_path / "u.ndjson", tmp_path / "c"
    args = ["usage", "export", "--checkpoint", str(cp), "--out", str(out)]
    fresh_cli(*args)
    before = len(ndjson_guids(out))
    sb.append_usage_events(5, at=datetime.now(UTC))
    result = fresh_cli(*args)
    assert len(ndjson_guids(out)) == before
    assert "younger than 60s are left for the next run" in result.stderr
    result = fresh_cli(*args, "--min-age", "0s")
    assert ndjson_guids(out) == sandbox_guids(sb)


def test_killed_export_rerun_gives_exact_union(tmp_path):
    from cfevents.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(seed=5, end=None, latency_ms=40)).start() as sb:
        out, cp = tmp_path / "u.csv", tmp_path / "c"
        args = ("usage", "export", "--checkpoint", str(cp), "--out", str(out), "--per-page", "100")
        proc = run_cli(sb, tmp_path, *args, wait=False)
        wait_for(lambda: cp.exists() and ckpt.load(cp).events >= 300)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        partial = ckpt.load(cp).events
        assert 0 < partial < len(sandbox_guids(sb))
        code, _, err = run_cli(sb, tmp_path, *args)
        assert code == 0, err
        assert csv_guids(out) == sandbox_guids(sb)


def test_ctrl_c_exits_130_and_checkpoint_is_consistent(tmp_path):
    from cfevents.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(seed=6, end=None, latency_ms=40)).start() as sb:
        out, cp = tmp_path / "u.ndjson", tmp_path / "c"
        args = ("usage", "export", "--checkpoint", str(cp), "--out", str(out), "--per-page", "100")
        proc = run_cli(sb, tmp_path, *args, wait=False)
        wait_for(lambda: cp.exists() and ckpt.load(cp).events >= 200)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 130
        assert "Traceback" not in err and "interrupted" in err
        saved = ckpt.load(cp)
        written = ndjson_guids(out)[: saved.events]
        assert written == sandbox_guids(sb)[: saved.events]
        code, _, err = run_cli(sb, tmp_path, *args)
        assert code == 0, err
        assert ndjson_guids(out) == sandbox_guids(sb)


def test_lost_cursor_fails_loudly_then_restarts_on_request(fresh_cli, tmp_path):
    sb = fresh_cli.sandbox
    out, cp = tmp_path / "u.ndjson", tmp_path / "c"
    args = ["usage", "export", "--checkpoint", str(cp), "--out", str(out), "--min-age", "0s"]
    assert fresh_cli(*args).exit_code == 0
    sb.purge_and_reseed()
    size = out.stat().st_size
    result = fresh_cli(*args)
    assert result.exit_code == 5
    assert (
        "no longer knows the cursor" in result.stderr
        and "--on-lost-cursor restart" in result.stderr
    )
    assert out.stat().st_size == size
    result = fresh_cli(*args, "--on-lost-cursor", "restart")
    assert result.exit_code == 0, result.output
    assert "restarting from the oldest available event" in result.stderr
    reseeded = sandbox_guids(sb)
    assert ndjson_guids(out)[-len(reseeded) :] == reseeded


def test_checkpoint_of_another_foundation_is_refused(cli, tmp_path):
    cp = tmp_path / "c"
    ckpt.save(cp, ckpt.Checkpoint(api="https://api.elsewhere.example", after_guid="x"))
    result = cli("usage", "export", "--checkpoint", str(cp), "-o", "ndjson")
    assert result.exit_code == 2
    assert "belongs to https://api.elsewhere.example" in result.stderr


def test_checkpoint_needs_an_appendable_format(cli, tmp_path):
    result = cli("usage", "export", "--checkpoint", str(tmp_path / "c"), "-o", "json")
    assert result.exit_code == 2


def test_follow_exports_new_events_until_interrupted(tmp_path):
    from cfevents.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(seed=8, end=None)).start() as sb:
        out, cp = tmp_path / "u.ndjson", tmp_path / "c"
        proc = run_cli(
            sb,
            tmp_path,
            "usage",
            "export",
            "--checkpoint",
            str(cp),
            "--out",
            str(out),
            "--follow",
            "--interval",
            "1s",
            "--min-age",
            "0s",
            wait=False,
            quick_polls=True,
        )
        total = len(sandbox_guids(sb))
        wait_for(lambda: cp.exists() and ckpt.load(cp).events == total)
        sb.append_usage_events(7)
        wait_for(lambda: ckpt.load(cp).events == total + 7)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=120)
        assert proc.returncode == 130
        assert ndjson_guids(out) == sandbox_guids(sb)


def test_sigpipe_exits_quietly():
    shell = f"{sys.executable} -m cfevents --demo -q usage list --all -o csv | head -3"
    proc = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {shell}"], capture_output=True, text=True, timeout=120
    )
    assert len(proc.stdout.splitlines()) == 3
    assert proc.stderr == ""
    assert proc.returncode == 141


def test_progress_bar_when_forced(cli, tmp_path):
    result = cli(
        "usage", "export", "--out", str(tmp_path / "x.csv"), "--progress", "--until", "2026-01-05"
    )
    assert result.exit_code == 0
    assert "exporting" in result.stderr and "events" in result.stderr


def test_failure_midway_says_how_far_it_got(cli, tmp_path, monkeypatch):
    from cfevents.cc import client as client_mod
    from cfevents.errors import NetworkError

    real = client_mod.CFClient.get_json
    calls = {"n": 0}

    def flaky(self, target, params=None, **kw):
        if "/v3/app_usage_events" in target:
            calls["n"] += 1
            if calls["n"] == 2:
                raise NetworkError("cannot connect to sandbox: connection refused")
        return real(self, target, params, **kw)

    monkeypatch.setattr(client_mod.CFClient, "get_json", flaky)
    cp, out = tmp_path / "c", tmp_path / "o.csv"
    result = cli("usage", "export", "--per-page", "100", "--checkpoint", str(cp), "--out", str(out))
    assert result.exit_code == 6
    assert "stopped after reading 100 events" in result.stderr
    assert ckpt.load(cp).events == 100
    assert len(csv_guids(out)) == 100


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_fresh_output_file_is_overwritten_without_checkpoint(cli, tmp_path, fmt):
    """Replacing a non-empty file takes --force (test_cli_export_out.py checks the refusal)."""
    out = tmp_path / f"o.{fmt}"
    out.write_text("old junk\n")
    cli("usage", "export", "--out", str(out), "--until", "2026-01-03", "--force")
    assert "old junk" not in out.read_text()
    first = out.read_text()
    cli("usage", "export", "--out", str(out), "--until", "2026-01-03", "--force")
    assert out.read_text() == first
    assert io.StringIO(first).readline()


def test_export_format_precedence(cli, tmp_path):
    """-o, then the --out extension, then CFEVENTS_OUTPUT (unless table), then NDJSON."""
    until = ("--until", "2026-01-02")
    assert cli("usage", "export", *until, env=cli.env(CFEVENTS_OUTPUT="tsv")).stdout.startswith(
        "guid\t"
    )
    assert cli("usage", "export", *until, env=cli.env(CFEVENTS_OUTPUT="table")).stdout.startswith(
        "{"
    )
    assert cli("usage", "export", *until).stdout.startswith("{")
    out = tmp_path / "x.csv"
    cli("usage", "export", *until, "--out", str(out), env=cli.env(CFEVENTS_OUTPUT="tsv"))
    assert out.read_text().startswith("guid,")
