"""Exceptions and the one table that maps failures to exit codes.

Every expected failure in cfevents is a :class:`CfEventsError`. The CLI catches them in one
place (``cfevents.cli.CfEventsGroup``), prints ``cfevents: error: <message>`` on stderr and
exits with :attr:`CfEventsError.exit_code`. Nothing else in the package picks exit codes.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from enum import IntEnum
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit


class ExitCode(IntEnum):
    """Documented exit codes (README "Exit codes")."""

    OK = 0
    ERROR = 1  # anything else
    USAGE = 2  # bad flag or value, caught before any request
    AUTH = 3  # 401, 403, no credentials, dead refresh token
    NOT_FOUND = 4  # 404, or a name that matches nothing
    API = 5  # any other API error (4xx/5xx), v2 disabled, lost cursor
    NETWORK = 6  # connection refused, DNS, TLS, timeout
    INCOMPLETE = 7  # usage report: events the window needs are gone (retention, purge)
    LOCKED = 8  # another export holds the checkpoint's lock or the history store's
    IO = 9  # the output or checkpoint could not be written (disk full, EIO, fsync, rotated)
    STORE = 10  # a history store cfevents cannot use: not a store, damaged, newer, read-only
    HANGUP = 129  # SIGHUP: 128 + 1, stopped cleanly like Ctrl-C
    TERMINATED = 143  # SIGTERM: 128 + 15, stopped cleanly like Ctrl-C
    PIPE = 141  # stdout closed early (`| head`): 128 + SIGPIPE, like any Unix filter
    INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT


def exit_code_for_status(status: int) -> ExitCode:
    """Exit code for an HTTP error status."""
    if status in (401, 403):
        return ExitCode.AUTH
    if status == 404:
        return ExitCode.NOT_FOUND
    return ExitCode.API


class CfEventsError(Exception):
    """An expected failure with a one-line message for the user."""

    @property
    def exit_code(self) -> int:
        return self.default_exit_code

    default_exit_code: int = ExitCode.ERROR

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.detail_text = message
        self.param = param  # the Python parameter at fault; the CLI names its flag instead
        # "`order` must be ..." names its parameter itself; anything else is prefixed with it
        named = param is None or message.startswith(f"`{param}`")
        self.message = message if named else f"{param}: {message}"

    def __str__(self) -> str:
        return self.message

    def extended(self, note: str) -> CfEventsError:
        """A copy of this error with ``; note`` after its message (the caught one unchanged)."""
        error = type(self).__new__(type(self))  # every attribute, whatever __init__ takes
        error.__dict__.update(self.__dict__)
        error.args = self.args
        error.detail_text = f"{self.detail_text}; {note}"
        error.message = f"{self.message}; {note}"
        return error


class UsageError(CfEventsError):
    """A bad flag or value, found before any request was sent."""

    default_exit_code = ExitCode.USAGE


class AuthError(CfEventsError):
    """No usable credentials, or the server refused them."""

    default_exit_code = ExitCode.AUTH


class NotFoundError(CfEventsError):
    """The thing asked for does not exist (or is not visible to this user)."""

    default_exit_code = ExitCode.NOT_FOUND


class NetworkError(CfEventsError):
    """The API could not be reached: refused, DNS, TLS or timeout.

    ``unreachable`` marks a refused connection or a failed DNS lookup: retried only once the
    API has answered in this run (a restart mid-export), not when it never did (a wrong URL).
    """

    default_exit_code = ExitCode.NETWORK

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class ApiError(CfEventsError):
    """Cloud Controller answered with an error.

    ``status`` is the HTTP status, ``title`` the CC error name (``CF-UnprocessableEntity``),
    ``code`` the numeric CC code and ``detail`` the human message, when the body had them.
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        code: int | None = None,
        request_id: str | None = None,
        method: str = "GET",
        path: str = "",
    ) -> None:
        self.status = status
        self.detail = detail
        self.title = title
        self.code = code
        self.request_id = request_id
        self.method = method
        self.path = path
        super().__init__(self._compose())

    @property
    def exit_code(self) -> int:
        return exit_code_for_status(self.status)

    def _compose(self) -> str:
        label = f"{self.status}"
        if self.title:
            label += f" {self.title}"
            if self.code is not None:
                label += f" ({self.code})"
        text = f"{label}: {self.detail}" if self.detail else label
        if self.path:
            text += f" [{self.method} {self.path}]"
        if self.request_id:
            text += f" [X-VCAP-Request-ID: {self.request_id}]"
        return text


class BadResponseError(CfEventsError):
    """Cloud Controller answered 200 with something that is not a page of the expected shape,
    or paging that does not advance (a loop guard): exit 5, never garbage or an endless loop."""

    default_exit_code = ExitCode.API


class V2DisabledError(CfEventsError):
    """The foundation has the v2 API switched off (nginx 404 ``V2 endpoints disabled``)."""

    default_exit_code = ExitCode.API


class LostCursorError(CfEventsError):
    """The stored ``after_guid`` cursor is unknown to the server (pruned or purged)."""

    default_exit_code = ExitCode.API


class StoreError(CfEventsError):
    """A history store (SQLite file or PostgreSQL database) cfevents cannot use: not a
    database, damaged, written by a newer cfevents, holding tables cfevents did not create,
    read-only, refusing the login, or its driver is not installed. The message says what the
    file or database is and what to do. Subclasses: locked (8), I/O (9), network (6)."""

    default_exit_code = ExitCode.STORE


