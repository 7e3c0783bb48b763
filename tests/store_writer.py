"""A store writer for the kill -9 and overlap tests, run as its own process.

    python tests/store_writer.py TARGET N PER_PAGE PAUSE [HOLD_FILE [BATCH HOLD_AT]]

Exports the first N sandbox events into TARGET the way the export engine will: open the store,
take the export lock, resume after the stored cursor, write one page per transaction (pausing
PAUSE seconds between pages so a test can kill it or start a second writer meanwhile).
With HOLD_FILE, the writer stops after its first page (lock held) until that file exists, so a
test can act while it is certainly mid-export, however slow the machine.
With BATCH, up to BATCH pages share a transaction (ExportSession.commit_every) and the writer
holds after page HOLD_AT (not after its first); each line says how many events are written
and how many of them are committed.
Exit 0 when done, 3 when another export holds the lock, 4 on any other store error.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from store_helpers import FOUNDATION, sandbox_events

from cfevents.errors import StoreError, StoreLockedError
from cfevents.stores import APP_USAGE, open_store


def hold(path: str | None) -> None:
    """Wait (at most 5 minutes) until the test creates ``path``."""
    deadline = time.monotonic() + 300
    while path and not Path(path).exists() and time.monotonic() < deadline:
        time.sleep(0.01)


def main(
    target: str,
    n: int,
    per_page: int,
    pause: float,
    hold_file: str | None = None,
    batch: int = 1,
    hold_at: int = 1,
) -> int:
    events = sandbox_events(n)
    guids = [event["guid"] for event in events]
    try:
        with open_store(target) as store, store.begin_export(FOUNDATION, APP_USAGE) as export:
            export.commit_every(batch, 3600.0)
            start = guids.index(export.after_guid) + 1 if export.after_guid else 0
            print(f"resuming at {start}", flush=True)
            for page, first in enumerate(range(start, n, per_page), 1):
                export.write_page(events[first : first + per_page])
                durable = export.durable[0]
                committed = guids.index(durable) + 1 if durable else 0
                print(f"wrote {first + per_page} committed {committed}", flush=True)
                if page == hold_at:
                    hold(hold_file)
                time.sleep(pause)
    except StoreLockedError as exc:
        print(f"locked: {exc}", file=sys.stderr)
        return 3
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 4
    return 0


if __name__ == "__main__":
    hold_file = sys.argv[5] if len(sys.argv) > 5 else None
    batch, hold_at = (int(sys.argv[6]), int(sys.argv[7])) if len(sys.argv) > 7 else (1, 1)
    args = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    sys.exit(main(*args, hold_file, batch, hold_at))
