"""The default table streams when piped: the first rows leave after the first page, memory
stays flat whatever the listing's size, and a closed pipe ends the run with 141 and no noise
(issue 20, item 1). Requests are counted at the server, never timed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from cfevents.output.formatters import OutputSpec, write
from cfevents.output.table import FIRST_PAGE_MAX

EVENTS = 40_000  # 8 pages of 5000 (the --all page size)
PATH = "/v3/app_usage_events"


@pytest.fixture(scope="module")
def slow_sandbox():
    from cfevents.sandbox import Sandbox, SandboxConfig

    sb = Sandbox(SandboxConfig(seed=5, usage_events=EVENTS, latency_ms=300)).start()
    yield sb
    sb.stop()


def _env(sandbox, tmp_path):
    env = {
        **os.environ,
        "CF_API": sandbox.url,
        "CF_TOKEN": sandbox.admin_token(),
        "CF_HOME": str(tmp_path),
    }
    env.pop("CFEVENTS_OUTPUT", None)
    return env


def _pages_served(sandbox):
    return sum(1 for r in sandbox.requests if r.path == PATH)


def _wait_for(condition, what, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_piped_table_first_line_after_the_first_page_and_141_on_a_closed_pipe(
    slow_sandbox, tmp_path
):
    slow_sandbox.clear_requests()
    errors = tmp_path / "stderr"
    with errors.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cfevents", "usage", "list", "--all"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=_env(slow_sandbox, tmp_path),
        )
    header = proc.stdout.readline()
    assert header.startswith(b"time ")
    assert proc.stdout.readline().startswith(b"----")
    first_row = proc.stdout.readline()
    assert first_row[:2] == b"20"  # a timestamp: a row, not the rule
    served = _pages_served(slow_sandbox)
    assert 1 <= served <= 2, f"the first row waited for {served} pages"  # 0.2.0: all 8
    proc.stdout.close()  # `| head -2` exits
    _wait_for(lambda: proc.poll() is not None, "cfevents to stop")
    assert proc.returncode == 141
    assert errors.read_bytes() == b""  # quietly, like every other format
    assert _pages_served(slow_sandbox) < EVENTS // 5000  # and it stopped reading


def _peak_rss_kb(args, sandbox, tmp_path):
    """Run cfevents with stdout drained into /dev/null through a pipe; its peak RSS in KB."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cfevents", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=_env(sandbox, tmp_path),
    )
    with proc.stdout:
        lines = sum(1 for _ in proc.stdout)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0
    return lines, usage.ru_maxrss


def test_piped_table_memory_is_flat_like_csv(slow_sandbox, tmp_path, monkeypatch):
    # memory, not timing: the pages' latency (for the first-row test) only slows this one
    monkeypatch.setattr(slow_sandbox, "config", replace(slow_sandbox.config, latency_ms=0.0))
    lines, table_kb = _peak_rss_kb(["usage", "list", "--all"], slow_sandbox, tmp_path)
    assert lines == EVENTS + 2  # header, rule and every event
    _, csv_kb = _peak_rss_kb(["usage", "list", "--all", "-o", "csv"], slow_sandbox, tmp_path)
    # 0.2.0 held every row: 40k events took ~1.5x the csv's memory
    assert table_kb <= csv_kb * 1.15, (table_kb, csv_kb)


class _Paged:
    """Records in pages, counted the way a Listing's PageInfo counts them."""

    def __init__(self, pages):
        from cfevents.cc.paging import PageInfo, resources

        self.info = PageInfo()
        self._items = resources(({"resources": p} for p in pages), self.info)
        self.pulled = 0
        self.paged = True

    def __iter__(self):
        for item in self._items:
            self.pulled += 1
            yield item


def _rows(*names):
    return [{"guid": f"g{i}", "name": name} for i, name in enumerate(names)]


def test_widths_come_from_the_first_page_and_later_rows_never_reflow():
    from io import StringIO

    records = _Paged([_rows("a", "bb"), _rows("a much longer name")])
    out = StringIO()
    spec = OutputSpec(fmt="table", columns=("guid", "name"))
    count = write(records, out, spec)
    assert count == 3
    lines = out.getvalue().splitlines()
    assert lines[:4] == ["guid    name", "------  ------", "g0      a", "g1      bb"]
    assert lines[4] == "g0      a much longer name"  # pushed, never cut, when piped


def test_the_first_block_is_written_before_the_second_page_is_read():
    class Watch:
        def __init__(self, records):
            self.records = records
            self.seen_at_first_write = None

        def write(self, text):
            if self.seen_at_first_write is None:
                self.seen_at_first_write = self.records.pulled
            return len(text)

        def flush(self):
            pass

    records = _Paged([_rows("a", "b", "c"), _rows("d")])
    out = Watch(records)
    write(records, out, OutputSpec(fmt="table", columns=("guid", "name")))
    assert out.seen_at_first_write == 3


def test_without_pages_widths_come_from_the_first_rows_only():
    from io import StringIO

    records = [{"name": "x"}] * FIRST_PAGE_MAX + [{"name": "longer"}]
    out = StringIO()
    write(iter(records), out, OutputSpec(fmt="table", columns=("name",), headers=False))
    lines = out.getvalue().splitlines()
    assert lines[0] == "-" and lines[-1] == "-" and lines[-2] == "longer"
