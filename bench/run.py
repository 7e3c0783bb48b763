"""Benchmark cfevents against the local sandbox: start-up, one page, throughput, latency, memory.

Every scenario runs cfevents as a separate process (the console script next to the Python
that runs this file, or ``--python``), several times, interleaved with its floor, and records
wall time and peak RSS per child process (``os.wait4``, as ``/usr/bin/time -v`` does). The
sandbox Cloud Controller runs as its own process, so it shares neither the GIL nor the RSS of
the client. Results print as a Markdown table and are saved as JSON under bench/results/.

    python bench/run.py              # the full run (a few minutes on 2 cores)
    python bench/run.py --quick      # about a minute: fewer runs, smaller exports
    python bench/run.py --only startup,page

Every row records wall time, peak RSS and CPU time (user + system) of the child; rows with a
floor also show the ratio of each run to the floor's run next to it (the runs alternate, so a
pair shares the machine's load): min / median / max. On a shared machine the CPU ratios are the
steadier figure. Targets are issue 23's.

Floors:
  startup     python -c "import typer" (issue 23: <= 1.15x)
  csvout      bench/floor_export.py > f.csv against usage export --out f.csv (<= 1.0x)
  page        bench/floor_page.py: import typer + requests, one GET, the same CSV
  throughput  bench/floor_export.py: the same keyset pages, decode, the same CSV, sequentially
  latency     the server's own time for the pages: pages x (latency + per-event x per_page)
  memory      the 1M-event export against the 10k-event export (issue 23: <= 1.05x)
  rss         peak RSS at --memory-events against --memory-small events, the runs alternated
              (pairs min/med/max): usage export -o csv (issue 23: <= 1.05x) and usage report
              (issue 23: <= 1.1x); RSS does not depend on the machine's load
  naive       bench/naive_export.py: requests following pagination.next at per_page 50
  report      usage report over the events of a window against usage export -o ndjson of the
              same events (same sandbox); its peak RSS at 1M events against 10k events
  store       usage export -o ndjson > /dev/null: the same events loaded into a new SQLite file
              with usage export --out x.db (issue 23: at least 80% of its rate, ratio <= 1.25;
              peak RSS no higher); bench/store_load.py in-process on the same page bytes:
              the SQLite store against NDJSON (<= 1.25) and the PostgreSQL store against a
              plain COPY of the same rows into the same table (<= 1.11: 90% of its rate)
  parallel    usage export --parallel 1/2/4/8 against the serial export of the same range on a
              server modelling a real CC page (--parallel-latency-ms + 0.05 ms per event) that
              answers concurrently (bench/concurrent_sandbox.py; issue 23: --parallel 4 on 100k
              events <= 0.38x), every output compared byte for byte
  audit       bench/floor_audit.py: crashes --all -o csv's pages fetched one after the other,
              paired and written as the same CSV (bytes compared), on a sandbox whose list
              pages take --audit-latency-ms + 0.05 ms per event (issue 14: ratio <= 1.05)
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
END = "2026-01-01T00:00:00Z"  # a fixed data set: the same events on every run
PER_PAGE = 5000
SCENARIOS = (
    "startup",
    "csvout",
    "page",
    "throughput",
    "latency",
    "memory",
    "rss",
    "naive",
    "report",
    "store",
    "audit",
    "parallel",
)
AUDIT_PER_PAGE = 20  # the sandbox's 30 days hold ~270 crash events: 14 pages at 20
# usage report: a window inside every data set's 30 days (which end at END); the report reads
# from 15 minutes before it, and the export it is compared with reads the same events
REPORT_SINCE = "2025-12-03T00:00:00Z"
REPORT_READ_FROM = "2025-12-02T23:45:00Z"


# -- measuring one child process -------------------------------------------------------------


@dataclass
class Sample:
    wall: float  # seconds
    rss_kb: int  # peak resident set size of the child (ru_maxrss)
    cpu: float = 0.0  # user + system seconds of the child (ru_utime + ru_stime)


def run_once(
    cmd: Sequence[str],
    env: dict[str, str],
    *,
    pipe: bool = False,
    stderr: Path | None = None,
    out: Path | None = None,
) -> Sample:
    """Run ``cmd`` once; stdout goes to /dev/null (or a pipe we drain, like ``| cat``, or the
    file ``out``)."""
    err = open(stderr, "wb") if stderr else subprocess.DEVNULL  # noqa: SIM115
    sink = open(out, "wb") if out else None  # noqa: SIM115
    try:
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipe else (sink or subprocess.DEVNULL),
            stderr=err,
        )
        if pipe:
            assert proc.stdout is not None
            while proc.stdout.read(65536):
                pass
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.stdout is not None:
            proc.stdout.close()
    finally:
        if stderr:
            err.close()  # type: ignore[union-attr]
        if sink is not None:
            sink.close()
    if proc.returncode != 0:
        detail = stderr.read_text(errors="replace")[-2000:] if stderr else ""
        raise RuntimeError(f"{shlex.join(cmd)} exited {proc.returncode}\n{detail}")
    return Sample(wall, usage.ru_maxrss, usage.ru_utime + usage.ru_stime)


Job = tuple["Row", Sequence[str], dict[str, Any]]


@dataclass
class Row:
    """One line of the results table."""

    group: str
    name: str
    samples: list[Sample] = field(default_factory=list)
    floor: str | None = None  # the name of the row this one is compared with
    floor_value: float | None = None  # or a computed floor (seconds)
    target: float | None = None  # ratio target (<=)
    events: int | None = None  # for events/s
    metric: str = "wall"  # "wall" or "rss"
    note: str = ""

    def values(self) -> list[float]:
        if self.metric == "rss":
            return [s.rss_kb / 1024 for s in self.samples]
        return [s.wall for s in self.samples]

    @property
    def median(self) -> float:
        return statistics.median(self.values())


def interleaved(rows: Sequence[Job], runs: int) -> None:
    """Run each command ``runs`` times, round-robin, so drifting load hits all of them alike."""
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            for row, cmd, kw in rows:
                row.samples.append(run_once(cmd, stderr=Path(tmp) / "stderr", **kw))


# -- the sandbox ------------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    token: str
    events: int
    latency_ms: float
    per_event_ms: float


@contextmanager
def sandbox(
    python: str,
    events: int,
    latency_ms: float = 0.0,
    per_event_ms: float = 0.0,
    *,
    concurrent: bool = False,
) -> Iterator[Server]:
    """``python -m cfevents.sandbox`` in its own process; its banner gives the URL and token.
    ``concurrent``: bench/concurrent_sandbox.py, the same data with its pages precomputed."""
    with tempfile.TemporaryDirectory() as tmp:
        banner = Path(tmp) / "banner"
        program = (
            [str(BENCH / "concurrent_sandbox.py")] if concurrent else ["-m", "cfevents.sandbox"]
        )
        cmd = [
            python,
            *program,
            "--port",
            "0",
            "--seed",
            "1",
            "--end",
            END,
            "--usage-events",
            str(events),
            "--latency-ms",
            str(latency_ms),
            "--latency-per-event-ms",
            str(per_event_ms),
            "--token-ttl",
            "86400",
        ]
        with open(banner, "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, cwd=ROOT)
        try:
            url, token = _wait_for_banner(proc, banner)
            yield Server(url, token, events, latency_ms, per_event_ms)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_for_banner(proc: subprocess.Popen[bytes], banner: Path) -> tuple[str, str]:
    """The ``export CF_API=... CF_TOKEN='...'`` line the sandbox prints when it is ready."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for line in banner.read_text(errors="replace").splitlines():
            if line.startswith("export CF_API="):
                values = dict(word.split("=", 1) for word in shlex.split(line)[1:])
                return values["CF_API"], values["CF_TOKEN"]
        if proc.poll() is not None:
            raise RuntimeError(f"the sandbox exited {proc.returncode}: {banner.read_text()}")
        time.sleep(0.05)
    raise RuntimeError("the sandbox did not start within 120 s")


