"""The Cloud Controller HTTP client: one session, auth, retries, and error mapping.

It never imports Typer or rich. It turns every failure into a :class:`CfEventsError`:
HTTP errors become :class:`ApiError` with CC's own ``detail``/``title``/``code`` (v3
``{"errors": [...]}``, v2 ``{"description", "error_code"}``) and the ``X-VCAP-Request-ID``;
non-JSON bodies (a proxy's HTML page, nginx's ``V2 endpoints disabled``) get a clean message.

The bearer token is only ever sent to the API's own scheme, host and port: absolute links that
point elsewhere (CC builds them from its ``external_domain``) are followed on the API host, and
redirects to another origin are refused.
"""

from __future__ import annotations

import email.utils
import io
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from urllib3.exceptions import NameResolutionError, ReadTimeoutError

from cfevents.cc.auth import TokenManager
from cfevents.cc.config import Settings, login_link_trusted, origin
from cfevents.cc.paging import Params
from cfevents.cc.readahead import Background, Worker
from cfevents.cc.retry import RetryPolicy
from cfevents.cc.trust import use_system_trust
from cfevents.errors import (
    ApiError,
    AuthError,
    CfEventsError,
    NetworkError,
    V2DisabledError,
)
from cfevents.version import __version__

MAX_REDIRECTS = 5
MAX_REFRESHES = 2  # token refreshes for one request after a 401 CF-InvalidAuthToken

Logger = Callable[[str], None]
# From a raw page, the (target, params) of the request after it, or None.
NextRequest = Callable[[bytes], "tuple[str, Params] | None"]

# Optional speed-up (pip install cfevents[fast]); the stdlib is the fallback. The internal
# CFEVENTS_NO_ORJSON=1 forces the stdlib decoder, so bench/run.py can show both figures.
try:
    if os.environ.get("CFEVENTS_NO_ORJSON"):
        raise ImportError("orjson disabled by CFEVENTS_NO_ORJSON")
    import orjson  # type: ignore[import-not-found,unused-ignore]

    def decode_json(data: bytes | str) -> Any:
        return orjson.loads(data)

    def _decode_body(resp: requests.Response) -> Any:
        data, resp._content = resp.content, None
        return orjson.loads(data)  # orjson parses the bytes in place: no text copy

except ImportError:  # pragma: no cover - depends on the environment

    def decode_json(data: bytes | str) -> Any:
        return json.loads(data)

    def _decode_body(resp: requests.Response) -> Any:
        data, resp._content = resp.content, None
        text = data.decode(json.detect_encoding(data), "surrogatepass")  # as json.loads does
        del data  # the raw body goes before the page is built from its text
        return json.loads(text)


def decode_body(resp: requests.Response) -> Any:
    """The JSON body of a response read in full, decoded; the response lets go of its raw
    bytes (``resp.content`` is gone after this), so a raw page body and its text copy are
    not both alive while the decoded page is built (ValueError if it is not JSON)."""
    return _decode_body(resp)


