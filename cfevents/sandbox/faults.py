"""Fault injection: the failures a long export meets on a real foundation, on a seeded schedule.

Off by default. With ``FaultConfig(rate=0.2)`` about one API request in five (GETs under
``/v2`` and ``/v3``; never ``/``, ``/v2/info`` or the UAA) fails in one of these ways:

- ``502``: the gorouter's plain-text ``502 Bad Gateway`` (the app instance went away);
- ``503``: CC's ``CF-ServiceUnavailable`` (``Database connection failure``);
- ``429``: CC's rate limiter: JSON labelled ``text/plain``, ``Retry-After`` and ``X-RateLimit-*``;
- ``drop``: the connection is closed without an answer;
- ``slow``: the answer comes ``slow_ms`` late (a client timeout shorter than that fails it).

``expire_token_every=N`` makes every Nth authenticated API request find its access token
expired (401 ``CF-InvalidAuthToken``) from then on, as if its lifetime had ended mid-export.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from dataclasses import dataclass

FAULT_KINDS = ("502", "503", "429", "drop", "slow")
TRANSPORT_KINDS = frozenset({"drop", "slow"})
_FAULTY_PATH = re.compile(r"^/v[23]/(?!info$)")

GOROUTER_502 = b"502 Bad Gateway: Registered endpoint failed to handle the request.\n"


@dataclass(frozen=True)
class FaultConfig:
    """What to break, and how often (a probability per API request)."""

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    seed: int = 0
    retry_after: int = 1
    slow_ms: float = 2000.0
    expire_token_every: int = 0


class FaultInjector:
    """Draws faults from a seeded generator (thread-safe)."""

    def __init__(self, config: FaultConfig) -> None:
        unknown = set(config.kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {', '.join(sorted(unknown))}")
        self.config = config
        self._rng = random.Random(config.seed)
        self._lock = threading.Lock()
        self._authenticated = 0
        self._expired: set[str] = set()
        self.injected: dict[str, int] = {}

    def draw(self, method: str, path: str) -> str | None:
        """The fault for this request, or None."""
        if not self.config.rate or method != "GET" or not _FAULTY_PATH.match(path):
            return None
        with self._lock:
            if self._rng.random() >= self.config.rate:
                return None
            kind = self._rng.choice(self.config.kinds)
            self.injected[kind] = self.injected.get(kind, 0) + 1
            return kind

    def token_expired(self, path: str, authorization: str | None) -> bool:
        """Whether this request's token has (just) been expired by the schedule."""
        every = self.config.expire_token_every
        if not every or not authorization or not _FAULTY_PATH.match(path):
            return False
        with self._lock:
            if authorization in self._expired:
                return True
            self._authenticated += 1
            if self._authenticated % every == 0:
                self._expired.add(authorization)
                self.injected["expired-token"] = self.injected.get("expired-token", 0) + 1
                return True
            return False

    def slow(self) -> None:
        time.sleep(self.config.slow_ms / 1000)

    def rate_limit_body(self) -> tuple[bytes, dict[str, str]]:
        """CC's 429: the JSON body (sent as text/plain) and its headers."""
        body = {
            "errors": [
                {"detail": "Rate Limit Exceeded", "title": "CF-RateLimitExceeded", "code": 10013}
            ]
        }
        reset = int(time.time()) + self.config.retry_after
        headers = {
            "Retry-After": str(self.config.retry_after),
            "X-RateLimit-Limit": "2000",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(reset),
        }
        return json.dumps(body).encode(), headers
