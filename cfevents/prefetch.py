"""Run a generator one step ahead in a background thread, so fetching overlaps writing.

``prefetch(pages)`` yields the same items in the same order. While the consumer handles item
N, the thread is already producing item N+1 (and holds at most ``depth`` finished items), so
memory stays flat. Exceptions raised by the producer are re-raised in the consumer, in order.
When the consumer stops early (a limit, an error, Ctrl-C) the thread is told to stop and
finishes after its current step.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def prefetch(source: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Yield from ``source`` while a thread computes up to ``depth`` items ahead."""
    items: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(_Failure(exc))
            return
        put(_DONE)

    thread = threading.Thread(target=produce, name="cfevents-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        stop.set()
