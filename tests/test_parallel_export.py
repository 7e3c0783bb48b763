"""usage export --parallel N: the settled range in id-ordered sub-ranges at once, the serial
export's bytes (csv and ndjson), exact after kill -9 and rerun, identical under faults; the
shared back-off; a sub-range that does not hold its count falls back to serial paging."""

import signal
import threading
import time

import pytest
from test_cli_export import csv_guids, run_cli, sandbox_guids, wait_for

from cfevents.errors import ApiError
from cfevents.export import checkpoint as ckpt
from cfevents.export.parallel import Gate, parallel_pages, plan_ranges


def probes(sb):
    """The boundary probes (per_page=1, no page: a worker's page=1&per_page=1 is not one) among
    the usage list requests."""
    return [
        dict(r.params)
        for r in sb.requests
        if r.path == "/v3/app_usage_events"
        and dict(r.params).get("per_page") == "1"
        and not {"page", "order_by"} & set(dict(r.params))  # nor --since's coverage check
    ]


def no_offsets(sb):
    """Every usage list request pages by keyset: no ``page`` past the first."""
    return all(
        dict(r.params).get("page", "1") == "1"
        for r in sb.requests
        if r.path == "/v3/app_usage_events"
    )


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "tsv", "json"])
@pytest.mark.parametrize("parallel", ["2", "4", "8"])
def test_parallel_export_is_byte_identical_to_serial(cli, fmt, parallel):
    args = ("usage", "export", "-o", fmt, "--per-page", "100", "--until", "2026-01-20")
    serial = cli(*args)
    assert serial.exit_code == 0, serial.output
    cli.sandbox.clear_requests()
    fast = cli(*args, "--parallel", parallel)
    assert fast.exit_code == 0, fast.output
    assert fast.stdout_bytes == serial.stdout_bytes
    found = probes(cli.sandbox)
    # the count and one probe per instant; the events start 19 days after the span does, so a
    # second round aims the instants at them
    assert len(found) <= 2 * int(parallel) - 1
    assert {p["created_ats[lt]"] for p in found} == {"2026-01-20T00:00:00Z"}
    assert no_offsets(cli.sandbox) and not [p for p in found if "page" in p]
    assert "carrying on serially" not in fast.stderr


def test_a_small_range_is_never_split(cli):
    args = ("usage", "export", "-o", "csv", "--until", "2026-01-20")
    serial = cli(*args)
    cli.sandbox.clear_requests()
    fast = cli(*args, "--parallel", "4")  # one page of 5000: not worth splitting
    assert fast.stdout_bytes == serial.stdout_bytes
    assert len(probes(cli.sandbox)) == 4  # one round: nothing more


def test_parallel_is_refused_where_it_cannot_hold(cli, tmp_path):
    db = cli("usage", "export", "--out", str(tmp_path / "u.db"), "--parallel", "2")
    assert db.exit_code == 2 and "--parallel" in db.stderr and "Traceback" not in db.output
    follow = cli("usage", "export", "--follow", "--parallel", "2", "--checkpoint", "c")
    assert follow.exit_code == 2 and "--follow" in follow.stderr
    many = cli("usage", "export", "--parallel", "9")
    assert many.exit_code == 2 and "--parallel" in many.stderr


def test_library_usage_export_parallel(cli, monkeypatch):
    from cfevents import connect
    from cfevents.errors import UsageError

    for key, value in cli.env().items():
        monkeypatch.setenv(key, value)
    with connect() as cf:
        with pytest.raises(UsageError, match=r"1\.\.8"):
            cf.usage_export(parallel=0)
        with cf.usage_export(until="2026-01-20", per_page=100) as job:
            serial = list(job)
        with cf.usage_export(until="2026-01-20", per_page=100, parallel=4) as job:
            fast = list(job)
    assert fast == serial and len(serial) > 400


def test_killed_parallel_export_rerun_gives_the_exact_file(tmp_path):
    from cfevents.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(seed=5, end=None, latency_ms=120)).start() as sb:
        out, cp = tmp_path / "u.csv", tmp_path / "c"
        args = ("usage", "export", "--checkpoint", str(cp), "--out", str(out), "--per-page", "100")
        code, _, err = run_cli(
            sb,
            tmp_path / "serial",
            "usage",
            "export",
            "-o",
            "csv",
            "--per-page",
            "100",
            "--out",
            str(tmp_path / "serial.csv"),
        )
        assert code == 0, err
        proc = run_cli(sb, tmp_path, *args, "--parallel", "4", wait=False)
        wait_for(lambda: cp.exists() and ckpt.load(cp).events >= 300)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        partial = ckpt.load(cp).events
        assert 0 < partial < len(sandbox_guids(sb))
        code, _, err = run_cli(sb, tmp_path, *args, "--parallel", "4")
        assert code == 0, err
        assert csv_guids(out) == sandbox_guids(sb)
        assert out.read_bytes() == (tmp_path / "serial.csv").read_bytes()


