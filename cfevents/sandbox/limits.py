"""Rate limiting as CC's `RateLimiter` / `RateLimiterV2API` middlewares do it (off by default).

The general limiter counts requests per user (or per client IP when the
token is missing or invalid) in a fixed interval; admin and admin_read_only
are exempt, as are `/`, `/v3`, `/v2/info` and `/healthz`. The v2 limiter
counts `/v2/*` (but `/v2/info`) for everyone without the
`cloud_controller.v2_api_rate_limit_exempt` scope. Every limited response
carries `X-RateLimit-*` headers; a 429 adds `Retry-After` and, oddly, labels
its JSON body `text/plain`.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cfevents.sandbox.errors import ApiError, encode, v2_body, v3_body
from cfevents.sandbox.tokens import Principal

UNLIMITED_PATHS = re.compile(r"\A(?:/v2/info|/v3|/|/healthz)\Z|\A/internal")
V2_LIMITED_PATHS = re.compile(r"\A/v2/(?!info).+")
V2_EXEMPT_SCOPE = "cloud_controller.v2_api_rate_limit_exempt"


@dataclass(slots=True)
class Verdict:
    """Headers to add to the response, and the 429 body if the request is refused."""

    headers: dict[str, str]
    refusal: bytes | None = None


class _Counter:
    """`ExpiringRequestCounter`'s in-memory store: fixed windows per key."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._data: dict[str, tuple[int, int]] = {}

    def increment(self, key: str, interval: int) -> tuple[int, int]:
        now = int(self.clock())
        with self._lock:
            count, expires_at = self._data.get(key, (0, 0))
            if expires_at - now <= 0:
                count, expires_at = 0, now + interval
            self._data[key] = (count + 1, expires_at)
            return count + 1, expires_at - now


@dataclass(slots=True)
class _Window:
    """One limiter's counting: interval, header suffix and counters."""

    interval: int
    suffix: str
    counter: _Counter

    def verdict(self, key: str, limit: int, error: ApiError, path: str) -> Verdict | None:
        """Count this request against `limit` (negative: unlimited, no headers)."""
        if limit < 0:
            return None
        count, expires_in = self.counter.increment(key, self.interval)
        estimate = math.floor((limit - count) / limit * 10) / 10 * limit if limit > 0 else 0
        headers = {
            f"X-RateLimit-Limit{self.suffix}": str(limit),
            f"X-RateLimit-Reset{self.suffix}": str(int(self.counter.clock()) + expires_in),
            f"X-RateLimit-Remaining{self.suffix}": str(max(0, int(estimate))),
        }
        if count <= limit:
            return Verdict(headers)
        headers["Retry-After"] = str(expires_in)
        if path.startswith(("/v2", "/v3")):
            body = encode(v2_body(error) if path.startswith("/v2") else v3_body(error))
        else:
            body = b"null"  # CC's presenter picks no envelope for other paths
        return Verdict(headers, body)


class RateLimits:
    """Both limiters; both are off until configured, as in capi-release."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._general = _Window(3600, "", _Counter(clock))
        self._v2 = _Window(3600, "-V2-API", _Counter(clock))
        self.general_limit: int | None = None
        self.anonymous_limit = 0
        self.v2_limit: int | None = None
        self.v2_admin_limit = 0

    @property
    def enabled(self) -> bool:
        """Whether either limiter is on."""
        return self.general_limit is not None or self.v2_limit is not None

    def configure(
        self, limit: int | None, unauthenticated: int | None = None, interval: int = 3600
    ) -> None:
        """The general limiter: `limit` per user, `unauthenticated` per IP, per interval (s)."""
        self.general_limit = limit
        self.anonymous_limit = unauthenticated if unauthenticated is not None else (limit or 0)
        self._general.interval = interval

    def configure_v2(
        self, limit: int | None, admin_limit: int | None = None, interval: int = 3600
    ) -> None:
        """The v2 limiter: `limit` per user, `admin_limit` for admins, per interval (s)."""
        self.v2_limit = limit
        self.v2_admin_limit = admin_limit if admin_limit is not None else (limit or 0)
        self._v2.interval = interval

    def check(
        self, path: str, full_path: str, principal: Principal | None, client_ip: str
    ) -> Verdict:
        """Apply the general then the v2 limiter; merge their headers; stop at the first 429."""
        headers: dict[str, str] = {}
        for verdict in (
            self._check_general(full_path, principal, client_ip),
            self._check_v2(path, principal, client_ip),
        ):
            if verdict is not None:
                headers |= verdict.headers
                if verdict.refusal is not None:
                    return Verdict(headers, verdict.refusal)
        return Verdict(headers)

    def _check_general(
        self, full_path: str, principal: Principal | None, client_ip: str
    ) -> Verdict | None:
        if self.general_limit is None or UNLIMITED_PATHS.match(full_path):
            return None
        if principal is None:
            return self._general.verdict(
                client_ip, self.anonymous_limit, ApiError("IPBasedRateLimitExceeded"), full_path
            )
        if _admin(principal):
            return None  # the admin limit defaults to -1
        return self._general.verdict(
            principal.user_id, self.general_limit, ApiError("RateLimitExceeded"), full_path
        )

    def _check_v2(self, path: str, principal: Principal | None, client_ip: str) -> Verdict | None:
        if self.v2_limit is None or not V2_LIMITED_PATHS.match(path):
            return None
        if principal is not None and V2_EXEMPT_SCOPE in principal.scopes:
            return None
        key = principal.user_id if principal is not None else client_ip
        limit = (
            self.v2_admin_limit if principal is not None and _admin(principal) else self.v2_limit
        )
        return self._v2.verdict(key, limit, ApiError("RateLimitV2APIExceeded"), path)


def _admin(principal: Principal) -> bool:
    """`BaseRateLimiter#admin?`: admin or admin_read_only."""
    return bool({"cloud_controller.admin", "cloud_controller.admin_read_only"} & principal.scopes)
