"""A tiny UAA: HS256 JWT access tokens, opaque refresh tokens and OAuth clients.

Tokens are signed with a fixed secret, so they stay valid across sandbox
restarts with the same URL. Validation follows CC's `UaaTokenDecoder`: the
header must read `bearer <jwt>` (scheme case-insensitive), the signature must
match, the audience must include `cloud_controller`, and expiry has no grace.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SECRET = b"cfevents-sandbox-uaa-signing-key"
CF_CLIENT = "cf"
READ_SCOPES = frozenset(
    {
        "cloud_controller.admin",
        "cloud_controller.admin_read_only",
        "cloud_controller.global_auditor",
        "cloud_controller.read",
    }
)
GLOBAL_READ_SCOPES = frozenset(
    {
        "cloud_controller.admin",
        "cloud_controller.admin_read_only",
        "cloud_controller.global_auditor",
    }
)


class MissingToken(Exception):
    """No Authorization header, or one not starting with "bearer" (CF-NotAuthenticated)."""


class BadToken(Exception):
    """Malformed, badly signed, expired or wrong-audience token (CF-InvalidAuthToken)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a request, as far as CC cares: the token's scopes."""

    scopes: frozenset[str]
    user_id: str

    @property
    def admin(self) -> bool:
        """Holds cloud_controller.admin."""
        return "cloud_controller.admin" in self.scopes

    @property
    def global_reader(self) -> bool:
        """Admin, admin_read_only or global_auditor (`Permissions#can_read_globally?`)."""
        return bool(self.scopes & GLOBAL_READ_SCOPES)

    @property
    def can_read(self) -> bool:
        """Passes v3's `check_read_permissions!`."""
        return bool(self.scopes & READ_SCOPES)


@dataclass(frozen=True, slots=True)
class _Grant:
    scopes: tuple[str, ...]
    user_name: str