def test_parallel_export_under_faults_is_still_identical(tmp_path):
    from cfevents.sandbox import Sandbox, SandboxConfig
    from cfevents.sandbox.faults import FaultConfig

    faults = FaultConfig(rate=0.15, kinds=("502", "503", "429", "drop"), seed=3, retry_after=0)
    from conftest import END, EXTERNAL

    args = ("usage", "export", "-o", "ndjson", "--per-page", "250", "--until", "2026-01-31")
    with Sandbox(SandboxConfig(seed=7, end=END, external_url=EXTERNAL)).start() as clean:
        code, serial, err = run_cli(clean, tmp_path / "a", *args)
        assert code == 0, err
    with Sandbox(
        SandboxConfig(seed=7, end=END, external_url=EXTERNAL, faults=faults)
    ).start() as sb:
        code, fast, err = run_cli(sb, tmp_path / "b", *args, "--parallel", "4")
        assert code == 0, err
        assert sum(sb.faults.injected.values()) > 0
    assert fast == serial


# -- the pieces, offline ---------------------------------------------------------------------


class FakeCC:
    """Keyset and OFFSET paging over a list of events, with total_results; ``after_probes``
    runs once all boundary probes are answered (to change the data under the workers)."""

    def __init__(self, n, after_probes=None):
        self.events = [
            {"guid": f"g{i:04d}", "created_at": f"2025-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z"}
            for i in range(n)
        ]
        self.after_probes = after_probes
        self.probed = 0
        self.lock = threading.Lock()

    def get_json(self, path, params=None):
        p = dict(params or [])
        with self.lock:
            events = list(self.events)
            if p.get("per_page") == "1":
                self.probed += 1
        if "after_guid" in p:
            guids = [e["guid"] for e in events]
            if p["after_guid"] not in guids:
                raise ApiError(422, "After guid filter must be a valid app usage event guid.")
            events = events[guids.index(p["after_guid"]) + 1 :]
        if "created_ats[lt]" in p:
            events = [e for e in events if e["created_at"] < p["created_ats[lt]"]]
        if "created_ats[gte]" in p:
            events = [e for e in events if e["created_at"] >= p["created_ats[gte]"]]
        size, page = int(p.get("per_page", 50)), int(p.get("page", 1))
        items = events[(page - 1) * size : page * size]
        more = page * size < len(events)
        return {
            "pagination": {"total_results": len(events), "next": {"href": "x"} if more else None},
            "resources": [dict(e) for e in items],
        }


END = "2025-01-01T00:03:20Z"  # 200 s after FakeCC's first event


def pages_of(cc, parallel, per_page=10, warn=None, start=None, end=END):
    got = parallel_pages(
        cc,
        "/v3/app_usage_events",
        [],
        None,
        per_page,
        parallel=parallel,
        end=end,
        warn=warn or (lambda _: None),
        start=start,
    )
    return [e["guid"] for page in got for e in page["resources"]]


def test_offline_parallel_pages_equal_serial_pages():
    cc = FakeCC(137)
    assert pages_of(cc, 4) == [e["guid"] for e in cc.events]
    assert cc.probed == 7  # CC keeps 31 days; these 137 events are 137 s: aimed again
    cc.probed = 0
    got = pages_of(cc, 4, start="2025-01-01T00:00:00Z", end="2025-01-01T00:02:17Z")
    assert got == [e["guid"] for e in cc.events]
    assert cc.probed == 4  # from the checkpoint's last event on, the events spread: one round


def test_a_sub_range_that_does_not_hold_its_count_falls_back_to_serial():
    cc = FakeCC(200)
    warnings = []
    # an event disappears from the middle of the second sub-range after the probes counted it
    planned = plan_ranges(cc, "/x", [], None, 10, 4, END, Gate(4))
    assert planned is not None
    ranges, total = planned
    assert total == 200 and len(ranges) == 4
    del cc.events[70]
    got = pages_of(cc, 4, warn=warnings.append)
    assert got == [e["guid"] for e in cc.events]
    assert len(got) == 199