class StoreLockedError(StoreError):
    """Another export holds the store's lock for this foundation and event kind."""

    default_exit_code = ExitCode.LOCKED


class StoreIOError(StoreError):
    """The store could not be written: disk full, a file-size limit, EIO (exit 9, like a
    file). Each page commits with its cursor, so a rerun resumes after the last one stored."""

    default_exit_code = ExitCode.IO


class StoreNetworkError(StoreError):
    """The PostgreSQL server could not be reached, or the connection broke: exit 6."""

    default_exit_code = ExitCode.NETWORK


class ExportLockedError(CfEventsError):
    """Another export holds the checkpoint's lock (``<checkpoint>.lock``)."""

    default_exit_code = ExitCode.LOCKED


class OutputIOError(CfEventsError):
    """The output or the checkpoint could not be written or made durable (disk full, EIO, a
    failed fsync), or the output file was rotated or truncated under the checkpoint."""

    default_exit_code = ExitCode.IO


class StoppedBySignal(BaseException):
    """SIGTERM or SIGHUP arrived: unwinds like KeyboardInterrupt (finally blocks run, the JSON
    array closes, the checkpoint stays at the last committed page); exit 128 + ``signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


SIGNAL_WORDS = {2: "interrupted", 1: "hung up (SIGHUP)", 15: "terminated (SIGTERM)"}


class ExportStopped(CfEventsError):
    """An export stopped by Ctrl-C, SIGTERM or SIGHUP after a clean shutdown: the message says
    how far it got; exit 128 + ``signum`` (130, 143, 129)."""

    def __init__(self, signum: int, note: str) -> None:
        super().__init__(f"{SIGNAL_WORDS.get(signum, f'signal {signum}')}; {note}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class IncompleteDataError(CfEventsError):
    """A usage report cannot be exact: events it needs were pruned or purged.

    The message names the problem and the ways out (``--opening FILE``, a later ``--since``,
    ``--allow-incomplete``).
    """

    default_exit_code = ExitCode.INCOMPLETE


# -- secrets -------------------------------------------------------------------------------------

# Every token, refresh token, client secret and database password this process holds
# (config.resolve, the token refresh and the PostgreSQL store register them). redact() is applied
# to every line cfevents prints on stderr and to every store or URL it names, a net under the rule
# that no message is built from a secret in the first place.
_SECRETS: set[str] = set()
_MIN_SECRET = 6  # shorter values would redact ordinary words; no real secret is that short
MASK = "***"

# A URL's userinfo password (``scheme://user:pw@host``: the password is masked, the user kept).
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:]*):[^\s/?#@]*@")
# libpq parameters that carry a secret or name a file holding one, in a URL's query
# (``?password=…&sslpassword=…``) or a keyword conninfo (``password='…' passfile=…``).
SECRET_PARAMS = ("password", "sslpassword", "passfile")
_PARAM = re.compile(
    r"(?P<head>(?<![A-Za-z0-9_])(?:" + "|".join(SECRET_PARAMS) + r")\s*=\s*)"
    r"(?P<value>'(?:[^'\\]|\\.)*'|[^\s&#;'\"]+)",
    re.IGNORECASE,
)
# libpq reads these from the environment: their values are secrets (or name a file of them).
SECRET_ENV = ("PGPASSWORD", "PGSSLPASSWORD")


def register_secret(value: str | None) -> None:
    """Remember ``value`` (and its bare form without ``bearer ``) so redact() hides it."""
    if not value:
        return
    for form in (value, value.split(" ", 1)[-1] if value.lower().startswith("bearer ") else ""):
        if len(form.strip()) >= _MIN_SECRET:
            _SECRETS.add(form.strip())


def register_url_secrets(url: str, env: Mapping[str, str] | None = None) -> None:
    """Register the password a database URL or conninfo carries (as written and decoded) and
    the libpq environment's (``PGPASSWORD``), so redact() hides them even where a driver's own
    message quotes them without the key."""
    parts = urlsplit(url) if "://" in url else None
    values: list[str | None] = []
    if parts is not None:
        with contextlib.suppress(ValueError):
            values.append(parts.password)
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key.lower() in SECRET_PARAMS:
                values.append(value)
    values += [m.group("value").strip("'") for m in _PARAM.finditer(url)]
    source = os.environ if env is None else env
    values += [source.get(name) for name in SECRET_ENV]
    for found in values:
        register_secret(found)
        if found:
            register_secret(unquote(found))


def redact(text: str) -> str:
    """``text`` with every secret masked: each registered secret becomes ``[redacted]``, a
    URL's userinfo password ``user:***@``, and a secret libpq parameter (``password=``,
    ``sslpassword=``, ``passfile=``) ``password=***``, in a URL query or a
    keyword conninfo. The one redaction rule: every line cfevents prints goes through it."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "[redacted]")
    if "@" in text:
        text = _USERINFO.sub(rf"\g<head>:{MASK}@", text)
    if "=" in text:
        text = _PARAM.sub(rf"\g<head>{MASK}", text)
    return text


def without_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` removed: what a checkpoint or store may record.
    The password is registered first, so redact() hides it wherever else it shows."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    register_url_secrets(url, env={})
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=host))
