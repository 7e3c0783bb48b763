"""Exports service usage events from a sandbox into a store, as its own (killable) process.

    python tests/service_store_writer.py API TOKEN TARGET PER_PAGE PAUSE

The export engine's keyset paging (`keyset_pages`) over real HTTP, each page written through
the stores API (`begin_export(..., SERVICE_USAGE)`, `write_page`) in one transaction, resuming
after the stored cursor; PAUSE seconds between pages so a test can kill it.
"""

from __future__ import annotations

import sys
import time

import cfevents
from cfevents.api import SERVICE_USAGE_PATH
from cfevents.export.engine import keyset_pages
from cfevents.stores import SERVICE_USAGE, open_store


def main(api: str, token: str, target: str, per_page: int, pause: float) -> int:
    client = cfevents.connect(api, token)
    with open_store(target) as store, store.begin_export(api, SERVICE_USAGE) as export:
        pages = keyset_pages(client.http, SERVICE_USAGE_PATH, [], export.after_guid, per_page)
        for page in pages:
            export.write_page(page.get("resources") or [])
            print(f"wrote {export.written}", flush=True)
            time.sleep(pause)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])))
