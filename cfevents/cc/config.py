"""Where the API URL and credentials come from, resolved once per run.

Precedence (highest first):

1. flags: ``--api``, ``--token``, ``--skip-ssl-validation``;
2. environment: ``CF_API``, ``CF_TOKEN``, ``CF_CLIENT_ID`` + ``CF_CLIENT_SECRET``;
3. the cf CLI's own login, ``$CF_HOME/.cf/config.json`` (``CF_HOME`` names the directory that
   *contains* ``.cf``; default ``$HOME``), read only when ``ConfigVersion`` is 4.

Credentials from the cf CLI config (AccessToken, RefreshToken, SSLDisabled, the UAA client) are
used only when the API being called is the config's ``Target``: a token is never sent to an API
it was not issued for.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cfevents.errors import AuthError, UsageError

CLIENT_CREDENTIALS = "client_credentials"


@dataclass(frozen=True)
class Credentials:
    """What cfevents may use to authenticate. Never printed."""

    access_token: str | None = None  # the full header value, "bearer eyJ..."
    refresh_token: str | None = None
    auth_endpoint: str | None = None  # UAA "login" URL; discovered from GET / when None
    client_id: str = "cf"
    client_secret: str = ""
    grant_type: str = ""  # "", "password", "client_credentials", jwt-bearer
    source: str = "none"  # for messages: "--token", "CF_TOKEN", "cf CLI config", "demo"

    def __repr__(self) -> str:  # keep secrets out of any accidental repr/log
        return f"Credentials(source={self.source!r}, grant_type={self.grant_type!r})"

    @property
    def can_refresh(self) -> bool:
        if self.grant_type == CLIENT_CREDENTIALS:
            return bool(self.client_id)
        return bool(self.refresh_token)


@dataclass(frozen=True)
class Settings:
    """The resolved connection settings for one run."""

    api: str
    credentials: Credentials
    verify_tls: bool = True
    timeout: float = 30.0
    retries: int = 5


def normalise_api(url: str) -> str:
    """``api.example.com`` → ``https://api.example.com``; no trailing slash."""
    text = url.strip()
    if not text:
        raise UsageError("the API URL is empty")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"not an http(s) API URL: {url!r}")
    return text.rstrip("/")


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) with default ports filled in; the unit a token is bound to."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def bearer(token: str) -> str:
    """Accept ``eyJ...`` or ``bearer eyJ...`` and return the header value."""
    text = token.strip()
    if text.lower().startswith("bearer "):
        return "bearer " + text[7:].strip()
    return "bearer " + text


def cf_config_path(env: Mapping[str, str]) -> Path:
    """``$CF_HOME/.cf/config.json``, else ``$HOME/.cf/config.json``."""
    home = env.get("CF_HOME") or env.get("HOME") or str(Path.home())
    return Path(home) / ".cf" / "config.json"


def load_cf_config(env: Mapping[str, str]) -> dict[str, Any] | None:
    """The cf CLI config, or None when absent, unreadable or not ConfigVersion 4."""
    path = cf_config_path(env)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("ConfigVersion") != 4:
        return None
    return data


def resolve(
    *,
    api_flag: str | None,
    token_flag: str | None,
    skip_ssl_validation: bool,
    env: Mapping[str, str] | None = None,
    cf_config: Mapping[str, Any] | None = None,
    timeout: float = 30.0,
    retries: int = 5,
) -> Settings:
    """Resolve settings by the documented precedence (see the module docstring)."""
    env = os.environ if env is None else env
    config = cf_config or {}
    target = config.get("Target") or ""
    api_raw = api_flag or env.get("CF_API") or target
    if not api_raw:
        raise AuthError(
            "no Cloud Foundry API to talk to: run 'cf login', or pass --api URL / set CF_API "
            "(or try 'cfevents --demo ...')"
        )
    api = normalise_api(api_raw)
    same_target = bool(target) and origin(normalise_api(target)) == origin(api)
    from_config = config if same_target else {}

    token_raw = token_flag or env.get("CF_TOKEN")
    token_source = "--token" if token_flag else "CF_TOKEN"
    client_id = env.get("CF_CLIENT_ID")
    client_secret = env.get("CF_CLIENT_SECRET")
    auth_endpoint = from_config.get("AuthorizationEndpoint") or None

    if client_id and client_secret is not None:
        creds = Credentials(
            access_token=bearer(token_raw) if token_raw else None,
            auth_endpoint=auth_endpoint,
            client_id=client_id,
            client_secret=client_secret,
            grant_type=CLIENT_CREDENTIALS,
            source="CF_CLIENT_ID/CF_CLIENT_SECRET",
        )
    elif token_raw:
        creds = Credentials(access_token=bearer(token_raw), source=token_source)
    elif from_config.get("AccessToken") or from_config.get("RefreshToken"):
        grant = from_config.get("UAAGrantType") or ""
        creds = Credentials(
            access_token=from_config.get("AccessToken") or None,
            refresh_token=from_config.get("RefreshToken") or None,
            auth_endpoint=auth_endpoint,
            client_id=from_config.get("UAAOAuthClient") or "cf",
            client_secret=from_config.get("UAAOAuthClientSecret") or "",
            grant_type=grant,
            source="cf CLI config",
        )
    else:
        creds = Credentials()
    verify = not (skip_ssl_validation or bool(from_config.get("SSLDisabled")))
    return Settings(api=api, credentials=creds, verify_tls=verify, timeout=timeout, retries=retries)
