"""Floor for the audit scenario: ``crashes --all -o csv`` with nothing but the work itself.

It requests the same ``/v3/audit_events`` pages cfevents does (crash types, newest first,
``per_page``), one after the other following ``pagination.next``, pairs the two events of each
crash with cfevents' own pure ``crash_records``, looks org and space names up once per batch
of 200 crashes (``/v3/spaces?guids=…``, ``/v3/organizations?guids=…``) and writes the same CSV
(cfevents' crash columns) to stdout: no option parsing, config, retries, error mapping or
reading ahead. Reads CF_API and CF_TOKEN.

    python bench/floor_audit.py [--per-page 20] > crashes.csv
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import sys
from collections.abc import Iterator
from typing import Any

import requests
import typer  # noqa: F401 - the floor pays for the CLI framework too

from cfevents.events import audit
from cfevents.output.columns import CRASH_COLUMNS

PATHS = [tuple(c.split(".")) for c in CRASH_COLUMNS]


def cell(value: Any) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


def row(record: dict[str, Any]) -> list[str]:
    out = []
    for path in PATHS:
        value: Any = record
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        out.append(cell(value))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-page", type=int, default=5000)
    args = parser.parse_args()
    api = os.environ["CF_API"].rstrip("/")
    session = requests.Session()
    session.headers["Authorization"] = os.environ["CF_TOKEN"]

    def events() -> Iterator[dict[str, Any]]:
        url: str | None = f"{api}/v3/audit_events"
        params: list[tuple[str, str]] | None = [
            ("types", ",".join(audit.CRASH_TYPES)),
            ("order_by", "-created_at"),
            ("per_page", str(args.per_page)),
        ]
        while url:
            resp = session.get(url, params=params, timeout=60)
            resp.raise_for_status()
            body = resp.json()
            yield from (audit.normalise_v3(r) for r in body["resources"])
            nxt = (body.get("pagination") or {}).get("next")
            url, params = (nxt["href"] if nxt and body["resources"] else None), None

    names: dict[str, dict[str, str]] = {"spaces": {}, "organizations": {}}

    def lookup(kind: str, guids: set[str]) -> None:
        new = sorted(g for g in guids if g and g not in names[kind])
        if new:
            resp = session.get(
                f"{api}/v3/{kind}",
                params=[("guids", ",".join(new)), ("per_page", "5000")],
                timeout=60,
            )
            resp.raise_for_status()
            names[kind].update({r["guid"]: r["name"] for r in resp.json()["resources"]})

    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(CRASH_COLUMNS)
    records = audit.crash_records(events(), "desc")
    while batch := list(itertools.islice(records, 200)):
        lookup("spaces", {r["space"]["guid"] for r in batch})
        lookup("organizations", {r["organization"]["guid"] for r in batch})
        for r in batch:
            r["space"]["name"] = names["spaces"].get(r["space"]["guid"])
            r["organization"]["name"] = names["organizations"].get(r["organization"]["guid"])
        writer.writerows(row(r) for r in batch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
