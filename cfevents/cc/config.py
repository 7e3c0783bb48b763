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

from cfevents.errors import AuthError, UsageError, register_secret, without_userinfo

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
    # --trust-login-link: send the refresh token / client secret to a discovered links.login
    # that is neither on the API's origin nor https on the API's own domain (login_link_trusted)
    trust_login_link: bool = False


def normalise_api(url: str) -> str:
    """``api.example.com`` → ``https://api.example.com``; no trailing slash."""
    text = url.strip()
    if not text:
        raise UsageError("the API URL is empty")
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        if parts.port == 0:  # raises ValueError itself for a port outside 0-65535
            raise ValueError("port 0")
    except ValueError as exc:  # a broken IPv6 literal, a port out of range or not a number
        raise UsageError(f"not a valid API URL: {url!r} ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"not an http(s) API URL: {url!r}")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
        raise UsageError(f"not a valid API URL: {url!r} (it contains spaces or control characters)")
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


def check_token(value: str, source: str) -> str:
    """``value`` if it can go in an ``Authorization`` header; else an auth error (exit 3) that
    says what is wrong without showing the token (requests' own message would echo it)."""
    token = value.split(" ", 1)[1] if value.lower().startswith("bearer ") else value
    if "\r" in value or "\n" in value:
        raise AuthError(f"the token from {source} contains a line break; copy it again")
    if not token or any(not 0x21 <= ord(c) <= 0x7E for c in token):
        raise AuthError(
            f"the token from {source} contains an invalid character (a space, a control or "
            "a non-ASCII character); copy it again"
        )
    return value


def login_link_trusted(api: str, login: str) -> bool:
    """Whether a ``links.login`` found at ``GET /`` may receive the refresh token or client secret.

    Yes on the API's own origin (the server that already gets the bearer token), or over https on
    the API's own domain: the login host equals the API host or ends with ``.`` + the API host's
    parent domain (``login.sys.example.com`` for ``api.sys.example.com``), that parent having at
    least two labels. Anything else needs ``--trust-login-link``. (Stricter than the registrable
    domain, and needs no public-suffix list.)
    """
    try:
        if origin(login) == origin(api):
            return True
        parts = urlsplit(login)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - a broken port is not trusted
    except ValueError:
        return False
    if parts.scheme.lower() != "https" or not host:
        return False
    api_host = (urlsplit(api).hostname or "").lower()
    if host == api_host:
        return True
    labels = api_host.split(".")
    parent = ".".join(labels[1:])
    if len(labels) < 3 or api_host.replace(".", "").isdigit() or ":" in api_host:
        return False  # a two-label host has no parent domain of its own; IPs have none at all
    return host.endswith("." + parent)


def cf_config_path(env: Mapping[str, str]) -> Path:
    """``$CF_HOME/.cf/config.json``, else ``$HOME/.cf/config.json``."""
    home = env.get("CF_HOME") or env.get("HOME") or str(Path.home())
    return Path(home) / ".cf" / "config.json"


# load_cf_config records where the config came from (and why it is unusable) under these keys,
# so resolve() can name the file, and complain only when it needs the config.
CONFIG_PATH_KEY = "\x00path"
CONFIG_CORRUPT_KEY = "\x00corrupt"

# The cf CLI config fields cfevents reads, and the JSON type each must have.
_CONFIG_TYPES: dict[str, type] = {
    "Target": str,
    "AccessToken": str,
    "RefreshToken": str,
    "AuthorizationEndpoint": str,
    "SSLDisabled": bool,
    "UAAOAuthClient": str,
    "UAAOAuthClientSecret": str,
    "UAAGrantType": str,
}


def load_cf_config(env: Mapping[str, str]) -> dict[str, Any] | None:
    """The cf CLI config; None when absent or not ConfigVersion 4.

    A file that exists but cannot be read or parsed comes back as ``{CONFIG_CORRUPT_KEY: why}``:
    :func:`resolve` reports it (exit 2) when the run needs the config, and ignores it otherwise.
    """
    path = cf_config_path(env)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        return {CONFIG_PATH_KEY: str(path), CONFIG_CORRUPT_KEY: f"cannot read it: {exc.strerror}"}
    try:
        data = json.loads(text)
    except ValueError as exc:
        return {CONFIG_PATH_KEY: str(path), CONFIG_CORRUPT_KEY: f"not valid JSON: {exc}"}
    if not isinstance(data, dict):
        return {CONFIG_PATH_KEY: str(path), CONFIG_CORRUPT_KEY: "not a JSON object"}
    if data.get("ConfigVersion") != 4:
        return None
    data[CONFIG_PATH_KEY] = str(path)
    return data


def _config_value(config: Mapping[str, Any], key: str) -> Any:
    """``config[key]`` (None when absent or null), a usage error naming file and key if mistyped."""
    value = config.get(key)
    expected = _CONFIG_TYPES[key]
    if value is None or type(value) is expected:
        return value
    where = config.get(CONFIG_PATH_KEY) or "the cf CLI config"
    raise UsageError(
        f"{where}: {key} must be a JSON {_JSON_NAMES[expected]}, not {json.dumps(value)[:40]}"
    )


_JSON_NAMES = {str: "string", bool: "boolean (true or false)"}


def _usable_config(
    config: Mapping[str, Any], api_flag: str | None, token_flag: str | None, env: Mapping[str, str]
) -> Mapping[str, Any]:
    """A corrupt cf CLI config is refused when it is needed, else ignored."""
    if CONFIG_CORRUPT_KEY not in config:
        return config
    needed = not (api_flag or env.get("CF_API")) or not (
        token_flag or env.get("CF_TOKEN") or env.get("CF_CLIENT_ID")
    )
    if needed:
        raise UsageError(
            f"the cf CLI config {config.get(CONFIG_PATH_KEY)} is corrupt "
            f"({config[CONFIG_CORRUPT_KEY]}): repair or remove it and run 'cf login' again"
        )
    return {}


def _credentials(
    token_flag: str | None, env: Mapping[str, str], from_config: Mapping[str, Any]
) -> Credentials:
    """Client credentials (CF_CLIENT_ID/SECRET), else a token (--token, CF_TOKEN), else the
    cf CLI's login (only when its target is the API asked for)."""
    token_raw = token_flag or env.get("CF_TOKEN")
    token_source = "--token" if token_flag else "CF_TOKEN"
    client_id = env.get("CF_CLIENT_ID")
    client_secret = env.get("CF_CLIENT_SECRET")
    auth_endpoint = _config_value(from_config, "AuthorizationEndpoint") or None
    if client_id and client_secret is not None:
        return Credentials(
            access_token=bearer(token_raw) if token_raw else None,
            auth_endpoint=auth_endpoint,
            client_id=client_id,
            client_secret=client_secret,
            grant_type=CLIENT_CREDENTIALS,
            source="CF_CLIENT_ID/CF_CLIENT_SECRET",
        )
    if token_raw:
        return Credentials(access_token=bearer(token_raw), source=token_source)
    if _config_value(from_config, "AccessToken") or _config_value(from_config, "RefreshToken"):
        return Credentials(
            access_token=_config_value(from_config, "AccessToken") or None,
            refresh_token=_config_value(from_config, "RefreshToken") or None,
            auth_endpoint=auth_endpoint,
            client_id=_config_value(from_config, "UAAOAuthClient") or "cf",
            client_secret=_config_value(from_config, "UAAOAuthClientSecret") or "",
            grant_type=_config_value(from_config, "UAAGrantType") or "",
            source="cf CLI config",
        )
    return Credentials()


def resolve(
    *,
    api_flag: str | None,
    token_flag: str | None,
    skip_ssl_validation: bool,
    env: Mapping[str, str] | None = None,
    cf_config: Mapping[str, Any] | None = None,
    timeout: float = 30.0,
    retries: int = 5,
    trust_login_link: bool = False,
) -> Settings:
    """Resolve settings by the documented precedence (see the module docstring)."""
    env = os.environ if env is None else env
    config = _usable_config(cf_config or {}, api_flag, token_flag, env)
    target = _config_value(config, "Target") or ""
    api_raw = api_flag or env.get("CF_API") or target
    if not api_raw:
        raise AuthError(
            "no Cloud Foundry API to talk to: run 'cf login', or pass --api URL / set CF_API "
            "(or try 'cfevents --demo ...')"
        )
    api = without_userinfo(normalise_api(api_raw))  # never recorded in a checkpoint or store
    same_target = bool(target) and origin(normalise_api(target)) == origin(api)
    from_config = config if same_target else {}
    creds = _credentials(token_flag, env, from_config)
    for secret in (creds.access_token, creds.refresh_token, creds.client_secret):
        register_secret(secret)
    if creds.access_token:
        check_token(creds.access_token, creds.source)
    # SSLDisabled must be the JSON boolean true: "false" (a string) never turns TLS off.
    verify = not (skip_ssl_validation or _config_value(from_config, "SSLDisabled") is True)
    return Settings(
        api=api,
        credentials=creds,
        verify_tls=verify,
        timeout=timeout,
        retries=retries,
        trust_login_link=trust_login_link,
    )
