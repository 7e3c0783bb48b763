"""Soak: kill -9 an incremental export at random points (the first before its first
checkpoint), under injected faults, expiring tokens and events arriving, rerun to completion,
and compare with the sandbox's truth: every event exactly once. Bounded (~30 s)."""

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import pytest

from cfevents.export import checkpoint as ckpt
from cfevents.sandbox import Sandbox, SandboxConfig
from cfevents.sandbox.faults import FaultConfig

BUDGET_S = 25.0  # for the killing phase; the final run follows


def read_guids(path):
    if not path.exists():
        return []
    return [json.loads(line)["guid"] for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_kill_9_at_random_points_under_faults_is_exact(tmp_path):
    rng = random.Random(20261125)
    faults = FaultConfig(
        rate=0.2, seed=4, kinds=("502", "503", "429", "drop"), retry_after=1, expire_token_every=5
    )
    end = datetime.now(UTC).replace(microsecond=0)
    config = SandboxConfig(seed=23, end=end, latency_ms=30, faults=faults, usage_events=3000)
    with Sandbox(config).start() as sb:
        home = tmp_path / "home"
        (home / ".cf").mkdir(parents=True)
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
        env = {**os.environ, "CF_HOME": str(home), "CF_API": "", "CF_TOKEN": ""}
        env.update({"CFEVENTS_OUTPUT": "", "CF_CLIENT_ID": ""})
        out, cp = tmp_path / "u.ndjson", tmp_path / "u.ckpt"
        out.write_text("")  # an existing, empty file: the first run appends to it
        cmd = [sys.executable, "-m", "cfevents", "--retries", "10", "usage", "export"]
        cmd += ["--checkpoint", str(cp), "--out", str(out), "--per-page", "200", "--min-age", "0s"]

        stop = threading.Event()

        def arrive():
            while not stop.wait(0.2):
                sb.append_usage_events(2)

        feeder = threading.Thread(target=arrive)
        feeder.start()
        kills = early = 0
        started = time.monotonic()
        try:
            while time.monotonic() - started < BUDGET_S and kills < 14:
                proc = subprocess.Popen(
                    cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
                )
                # the first kill lands during start-up, before any page is recorded
                delay = 0.15 if kills == 0 else rng.uniform(0.1, 2.0)
                try:
                    proc.wait(timeout=delay)
                except subprocess.TimeoutExpired:
                    if not cp.exists() or ckpt.load(cp).events == 0:
                        early += 1
                    proc.send_signal(signal.SIGKILL)
                    kills += 1
                _, err = proc.communicate(timeout=30)
                assert proc.returncode in (0, -signal.SIGKILL), err
                written = read_guids(out)
                assert len(written) == len(set(written)), "a killed run left a duplicate"
        finally:
            stop.set()
            feeder.join()
        final = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert final.returncode == 0, final.stderr
        assert read_guids(out) == [e["guid"] for e in sb.foundation.usage_events_v3()]
        assert kills >= 5 and early >= 1, (kills, early)
        assert sb.faults.injected.get("expired-token"), sb.faults.injected