class CFClient:
    """GET JSON from Cloud Controller with auth, retries and one error vocabulary."""

    def __init__(
        self,
        settings: Settings,
        *,
        log: Logger | None = None,
        notify: Logger | None = None,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.retry = retry or RetryPolicy(retries=settings.retries)
        self.api = settings.api
        self._origin = origin(settings.api)
        self._log = log
        self._notify = notify
        self._sleep = sleep
        # called with (status, delay) before waiting out a 429/503: the parallel export's
        # shared back-off (cfevents.export.parallel) listens here
        self.on_throttle: Callable[[int, float], None] | None = None
        self.session = session or use_system_trust(requests.Session())
        self.session.trust_env = True
        self.session.headers["User-Agent"] = f"cfevents/{__version__}"
        self.session.headers["Accept"] = "application/json"
        self._root: dict[str, Any] | None = None
        self.tokens = TokenManager(
            settings.credentials,
            self.session,
            discover_auth_endpoint=self.trusted_login_endpoint,
            timeout=settings.timeout,
            verify=settings.verify_tls,
            log=log,
        )
        self._contacted = False  # has the API answered anything yet this run?
        self.clock_skew: float | None = None  # the API's clock minus ours (HTTP Date), seconds
        self.server_time: float | None = None  # the last answer's HTTP Date (POSIX seconds)
        self._ahead: _ReadAhead | None = None
        self._downloads = Worker("cfevents-read-ahead")  # one thread for every read-ahead

    # -- URLs ---------------------------------------------------------------------------

    def url_for(self, target: str) -> str:
        """A path (``/v3/...``) or a link (absolute v3 href, relative v2 next_url) → API URL.

        Absolute links on another origin are re-rooted on the API's origin, so the bearer token
        never leaves it.
        """
        base = urlsplit(self.api)
        parts = urlsplit(target)
        if parts.scheme and origin(target) != self._origin and self._log:
            self._log(
                f"  (link points at {parts.scheme}://{parts.netloc}; following it on {base.netloc})"
            )
        return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))

    def _same_origin(self, url: str) -> bool:
        return origin(url) == self._origin

    # -- requests -----------------------------------------------------------------------

    def root(self) -> dict[str, Any]:
        """``GET /`` (no auth needed), cached: links to v2, v3, login, uaa."""
        if self._root is None:
            body = self.get_json("/", auth=False)
            self._root = body if isinstance(body, dict) else {}
        return self._root

    def login_endpoint(self) -> str | None:
        link = (self.root().get("links") or {}).get("login") or {}
        href = link.get("href") if isinstance(link, dict) else None
        return str(href) if href else None

    def trusted_login_endpoint(self) -> str | None:
        """``links.login``, if the refresh token or client secret may go there (else exit 3)."""
        endpoint = self.login_endpoint()
        if endpoint and not (
            self.settings.trust_login_link or login_link_trusted(self.api, endpoint)
        ):
            raise AuthError(
                f"refusing to send the refresh token or client secret to {endpoint}: the login "
                f"link that {self.api} advertises is not https on its own domain; pass "
                "--trust-login-link if that is really your UAA"
            )
        return endpoint

    def v2_available(self) -> bool:
        """Whether ``GET /`` advertises ``links.cloud_controller_v2`` (absent when v2 is off)."""
        links = self.root().get("links") or {}
        return bool(links.get("cloud_controller_v2"))

    def get_json(
        self,
        target: str,
        params: Params | None = None,
        *,
        auth: bool = True,
        decode: Callable[[bytes], Any] | None = None,
    ) -> Any:
        """GET ``target`` and decode its JSON body, or raise a CfEventsError.

        If :meth:`read_ahead` started this very request, its response is used (and its error,
        if it failed, raised here). ``decode`` turns the body into the value returned (a
        ValueError: the body is not JSON); a store export keeps each event's text with it.
        Without it the body is decoded by :func:`decode_body` (its raw bytes let go first).
        """
        resp = self._take_read_ahead(target, params, auth)
        if resp is None:
            resp = self.get(target, params, auth=auth)
        try:
            return decode_body(resp) if decode is None else decode(resp.content)
        except ValueError:
            raise ApiError(
                resp.status_code,
                f"expected JSON but got {resp.headers.get('Content-Type', 'no content type')}",
                method="GET",
                path=urlsplit(resp.url).path,
                request_id=resp.headers.get("X-VCAP-Request-ID"),
            ) from None

    def read_ahead(
        self,
        target: str,
        params: Params | None = None,
        *,
        auth: bool = True,
        then: NextRequest | None = None,
        may_read: threading.Event | None = None,
    ) -> None:
        """Start downloading ``GET target`` in a background thread.

        The next :meth:`get_json` of the same request takes that response instead of asking
        again, so the download overlaps whatever the caller does meanwhile (writing the current
        page). Only the download runs ahead: decoding happens in the caller's thread, so at most
        one decoded page and one raw body are alive at once. Retries and token refreshes work as
        for any request. Asking again for the request already under way keeps it.

        ``then`` guesses the request after this one from its raw body; when :meth:`get_json`
        takes the response, that guess starts downloading before the body is even decoded. The
        caller confirms it with its own ``read_ahead`` once it has decoded the page; a wrong
        guess is dropped then (it costs one wasted request, never a wrong page). A guessed
        request is sent at once (the server works on it while this page is decoded and
        written) but its body is read only when :meth:`get_json` asks for it (``may_read``),
        once the caller is done with the page it was guessed from: a raw body never coexists
        with a decoded page.
        """
        key = _request_key(target, params, auth)
        if self._ahead is not None and self._ahead.key == key:
            self._ahead.then = then
            return
        self.cancel_read_ahead()
        may_read = may_read or _OPEN
        answered = threading.Event()

        def headers_in() -> None:
            answered.set()
            may_read.wait()

        def download() -> requests.Response:
            return self.get(target, params, auth=auth, before_body=headers_in)

        pending = Background(download, worker=self._downloads)
        self._ahead = _ReadAhead(key, pending, then, may_read, answered)

    def would_wait(self, target: str, params: Params | None = None, *, auth: bool = True) -> bool:
        """Whether :meth:`get_json` of this request would wait for the server now (no
        read-ahead of it, or one the server has not answered yet; a guessed request whose
        answer is in but whose body waits for :meth:`get_json` does not): a caller can do work
        that blocks first."""
        ahead = self._ahead
        if ahead is None or ahead.key != _request_key(target, params, auth):
            return True
        return not (ahead.pending.done() or ahead.answered.is_set())

    def cancel_read_ahead(self) -> None:
        """Forget a read-ahead nobody will ask for (the download finishes unseen)."""
        if self._ahead is not None:
            self._ahead.may_read.set()
        self._ahead = None

    def _take_read_ahead(
        self, target: str, params: Params | None, auth: bool
    ) -> requests.Response | None:
        ahead = self._ahead
        if ahead is None or ahead.key != _request_key(target, params, auth):
            return None
        self._ahead = None
        ahead.may_read.set()  # the caller is done with the page before: read the body now
        resp = ahead.pending.result()
        if ahead.then is not None:
            guess = ahead.then(resp.content)
            if guess is not None:  # its body waits until get_json asks for it
                gate = threading.Event()
                self.read_ahead(guess[0], guess[1], auth=auth, then=ahead.then, may_read=gate)
        return resp

    def get(
        self,
        target: str,
        params: Params | None = None,
        *,
        auth: bool = True,
        before_body: Callable[[], object] | None = None,
    ) -> requests.Response:
        """GET with retries (``self.retry``: connection errors, timeouts, 429, 502-504) and one
        token refresh after a 401."""
        url = self.url_for(target)
        attempt = 0
        refreshes = 0  # a new token can itself expire (or be revoked) before it is used: twice
        while True:
            header = self.tokens.authorization() if auth else None
            try:
                resp = self._send(url, params, header, before_body)
            except NetworkError as exc:
                attempt = self._retry_after_network_error(exc, attempt)
                continue
            self._contacted = True
            if resp.status_code < 400:
                return resp
            if refreshes < MAX_REFRESHES and self._refreshed_after_401(resp, header):
                refreshes += 1
                continue
            if self.retry.retries_status(resp.status_code) and attempt < self.retry.retries:
                attempt += 1
                why = f"HTTP {resp.status_code}; retry {attempt}/{self.retry.retries}"
                delay = self.retry.delay(attempt, resp.headers)
                if self.on_throttle is not None and resp.status_code in (429, 503):
                    self.on_throttle(resp.status_code, delay)
                self._wait(delay, why)
                continue
            raise self._final_error(resp, attempt)

    def _retry_after_network_error(self, exc: NetworkError, attempt: int) -> int:
        """Wait before the next attempt (its number is returned), or re-raise ``exc``."""
        if exc.unreachable and not self._contacted:
            raise exc  # a wrong URL or a server that is down: no point waiting for it
        if attempt >= self.retry.retries:
            raise NetworkError(f"{exc} (gave up after {attempt + 1} attempts)") from None
        attempt += 1
        self._wait(self.retry.delay(attempt), f"{exc}; retry {attempt}/{self.retry.retries}")
        return attempt

    def _refreshed_after_401(self, resp: requests.Response, header: str | None) -> bool:
        """CC said the token is invalid (expired): refresh it once, if it can be refreshed."""
        return (
            resp.status_code == 401
            and header is not None
            and _cc_error_title(resp) == "CF-InvalidAuthToken"
            and self.tokens.refresh_after_401(header)
        )

    def _final_error(self, resp: requests.Response, attempts: int) -> CfEventsError:
        """The error for a response that is not retried (again)."""
        error = error_from_response(resp)
        if not isinstance(error, ApiError):
            return error
        if error.status == 401:
            return AuthError(f"{error.message}; {_auth_hint(self.tokens.can_refresh)}")
        if attempts and self.retry.retries_status(error.status):
            return ApiError(
                error.status,
                f"{error.detail} (gave up after {attempts + 1} attempts)",
                title=error.title,
                code=error.code,
                request_id=error.request_id,
                path=error.path,
            )
        return error

    def _send(
        self,
        url: str,
        params: Params | None,
        header: str | None,
        before_body: Callable[[], object] | None = None,
    ) -> requests.Response:
        """One request, following same-origin redirects by hand (never carrying the token away)."""
        for _ in range(MAX_REDIRECTS + 1):
            headers = {}
            if header and self._same_origin(url):
                headers["Authorization"] = header
            started = time.monotonic()
            if self._log:
                self._log(f"> GET {_display_url(url, params)}")
                if "Authorization" in headers:
                    self._log("> Authorization: [redacted]")
            try:
                resp = self.session.get(
                    url,
                    params=params,
                    headers=headers,
                    timeout=self.settings.timeout,
                    verify=self.settings.verify_tls,
                    allow_redirects=False,
                    stream=True,
                )
                if before_body is not None:  # the headers are in; the body waits for this
                    before_body()
                body_from = time.monotonic() if before_body is not None else started
                _read_body(resp, body_from, self.settings.timeout, urlsplit(url).netloc)
            except requests.exceptions.InvalidHeader:
                # requests' message quotes the header value, i.e. the token: never show it
                raise AuthError(
                    "the token contains an invalid character and cannot be sent; copy it again"
                ) from None
            except requests.RequestException as exc:
                raise network_error(exc, urlsplit(url).netloc, self.settings.timeout) from None
            self._note_clock(resp.headers.get("Date"), started)
            if self._log:
                rid = resp.headers.get("X-VCAP-Request-ID", "-")
                self._log(
                    f"< {resp.status_code} {resp.reason} ({time.monotonic() - started:.3f}s, "
                    f"{len(resp.content)} bytes, request id {rid})"
                )
            if resp.is_redirect and "Location" in resp.headers:
                target = requests.compat.urljoin(url, resp.headers["Location"])
                if not self._same_origin(target) and not _is_https_upgrade(url, target):
                    raise ApiError(
                        resp.status_code,
                        f"the API redirected to {urlsplit(target).netloc}; refusing to send the token there",
                        path=urlsplit(url).path,
                    )
                url, params = target, None
                continue
            return resp
        raise ApiError(310, "too many redirects", path=urlsplit(url).path)

    def _note_clock(self, date: str | None, started: float) -> None:
        """Remember how far the API's clock (HTTP ``Date``) is from ours, in seconds."""
        if not date:
            return
        try:
            server = email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return
        self.server_time = server
        # Date has 1s resolution and was stamped between the request and now
        elapsed = time.monotonic() - started
        self.clock_skew = server + 0.5 - (time.time() - elapsed / 2)

    def _wait(self, delay: float, why: str) -> None:
        if self._notify:
            self._notify(f"{why} in {delay:.1f}s")
        self._sleep(delay)

    def close(self) -> None:
        self.session.close()


