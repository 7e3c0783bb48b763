"""Exports through a failing foundation: 502/503/429, dropped connections, slow answers,
tokens expiring mid-export and events arriving while it runs — every event exactly once."""

import csv
import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from typer.testing import CliRunner

from cfevents.cli import app
from cfevents.export import checkpoint as ckpt
from cfevents.sandbox import Sandbox, SandboxConfig
from cfevents.sandbox.faults import FaultConfig


def serve(**faults):
    end = datetime.now(UTC).replace(microsecond=0)
    return Sandbox(SandboxConfig(seed=21, end=end, faults=FaultConfig(**faults))).start()


def login(sb, home):
    """A cf CLI login with a refresh token, so an expired token can be refreshed."""
    (home / ".cf").mkdir(parents=True, exist_ok=True)
    (home / ".cf" / "config.json").write_text(
        json.dumps(
            {
                "ConfigVersion": 4,
                "Target": sb.url,
                "AccessToken": sb.admin_token(),
                "RefreshToken": sb.refresh_token(),
                "AuthorizationEndpoint": sb.url,
            }
        )
    )
    return {"CF_HOME": str(home), "CF_API": "", "CF_TOKEN": "", "CFEVENTS_OUTPUT": ""}


def run(env, *args):
    return CliRunner().invoke(app, list(args), env=env)


def guids(sb):
    return [e["guid"] for e in sb.foundation.usage_events_v3()]


def read_guids(path, fmt):
    if fmt == "csv":
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
        assert rows[0][0] == "guid" and all(r[0] != "guid" for r in rows[1:])
        return [r[0] for r in rows[1:]]
    return [json.loads(line)["guid"] for line in path.read_text().splitlines()]


@pytest.mark.parametrize(("kind", "status"), [("502", 502), ("503", 503), ("429", 429)])
def test_injected_http_faults_look_like_the_real_ones(kind, status):
    with serve(rate=1.0, kinds=(kind,), retry_after=3) as sb:
        resp = requests.get(
            f"{sb.url}/v3/app_usage_events", headers={"Authorization": sb.admin_token()}, timeout=10
        )
        assert resp.status_code == status
        if kind == "502":
            assert resp.text.startswith("502 Bad Gateway") and resp.headers["X-Cf-Routererror"]
        elif kind == "503":
            assert resp.json()["errors"][0]["title"] == "CF-ServiceUnavailable"
        else:
            assert resp.headers["Content-Type"].startswith("text/plain")
            assert resp.headers["Retry-After"] == "3" and resp.headers["X-RateLimit-Reset"]
            assert resp.json()["errors"][0]["code"] == 10013
        assert requests.get(f"{sb.url}/", timeout=10).status_code == 200  # never the root


def test_dropped_connection_and_expiring_token():
    with serve(rate=1.0, kinds=("drop",)) as sb, pytest.raises(requests.ConnectionError):
        requests.get(
            f"{sb.url}/v3/app_usage_events", headers={"Authorization": sb.admin_token()}, timeout=10
        )
    with serve(expire_token_every=2) as sb:
        token = sb.admin_token()
        statuses = [
            requests.get(
                f"{sb.url}/v3/app_usage_events?per_page=1",
                headers={"Authorization": token},
                timeout=10,
            ).status_code
            for _ in range(3)
        ]
        assert statuses == [200, 401, 401]


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_export_through_faults_and_live_events_is_exact(tmp_path, fmt):
    with serve(
        rate=0.25, seed=3, kinds=("502", "503", "429", "drop"), retry_after=1, expire_token_every=6
    ) as sb:
        env = login(sb, tmp_path)
        out, cp = tmp_path / f"u.{fmt}", tmp_path / "c"
        args = [
            "--retries",
            "8",
            "usage",
            "export",
            "--checkpoint",
            str(cp),
            "--out",
            str(out),
            "--per-page",
            "250",
            "--min-age",
            "0s",
        ]
        stop = threading.Event()

        def arrive():
            while not stop.is_set():
                sb.append_usage_events(3)
                time.sleep(0.05)

        feeder = threading.Thread(target=arrive)
        feeder.start()
        try:
            first = run(env, *args)
        finally:
            stop.set()
            feeder.join()
        assert first.exit_code == 0, first.output
        assert "retry" in first.stderr
        written = read_guids(out, fmt)
        assert written == guids(sb)[: len(written)]  # a gap-free prefix, no duplicates
        second = run(env, *args)
        assert second.exit_code == 0, second.output
        assert read_guids(out, fmt) == guids(sb)
        injected = sb.faults.injected
        assert injected.get("expired-token") and sum(injected.values()) >= 4


def test_slow_answers_time_out_and_are_retried(tmp_path):
    with serve(rate=0.5, seed=5, kinds=("slow",), slow_ms=1500) as sb:
        env = login(sb, tmp_path)
        out = tmp_path / "u.csv"
        result = run(
            env,
            "--timeout",
            "0.5",
            "--retries",
            "8",
            "usage",
            "export",
            "--out",
            str(out),
            "--per-page",
            "500",
        )
        assert result.exit_code == 0, result.output
        assert "timed out" in result.stderr
        assert read_guids(out, "csv") == guids(sb)


def test_retries_run_out_with_a_clear_message(tmp_path):
    with serve(rate=1.0, kinds=("503",)) as sb:
        env = login(sb, tmp_path)
        cp = tmp_path / "c"
        result = run(
            env, "--retries", "2", "usage", "export", "--checkpoint", str(cp), "-o", "ndjson"
        )
        assert result.exit_code == 5
        line = result.stderr.strip().splitlines()[-1]
        assert "Database connection failure" in line and "gave up after 3 attempts" in line
        assert "stopped after reading 0 events" in line
        assert not cp.exists()


def test_min_age_keeps_slow_transactions_from_being_skipped(tmp_path):
    """Rows commit out of id order: without the guard the cursor passes them for good.

    Ages come from the events' own times and the API's clock, never from how long the test
    takes: the later, visible events are 5 minutes old (younger than a 1h guard however slow
    the machine), and the second run reads the API's clock set 2h ahead (every event older
    than the guard; the export trusts the API's clock when it is that far from ours)."""
    for min_age, expect_all in (("0s", False), ("1h", True)):
        with serve() as sb:
            env = login(sb, tmp_path / min_age)
            out, cp = tmp_path / min_age / "u.ndjson", tmp_path / min_age / "c"
            args = [
                "usage",
                "export",
                "--checkpoint",
                str(cp),
                "--out",
                str(out),
                "--min-age",
                min_age,
            ]
            now = datetime.now(UTC)
            slow = sb.begin_transaction(2, at=now - timedelta(minutes=10))  # ids taken, not visible
            sb.append_usage_events(3, at=now - timedelta(minutes=5))  # later ids, visible now
            assert run(env, *args).exit_code == 0
            first = read_guids(out, "ndjson")
            assert (guids(sb)[-3] in first) is not expect_all  # the guard held the young ones back
            slow.commit()
            sb.set_clock(now + timedelta(hours=2))  # every event is older than the guard now
            assert run(env, *args).exit_code == 0
            complete = read_guids(out, "ndjson") == guids(sb)
            assert complete is expect_all
            assert ckpt.load(cp).after_guid == guids(sb)[-1] or not expect_all
