"""Floor for the one-page scenario: import typer and requests, GET one page, write it as CSV.

The same request ``cfevents usage list -o csv --limit N`` makes
(``GET /v3/app_usage_events?page=1&per_page=N``) and the same CSV on stdout, with nothing else:
no option parsing, config, retries or error mapping. Reads CF_API and CF_TOKEN.

    python bench/floor_page.py [--limit 10]
"""

from __future__ import annotations

import csv
import os
import sys
from typing import Any

import requests
import typer  # noqa: F401 - the floor pays for the CLI framework too

from cfevents.output.columns import USAGE_COLUMNS

PATHS = [tuple(c.split(".")) for c in USAGE_COLUMNS]


def row(event: dict[str, Any]) -> list[str]:
    out = []
    for path in PATHS:
        value: Any = event
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        out.append("" if value is None else str(value))
    return out


def main() -> int:
    limit = int(sys.argv[sys.argv.index("--limit") + 1]) if "--limit" in sys.argv else 10
    api = os.environ["CF_API"].rstrip("/")
    resp = requests.get(
        f"{api}/v3/app_usage_events",
        params=[("page", "1"), ("per_page", str(limit))],
        headers={"Authorization": os.environ["CF_TOKEN"]},
        timeout=60,
    )
    resp.raise_for_status()
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(USAGE_COLUMNS)
    writer.writerows(row(e) for e in resp.json()["resources"][:limit])
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