def _read_body(resp: requests.Response, started: float, timeout: float, host: str) -> None:
    """Read the whole body before ``deadline`` (``--timeout`` counts from the request's start:
    headers and body), or close the connection and raise a retryable NetworkError. Each socket
    read still waits at most ``--timeout``; a server that drips a byte at a time is cut off."""
    raw = resp.raw
    deadline = started + timeout
    body = io.BytesIO()  # grows in place: no list of chunks joined into a second copy
    try:
        while True:
            if time.monotonic() > deadline:
                resp.close()
                raise NetworkError(
                    f"{host} did not send the whole response within {timeout:g}s (--timeout)"
                )
            chunk = raw.read1(1 << 16, decode_content=True)
            if not chunk:
                break
            body.write(chunk)
    except NetworkError:
        raise
    except ReadTimeoutError as exc:
        resp.close()
        raise requests.exceptions.ReadTimeout(exc) from None
    except Exception as exc:  # urllib3's read errors: a dropped connection, a bad chunk
        resp.close()
        raise requests.exceptions.ConnectionError(exc) from None
    raw.release_conn()  # read to the end: the connection goes back to the pool
    resp._content = body.getvalue()  # the buffer itself, trimmed: not a copy
    resp._content_consumed = True  # type: ignore[attr-defined]


