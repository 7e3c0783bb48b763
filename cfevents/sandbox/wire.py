"""Request and response values passed between the HTTP server and the API handlers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cfevents.sandbox.errors import ApiError, encode
from cfevents.sandbox.tokens import BadToken, MissingToken, Principal

if TYPE_CHECKING:
    from cfevents.sandbox.data import Foundation
    from cfevents.sandbox.tokens import TokenAuthority

V3_JSON = "application/json; charset=utf-8"
V2_JSON = "application/json;charset=utf-8"


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP request plus what handlers need from the sandbox."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    foundation: Foundation
    tokens: TokenAuthority
    base_url: str
    v2_enabled: bool

    def authenticate(self) -> Principal:
        """The caller; raises CF-NotAuthenticated or CF-InvalidAuthToken."""
        try:
            return self.tokens.authenticate(self.headers.get("Authorization"))
        except MissingToken:
            raise ApiError("NotAuthenticated") from None
        except BadToken:
            raise ApiError("InvalidAuthToken") from None

    def reader(self) -> Principal:
        """A caller passing v3's `check_read_permissions!` (else CF-NotAuthorized)."""
        principal = self.authenticate()
        if not principal.can_read:
            raise ApiError("NotAuthorized")
        return principal


@dataclass(slots=True)
class Reply:
    """A response; for list responses `listed` counts the resources and `skipped` the
    rows an OFFSET passed over (both drive the simulated latency)."""

    status: int
    body: bytes
    content_type: str = V3_JSON
    headers: dict[str, str] = field(default_factory=dict)
    listed: int = -1
    skipped: int = 0


def json_reply(
    body: Any, status: int = 200, content_type: str = V3_JSON, listed: int = -1
) -> Reply:
    """A JSON response."""
    return Reply(status, encode(body), content_type, listed=listed)
