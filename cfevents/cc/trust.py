"""Which certificate authorities HTTPS requests trust.

By default requests trusts only certifi's bundle, so a foundation whose API certificate comes
from a company's private CA fails unless every user passes --skip-ssl-validation. cfevents
verifies against the operating system's trust store instead (``truststore``: the Keychain on
macOS, the Windows certificate store, OpenSSL's configured store on Linux), so a CA the
machine already trusts just works. On top of it:

- ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` name the store OpenSSL loads (Linux and other Unix);
- ``REQUESTS_CA_BUNDLE`` (or ``CURL_CA_BUNDLE``) adds a CA bundle file, as for any requests tool.

``truststore`` is imported when the first HTTPS connection pool is made, not at start-up
(``python -X importtime``: about 28 ms, most of it ``ssl``).
"""

from __future__ import annotations

import ssl
from typing import Any

import requests
from requests.adapters import HTTPAdapter


class TrustStoreAdapter(HTTPAdapter):
    """An HTTPS adapter whose TLS context verifies against the system trust store."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("ssl_context", system_context())
        super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        kwargs.setdefault("ssl_context", system_context())
        return super().proxy_manager_for(proxy, **kwargs)


def system_context() -> ssl.SSLContext:
    """A client TLS context on the system trust store (``SSL_CERT_FILE`` honoured); plain
    OpenSSL defaults where truststore is unavailable."""
    try:
        import truststore
    except ImportError:  # pragma: no cover - a dependency; kept working without it
        return ssl.create_default_context()
    return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def use_system_trust(session: requests.Session) -> requests.Session:
    """Verify this session's HTTPS requests against the system trust store; returns it."""
    session.mount("https://", TrustStoreAdapter())
    return session
