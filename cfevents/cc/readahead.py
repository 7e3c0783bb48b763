"""Run a generator one step ahead in a background thread, so fetching overlaps writing.

Reading ahead is the one way cfevents overlaps fetching with writing, in two forms:
``read_ahead(pages)`` runs a page iterator one step ahead, and :class:`Background` runs one
download (``CFClient.read_ahead``: the next keyset page while this one is written).

``read_ahead(pages)`` yields the same items in the same order. While the consumer handles item
N, the thread is already producing item N+1 (and holds at most ``depth`` finished items), so
memory stays flat. Exceptions raised by the producer are re-raised in the consumer, in order.
When the consumer stops early (a limit, an error, Ctrl-C) the thread is told to stop and
finishes after its current step.

:class:`Background` runs a single call in a thread; the client uses it to download the next
page while the current one is written (see ``CFClient.read_ahead``).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def read_ahead(source: Iterator[T], depth: int = 1) -> Iterator[T]:
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

    thread = threading.Thread(target=produce, name="cfevents-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item  # type: ignore[misc]
            del item  # not kept alive while waiting for the next one (memory stays flat)
    finally:
        stop.set()


class Worker:
    """One daemon thread that runs calls one after the other, started with the first.

    A client downloads its pages on one worker rather than a new thread per page: glibc gives
    each new thread a malloc arena of its own, and each arena kept a few freed page bodies
    resident, so memory grew with the number of pages (issue 23). One thread reuses one arena.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._calls: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, call: Callable[[], None]) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()
        self._calls.put(call)

    def _loop(self) -> None:
        while True:
            self._calls.get()()


class Background(Generic[T]):
    """One call running in a daemon thread; :meth:`result` waits for it and returns or raises.

    A daemon thread, not an executor: a caller that gives up (a limit, an error, Ctrl-C) does
    not wait for a request in flight when the program exits. With ``worker`` the call runs on
    that worker's thread (after the calls submitted before it) instead of a thread of its own.
    """

    def __init__(
        self,
        call: Callable[[], T],
        name: str = "cfevents-background",
        *,
        worker: Worker | None = None,
    ) -> None:
        self._done = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None
        if worker is not None:
            worker.submit(lambda: self._run(call))
        else:
            threading.Thread(target=self._run, args=(call,), name=name, daemon=True).start()

    def _run(self, call: Callable[[], T]) -> None:
        try:
            self._value = call()
        except BaseException as exc:  # handed to whoever asks for the result
            self._error = exc
        finally:
            self._done.set()

    def done(self) -> bool:
        """Whether the call has ended (:meth:`result` would not wait)."""
        return self._done.is_set()

    def result(self) -> T:
        """The call's return value (or its exception), once; waits for it."""
        self._done.wait()
        error, value = self._error, self._value
        self._error = self._value = None  # the caller owns them now
        if error is not None:
            raise error
        return value  # type: ignore[return-value]
