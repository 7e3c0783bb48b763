"""Floor for the throughput scenario: the least a client can do to export usage events to CSV.

It requests the same keyset pages cfevents does (``after_guid=<last guid>&page=1&per_page=N``),
decodes each JSON body and writes the same CSV (the 20 documented columns) to stdout, one page
after the other, with no retries, checkpoints or prefetching. Reads CF_API and CF_TOKEN.
``CFEVENTS_NO_ORJSON=1`` forces the stdlib decoder, as it does for cfevents.

    python bench/floor_export.py [--per-page 5000] > out.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from typing import Any

import requests

from cfevents.output.columns import USAGE_COLUMNS  # the 20 documented columns

COLUMNS = USAGE_COLUMNS


def decoder() -> Any:
    if not os.environ.get("CFEVENTS_NO_ORJSON"):
        try:
            import orjson  # type: ignore[import-not-found,unused-ignore]

            return orjson.loads
        except ImportError:
            pass
    return json.loads


def cell(value: Any) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


def row(event: dict[str, Any]) -> list[str]:
    out = []
    for path in PATHS:
        value: Any = event
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        out.append(cell(value))
    return out


PATHS = [tuple(c.split(".")) for c in COLUMNS]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-page", type=int, default=5000)
    args = parser.parse_args()
    loads = decoder()
    api = os.environ["CF_API"].rstrip("/")
    session = requests.Session()
    session.headers["Authorization"] = os.environ["CF_TOKEN"]
    out = sys.stdout
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    after: str | None = None
    while True:
        params = [("page", "1"), ("per_page", str(args.per_page))]
        if after:
            params.insert(0, ("after_guid", after))
        resp = session.get(f"{api}/v3/app_usage_events", params=params, timeout=60)
        resp.raise_for_status()
        body = loads(resp.content)
        items = body["resources"]
        writer.writerows(row(e) for e in items)
        if len(items) < args.per_page or not body["pagination"]["next"]:
            break
        after = items[-1]["guid"]
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
