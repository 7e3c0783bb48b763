"""When a failed request is tried again, and how long to wait first.

Connection errors, timeouts, 429 and 502-504 are retried, up to ``retries`` times. The wait is
what the server asked for (``Retry-After`` in seconds or as an HTTP date, else
``X-RateLimit-Reset`` as an epoch), else capped exponential backoff with jitter; never more
than ``max_wait``.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 5
    statuses: frozenset[int] = RETRY_STATUSES
    base: float = 0.5  # the first backoff's ceiling, in seconds; it doubles per attempt
    cap: float = 30.0  # the largest backoff ceiling
    max_wait: float = 600.0  # never sleep longer than this for one retry, whatever the server says
    jitter: Callable[[float, float], float] = random.uniform

    def retries_status(self, status: int) -> bool:
        return status in self.statuses

    def backoff(self, attempt: int) -> float:
        """Capped exponential backoff with jitter: between half the ceiling and the ceiling."""
        ceiling = min(self.cap, self.base * 2 ** (attempt - 1))
        return self.jitter(ceiling / 2, ceiling)

    def delay(self, attempt: int, headers: Mapping[str, str] | None = None) -> float:
        """Seconds to wait before retry ``attempt`` (from 1): the server's ask, else backoff."""
        asked = server_delay(headers, time.time()) if headers is not None else None
        return max(0.0, min(asked or self.backoff(attempt), self.max_wait))


def server_delay(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds the server asked us to wait, from ``Retry-After`` or ``X-RateLimit-Reset``."""
    retry_after = headers.get("Retry-After")
    if retry_after:
        text = retry_after.strip()
        if text.isdigit():
            return float(text)
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(0.0, when.timestamp() - now)
    for name in ("X-RateLimit-Reset", "X-RateLimit-Reset-V2-API"):
        reset = headers.get(name)
        if reset and reset.strip().isdigit():
            return max(0.0, float(reset) - now)
    return None
