"""Per-run state shared by every command (stored on ``ctx.obj``): global options, the
environment, the library client (built on first use), the demo sandbox, and the stderr channels
(notes, warnings, verbose log).

Only results go to stdout; everything here writes to stderr.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cfevents.cli.environment import Environment

if TYPE_CHECKING:
    from cfevents.api import Client
    from cfevents.cc.client import CFClient


DEMO_DAYS = 62


@dataclass
class Runtime:
    api: str | None = None
    token: str | None = None
    skip_ssl_validation: bool = False
    demo: bool = False
    verbose: bool = False
    quiet: bool = False
    timeout: float = 30.0
    retries: int = 5
    env: Environment = field(default_factory=Environment.current)
    trust_login_link: bool = False
    _client: CFClient | None = field(default=None, repr=False)
    _cf: Client | None = field(default=None, repr=False)
    _sandbox: Any = field(default=None, repr=False)

    # -- stderr channels -------------------------------------------------------------------

    def note(self, message: str) -> None:
        """Informational line on stderr; silenced by --quiet."""
        if not self.quiet:
            self.env.write_err(f"cfevents: {message}")

    def warn(self, message: str) -> None:
        """A warning on stderr; shown even with --quiet."""
        self.env.write_err(f"cfevents: warning: {message}")

    def log(self, message: str) -> None:
        """Verbose request log (-v); the Authorization header is never part of it."""
        if self.verbose:
            self.env.write_err(message)

    # -- the client ------------------------------------------------------------------------

    def cf(self) -> Client:
        """The library client; its HTTP client is built on first use (validation comes first)."""
        if self._cf is None:
            from cfevents.api import Client
            from cfevents.cli import pause

            self._cf = Client(self.client, note=self.note, warn=self.warn, sleep=pause)
        return self._cf

    def client(self) -> CFClient:
        """Build the HTTP client on first use (commands that need no API never pay for it)."""
        if self._client is None:
            from cfevents.cc.client import CFClient
            from cfevents.cli import pause

            settings = self._settings()
            self._client = CFClient(
                settings,
                log=self.log if self.verbose else None,
                notify=self.note,
                sleep=pause,  # a retry's wait ends at a signal too
            )
        return self._client

    def _settings(self) -> Any:
        from cfevents.cc import config

        if self.demo:
            return self._demo_settings()
        env = dict(self.env.env)
        return config.resolve(
            api_flag=self.api,
            token_flag=self.token,
            skip_ssl_validation=self.skip_ssl_validation,
            env=env,
            cf_config=config.load_cf_config(env),
            timeout=self.timeout,
            retries=self.retries,
            trust_login_link=self.trust_login_link,
        )

    def _demo_settings(self) -> Any:
        from cfevents.cc.config import Credentials, Settings
        from cfevents.sandbox import Sandbox, SandboxConfig
        from cfevents.sandbox.live import admin_token, running_url

        url = running_url()  # a live sandbox (python -m cfevents.sandbox --live) is reused
        if url is not None:
            self.note(f"demo: using the live sandbox foundation at {url}")
            creds = Credentials(access_token=admin_token(), auth_endpoint=url, source="demo")
            return Settings(api=url, credentials=creds, timeout=self.timeout, retries=self.retries)

        # two months of events: `usage report` of this month (so far) and of last month both
        # find every event they need, whatever the day of the month
        # the data ends now, with one app in a crash loop through the last hour
        sandbox = Sandbox(SandboxConfig(days=DEMO_DAYS, recent_crash_loop=True)).start()
        self._sandbox = sandbox
        self.note(f"demo: using the built-in sandbox foundation at {sandbox.url}")
        creds = Credentials(
            access_token=sandbox.admin_token(),
            refresh_token=sandbox.refresh_token(),
            auth_endpoint=sandbox.url,
            source="demo",
        )
        return Settings(
            api=sandbox.url, credentials=creds, timeout=self.timeout, retries=self.retries
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._sandbox is not None:
            self._sandbox.stop()
