"""Cloud Controller errors (`errors/v2.yml`) and their v2/v3 envelopes."""

from __future__ import annotations

import json
from typing import Any

#: name -> (code, HTTP status, message format), as in CC's error catalogue.
CATALOGUE: dict[str, tuple[int, int, str]] = {
    "InvalidAuthToken": (1000, 401, "Invalid Auth Token"),
    "MessageParseError": (1001, 400, "Request invalid due to parse error: %s"),
    "NotFound": (10000, 404, "Unknown request"),
    "NotAuthenticated": (10002, 401, "Authentication error"),
    "NotAuthorized": (10003, 403, "You are not authorized to perform the requested action"),
    "InvalidRequest": (10004, 400, "The request is invalid"),
    "BadQueryParameter": (10005, 400, "The query parameter is invalid: %s"),
    "InsufficientScope": (
        10007,
        403,
        "Your token lacks the necessary scopes to access this resource.",
    ),
    "UnprocessableEntity": (10008, 422, "%s"),
    "ResourceNotFound": (10010, 404, "%s"),
    "OrderByParameterInvalid": (10012, 500, "Cannot order by: %s"),
    "RateLimitExceeded": (10013, 429, "Rate Limit Exceeded"),
    "IPBasedRateLimitExceeded": (
        10014,
        429,
        "Rate Limit Exceeded: Unauthenticated requests from this IP address have exceeded the limit. Please log in.",
    ),
    "RateLimitV2APIExceeded": (
        10018,
        429,
        "Rate Limit of V2 API Exceeded. Please consider using the V3 API",
    ),
    "ServiceUnavailable": (10015, 503, "%s"),
    "EventNotFound": (230002, 404, "Event could not be found: %s"),
}


class ApiError(Exception):
    """A CC API error; a list argument is joined with ", " as `ApiError#message` does."""

    def __init__(self, name: str, *args: str | list[str]) -> None:
        code, status, fmt = CATALOGUE[name]
        formatted = tuple(", ".join(a) if isinstance(a, list) else a for a in args)
        super().__init__(fmt % formatted if "%s" in fmt else fmt)
        self.name = name
        self.code = code
        self.status = status

    @property
    def message(self) -> str:
        """The formatted message (`description` in v2, `detail` in v3)."""
        return str(self.args[0])


class UnknownError(Exception):
    """An uncaught exception in CC: HTTP 500 with the UnknownError body."""


def v3_body(error: ApiError | UnknownError) -> dict[str, Any]:
    """The v3 envelope: a list of errors with keys detail, title, code."""
    if isinstance(error, UnknownError):
        return {
            "errors": [
                {"title": "UnknownError", "detail": "An unknown error occurred.", "code": 10001}
            ]
        }
    return {"errors": [{"detail": error.message, "title": f"CF-{error.name}", "code": error.code}]}


def v2_body(error: ApiError | UnknownError) -> dict[str, Any]:
    """The v2 envelope: a flat object; unknown errors have no `CF-` prefix."""
    if isinstance(error, UnknownError):
        return {
            "error_code": "UnknownError",
            "description": "An unknown error occurred.",
            "code": 10001,
        }
    return {"description": error.message, "error_code": f"CF-{error.name}", "code": error.code}


def status_of(error: ApiError | UnknownError) -> int:
    """The HTTP status of an error."""
    return error.status if isinstance(error, ApiError) else 500


def encode(body: Any) -> bytes:
    """Compact JSON, as Rails and Oj emit it."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