def _request_key(target: str, params: Params | None, auth: bool) -> tuple[Any, ...]:
    return (target, tuple(params or ()), auth)


@dataclass
class _ReadAhead:
    key: tuple[Any, ...]
    pending: Background[requests.Response]
    then: NextRequest | None
    may_read: threading.Event  # set: the download may read the body
    answered: threading.Event  # set: the server's answer (its headers) is in


_OPEN = threading.Event()  # a read-ahead not guessed from a page reads its body at once
_OPEN.set()


def error_from_response(resp: requests.Response) -> CfEventsError:
    """Turn an error response into the matching CfEventsError, whatever its body is."""
    path = urlsplit(resp.url).path
    request_id = resp.headers.get("X-VCAP-Request-ID")
    text = resp.text.strip() if resp.content else ""
    if resp.status_code == 404 and text == "V2 endpoints disabled":
        return V2DisabledError(
            "this foundation has the v2 API switched off (HTTP 404 'V2 endpoints disabled' "
            f"for {path}); use the v3 API instead (--source v3, or drop --v2)"
        )
    if resp.status_code == 400 and "plain HTTP request was sent to HTTPS port" in text[:2000]:
        host = urlsplit(resp.url).netloc
        return NetworkError(
            f"{host} expects https, not plain http: use --api https://{host}", unreachable=True
        )
    body: Any = None
    if text[:1] in ("{", "["):
        try:
            body = json.loads(text)
        except ValueError:
            body = None
    title: str | None = None
    code: int | None = None
    detail = ""
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
        errors = [e for e in body["errors"] if isinstance(e, dict)]
        first = errors[0] if errors else {}
        title = first.get("title")
        code = first.get("code")
        detail = "; ".join(str(e.get("detail") or e.get("title") or "") for e in errors)
    elif isinstance(body, dict) and ("description" in body or "error_code" in body):
        title = body.get("error_code")
        code = body.get("code")
        detail = str(body.get("description") or "")
    elif isinstance(body, dict) and "error" in body:  # UAA style
        title = str(body["error"])
        detail = str(body.get("error_description") or "")
    elif "<html" in text[:500].lower() or "<!doctype" in text[:100].lower():
        detail = f"{resp.reason or 'error'} (an HTML error page, probably from a proxy or router)"
    elif text:
        detail = text.splitlines()[0][:200]
    else:
        detail = resp.reason or "error"
    return ApiError(
        resp.status_code,
        detail,
        title=title,
        code=code if isinstance(code, int) else None,
        request_id=request_id,
        path=path,
    )