def test_a_count_mismatch_after_planning_is_caught_and_paged_serially(monkeypatch):
    from cfevents.export import parallel as mod

    cc = FakeCC(200)
    warnings = []
    real = mod.plan_ranges

    def plan_then_prune(*args, **kwargs):
        planned = real(*args, **kwargs)
        gone = planned[0][2].after  # the boundary event opening sub-range 3
        cc.events = [e for e in cc.events if e["guid"] != gone]  # pruned before the workers
        return planned

    monkeypatch.setattr(mod, "plan_ranges", plan_then_prune)
    got = pages_of(cc, 4, warn=warnings.append)
    assert got == [e["guid"] for e in cc.events]
    assert warnings and "carrying on serially" in warnings[0]


def test_gate_halves_the_concurrency_and_pauses_everyone_on_a_throttle():
    now = [100.0]
    gate = Gate(8, clock=lambda: now[0])
    gate.throttled(429, 2.0)
    assert gate.limit == 4 and gate.resume_at == 102.0
    gate.throttled(503, 1.0)
    assert gate.limit == 2 and gate.resume_at == 102.0
    for _ in range(5):
        gate.throttled(429, 0)
    assert gate.limit == 1
    entered = threading.Event()

    def worker():
        with gate.slot():
            entered.set()

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    assert not entered.wait(0.2)  # paused until the clock passes resume_at
    now[0] = 103.0
    assert entered.wait(2)
    thread.join(2)


class CappedCC(FakeCC):
    """A foundation with ``renderer.max_total_results`` set: deep ``page`` numbers refused."""

    def get_json(self, path, params=None):
        p = dict(params or [])
        if int(p.get("page", 1)) * int(p.get("per_page", 50)) > 30:
            raise ApiError(400, "Maximum result (page * per_page) must be less than 30")
        return super().get_json(path, params)


class NoRelationalCC(FakeCC):
    """A proxy (or an old CC) that refuses ``created_ats[gte]``."""

    def get_json(self, path, params=None):
        if "created_ats[gte]" in dict(params or []):
            raise ApiError(422, "Created ats Invalid relational operator: 'gte'")
        return super().get_json(path, params)


def test_a_foundation_with_max_total_results_is_split_all_the_same():
    """The probes ask for no ``page`` offset, so a cap on page * per_page never trips them."""
    cc = CappedCC(200)
    notes, warnings = [], []
    got = parallel_pages(
        cc, "/v3/app_usage_events", [], None, 10, parallel=4, end=END,
        warn=warnings.append, note=notes.append,
    )  # fmt: skip
    assert [e["guid"] for page in got for e in page["resources"]] == [e["guid"] for e in cc.events]
    assert notes == [] and warnings == [] and cc.probed >= 4


def test_a_failed_boundary_probe_falls_back_to_serial_paging_with_one_note():
    cc = NoRelationalCC(137)
    notes, warnings = [], []
    got = parallel_pages(
        cc,
        "/v3/app_usage_events",
        [],
        None,
        10,
        parallel=4,
        end=END,
        warn=warnings.append,
        note=notes.append,
    )
    assert [e["guid"] for page in got for e in page["resources"]] == [e["guid"] for e in cc.events]
    assert len(notes) == 1 and "paging the range serially" in notes[0]
    assert "Invalid relational operator" in notes[0] and warnings == []


def test_a_failed_boundary_probe_on_the_sandbox_exports_the_serial_bytes(cli, monkeypatch):
    """End to end over HTTP: the probes' deep pages fail (a 400 from a proxy, say), the export
    does not: the serial export's bytes, one note on stderr, exit 0."""
    args = ("usage", "export", "-o", "csv", "--per-page", "100", "--until", "2026-01-20")
    serial = cli(*args)
    from cfevents.export import parallel as mod

    def refuse(*_args, **_kwargs):
        raise ApiError(400, "Maximum result (page * per_page) must be less than 10000")

    monkeypatch.setattr(mod, "plan_ranges", refuse)
    fast = cli(*args, "--parallel", "4")
    assert fast.exit_code == 0, fast.output
    assert fast.stdout_bytes == serial.stdout_bytes
    assert fast.stderr.count("paging the range serially") == 1


# -- one probe round; sub-ranges formatted while the first one streams -----------------------

SPREAD = ("--since", "2026-01-01T12:00:00Z", "--until", "2026-01-31T12:00:00Z")  # the data's span


@pytest.fixture(scope="module")
def spread_sandbox():
    from conftest import END, EXTERNAL

    from cfevents.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(seed=7, end=END, external_url=EXTERNAL)).start() as sb:
        yield sb


