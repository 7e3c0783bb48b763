"""Bearer tokens: reading a JWT's expiry, and refreshing it the way the cf CLI does.

Refresh is proactive (a token that expires within a minute is refreshed before the request,
like the cf CLI), and the client retries once after a 401 ``CF-InvalidAuthToken``. The refresh
goes to ``{AuthorizationEndpoint}/oauth/token``:

- ``refresh_token`` grant with HTTP Basic ``cf:`` (the UAA client and its empty secret);
- ``client_credentials`` grant with the id and secret in the form body, no Basic auth.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from cfevents.cc.config import CLIENT_CREDENTIALS, Credentials, check_token
from cfevents.errors import ApiError, AuthError, NetworkError, register_secret

REFRESH_MARGIN = 60.0  # seconds; the cf CLI refreshes when exp - now < 1 minute
GLOBAL_READ_SCOPES = frozenset(
    {
        "cloud_controller.admin",
        "cloud_controller.admin_read_only",
        "cloud_controller.global_auditor",
    }
)

LOGIN_HINT = "run 'cf login' again (or set CF_CLIENT_ID/CF_CLIENT_SECRET)"


def jwt_claims(header_value: str | None) -> dict[str, Any] | None:
    """The (unverified) claims of a JWT access token, or None if it is not a JWT."""
    if not header_value:
        return None
    token = header_value.split(" ", 1)[-1]
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, TypeError):
        return None
    return claims if isinstance(claims, dict) else None


class TokenManager:
    """Hands out a valid ``Authorization`` header value, refreshing when needed.

    Thread-safe: a read-ahead download may ask from another thread.
    """

    def __init__(
        self,
        credentials: Credentials,
        session: requests.Session,
        *,
        discover_auth_endpoint: Callable[[], str | None],
        timeout: float = 30.0,
        verify: bool = True,
        clock: Callable[[], float] = time.time,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self._creds = credentials
        self._access = credentials.access_token
        self._refresh = credentials.refresh_token
        self._session = session
        self._discover = discover_auth_endpoint
        self._timeout = timeout
        self._verify = verify
        self._clock = clock
        self._log = log
        self._lock = threading.Lock()
        self.refreshes = 0

    @property
    def can_refresh(self) -> bool:
        """Credentials.can_refresh, or a refresh token UAA has handed out since."""
        return self._creds.can_refresh or bool(self._refresh)

    def scopes(self) -> set[str] | None:
        """Scopes of the current token, or None when it is not a readable JWT."""
        claims = jwt_claims(self._access)
        if claims is None:
            return None
        scope = claims.get("scope")
        if isinstance(scope, str):
            return set(scope.split())
        if isinstance(scope, list):
            return {str(s) for s in scope}
        return set()

    def seconds_left(self) -> float | None:
        claims = jwt_claims(self._access)
        exp = claims.get("exp") if claims else None
        if not isinstance(exp, (int, float)):
            return None
        return float(exp) - self._clock()

    def authorization(self) -> str:
        """The header value for the next request (refreshing first if it is about to expire)."""
        with self._lock:
            if self._access is None:
                if not self.can_refresh:
                    raise AuthError(f"not logged in: no access token found; {LOGIN_HINT}")
                self._do_refresh()
            else:
                left = self.seconds_left()
                if left is not None and left < REFRESH_MARGIN:
                    if self.can_refresh:
                        self._do_refresh()
                    elif left <= 0:
                        raise AuthError(
                            f"the access token from {self._creds.source} has expired and there "
                            f"is no refresh token; {LOGIN_HINT}"
                        )
            assert self._access is not None
            return self._access

    def refresh_after_401(self, rejected: str) -> bool:
        """Refresh once after the server rejected ``rejected``; False if impossible."""
        with self._lock:
            if self._access != rejected:  # another thread already refreshed
                return True
            if not self.can_refresh:
                return False
            self._do_refresh()
            return True

    def _do_refresh(self) -> None:
        endpoint = self._creds.auth_endpoint or self._discover()
        if not endpoint:
            raise AuthError(f"cannot refresh the token: no UAA login endpoint known; {LOGIN_HINT}")
        url = endpoint.rstrip("/") + "/oauth/token"
        if self._creds.grant_type == CLIENT_CREDENTIALS:
            data = {
                "client_id": self._creds.client_id,
                "client_secret": self._creds.client_secret,
                "grant_type": "client_credentials",
            }
            auth = None
        else:
            data = {"grant_type": "refresh_token", "refresh_token": self._refresh or ""}
            auth = (self._creds.client_id, self._creds.client_secret)
        if self._log:
            self._log(f"> POST {url} (token refresh, {data['grant_type']} grant)")
        try:
            resp = self._session.post(
                url,
                data=data,
                auth=auth,
                headers={"Accept": "application/json"},
                timeout=self._timeout,
                verify=self._verify,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise NetworkError(f"cannot reach the UAA at {endpoint}: {exc}") from None
        if self._log:
            self._log(f"< {resp.status_code} POST {url}")
        if resp.status_code in (400, 401, 403):
            if self._creds.grant_type == CLIENT_CREDENTIALS:
                raise AuthError(
                    f"the UAA refused the client credentials ({_uaa_error(resp)}); check "
                    "CF_CLIENT_ID and CF_CLIENT_SECRET"
                )
            raise AuthError(
                f"the UAA refused to refresh the token ({_uaa_error(resp)}); {LOGIN_HINT}"
            )
        if resp.status_code != 200:
            raise ApiError(resp.status_code, _uaa_error(resp), method="POST", path="/oauth/token")
        try:
            body = resp.json()
            token = f"{body.get('token_type') or 'bearer'} {body['access_token']}"
        except (ValueError, KeyError, TypeError):
            raise AuthError(f"the UAA answered the refresh without a token; {LOGIN_HINT}") from None
        access = "bearer " + token.split(" ", 1)[1]
        register_secret(access)
        check_token(access, "the UAA's refresh")
        self._access = access
        if body.get("refresh_token"):
            self._refresh = str(body["refresh_token"])
            register_secret(self._refresh)
        self.refreshes += 1


def _uaa_error(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return f"HTTP {resp.status_code}"
    if isinstance(body, dict) and body.get("error"):
        desc = body.get("error_description")
        return f"{body['error']}: {desc}" if desc else str(body["error"])
    return f"HTTP {resp.status_code}"
