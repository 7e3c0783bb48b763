"""The sandbox with its app usage event pages precomputed, so it answers concurrently.

``python bench/concurrent_sandbox.py ARGS`` takes the arguments of ``python -m
cfevents.sandbox`` and serves the same data with the same bytes, but each event's JSON is
rendered once (when a page first holds it; the benchmark's warm-up run renders them all) and a
page is a join of those texts. The sandbox already sleeps its simulated latency in one thread
per request; rendering 5,000 events per page under one GIL was what made N parallel requests
queue behind each other. With the texts ready, the server spends about a millisecond of CPU per
page, so ``--parallel N`` is measured against a server that is not the bottleneck, as a real
Cloud Controller (many Puma workers and database connections) is not for N <= 8.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from cfevents.sandbox import __main__ as sandbox_main
from cfevents.sandbox.store import UsageEventStore

_render = UsageEventStore.render_v3_json


def render_v3_json(self: UsageEventStore, positions: Iterable[int], base_url: str) -> str:
    """:meth:`UsageEventStore.render_v3_json`, each event rendered once per base URL."""
    cache: dict[str, dict[int, str]] = self.__dict__.setdefault("_bench_rendered", {})
    rendered = cache.setdefault(base_url, {})
    texts = []
    for position in positions:
        text = rendered.get(position)
        if text is None:
            text = rendered[position] = _render(self, [position], base_url)
        texts.append(text)
    return ",".join(texts)


UsageEventStore.render_v3_json = render_v3_json  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(sandbox_main.main(sys.argv[1:]))
