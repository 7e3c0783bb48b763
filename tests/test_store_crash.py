"""Kill -9 and overlapping exports against both stores: the store ends exact every time.

A writer process (tests/store_writer.py) exports sandbox events a page per transaction and
resumes from the cursor in the store; these tests kill it at random points (between pages and
inside a page's transaction), start a second writer over a running one, and then check that
the store holds every event once, in Cloud Controller's order, with seq 1..N.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from store_helpers import FOUNDATION, sandbox_events

from cfevents.stores import APP_USAGE, open_store

WRITER = Path(__file__).parent / "store_writer.py"
N, PER_PAGE = 2000, 100


def start_writer(
    target: str, pause: float, hold: Path | None = None, batch: tuple[int, int] | None = None
) -> subprocess.Popen[str]:
    gate = [str(hold)] if hold else []
    if batch is not None:
        gate = [str(hold or ""), str(batch[0]), str(batch[1])]
    return subprocess.Popen(
        [sys.executable, str(WRITER), target, str(N), str(PER_PAGE), str(pause), *gate],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_pages(writer: subprocess.Popen[str], pages: int) -> None:
    """Read the writer's progress until it has committed ``pages`` pages in this run."""
    assert writer.stdout is not None
    seen = 0
    while seen < pages:
        line = writer.stdout.readline()
        assert line, f"writer ended early: {writer.wait()} {writer.stderr.read()}"  # type: ignore[union-attr]
        seen += line.startswith("wrote")


def assert_exact(target: str) -> None:
    events = sandbox_events(N)
    with open_store(target) as store:
        assert list(store.events(FOUNDATION, APP_USAGE)) == events
        coverage = store.coverage(FOUNDATION, APP_USAGE)
        assert (coverage.events, coverage.first_seq, coverage.last_seq) == (N, 1, N)
        assert store.continuity(FOUNDATION, APP_USAGE).ok
        assert store.cursor(FOUNDATION, APP_USAGE).after_guid == events[-1]["guid"]


def stored(target: str) -> int:
    with open_store(target) as store:
        coverage = store.coverage(FOUNDATION, APP_USAGE)
        return coverage.events if coverage else 0


def test_kill_9_at_random_points_then_rerun_is_exact(store_target):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    progress = []
    for _ in range(4):
        writer = start_writer(store_target, pause=rng.choice([0.0, 0.005]))
        wait_for_pages(writer, rng.randint(1, 3))
        time.sleep(rng.uniform(0, 0.01))  # often inside the next page's transaction
        os.kill(writer.pid, signal.SIGKILL)
        writer.communicate()
        assert writer.returncode == -signal.SIGKILL
        progress.append(stored(store_target))
        assert progress[-1] % PER_PAGE == 0, f"a page was half-stored (seed {seed})"
    assert 0 < progress[0] < progress[-1] < N, f"no kill landed mid-export (seed {seed})"
    rerun = start_writer(store_target, pause=0)
    out, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    assert f"resuming at {progress[-1]}" in out  # from the cursor committed with the last page
    assert_exact(store_target)


def test_overlapping_exports_never_interleave(store_target, tmp_path):
    go_on = tmp_path / "go-on"
    first = start_writer(store_target, pause=0, hold=go_on)  # holds after its first page
    wait_for_pages(first, 1)
    second = start_writer(store_target, pause=0)
    _, err = second.communicate(timeout=120)
    assert second.returncode == 3, err  # refused at once while the first one runs
    assert "another export holds" in err and "Traceback" not in err
    assert first.poll() is None  # the second one did not wait for the first to finish
    go_on.touch()
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    again = start_writer(store_target, pause=0)  # after it: resumes at the end, adds nothing
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert f"resuming at {N}" in out
    assert_exact(store_target)


def test_two_exports_started_together_leave_the_store_exact(store_target):
    writers = [start_writer(store_target, pause=0.002) for _ in range(2)]
    codes = sorted(w.wait(timeout=120) for w in writers)
    for w in writers:
        w.communicate()
    assert codes in ([0, 0], [0, 3])  # one after the other, or the later one refused
    assert_exact(store_target)


def test_kill_9_mid_batch_loses_only_the_uncommitted_pages_and_the_rerun_is_exact(
    store_target, tmp_path
):
    """Pages sharing a transaction (5 per commit): killed holding 2 pages after a commit,
    the store keeps the 5 committed pages and the cursor after them, nothing of the 2 others;
    the rerun reads those again and the store ends exact (no loss, no duplicate)."""
    go_on = tmp_path / "never"
    writer = start_writer(store_target, pause=0, hold=go_on, batch=(5, 7))
    assert writer.stdout is not None
    lines = [writer.stdout.readline() for _ in range(8)]  # "resuming at 0", then 7 pages
    assert lines[-1].split() == ["wrote", "700", "committed", "500"], lines
    assert lines[4].split() == ["wrote", "400", "committed", "0"], lines  # not yet committed
    os.kill(writer.pid, signal.SIGKILL)  # held after page 7: certainly mid-batch
    writer.communicate()
    events = sandbox_events(N)
    with open_store(store_target) as store:
        assert [e["guid"] for e in store.events(FOUNDATION, APP_USAGE)] == [
            e["guid"] for e in events[:500]
        ]
        assert store.cursor(FOUNDATION, APP_USAGE).after_guid == events[499]["guid"]
    rerun = start_writer(store_target, pause=0, batch=(5, 0))
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert "resuming at 500" in out
    assert_exact(store_target)
