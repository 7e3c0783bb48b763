"""The server's own time for an export: request the same keyset pages, time each response.

Prints the sum of the response times (request sent to body received) in seconds. Decoding
(needed for the next cursor) happens between requests and is not counted, so this is what the
pages cost on the server side and on the wire, and no client can export them faster.
Reads CF_API and CF_TOKEN.

    python bench/floor_fetch.py [--per-page 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-page", type=int, default=5000)
    args = parser.parse_args()
    api = os.environ["CF_API"].rstrip("/")
    session = requests.Session()
    session.headers["Authorization"] = os.environ["CF_TOKEN"]
    total = 0.0
    pages = 0
    after: str | None = None
    while True:
        params = [("page", "1"), ("per_page", str(args.per_page))]
        if after:
            params.insert(0, ("after_guid", after))
        started = time.perf_counter()
        resp = session.get(f"{api}/v3/app_usage_events", params=params, timeout=120)
        body = resp.content
        total += time.perf_counter() - started
        pages += 1
        resp.raise_for_status()
        page = json.loads(body)
        items = page["resources"]
        if len(items) < args.per_page or not page["pagination"]["next"]:
            break
        after = items[-1]["guid"]
    print(f"{total:.6f} {pages}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