class OAuthError(Exception):
    """A UAA error response: HTTP status and the `error`/`error_description` body."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.body = {"error": error, "error_description": description}


def _compact(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenAuthority:
    """Mints and checks tokens; answers `POST /oauth/token`."""

    def __init__(self, default_ttl: int, clock: Callable[[], float] = time.time) -> None:
        self.default_ttl = default_ttl
        self.clock = clock
        self.issuer = "http://sandbox.invalid/oauth/token"
        self.grants = 0
        self._lock = threading.Lock()
        self._refresh: dict[str, _Grant] = {}
        self._clients: dict[str, tuple[str, tuple[str, ...]]] = {
            CF_CLIENT: ("", ()),
            "cfevents-ci": ("ci-secret", ("cloud_controller.admin_read_only",)),
        }

    # -- minting ---------------------------------------------------------------

    def mint(
        self,
        scopes: list[str] | tuple[str, ...],
        ttl: int | None = None,
        user_name: str | None = "sandbox-user",
        client_id: str = CF_CLIENT,
        expired: bool = False,
    ) -> str:
        """A signed access token (without the `bearer ` prefix)."""
        now = int(self.clock())
        lifetime = self.default_ttl if ttl is None else ttl
        iat = now - lifetime - 60 if expired else now
        claims: dict[str, Any] = {"jti": secrets.token_hex(16)}
        if user_name is not None:
            user_id = hashlib.sha256(user_name.encode()).hexdigest()[:32]
            claims |= {
                "sub": user_id,
                "user_id": user_id,
                "user_name": user_name,
                "email": f"{user_name}@example.com",
            }
        else:
            claims["sub"] = client_id
        claims |= {
            "scope": list(scopes),
            "client_id": client_id,
            "cid": client_id,
            "azp": client_id,
            "grant_type": "password" if user_name is not None else "client_credentials",
            "iat": iat,
            "exp": iat + lifetime,
            "iss": self.issuer,
            "zid": "uaa",
            "aud": sorted({s.split(".")[0] for s in scopes} | {client_id, "cloud_controller"}),
        }
        header = {"alg": "HS256", "kid": "sandbox-key", "typ": "JWT"}
        signing_input = f"{_b64(_compact(header))}.{_b64(_compact(claims))}"
        signature = hmac.new(SECRET, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(signature)}"

    def issue_refresh_token(
        self, scopes: list[str] | tuple[str, ...], user_name: str = "sandbox-admin"
    ) -> str:
        """Register an opaque refresh token for the `cf` client."""
        token = secrets.token_hex(16) + "-r"
        with self._lock:
            self._refresh[token] = _Grant(tuple(scopes), user_name)
        return token

    def add_client(self, client_id: str, secret: str, scopes: list[str] | tuple[str, ...]) -> None:
        """Register a client for the client_credentials grant."""
        with self._lock:
            self._clients[client_id] = (secret, tuple(scopes))

    # -- checking --------------------------------------------------------------

    def authenticate(self, header: str | None) -> Principal:
        """The principal of an `Authorization` header value; raises MissingToken or BadToken."""
        if not header or not header.upper().startswith("BEARER"):
            raise MissingToken
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != "bearer":
            raise BadToken("malformed header")
        claims = self._verify(parts[1])
        scopes = claims.get("scope")
        user_id = claims.get("user_id") or claims.get("client_id")
        if not isinstance(scopes, list) or not isinstance(user_id, str):
            raise BadToken("no scopes or user")
        return Principal(frozenset(str(s) for s in scopes), user_id)

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            head, body, signature = token.split(".")
            header = json.loads(_unb64(head))
            claims = json.loads(_unb64(body))
            given = _unb64(signature)
        except (ValueError, binascii.Error) as exc:
            raise BadToken("undecodable") from exc
        expected = hmac.new(SECRET, f"{head}.{body}".encode(), hashlib.sha256).digest()
        if (
            not isinstance(header, dict)
            or header.get("alg") != "HS256"
            or not hmac.compare_digest(given, expected)
        ):
            raise BadToken("invalid signature")
        if not isinstance(claims, dict) or "cloud_controller" not in (claims.get("aud") or []):
            raise BadToken("invalid audience")
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp <= self.clock():
            raise BadToken("token expired")
        return claims

    # -- the token endpoint ----------------------------------------------------

    def grant(self, form: dict[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        """Answer a `POST /oauth/token` form; raises OAuthError."""
        grant_type = form.get("grant_type", "")
        if grant_type == "refresh_token":
            response = self._refresh_grant(form, basic)
        elif grant_type == "client_credentials":
            response = self._client_grant(form, basic)
        elif not grant_type:
            raise OAuthError(400, "invalid_request", "Missing grant type")
        else:
            raise OAuthError(400, "unsupported_grant_type", f"Unsupported grant type: {grant_type}")
        with self._lock:
            self.grants += 1
        return response

    def _client(self, client_id: str, secret: str) -> tuple[str, ...]:
        known = self._clients.get(client_id)
        if known is None or not hmac.compare_digest(known[0], secret):
            raise OAuthError(401, "unauthorized", "Bad credentials")
        return known[1]

    def _refresh_grant(self, form: dict[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        if basic is None:
            raise OAuthError(
                401, "unauthorized", "Full authentication is required to access this resource"
            )
        client_id, _ = basic
        self._client(*basic)
        token = form.get("refresh_token", "")
        with self._lock:
            grant = self._refresh.get(token)
        if grant is None:
            raise OAuthError(
                401,
                "invalid_token",
                "The token expired, was revoked, or the token ID is incorrect.",
            )
        access = self.mint(grant.scopes, user_name=grant.user_name, client_id=client_id)
        return self._response(access, grant.scopes, refresh_token=token)

    def _client_grant(self, form: dict[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        scopes = self._client(client_id, secret)
        access = self.mint(scopes, user_name=None, client_id=client_id)
        return self._response(access, scopes)

    def _response(
        self, access: str, scopes: tuple[str, ...], refresh_token: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"access_token": access, "token_type": "bearer"}
        if refresh_token is not None:
            body["refresh_token"] = refresh_token
        body |= {
            "expires_in": self.default_ttl - 1,
            "scope": " ".join(scopes),
            "jti": secrets.token_hex(16),
        }
        return body
