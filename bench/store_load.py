"""Loading usage events into a store, against only decoding them or writing NDJSON.

Renders N sandbox-shaped v3 app usage events into JSON pages of PER_PAGE (as Cloud Controller
sends them; rendering is not timed), then times three passes over the same page bytes:

  decode     json/orjson-decode each page (the floor of any export)
  ndjson     decode + one JSON line per event to /dev/null (what `usage export -o ndjson` adds)
  sqlite     decode + store.write_page(page) into a new SQLite file, one transaction per page
  postgresql the same into --postgres URL (optional; an empty database or schema)

    python bench/store_load.py                       # 200k events, pages of 5000
    python bench/store_load.py --events 1000000 --postgres postgresql://me@localhost/db
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cfevents.cc.client import decode_json
from cfevents.sandbox.data import Foundation
from cfevents.stores import APP_USAGE, open_store

FOUNDATION = "https://api.bench.example"


def render_pages(events: int, per_page: int) -> list[bytes]:
    foundation = Foundation.generate(
        seed=5, end=datetime(2026, 1, 31, tzinfo=UTC), days=30, usage_events=events
    )
    store = foundation.store
    pages = []
    for first in range(0, events, per_page):
        resources = [
            store.present_v3(p, FOUNDATION) for p in range(first, min(first + per_page, events))
        ]
        body = {"pagination": {"total_results": events, "next": None}, "resources": resources}
        pages.append(json.dumps(body).encode())
    return pages


def timed(pages: list[bytes], handle: Callable[[list[dict[str, Any]]], None]) -> float:
    start = time.perf_counter()
    for raw in pages:
        handle(decode_json(raw)["resources"])
    return time.perf_counter() - start


def _json_lib() -> str:
    try:
        import orjson  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
    except ImportError:
        return "stdlib json"
    return "orjson"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--per-page", type=int, default=5000)
    parser.add_argument("--postgres", help="also load into this PostgreSQL URL")
    args = parser.parse_args()

    pages = render_pages(args.events, args.per_page)
    n = args.events
    results: dict[str, float] = {"decode": timed(pages, lambda events: None)}

    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    with open(os.devnull, "w", encoding="utf-8") as sink:
        results["ndjson"] = timed(
            pages, lambda events: [sink.write(encode(e) + "\n") for e in events] and None
        )

    with tempfile.TemporaryDirectory() as tmp:
        targets = [("sqlite", str(Path(tmp) / "bench.db"))]
        if args.postgres:
            targets.append(("postgresql", args.postgres))
        for name, target in targets:
            with open_store(target) as store, store.begin_export(FOUNDATION, APP_USAGE) as x:
                results[name] = timed(pages, lambda events: x.write_page(events) and None)
                coverage = store.coverage(FOUNDATION, APP_USAGE)
                assert coverage is not None and coverage.events == n, coverage
            if name == "sqlite":
                size = Path(target).stat().st_size  # closed: the WAL is checkpointed
                print(f"sqlite file: {size / n:.0f} bytes per event")

    json_lib = "stdlib json" if os.environ.get("CFEVENTS_NO_ORJSON") else _json_lib()
    print(f"{n:,} events, pages of {args.per_page}, {json_lib}")
    print(f"{'pass':<12}{'seconds':>9}{'events/s':>12}{'vs ndjson':>11}")
    for name, seconds in results.items():
        ratio = results["ndjson"] / seconds
        print(f"{name:<12}{seconds:>9.2f}{n / seconds:>12,.0f}{ratio:>10.0%}")


if __name__ == "__main__":
    main()