# -- the scenarios ----------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.python = args.python
        bindir = Path(self.python).parent
        script = bindir / "cfevents"
        self.cfevents = [str(script)] if script.exists() else [self.python, "-m", "cfevents"]
        self.home = tempfile.mkdtemp(prefix="cfevents-bench-home-")
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.base_env = {
            k: v for k, v in os.environ.items() if not k.startswith(("CF_", "CFEVENTS_"))
        }
        self.base_env.update({"CF_HOME": self.home, "NO_COLOR": "1"})
        for name in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONPROFILEIMPORTTIME"):
            self.base_env.pop(name, None)
        self.paths = [args.cfevents_path] if args.cfevents_path else []
        if self.paths:  # measure another checkout of cfevents (a before/after comparison)
            self.base_env["PYTHONPATH"] = os.pathsep.join(self.paths)
        self.orjson_env = self._orjson_env()

    def env(self, server: Server | None = None, *, orjson: bool | None = None) -> dict[str, str]:
        env = dict(self.orjson_env if orjson else self.base_env)
        if orjson is False:
            env["CFEVENTS_NO_ORJSON"] = "1"  # cfevents.cc.client: force the stdlib decoder
        if server is not None:
            env.update({"CF_API": server.url, "CF_TOKEN": server.token})
        return env

    def _orjson_env(self) -> dict[str, str]:
        """An environment where orjson imports (the venv's, or ``--orjson-path``), if any."""
        env = dict(self.base_env)
        if self.args.orjson_path:
            env["PYTHONPATH"] = os.pathsep.join([*self.paths, self.args.orjson_path])
        probe = subprocess.run(
            [self.python, "-c", "import orjson"], env=env, capture_output=True, check=False
        )
        return env if probe.returncode == 0 else {}

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def cli(self, *args: str) -> list[str]:
        return [*self.cfevents, *args]

    def script(self, name: str, *args: str) -> list[str]:
        return [self.python, str(BENCH / name), *args]

    def warm_up(self, cmd: Sequence[str], env: dict[str, str]) -> None:
        """One unmeasured run: bytecode caches and the page cache are warm for every sample."""
        run_once(cmd, env)

    # start-up ----------------------------------------------------------------------------

    def startup(self) -> None:
        env = self.env()
        floor = self.add(Row("startup", 'python -c "import typer"'))
        version = self.add(
            Row("startup", "cfevents --version", floor=floor.name, target=1.15),
        )
        helps = self.add(
            Row("startup", "cfevents --help (piped)", floor=floor.name, target=1.15),
        )
        jobs: list[Job] = [
            (floor, [self.python, "-c", "import typer"], {"env": env}),
            (version, self.cli("--version"), {"env": env}),
            (helps, self.cli("--help"), {"env": env, "pipe": True}),
        ]
        for _, cmd, kw in jobs:
            self.warm_up(cmd, kw["env"])
        interleaved(jobs, self.args.startup_runs)

    # one page ----------------------------------------------------------------------------

    def page(self, server: Server) -> None:
        env = self.env(server)
        floor = self.add(Row("page", "floor_page.py --limit 10"))
        listing = self.add(
            Row("page", "usage list -o csv --limit 10", floor=floor.name, target=1.5)
        )
        jobs: list[Job] = [
            (floor, self.script("floor_page.py", "--limit", "10"), {"env": env}),
            (listing, self.cli("usage", "list", "-o", "csv", "--limit", "10"), {"env": env}),
        ]
        for _, cmd, kw in jobs:
            self.warm_up(cmd, kw["env"])
        interleaved(jobs, self.args.startup_runs)

    # throughput --------------------------------------------------------------------------

    def throughput(self, server: Server) -> None:
        decoders = [False] + ([True] if self.orjson_env else [])
        if not self.orjson_env:
            self.notes.append(
                "orjson is not importable: throughput shows the stdlib decoder only "
                "(pip install 'cfevents[fast]', or --orjson-path DIR)"
            )
        n = server.events
        for orjson in decoders:
            label = "orjson" if orjson else "stdlib json"
            env = self.env(server, orjson=orjson)
            floor = self.add(Row("throughput", f"floor_export.py ({label})", events=n))
            jobs: list[Job] = [(floor, self.script("floor_export.py"), {"env": env})]
            for fmt in ("csv", "ndjson", "tsv", "json"):
                row = self.add(
                    Row(
                        "throughput",
                        f"usage export -o {fmt} ({label})",
                        floor=floor.name,
                        target=1.5,
                        events=n,
                    )
                )
                jobs.append((row, self.cli("usage", "export", "-o", fmt), {"env": env}))
            interleaved(jobs, self.args.repeats)

    # an export into a file -----------------------------------------------------------------

    def csv_out(self, server: Server) -> None:
        """``usage export --out f.csv`` against the floor writing the same bytes to a file."""
        n = server.events
        env = self.env(server, orjson=False)
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / "f.csv"
            fresh = ["sh", "-c", 'rm -f "$0" && exec "$@"', str(target)]
            floor_cmd = [
                "sh", "-c", 'rm -f "$0" && exec "$@" > "$0"', str(target),
                *self.script("floor_export.py"),
            ]  # fmt: skip
            cmd = [*fresh, *self.cli("-q", "usage", "export", "--out", str(target))]
            stdout = Path(tmp) / "stdout.csv"
            run_once([*fresh, *self.cli("-q", "usage", "export", "-o", "csv")], env, out=stdout)
            run_once(cmd, env)
            size = stdout.stat().st_size
            # compared in chunks: a child inherits this process's peak RSS (ru_maxrss is kept
            # across fork and exec), so the whole files read here would inflate every later RSS
            same = "identical" if filecmp.cmp(target, stdout, shallow=False) else "DIFFERENT"
            stdout.unlink()
            floor = self.add(Row("csvout", "floor_export.py > f.csv (stdlib json)", events=n))
            row = self.add(
                Row(
                    "csvout",
                    "usage export --out f.csv (stdlib json)",
                    floor=floor.name,
                    target=1.0,
                    events=n,
                    note=f"file {same} to usage export -o csv on stdout ({size:,} "
                    "bytes; the floor leaves organization.name empty: it looks up no names)",
                )
            )
            interleaved(
                [(floor, floor_cmd, {"env": env}), (row, cmd, {"env": env})], self.args.repeats
            )

    # latency -----------------------------------------------------------------------------

    def latency(self, server: Server) -> None:
        n = server.events
        pages = max(1, -(-n // PER_PAGE))
        server_time = pages * (server.latency_ms + server.per_event_ms * PER_PAGE) / 1000
        env = self.env(server)
        row = self.add(
            Row(
                "latency",
                f"usage export -o csv ({pages} pages)",
                floor_value=server_time,
                target=1.2,
                events=n,
                note=f"floor: {pages} x ({server.latency_ms:g} + {server.per_event_ms:g} x "
                f"{PER_PAGE}) ms of configured server latency",
            )
        )
        seq = self.add(
            Row(
                "latency",
                "floor_export.py (sequential)",
                floor_value=server_time,
                events=n,
                note="no prefetch: server time plus client time",
            )
        )
        jobs: list[Job] = [
            (row, self.cli("usage", "export", "-o", "csv"), {"env": env}),
            (seq, self.script("floor_export.py"), {"env": env}),
        ]
        interleaved(jobs, self.args.repeats)
        measured = self.add(
            Row(
                "latency",
                "server time measured (floor_fetch.py)",
                floor_value=server_time,
                note="the sum of the response times of the same pages, fetched one by one: the "
                "configured latency plus the sandbox building and sending 5000 events",
            )
        )
        naive_n = min(n, 500 if self.args.quick else 1000)
        naive = self.add(
            Row(
                "latency",
                f"naive_export.py, first {naive_n:,} events",
                events=naive_n,
                floor=row.name,
                note=f"{-(-naive_n // 50)} requests at per_page 50, each paying the latency; "
                "ratio: its time per event over cfevents'",
            )
        )
        interleaved(
            [(naive, self.script("naive_export.py", "--max-events", str(naive_n)), {"env": env})],
            1,
        )
        for _ in range(self.args.repeats):
            out = subprocess.run(
                self.script("floor_fetch.py"), env=env, capture_output=True, text=True, check=True
            )
            measured.samples.append(Sample(float(out.stdout.split()[0]), 0))
        row.note += (
            f"; {row.median / measured.median:.2f}x the measured server time "
            f"({measured.median:.2f} s)"
        )

    # memory ------------------------------------------------------------------------------

    def memory(self, small: Server, big: Server, listing: Server) -> None:
        export = self.cli("usage", "export", "-o", "csv")
        for orjson in [False] + ([True] if self.orjson_env else []):
            label = "orjson" if orjson else "stdlib json"
            small_row = self.add(
                Row(
                    "memory",
                    f"usage export -o csv, {small.events:,} events ({label})",
                    metric="rss",
                )
            )
            big_row = self.add(
                Row(
                    "memory",
                    f"usage export -o csv, {big.events:,} events ({label})",
                    metric="rss",
                    floor=small_row.name,
                    target=1.05,
                    events=big.events,
                    note="target: < 80 MB and <= 1.05x the small export",
                )
            )
            interleaved([(small_row, export, {"env": self.env(small, orjson=orjson)})], 1)
            interleaved(
                [(big_row, export, {"env": self.env(big, orjson=orjson)})],
                self.args.memory_repeats,
            )
        table = self.add(Row("memory", "usage list --limit 50 (table)", metric="rss"))
        interleaved(
            [(table, self.cli("usage", "list", "--limit", "50"), {"env": self.env(listing)})],
            self.args.repeats,
        )

    # peak RSS: does memory stay flat as the events grow? ----------------------------------

    def rss(self, small: Server, big: Server) -> None:
        """The CSV export's and the usage report's peak RSS on the big data set against the
        small one; each big run is paired with the small run before it."""
        export = self.cli("-q", "usage", "export", "-o", "csv")
        for label, cmd, target in (
            ("usage export -o csv", export, 1.05),
            ("usage report -o csv", self.report_cmd(), 1.1),
        ):
            small_row = self.add(
                Row("rss", f"{label}, {small.events:,} events (stdlib json)", metric="rss")
            )
            big_row = self.add(
                Row(
                    "rss",
                    f"{label}, {big.events:,} events (stdlib json)",
                    metric="rss",
                    floor=small_row.name,
                    target=target,
                    note="peak RSS (ru_maxrss of the child); pairs: each big run over the "
                    "small run before it",
                )
            )
            jobs: list[Job] = [
                (small_row, cmd, {"env": self.env(small, orjson=False)}),
                (big_row, cmd, {"env": self.env(big, orjson=False)}),
            ]
            interleaved(jobs, self.args.rss_repeats)

    # naive -------------------------------------------------------------------------------

    def naive(self, server: Server) -> None:
        n = min(self.args.naive_events or server.events, server.events)
        env = self.env(server)
        csv_name = "usage export -o csv (stdlib json)"
        ours = next((r for r in self.rows if r.name == csv_name), None)
        part = "" if n == server.events else f" (the first {n:,} of {server.events:,})"
        row = self.add(
            Row(
                "naive",
                f"naive_export.py, {n:,} events",
                events=n,
                floor=ours.name if ours else None,
                note=f"requests following pagination.next at per_page 50{part}; "
                "ratio: its time per event over cfevents' (usage export -o csv, stdlib json)",
            )
        )
        interleaved(
            [(row, self.script("naive_export.py", "--max-events", str(n)), {"env": env})],
            self.args.naive_repeats,
        )

    # usage report ------------------------------------------------------------------------

    def report_cmd(self) -> list[str]:
        return self.cli("usage", "report", "--since", REPORT_SINCE, "--until", END, "-o", "csv")

    def report(self, server: Server) -> None:
        """One pass: the report costs at most 1.3x exporting the same events."""
        env = self.env(server)
        floor = self.add(Row("report", f"usage export -o ndjson, {server.events:,} events"))
        row = self.add(
            Row(
                "report",
                f"usage report --by app -o csv, {server.events:,} events",
                floor=floor.name,
                target=1.3,
                note=f"window {REPORT_SINCE} .. {END}; the export reads the same events "
                f"(--since {REPORT_READ_FROM}); the report also reads the snapshot",
            )
        )
        export = self.cli("usage", "export", "-o", "ndjson", "--since", REPORT_READ_FROM)
        jobs: list[Job] = [(floor, export, {"env": env}), (row, self.report_cmd(), {"env": env})]
        for _, cmd, kw in jobs:
            self.warm_up(cmd, kw["env"])
        interleaved(jobs, self.args.repeats)

    def report_memory(self, small: Server, big: Server) -> None:
        """Memory grows with live processes, not with events."""
        small_row = self.add(
            Row("report", f"usage report RSS, {small.events:,} events", metric="rss")
        )
        big_row = self.add(
            Row(
                "report",
                f"usage report RSS, {big.events:,} events",
                metric="rss",
                floor=small_row.name,
                target=1.1,
                events=big.events,
            )
        )
        interleaved([(small_row, self.report_cmd(), {"env": self.env(small)})], 1)
        interleaved(
            [(big_row, self.report_cmd(), {"env": self.env(big)})], self.args.memory_repeats
        )

    # loading a store -------------------------------------------------------------------

    def store(self, server: Server) -> None:
        """End to end: a new SQLite store each run (its cursor would make a rerun a no-op)."""
        n = server.events
        env = self.env(server, orjson=bool(self.orjson_env) or None)
        floor = self.add(Row("store", "usage export -o ndjson > /dev/null", events=n))
        row = self.add(
            Row("store", "usage export --out x.db", floor=floor.name, target=1 / 0.8, events=n)
        )
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "x.db"
            load = ["sh", "-c", 'rm -f "$0" "$0"-* && exec "$@"', str(db)]
            jobs: list[Job] = [
                (floor, self.cli("usage", "export", "-o", "ndjson"), {"env": env}),
                (row, [*load, *self.cli("usage", "export", "--out", str(db))], {"env": env}),
            ]
            for _, cmd, kw in jobs:
                self.warm_up(cmd, kw["env"])
            interleaved(jobs, self.args.repeats)
        # the same runs, compared by their peak RSS (issue 23: no higher than the file export)
        floor_rss = self.add(Row("store", "usage export -o ndjson, peak RSS", metric="rss"))
        floor_rss.samples = floor.samples
        memory = self.add(
            Row(
                "store",
                "usage export --out x.db, peak RSS",
                metric="rss",
                floor=floor_rss.name,
                target=1.0,
            )
        )
        memory.samples = row.samples
        self.store_load()

    def store_load(self) -> None:
        """bench/store_load.py in its own process: the same page bytes through the SQLite
        store against NDJSON, and through the PostgreSQL store against a plain COPY, in
        alternated pairs (wall; CPU of the loader plus the PostgreSQL backend)."""
        a = self.args
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "store_load.json"
            pg = [] if a.store_pg == "none" else ["--pg-server"]
            if a.store_pg not in ("none", "auto"):
                pg = ["--postgres", a.store_pg]
            cmd = [
                self.python,
                str(BENCH / "store_load.py"),
                "--events",
                str(a.events),
                "--pairs",
                str(a.repeats),
                "--json",
                str(out),
                *pg,
            ]
            subprocess.run(cmd, env={**os.environ, **self.orjson_env}, check=True)
            found = json.loads(out.read_text())
        n = found["events"]
        targets = {"sqlite": ("ndjson", 1 / 0.8), "postgresql": ("copy", 1 / 0.9)}
        names = {
            "ndjson": "in-process: decode + NDJSON to /dev/null",
            "sqlite": "in-process: the SQLite store (write_page)",
            "copy": "in-process: plain COPY of the same rows",
            "postgresql": "in-process: the PostgreSQL store (write_page)",
        }
        for name, samples in found["passes"].items():
            floor, target = targets.get(name, (None, None))
            row = self.add(
                Row(
                    "store",
                    names[name],
                    floor=names[floor] if floor else None,
                    target=target,
                    events=n,
                    note="CPU: the loader's plus the PostgreSQL backend's"
                    if name in ("copy", "postgresql")
                    else "",
                )
            )
            row.samples = [Sample(wall, 0, cpu) for wall, cpu in samples]

    # audit events: reading ahead -------------------------------------------------------

    def audit(self, server: Server) -> None:
        """``crashes --all -o csv`` (pages read ahead) against the serial floor, same bytes."""
        env = self.env(server)
        size = str(AUDIT_PER_PAGE)
        floor_cmd = self.script("floor_audit.py", "--per-page", size)
        cmd = self.cli("crashes", "--all", "-o", "csv", "--per-page", size)
        with tempfile.TemporaryDirectory() as tmp:
            outputs = []
            for name, argv in (("floor", floor_cmd), ("cfevents", cmd)):
                target = Path(tmp) / name
                with open(target, "wb") as out:
                    subprocess.run(argv, env=env, stdout=out, check=True)
                outputs.append(target)
            same = (
                "identical" if filecmp.cmp(outputs[0], outputs[1], shallow=False) else "DIFFERENT"
            )
            nbytes = outputs[1].stat().st_size
        floor = self.add(Row("audit", f"floor_audit.py --per-page {size}"))
        row = self.add(
            Row(
                "audit",
                f"crashes --all -o csv --per-page {size}",
                floor=floor.name,
                target=1.05,
                note=f"output {same} to the floor's ({nbytes} bytes); "
                f"{server.latency_ms:g} ms + {server.per_event_ms:g} ms/event per page",
            )
        )
        jobs: list[Job] = [(floor, floor_cmd, {"env": env}), (row, cmd, {"env": env})]
        interleaved(jobs, self.args.audit_runs)

    # parallel backfill -------------------------------------------------------------------

    def parallel(self, server: Server) -> None:
        """``usage export --parallel N`` vs serial on a slow sandbox; the bytes compared once."""
        n = server.events
        env = self.env(server, orjson=bool(self.orjson_env) or None)
        base = ("-q", "usage", "export", "-o", "csv", "--until", END)
        serial = self.add(Row("parallel", "usage export -o csv (serial)", events=n))
        jobs: list[Job] = [(serial, self.cli(*base), {"env": env})]
        with tempfile.TemporaryDirectory() as tmp:
            reference = Path(tmp) / "serial.csv"
            with open(reference, "wb") as out:
                subprocess.run(self.cli(*base), env=env, stdout=out, check=True)
            for width in (1, 2, 4, 8):
                cmd = self.cli(*base, "--parallel", str(width))
                target = Path(tmp) / f"p{width}.csv"
                with open(target, "wb") as out:
                    subprocess.run(cmd, env=env, stdout=out, check=True)
                same = filecmp.cmp(target, reference, shallow=False)
                row = self.add(
                    Row(
                        "parallel",
                        f"usage export -o csv --parallel {width}",
                        floor=serial.name,
                        target=0.38 if width == 4 else None,
                        events=n,
                        note=f"output {'identical to' if same else 'DIFFERENT from'} the serial "
                        f"export ({target.stat().st_size:,} bytes); {server.latency_ms:g} ms + "
                        f"{server.per_event_ms:g} ms/event per page",
                    )
                )
                jobs.append((row, cmd, {"env": env}))
        interleaved(jobs, self.args.repeats)

    # -----------------------------------------------------------------------------------

    def run(self) -> None:
        only = self.args.only
        a = self.args
        if "rss" in only:  # first: a child's ru_maxrss counts this process's RSS when forked,
            # and csvout reads whole exports into memory here
            sizes = a.memory_small, a.memory_events
            with sandbox(self.python, sizes[0]) as small, sandbox(self.python, sizes[1]) as big:
                self.rss(small, big)
        if "startup" in only:
            self.startup()
        if only & {"page", "csvout", "throughput", "naive", "memory", "report", "store"}:
            with sandbox(self.python, a.events) as main:
                if "report" in only:
                    self.report(main)
                    with sandbox(self.python, a.memory_small) as small:
                        if a.report_memory_events == a.events:
                            self.report_memory(small, main)
                        else:
                            with sandbox(self.python, a.report_memory_events) as big:
                                self.report_memory(small, big)
                if "page" in only:
                    self.page(main)
                if "csvout" in only:
                    self.csv_out(main)
                if "throughput" in only:
                    self.throughput(main)
                if "naive" in only:
                    self.naive(main)
                if "store" in only:
                    self.store(main)
                if "memory" in only:
                    with sandbox(self.python, a.memory_small) as small:
                        if a.memory_events == a.events:
                            self.memory(small, main, main)
                        else:
                            with sandbox(self.python, a.memory_events) as big:
                                self.memory(small, big, main)
        if "latency" in only:
            with sandbox(self.python, a.latency_events, 200.0, 0.05) as slow:
                self.latency(slow)
        if "parallel" in only:
            events, latency = a.parallel_events, a.parallel_latency_ms
            concurrent = a.parallel_server == "concurrent"
            with sandbox(self.python, events, latency, 0.05, concurrent=concurrent) as slow:
                self.parallel(slow)
        if "audit" in only:
            with sandbox(self.python, a.memory_small, a.audit_latency_ms, 0.05) as audited:
                self.audit(audited)


# -- reporting --------------------------------------------------------------------------------


def ratio(row: Row, rows: dict[str, Row]) -> float | None:
    if row.floor_value is not None:
        return row.median / row.floor_value
    if row.floor is None or row.floor not in rows:
        return None
    base = rows[row.floor]
    if row.events and base.events and row.events != base.events:
        # a rate comparison: how many times slower per event than cfevents
        return (row.median / row.events) / (base.median / base.events)
    return row.median / base.median


def pair_ratios(row: Row, rows: dict[str, Row], metric: str) -> list[float]:
    """Run i over its floor's run i (the runs alternate, so each pair shares the load)."""
    base = rows.get(row.floor) if row.floor else None
    if base is None or len(base.samples) != len(row.samples):
        return []
    if row.events and base.events and row.events != base.events:
        return []  # a rate comparison, not pairs

    def value(sample: Sample) -> float:
        return {"wall": sample.wall, "cpu": sample.cpu, "rss": sample.rss_kb}[metric]

    pairs = zip(row.samples, base.samples, strict=True)
    return [value(a) / value(b) for a, b in pairs if value(b) > 0]


def spread(values: list[float]) -> str:
    if not values:
        return ""
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def verdict(row: Row, r: float | None) -> str:
    if row.target is None or r is None:
        return ""
    ok = r <= row.target
    if row.group == "memory" and row.metric == "rss":
        ok = ok and row.median < 80
    return "yes" if ok else "NO"


def fmt(value: float, metric: str) -> str:
    if metric == "rss":
        return f"{value:.1f} MB"
    return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.2f} s"


def table(rows: list[Row]) -> str:
    by_name = {r.name: r for r in rows}
    head = (
        "| scenario | median | min | max | events/s | ratio to floor | pairs min/med/max "
        "| CPU s | CPU pairs min/med/max | target | met |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|"]
    for row in rows:
        vals = row.values()
        r = ratio(row, by_name)
        rate = f"{row.events / row.median:,.0f}" if row.events and row.metric == "wall" else ""
        floor = (
            f"{r:.2f}x"
            if r is not None
            else "floor"
            if any(x.floor == row.name for x in rows)
            else ""
        )
        if row.floor_value is not None and r is not None:
            floor += f" of {fmt(row.floor_value, 'wall')}"
        target = f"<= {row.target:.3g}x" if row.target else ""
        cpus = [sample.cpu for sample in row.samples if sample.cpu]
        cpu = f"{statistics.median(cpus):.2f}" if cpus and row.metric == "wall" else ""
        cpu_pairs = spread(pair_ratios(row, by_name, "cpu")) if row.metric == "wall" else ""
        lines.append(
            f"| {row.group}: {row.name} | {fmt(row.median, row.metric)} | {fmt(min(vals), row.metric)} "
            f"| {fmt(max(vals), row.metric)} | {rate} | {floor} "
            f"| {spread(pair_ratios(row, by_name, row.metric))} | {cpu} | {cpu_pairs} "
            f"| {target} | {verdict(row, r)} |"
        )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu or platform.processor(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/run.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="about a minute: fewer, smaller runs")
    parser.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        help=f"comma-separated scenarios to run (default: all of {','.join(SCENARIOS)})",
    )
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter with cfevents installed"
    )
    parser.add_argument("--startup-runs", type=int, help="runs of each start-up/page command [20]")
    parser.add_argument("--repeats", type=int, help="runs of each export command [3]")
    parser.add_argument("--events", type=int, help="usage events for throughput [200000]")
    parser.add_argument(
        "--latency-events", type=int, help="usage events for the latency run [100000]"
    )
    parser.add_argument(
        "--memory-events", type=int, help="usage events for the big memory run [1000000]"
    )
    parser.add_argument(
        "--report-memory-events",
        type=int,
        help="usage events for the big usage report memory run [--memory-events]",
    )
    parser.add_argument("--memory-small", type=int, default=10_000, help="the small memory run")
    parser.add_argument(
        "--store-pg",
        default="auto",
        help="store scenario's PostgreSQL: auto (a throwaway server, as the tests start), none, "
        "or a postgresql:// URL (new schemas are made in it)",
    )
    parser.add_argument("--memory-repeats", type=int, help="runs of the big memory export [2]")
    parser.add_argument(
        "--rss-repeats", type=int, help="alternated small/big pairs of the rss scenario [3]"
    )
    parser.add_argument(
        "--naive-events",
        type=int,
        help="export only the first N events in the naive loop (it is slow) [all of --events]",
    )
    parser.add_argument("--naive-repeats", type=int, help="runs of the naive loop [2]")
    parser.add_argument(
        "--orjson-path", help="a directory holding orjson (pip install --target DIR orjson)"
    )
    parser.add_argument(
        "--cfevents-path",
        help="run the cfevents found in this directory (another checkout: before/after figures)",
    )
    parser.add_argument(
        "--parallel-events", type=int, help="usage events for the parallel run [100000]"
    )
    parser.add_argument(
        "--parallel-latency-ms",
        type=float,
        default=300.0,
        help="the parallel sandbox's delay per list page [300]",
    )
    parser.add_argument(
        "--parallel-server",
        choices=("concurrent", "sandbox"),
        default="concurrent",
        help="the parallel scenario's server: bench/concurrent_sandbox.py (pages precomputed, "
        "answers N requests at once) or the plain sandbox [concurrent]",
    )
    parser.add_argument("--audit-runs", type=int, help="runs of each audit command [6]")
    parser.add_argument(
        "--audit-latency-ms",
        type=float,
        default=300.0,
        help="the audit sandbox's delay per list page [300: a real CC's order]",
    )
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/*.json")
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "startup_runs": 10 if quick else 20,
        "repeats": 2 if quick else 3,
        "events": 50_000 if quick else 200_000,
        "latency_events": 50_000 if quick else 100_000,
        "memory_events": None if quick else 1_000_000,  # quick: the throughput data set
        "memory_repeats": 1 if quick else 2,
        "rss_repeats": 1 if quick else 3,
        "naive_events": 0,  # 0: the whole throughput data set
        "naive_repeats": 1 if quick else 2,
        "audit_runs": 3 if quick else 6,
        "parallel_events": 50_000 if quick else 100_000,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.memory_events is None:
        args.memory_events = args.events
    if args.report_memory_events is None:
        args.report_memory_events = args.memory_events
    args.only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = args.only - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    bench = Bench(args)
    started = time.monotonic()
    bench.run()
    info = machine()
    print(
        f"\ncfevents benchmark: {info['cpus']} CPUs ({info['cpu']}), Python {info['python']}, "
        f"{time.monotonic() - started:.0f} s\n"
    )
    print(table(bench.rows))
    print()
    for row in bench.rows:
        if row.note:
            print(f"- {row.group}: {row.name}: {row.note}")
    for note in bench.notes:
        print(f"- {note}")
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / time.strftime("%Y%m%d-%H%M%S.json")
        payload = {
            "machine": info,
            "args": {k: sorted(v) if isinstance(v, set) else v for k, v in vars(args).items()},
            "table": table(bench.rows),
            "rows": [asdict(r) | {"median": r.median} for r in bench.rows],
            "notes": bench.notes,
        }
        path.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"\nsaved {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
