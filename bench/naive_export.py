"""The naive baseline: the export most people would write first.

``requests.get`` the first page at CC's default page size (50), write its events as CSV, follow
``pagination.next.href`` until it is null. Every page is an OFFSET page, fetched after the
previous one was written. Reads CF_API and CF_TOKEN; ``--max-events N`` stops after N events
(the benchmark times a slice of a big export this way and reports the rate).

    python bench/naive_export.py [--max-events N] > out.csv
"""

from __future__ import annotations

import argparse
import csv
import os
import sys

import requests

from cfevents.output.columns import USAGE_COLUMNS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-events", type=int, default=None)
    args = parser.parse_args()
    headers = {"Authorization": os.environ["CF_TOKEN"]}
    url: str | None = os.environ["CF_API"].rstrip("/") + "/v3/app_usage_events"
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(USAGE_COLUMNS)
    written = 0
    while url and (args.max_events is None or written < args.max_events):
        resp = requests.get(url, headers=headers, timeout=60)
        resp.raise_for_status()
        page = resp.json()
        for event in page["resources"]:
            values = []
            for column in USAGE_COLUMNS:
                value = event
                for key in column.split("."):
                    value = value.get(key) if isinstance(value, dict) else None
                values.append("" if value is None else value)
            writer.writerow(values)
            written += 1
        url = (page["pagination"].get("next") or {}).get("href")
    return 0


if __name__ == "__main__":
    sys.exit(main())