def test_the_boundaries_come_from_one_round_of_time_probes(spread_sandbox, tmp_path):
    """Every probe is in flight at once (held together at the server), none asks for a page
    offset, and none follows once the round is answered."""
    sb = spread_sandbox
    args = ("usage", "export", "-o", "csv", "--per-page", "100", *SPREAD)
    code, serial, err = run_cli(sb, tmp_path / "a", *args)
    assert code == 0, err
    sb.clear_requests()
    sb.hold_lists_after(0, where=lambda params: "order_by" not in params)  # not the coverage
    try:
        proc = run_cli(sb, tmp_path / "b", *args, "--parallel", "4", wait=False)
        wait_for(lambda: sb.held() == 4)
        assert len(probes(sb)) == 4  # the count and three instants, all held at once
    finally:
        sb.release_lists()
    fast, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert fast == serial
    found = probes(sb)
    assert len(found) == 4  # since (the count) and three instants after it
    assert len({p["created_ats[gte]"] for p in found}) == 4
    assert no_offsets(sb)
    # --until is settled: the last sub-range's last request was the serial one, not asked again
    last = serial.splitlines()[-1].split(",")[0]
    asked = [dict(r.params).get("after_guid") for r in sb.requests]
    assert last not in asked


def range_one(params):
    """The first sub-range's requests: the only worker paging from the start (no after_guid)."""
    return "after_guid" not in params and params.get("page") == "1"


def spooled(folder):
    return b"".join(p.read_bytes() for p in sorted(folder.glob(".cfevents-spool-*/range-*")))


def test_later_sub_ranges_are_formatted_while_the_first_one_is_held(spread_sandbox, tmp_path):
    """With sub-range 1 held at the server, sub-ranges 2..4 are fetched and already written as
    CSV rows into spool files next to --out; released, the file is the serial export's bytes
    and the spool directory is gone."""
    sb = spread_sandbox
    args = ("usage", "export", "--per-page", "100", *SPREAD)
    code, _, err = run_cli(sb, tmp_path, *args, "--out", str(tmp_path / "serial.csv"))
    assert code == 0, err
    guids = csv_guids(tmp_path / "serial.csv")
    out = tmp_path / "fast.csv"
    sb.hold_lists_after(0, where=range_one)
    try:
        proc = run_cli(sb, tmp_path, *args, "--out", str(out), "--parallel", "4", wait=False)
        last_row = b"\n" + guids[-1].encode() + b","  # a CSV row, not CC's JSON
        wait_for(lambda: last_row in spooled(tmp_path))
        assert sb.held() == 1
        assert guids[0].encode() not in out.read_bytes()  # nothing of sub-range 1 written yet
    finally:
        sb.release_lists()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.read_bytes() == (tmp_path / "serial.csv").read_bytes()
    assert not list(tmp_path.glob(".cfevents-spool-*"))


def test_a_stopped_parallel_export_leaves_no_spool_files(spread_sandbox, tmp_path):
    sb = spread_sandbox
    stale = tmp_path / ".cfevents-spool-999999999-x"  # a killed run's (no such process)
    stale.mkdir()
    (stale / "range-1").write_bytes(b"x")
    out = tmp_path / "u.csv"
    args = ("usage", "export", "--per-page", "100", *SPREAD, "--out", str(out))
    sb.hold_lists_after(0, where=range_one)
    try:
        proc = run_cli(sb, tmp_path, *args, "--parallel", "4", wait=False)
        wait_for(lambda: spooled(tmp_path).count(b"\n") > 100 and not stale.exists())
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        sb.release_lists()
    assert proc.returncode != 0 and "Traceback" not in err
    assert not list(tmp_path.glob(".cfevents-spool-*"))


def test_a_worker_asks_for_its_next_page_while_it_formats_this_one():
    """Sub-range 1's first page is formatted only once its second page has been asked for:
    without the download ahead, the formatting would wait for ever (here: 60 s, then fail)."""
    cc = FakeCC(200)
    asked = []
    get_json = cc.get_json

    def ask(path, params=None):
        asked.append(dict(params or []))
        return get_json(path, params)

    cc.get_json = ask
    seen = threading.Event()

    def renderer():
        def render(items):
            last = items[-1]["guid"]
            if last == "g0009" and wait_until(
                lambda: any(p.get("after_guid") == last for p in asked)
            ):
                seen.set()  # sub-range 1's second page was asked for while its first is formatted
            return "".join(e["guid"] + "\n" for e in items), len(items)

        return render

    got = parallel_pages(
        cc, "/v3/app_usage_events", [], None, 10, parallel=4, end=END,
        warn=lambda _: None, renderer=renderer, start="2025-01-01T00:00:00Z",
    )  # fmt: skip
    text = "".join(page["spooled"].text if "spooled" in page else "" for page in got)
    assert text == "".join(e["guid"] + "\n" for e in cc.events)
    assert seen.is_set()


def wait_until(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False