def _cc_error_title(resp: requests.Response) -> str | None:
    error = error_from_response(resp)
    return error.title if isinstance(error, ApiError) else None


def _auth_hint(can_refresh: bool) -> str:
    if can_refresh:
        return "the token was refreshed and still refused; run 'cf login' again"
    return "run 'cf login' again, or pass a fresh token with --token / CF_TOKEN"


def _is_https_upgrade(src: str, dst: str) -> bool:
    a, b = urlsplit(src), urlsplit(dst)
    return a.scheme == "http" and b.scheme == "https" and a.hostname == b.hostname


def _display_url(url: str, params: Params | None) -> str:
    if not params:
        return url
    req = requests.Request("GET", url, params=params).prepare()
    return str(req.url)


def network_error(exc: requests.RequestException, host: str, timeout: float) -> NetworkError:
    """The NetworkError for a failed request, classified by the exception's type.

    A refused connection or a failed DNS lookup is ``unreachable`` (found in the exception's
    chain: urllib3 wraps ``ConnectionRefusedError`` and ``socket.gaierror``).
    """
    if isinstance(exc, requests.exceptions.SSLError) and _speaks_plain_http(exc):
        return NetworkError(
            f"{host} answered in plain http, not https: use --api http://{host} if that is "
            "really the API (the token would travel unencrypted)",
            unreachable=True,  # a wrong URL: retrying cannot help
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return NetworkError(
            f"TLS error talking to {host}: {_without_url(str(exc))[:200]} "
            "(use --skip-ssl-validation only if you trust this network)"
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return NetworkError(f"timed out after {timeout:g}s waiting for {host}")
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = _unreachable(exc)
        return NetworkError(
            f"cannot connect to {host}: {reason or str(exc)[:200]}", unreachable=bool(reason)
        )
    return NetworkError(f"request to {host} failed: {str(exc)[:200]}")


_PLAIN_HTTP_SIGNS = ("wrong version number", "wrong_version_number", "record layer failure")


def _without_url(text: str) -> str:
    """urllib3's message without the request's URL (``with url: /v3/...``): the reason after it
    (``CERTIFICATE_VERIFY_FAILED``) stays within the message's length whatever the query."""
    import re

    return re.sub(r" with url: \S+", "", text)


def _speaks_plain_http(exc: BaseException) -> bool:
    """A TLS handshake answered by a plain-http server (OpenSSL's ``WRONG_VERSION_NUMBER``)."""
    text = str(exc).lower()
    return any(sign in text for sign in _PLAIN_HTTP_SIGNS)


def _unreachable(exc: BaseException) -> str | None:
    """ "connection refused" or "DNS lookup failed" when the exception chain says so."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, ConnectionRefusedError):
            return "connection refused"
        if isinstance(item, socket.gaierror | NameResolutionError):
            return "DNS lookup failed"
        todo.extend([*item.args, getattr(item, "reason", None), item.__cause__, item.__context__])
    return None
